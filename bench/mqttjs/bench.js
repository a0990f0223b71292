#!/usr/bin/env node
'use strict'
// bench.js runs the shapes of culex's client benchmarks (../client_test.go)
// with MQTT.js, the npm package mqtt, and prints one line per shape in Go's
// benchmark format, so that ../clients.sh tabulates MQTT.js beside the Go
// clients:
//
//   node bench.js [--benchtime 1s] [--broker-pid PID]
//                 [--broker-cpu LIST --client-cpu LIST] HOST:PORT SHAPE...
//
//   BenchmarkQoS0Throughput/mqtt.js  43000  23000 ns/op  21.0 broker-µs/op  17.2 client-µs/op  43000 msgs/s
//
// It is a process of its own because MQTT.js runs on node's event loop: it
// cannot be a contender inside the Go test binary, whose loop runs one op at
// a time. clients.sh starts the broker for it (as broker_test.go does) and
// passes its address and PID.
//
// The client is used as its documentation shows, with default options but
// for the client identifier, clean start, MQTT 5.0 and no reconnecting.
// MQTT.js leaves TCP_NODELAY off (node's net.Socket default): Nagle's
// algorithm is on in the client, as wherever MQTT.js runs with defaults.
//
// A run that loses a message, gets an error, or makes no progress for 10 s
// exits with status 1: a number is printed only for work that was done.

const fs = require('node:fs')
const { parseArgs } = require('node:util')
const mqtt = require('mqtt')

const inflight = 64 // QoS 1/2 publishes kept going, as in client_test.go
const stallMs = 10000 // no progress for this long fails the run
const payload = Buffer.from(Array.from({ length: 64 }, (_, i) => 97 + (i % 26))) // as benchPayload

function fail (msg) {
  console.error(`bench.js: ${msg}`)
  process.exit(1)
}

// progress counts messages, acknowledgements and ops; the watchdog fails
// the run when it stops moving, so a lost message never hangs clients.sh.
let progress = 0
let doing = 'starting'
let where = () => '' // how far the run got, for the watchdog's message
function watchdog () {
  let last = -1
  let since = Date.now()
  return setInterval(() => {
    if (progress !== last) {
      last = progress
      since = Date.now()
    } else if (Date.now() - since >= stallMs) {
      fail(`${doing}: no progress for ${stallMs / 1000} s${where()}`)
    }
  }, 1000)
}

// Topics and client identifiers are unique per run, and topics of one
// shape have the length of Go's benchTopic, so packets have the same size.
let seq = Math.floor(Math.random() * 1e8)
const benchTopic = (shape) => `bench/${shape}/${String(++seq % 1e8).padStart(8, '0')}`
const clientId = (prefix) => `${prefix}-${++seq}`

function options (prefix) {
  return { clientId: clientId(prefix), clean: true, protocolVersion: 5, reconnectPeriod: 0 }
}

// connect resolves once the CONNACK is in; false: no retries, a refused or
// closed connection rejects.
function connect (addr, prefix) {
  return mqtt.connectAsync(`mqtt://${addr}`, options(prefix), false)
}

// open connects a long-lived client: an error or a close it did not ask
// for fails the run. stop disconnects it.
async function open (addr, prefix) {
  const c = await connect(addr, prefix)
  let stopping = false
  c.on('error', (err) => fail(`${doing}: ${prefix}: ${err.message}`))
  c.on('close', () => { if (!stopping) fail(`${doing}: ${prefix}: the connection closed`) })
  c.stop = () => { stopping = true; return c.endAsync() }
  return c
}

// The shapes. A throughput shape's setup returns run(more), which sends
// messages while more(sent) and resolves with their number once all have
// arrived (QoS 0) or been acknowledged (QoS 1, 2). A latency shape's setup
// returns op(), one round trip or job.
const shapes = {
  QoS0Throughput: { setup: qos0 },
  QoS1Throughput: { setup: (addr) => publishInflight(addr, 1) },
  QoS2Throughput: { setup: (addr) => publishInflight(addr, 2) },
  RoundTrip: { setup: roundTrip, latency: true },
  // The broker differs (set_tcp_nodelay true, started so by clients.sh),
  // not the client.
  RoundTripNoDelay: { setup: roundTrip, latency: true },
  ShortLivedJob: { setup: job, latency: true }
}

// qos0: a subscriber and a publisher in this process. The publisher goes on
// as long as MQTT.js calls a publish's callback at once; when it does not,
// node's buffer of the socket holds 16 KiB or more (the callback waits for
// 'drain'), and the publisher waits with it: the back-pressure MQTT.js
// offers for QoS 0. Without it the publisher would buffer every message of
// the run in node before the subscriber saw one.
async function qos0 (addr) {
  const topic = benchTopic('qos0')
  const sub = await open(addr, 'mqttjs-sub')
  await sub.subscribeAsync(topic, { qos: 0 })
  const pub = await open(addr, 'mqttjs-pub')
  let onMessage = null
  sub.on('message', (t, m) => onMessage(t, m))
  const opts = { qos: 0 }
  const run = (more) => new Promise((resolve) => {
    let sent = 0
    let got = 0
    let sending = true
    where = () => `: the subscriber received ${got} of the ${sent} messages sent`
    onMessage = (t, m) => {
      if (t !== topic || m.length !== payload.length) fail(`QoS 0: a different message arrived on ${t}`)
      got++
      progress++
      if (got > sent) fail(`QoS 0: ${got} messages arrived, ${sent} were sent`)
      if (!sending && got === sent) resolve(sent)
    }
    const pump = () => {
      while (more(sent)) {
        let full = false
        let written = false
        sent++
        pub.publish(topic, payload, opts, (err) => {
          if (err) fail(`QoS 0 publish: ${err.message}`)
          written = true
          if (full) pump()
        })
        if (!written) {
          full = true
          return
        }
      }
      sending = false
      if (got === sent) resolve(sent)
    }
    pump()
  })
  return { run, stop: () => Promise.all([pub.stop(), sub.stop()]) }
}

// publishInflight: a publisher alone, 64 publishes in flight; each one's
// callback (PUBACK, or PUBCOMP at QoS 2) sends the next.
async function publishInflight (addr, qos) {
  const topic = benchTopic(`qos${qos}`)
  const pub = await open(addr, 'mqttjs-pub')
  const opts = { qos }
  const run = (more) => new Promise((resolve) => {
    let sent = 0
    let acked = 0
    where = () => `: ${acked} of the ${sent} publishes sent were acknowledged`
    const next = () => {
      if (more(sent)) {
        sent++
        pub.publish(topic, payload, opts, onAck)
      } else if (acked === sent) {
        resolve(sent)
      }
    }
    const onAck = (err) => {
      if (err) fail(`QoS ${qos} publish: ${err.message}`)
      acked++
      progress++
      next()
    }
    for (let i = 0; i < inflight; i++) next()
  })
  return { run, stop: () => pub.stop() }
}

// roundTrip: one client subscribed at QoS 1 to the topic it publishes to;
// an op has both the PUBACK and the message back.
async function roundTrip (addr) {
  const topic = benchTopic('rtt')
  const c = await open(addr, 'mqttjs-rt')
  await c.subscribeAsync(topic, { qos: 1 })
  let arrived = null // the waiting op's resolve
  c.on('message', (t, m) => {
    if (!arrived) fail(`round trip: a message nobody waits for, on ${t}`)
    if (t !== topic || m.length !== payload.length) fail(`round trip: a different message arrived on ${t}`)
    const a = arrived
    arrived = null
    a()
  })
  const opts = { qos: 1 }
  const op = () => Promise.all([
    c.publishAsync(topic, payload, opts),
    new Promise((resolve) => { arrived = resolve })
  ])
  return { op, stop: () => c.stop() }
}

// job: connect, publish one QoS 1 message, disconnect. endAsync resolves
// when the socket has closed, after mosquitto closed its side on the
// DISCONNECT.
async function job (addr) {
  const topic = benchTopic('job')
  const opts = { qos: 1 }
  const op = async () => {
    const c = await connect(addr, 'mqttjs-job')
    await c.publishAsync(topic, payload, opts)
    await c.endAsync()
  }
  return { op, stop: async () => {} }
}

// benchtime is Go's -benchtime: a duration (1s, 200ms) or a count (500x).
// until returns more(count) for a run of that time or count.
function parseBenchtime (s) {
  const x = /^(\d+)x$/.exec(s)
  if (x) return { count: Number(x[1]) }
  const d = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m)$/.exec(s)
  if (!d) fail(`--benchtime ${s}: a duration (1s, 200ms) or a count (100x)`)
  const ms = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1e3, m: 60e3 }[d[2]]
  return { ms: Number(d[1]) * ms }
}

function until (bt) {
  if (bt.count !== undefined) return (n) => n < bt.count
  const end = performance.now() + bt.ms
  return () => performance.now() < end
}

// The warm-up (the shape run, checked, and not reported) lets V8 compile
// the hot paths first: half the benchtime, 200 ms to 2 s (with less, short
// runs measured V8's compiling: QoS 1 at a third of its rate). Go's
// benchmark warms up likewise by its runs of growing b.N.
function warmup (bt) {
  return { ms: bt.ms === undefined ? 200 : Math.min(Math.max(bt.ms / 2, 200), 2000) }
}

async function benchShape (name, shape, addr, bt, brokerPid) {
  doing = `${name} setup`
  where = () => ''
  const s = await shape.setup(addr)
  doing = `${name} warm-up`
  let m
  if (shape.latency) {
    for (const more = until(warmup(bt)); more(); progress++) await s.op()
    doing = name
    m = await measure(brokerPid, async () => {
      const samples = []
      where = () => `, after ${samples.length} ops`
      for (const more = until(bt); more(samples.length);) {
        const t = process.hrtime.bigint()
        await s.op()
        samples.push(Number(process.hrtime.bigint() - t))
        progress++
      }
      samples.sort((a, b) => a - b)
      return { n: samples.length, 'p50-µs': percentile(samples, 50) / 1e3, 'p99-µs': percentile(samples, 99) / 1e3 }
    })
  } else {
    // As Go sizes b.N: a run of n messages (counted until the last has
    // arrived or is acknowledged), its time predicts the n of the next,
    // until a run fills the benchtime; that run is reported. Sending for
    // the benchtime and then waiting for the messages under way would
    // overrun it, several times over at QoS 0, where sending is cheap.
    m = await measure(brokerPid, async () => ({ n: await s.run(until(warmup(bt))) }))
    doing = name
    for (let n = bt.count; ;) {
      n ??= predictN(bt.ms * 1e6, m.n, m.ns)
      m = await measure(brokerPid, async () => ({ n: await s.run((sent) => sent < n) }))
      if (bt.count !== undefined || m.ns >= bt.ms * 1e6) break
      n = undefined
    }
    m.metrics['msgs/s'] = m.n / (m.ns / 1e9)
  }
  doing = `${name} stop`
  await s.stop()
  report(name, m.n, m.ns, m.metrics)
}

// predictN is Go's testing.predictN: the n to fill goalns after last ops
// took ns, with a fifth more, growing 100 times at most.
function predictN (goalns, last, ns) {
  let n = Math.floor(goalns * last / Math.max(ns, 1))
  n += Math.floor(n / 5)
  return Math.min(Math.max(n, last + 1), 100 * last, 1e9)
}

// measure runs fn, which resolves with { n, metric: value... }, and adds
// its time and the CPU time of this process (client-µs/op, from
// process.cpuUsage: user and system) and of mosquitto (broker-µs/op) per op.
async function measure (brokerPid, fn) {
  const cpu = process.cpuUsage()
  const broker = brokerCPU(brokerPid)
  const t0 = process.hrtime.bigint()
  const { n, ...metrics } = await fn()
  const ns = Number(process.hrtime.bigint() - t0)
  const used = process.cpuUsage(cpu)
  const brokerAfter = brokerCPU(brokerPid)
  if (n === 0) fail(`${doing}: no op in the time`)
  metrics['client-µs/op'] = (used.user + used.system) / n
  if (broker !== null && brokerAfter !== null) metrics['broker-µs/op'] = (brokerAfter - broker) / n
  return { n, ns, metrics }
}

// percentile of sorted samples, nearest rank, as client_test.go's.
function percentile (sorted, p) {
  const i = Math.floor((sorted.length * p + 99) / 100)
  return sorted[Math.max(i - 1, 0)]
}

// report prints a line as Go's testing package does: name, N, ns/op, then
// the other metrics sorted by unit.
function report (name, n, ns, metrics) {
  const fields = [`Benchmark${name}/mqtt.js`, String(n).padStart(8), `${num(ns / n)} ns/op`]
  for (const unit of Object.keys(metrics).sort()) fields.push(`${num(metrics[unit])} ${unit}`)
  console.log(fields.join('\t'))
}

// num has Go's significant digits: 0 decimals from 1000 up, 1 from 100, ...
function num (v) {
  const a = Math.abs(v)
  const d = a === 0 || a >= 999.95 ? 0 : a >= 99.995 ? 1 : a >= 9.9995 ? 2 : a >= 0.99995 ? 3 : 4
  return v.toFixed(d).padStart(10)
}

// brokerCPU is the CPU time (user and system, µs) mosquitto has used, from
// /proc/PID/stat (fields 14 and 15, after the command name in parentheses);
// its resolution is the clock tick, 10 ms. null without a PID or /proc.
function brokerCPU (pid) {
  if (!pid) return null
  let stat
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return null
  }
  const f = stat.slice(stat.lastIndexOf(')') + 1).trim().split(/\s+/)
  const ticksPerSecond = 100 // USER_HZ
  return (Number(f[11]) + Number(f[12])) * 1e6 / ticksPerSecond
}

// checkPinning compares the CPUs of every thread of mosquitto and of this
// process with those asked for (clients.sh's CPU=1 mode), as
// broker_test.go's checkPinning does, and returns the note to print.
function checkPinning (brokerPid, brokerWant, clientWant) {
  let note = '# mqtt.js pinning:'
  if (brokerWant) {
    if (!brokerPid) fail('--broker-cpu needs --broker-pid')
    note += ` broker (mosquitto) Cpus_allowed_list ${checkAffinity(brokerPid, brokerWant, 'the broker (mosquitto)')};`
  }
  if (clientWant) {
    note += ` node Cpus_allowed_list ${checkAffinity(process.pid, clientWant, 'node (start it under taskset)')};`
  }
  return note.replace(/;$/, '')
}

function checkAffinity (pid, want, who) {
  const dir = `/proc/${pid}/task`
  let list = null
  for (const t of fs.readdirSync(dir)) {
    let status
    try {
      status = fs.readFileSync(`${dir}/${t}/status`, 'utf8')
    } catch {
      continue // the thread has ended
    }
    const got = /\nCpus_allowed_list:\s*(\S+)/.exec(status)[1]
    if (list !== null && got !== list) fail(`${who}, pid ${pid}: threads differ: Cpus_allowed_list ${list} and ${got}`)
    list = got
  }
  if (String(parseCPUList(list)) !== String(parseCPUList(want))) {
    fail(`${who}, pid ${pid}, is not pinned as asked: Cpus_allowed_list is ${list}, asked for ${want}`)
  }
  return list
}

// parseCPUList parses "0", "0,2" or "0-3,6" into sorted CPU numbers.
function parseCPUList (s) {
  const cpus = new Set()
  for (const part of s.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim())
    if (!m) fail(`bad CPU list ${s}`)
    for (let c = Number(m[1]); c <= Number(m[2] ?? m[1]); c++) cpus.add(c)
  }
  return [...cpus].sort((a, b) => a - b)
}

async function main () {
  const { values, positionals } = parseArgs({
    options: {
      benchtime: { type: 'string', default: '1s' },
      'broker-pid': { type: 'string' },
      'broker-cpu': { type: 'string' },
      'client-cpu': { type: 'string' }
    },
    allowPositionals: true
  })
  const [addr, ...names] = positionals
  if (!addr || names.length === 0) {
    fail(`usage: node bench.js [--benchtime 1s] [--broker-pid PID] [--broker-cpu LIST --client-cpu LIST] HOST:PORT SHAPE...
shapes: ${Object.keys(shapes).join(' ')}`)
  }
  for (const name of names) if (!shapes[name]) fail(`unknown shape ${name}; shapes: ${Object.keys(shapes).join(' ')}`)
  const bt = parseBenchtime(values.benchtime)
  const brokerPid = values['broker-pid'] ? Number(values['broker-pid']) : 0
  const pinned = values['broker-cpu'] || values['client-cpu']
  // Pinning is checked before the first shape, and again after the last,
  // when node has started every thread it uses.
  if (pinned) checkPinning(brokerPid, values['broker-cpu'], values['client-cpu'])
  const dog = watchdog()
  for (const name of names) await benchShape(name, shapes[name], addr, bt, brokerPid)
  clearInterval(dog)
  if (pinned) console.log(checkPinning(brokerPid, values['broker-cpu'], values['client-cpu']))
}

main().then(() => process.exit(0), (err) => fail(`${doing}: ${err && err.stack ? err.stack : err}`))
