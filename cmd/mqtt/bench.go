package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/wire"
)

var benchCommand = &command{
	name:     "bench",
	summary:  "measure publish throughput and latency against a broker",
	synopsis: "mqtt bench [-t topic] [-q qos] [-C messages] [--publishers N] [--connections N] [--size bytes] [--json] [flags]",
	intro: `mqtt bench connects a subscriber and one or more publishers (--connections),
then publishes -C messages from --publishers goroutines at once, spread over
the publishers' connections. It reports the publish rate (until the last
Publish returned), the end-to-end rate (until the subscriber had them all),
the publish latency at QoS 1 and 2 (how long each Publish waited for its
PUBACK or PUBCOMP), the end-to-end latency (from Publish to the subscriber),
the memory allocated per message by both sides (this process), and a
histogram of the latency. On a terminal a line shows the progress.

When -W passes or the run is interrupted, what was measured so far is
reported, and the exit status is 1.

Payloads of 12 bytes or more carry a run identifier and a sequence number,
so the subscriber counts each message of this run once and nothing else,
and the end-to-end latency can be measured; smaller payloads are counted as
they come.

--json prints one object: the run ("messages", "size", "qos", "publishers",
"connections", "topic", "mqtt"), what happened ("sent", "received",
"complete", "dropped", and "error" when it ended early), the rates
("publish_seconds", "publish_rate", "end_to_end_seconds",
"end_to_end_rate", in messages per second), the latencies in milliseconds
("publish_latency_ms", "end_to_end_latency_ms": "p50", "p90", "p99",
"max"), and "allocs_per_msg" and "bytes_per_msg".`,
	flags: benchFlags,
}

// tagSize is the size of the tag at the start of a payload: an 8-byte run
// identifier and a 4-byte sequence number.
const tagSize = 12

// benchConfig is a benchmark to run.
type benchConfig struct {
	topic       string
	qos         mqtt.QoS
	count       int
	publishers  int
	connections int
	size        int
	timeout     time.Duration
}

// benchResult is what a benchmark measured, complete or not.
type benchResult struct {
	version      mqtt.Version
	sent         int           // Publish calls that returned without error
	pubTime      time.Duration // from the first Publish until the last returned
	received     int
	e2eTime      time.Duration // from the first Publish until the last message arrived
	dropped      int           // QoS 0 messages the subscriber dropped
	pubLatency   []time.Duration
	e2eLatency   []time.Duration
	allocs       uint64 // heap allocations during the run, both clients
	allocBytes   uint64
	err          error // why the run ended early: a timeout, ^C, a failure
	interrupted  bool
	timedOut     bool
	publishError bool // err came from a Publish
}

// benchFlags defines the flags of "mqtt bench".
func benchFlags() (*flagSet, func(context.Context, *env) error) {
	fs := newFlagSet("bench")
	cfg := benchConfig{topic: "culex/bench", count: 10000, publishers: 16, connections: 1, size: 64}
	var (
		qos     int
		timeout = duration(time.Minute)
		asJSON  bool
	)
	fs.group("benchmark")
	fs.stringVar(&cfg.topic, flagSpec{names: []string{"t", "topic"}, arg: "TOPIC", origin: bothFlag,
		help: "the topic to publish to (default culex/bench)"})
	fs.intVar(&qos, flagSpec{names: []string{"q", "qos"}, arg: "QOS", origin: bothFlag,
		help: "0, 1 or 2, for publishing and subscribing (default 0)"})
	fs.intVar(&cfg.count, flagSpec{names: []string{"C", "count"}, arg: "N", origin: mosquittoFlag,
		help: "the number of messages, as mosquitto_sub's -C (default 10000)"})
	fs.intVar(&cfg.size, flagSpec{names: []string{"size"}, arg: "BYTES",
		help: "the payload size (default 64)"})
	fs.intVar(&cfg.publishers, flagSpec{names: []string{"publishers"}, arg: "N",
		help: "the goroutines that publish at once (default 16)"})
	fs.intVar(&cfg.connections, flagSpec{names: []string{"connections"}, arg: "N",
		help: "the publishers' connections, each a client of its own; the goroutines take turns on them (default 1)"})
	fs.define(&timeout, flagSpec{names: []string{"W", "timeout"}, arg: "D", origin: mosquittoFlag,
		help: "stop after D, counted from the first publish, and report what was measured (default 60s)"})
	fs.boolVar(&asJSON, flagSpec{names: []string{"json"},
		help: "print the results as one JSON object, described above"})
	conn := addConnFlags(fs, connKinds{}, nil)
	fs.hints["n"] = "the number of messages is -C (--count); -n is mosquitto_pub's empty message"
	fs.hints["c"] = "the publishing goroutines are --publishers; -c is mosquitto's kept session"
	fs.hints["s"] = "the payload size is --size; -s is mosquitto_pub's standard input"
	fs.hints["l"] = hintProtocolL
	fs.hints["U"] = hintURL
	fs.hints["concurrency"] = "the publishing goroutines are --publishers"

	return fs, func(ctx context.Context, e *env) error {
		if err := conn.resolve(e); err != nil {
			return err
		}
		q, err := checkQoS("-q", qos)
		if err != nil {
			return err
		}
		cfg.qos = q
		cfg.timeout = time.Duration(timeout)
		if !fs.isSet("t") && len(conn.urlTopics) > 0 {
			cfg.topic = conn.urlTopics[0]
		}
		switch {
		case cfg.count < 1:
			return usagef("-C %d: publish at least one message", cfg.count)
		case cfg.publishers < 1:
			return usagef("--publishers %d: use at least one", cfg.publishers)
		case cfg.connections < 1 || cfg.connections > 1000:
			return usagef("--connections %d: use 1 to 1000", cfg.connections)
		case cfg.size < 0 || cfg.size > maxPayload:
			return usagef("--size %d is not a payload size", cfg.size)
		case cfg.timeout <= 0:
			return usagef("-W must be positive")
		}
		if err := wire.CheckTopicName(cfg.topic); err != nil {
			return usagef("-t: %v", err)
		}
		// Clients cannot share a client ID: the broker would disconnect
		// the first when the next connects.
		subID := ""
		pubIDs := make([]string, cfg.connections)
		if conn.clientID != "" {
			subID = conn.clientID + "-sub"
			for i := range pubIDs {
				pubIDs[i] = conn.clientID + "-pub-" + strconv.Itoa(i+1)
			}
		}

		sc, err := conn.dial(ctx, conn.options(e, subID, "subscriber"))
		if err != nil {
			return fmt.Errorf("subscriber: %w", err)
		}
		defer sc.Close()
		pcs := make([]*mqtt.Client, 0, cfg.connections)
		closeAll := func(graceful bool) {
			// Disconnect every client, so that a broker keeps no
			// half-finished QoS 2 state for them; but a publisher
			// whose messages went unanswered until -W would only wait
			// for them again: Disconnect with a context already done
			// sends DISCONNECT without waiting.
			done, cancel := context.WithCancel(context.WithoutCancel(ctx))
			cancel()
			var wg sync.WaitGroup
			for _, c := range pcs {
				if !graceful {
					c.Disconnect(done)
					continue
				}
				wg.Go(func() { disconnect(ctx, c) })
			}
			wg.Go(func() { disconnect(ctx, sc) })
			wg.Wait()
		}
		for i := range cfg.connections {
			pc, err := conn.dial(ctx, conn.options(e, pubIDs[i], "publisher "+strconv.Itoa(i+1)))
			if err != nil {
				closeAll(true)
				return fmt.Errorf("publisher %d: %w", i+1, err)
			}
			defer pc.Close()
			pcs = append(pcs, pc)
		}

		var progress func(sent, received int64, elapsed time.Duration)
		if e.terminal {
			w := e.errWriter()
			progress = func(sent, received int64, elapsed time.Duration) {
				fmt.Fprintf(w, "\r%d/%d sent  %d received  %s msgs/s  %v\x1b[K",
					sent, cfg.count, received, rate(int(received), elapsed), elapsed.Round(100*time.Millisecond))
			}
		}
		r, err := runBench(ctx, cfg, pcs, sc, progress)
		if progress != nil {
			fmt.Fprint(e.errWriter(), "\r\x1b[K")
		}
		closeAll(err == nil && r.err == nil)
		if err != nil {
			if ctx.Err() != nil {
				return errors.New("interrupted")
			}
			return err
		}
		if asJSON {
			if err := printBenchJSON(e, cfg, r); err != nil {
				return err
			}
		} else {
			printBench(e, cfg, r)
		}
		switch {
		case r.interrupted:
			return fmt.Errorf("interrupted after %d of %d messages arrived", r.received, cfg.count)
		case r.timedOut:
			return fmt.Errorf("only %d of %d messages arrived within %v (-W)", r.received, cfg.count, cfg.timeout)
		case r.err != nil:
			return r.err
		}
		return nil
	}
}

// runBench subscribes with sc, publishes cfg.count messages over pcs and
// waits until sc has received them all or cfg.timeout has passed. It
// returns an error only when nothing could be measured; a run cut short
// returns its partial result with the reason in benchResult.err.
func runBench(ctx context.Context, cfg benchConfig, pcs []*mqtt.Client, sc *mqtt.Client, progress func(sent, received int64, elapsed time.Duration)) (*benchResult, error) {
	f := mqtt.Filter{Topic: cfg.topic, QoS: cfg.qos}
	if sc.Version() == mqtt.V5 {
		// A retained message left on the topic is not part of this run.
		f.RetainHandling = 2
	}
	s, err := sc.Subscribe(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("subscriber: %w", err)
	}

	runID := make([]byte, 8)
	rand.Read(runID)
	tagged := cfg.size >= tagSize
	count := newTally(runID, tagged, cfg.count)

	rctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	var (
		sent, received atomic.Int64
		// sendAt is when message i was handed to Publish, in
		// nanoseconds since start: the subscriber reads it, so it is
		// atomic.
		sendAt     = make([]atomic.Int64, cfg.count)
		e2eLatency = make([]time.Duration, 0, cfg.count) // the receiving goroutine's
		lastRecv   time.Duration
		recvDone   = make(chan struct{})
	)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()

	// The subscriber counts in its own goroutine while the publishers
	// run, so that neither side's pace limits the other's measurement.
	recvCtx, stopRecv := context.WithCancel(rctx)
	defer stopRecv()
	go func() {
		defer close(recvDone)
		for received.Load() < int64(cfg.count) {
			m, err := s.Next(recvCtx)
			if err != nil {
				return // timeout, interruption, or the client ended
			}
			seq, ok := count.add(m.Payload)
			if !ok {
				continue
			}
			now := time.Since(start)
			if tagged {
				e2eLatency = append(e2eLatency, now-time.Duration(sendAt[seq].Load()))
			}
			lastRecv = now
			received.Add(1)
		}
	}()

	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if progress == nil {
			return
		}
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			progress(sent.Load(), received.Load(), time.Since(start))
			select {
			case <-stopProgress:
				return
			case <-t.C:
			}
		}
	}()

	pubLatency, perr := publishAll(rctx, cfg, pcs, runID, tagged, start, sendAt, &sent)
	pubTime := time.Since(start)
	if perr != nil && rctx.Err() == nil {
		stopRecv() // a publisher failed: what is in flight may never come
	}
	<-recvDone // all received, or the run ended
	runtime.ReadMemStats(&after)
	close(stopProgress)
	<-progressDone

	r := &benchResult{
		version:    pcs[0].Version(),
		sent:       int(sent.Load()),
		pubTime:    pubTime,
		received:   int(received.Load()),
		e2eTime:    lastRecv,
		dropped:    s.Dropped(),
		pubLatency: pubLatency,
		e2eLatency: e2eLatency,
		allocs:     after.Mallocs - before.Mallocs,
		allocBytes: after.TotalAlloc - before.TotalAlloc,
	}
	if r.received == 0 {
		r.e2eTime = time.Since(start)
	}
	switch {
	case ctx.Err() != nil:
		r.interrupted, r.err = true, ctx.Err()
	case r.received < cfg.count && rctx.Err() != nil:
		r.timedOut, r.err = true, rctx.Err()
	case perr != nil:
		r.publishError, r.err = true, perr
	}
	slices.Sort(r.pubLatency)
	slices.Sort(r.e2eLatency)
	return r, nil
}

// tally counts the distinct messages of one run.
type tally struct {
	runID  []byte
	tagged bool   // false: payloads too small for a tag; count them all
	seen   []bool // by sequence number
}

func newTally(runID []byte, tagged bool, n int) *tally {
	t := &tally{runID: runID, tagged: tagged}
	if tagged {
		t.seen = make([]bool, n)
	}
	return t
}

// add reports whether payload is a message of the run not seen before, and
// its sequence number when the payloads are tagged.
func (t *tally) add(payload []byte) (int, bool) {
	if !t.tagged {
		return 0, true
	}
	if len(payload) < tagSize || !bytes.Equal(payload[:8], t.runID) {
		return 0, false // another publisher's message
	}
	seq := binary.BigEndian.Uint32(payload[8:tagSize])
	if int64(seq) >= int64(len(t.seen)) || t.seen[seq] {
		return 0, false // a duplicate, as QoS 1 allows, or not ours after all
	}
	t.seen[seq] = true
	return int(seq), true
}

// tag writes the tag of message seq of run runID at the start of p, which
// holds at least tagSize bytes.
func tag(p, runID []byte, seq int) {
	copy(p, runID)
	binary.BigEndian.PutUint32(p[8:tagSize], uint32(seq))
}

// publishAll publishes cfg.count messages from cfg.publishers goroutines,
// publisher g on connection g mod len(pcs). It counts the messages
// published in sent, records when each was handed to Publish in sendAt,
// and returns how long each successful Publish took, in no particular
// order. The first error stops every publisher.
func publishAll(ctx context.Context, cfg benchConfig, pcs []*mqtt.Client, runID []byte, tagged bool, start time.Time,
	sendAt []atomic.Int64, sent *atomic.Int64) ([]time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      = make([]time.Duration, 0, cfg.count)
	)
	n := min(cfg.publishers, cfg.count)
	for g := range n {
		pc := pcs[g%len(pcs)]
		wg.Go(func() {
			// Publish keeps no reference to the payload once it
			// returns, so each goroutine reuses one buffer, and the
			// allocations measured are the clients'.
			p := make([]byte, cfg.size)
			for j := range p {
				p[j] = 'a' + byte(j%26)
			}
			lat := make([]time.Duration, 0, cfg.count/n+1)
			defer func() {
				mu.Lock()
				all = append(all, lat...)
				mu.Unlock()
			}()
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.count || ctx.Err() != nil {
					return
				}
				if tagged {
					tag(p, runID, i)
				}
				t0 := time.Now()
				sendAt[i].Store(int64(t0.Sub(start)))
				err := pc.Publish(ctx, mqtt.Message{Topic: cfg.topic, Payload: p, QoS: cfg.qos})
				if err != nil {
					errOnce.Do(func() {
						firstErr = fmt.Errorf("publisher: message %d: %w", i, err)
						cancel()
					})
					return
				}
				lat = append(lat, time.Since(t0))
				sent.Add(1)
			}
		})
	}
	wg.Wait()
	if cfg.qos == mqtt.QoS0 {
		// A QoS 0 Publish returns once the packet is queued: its time is
		// not a latency anyone waits for.
		all = nil
	}
	return all, firstErr
}

// printBench writes r as a header, a few aligned lines and a histogram.
func printBench(e *env, cfg benchConfig, r *benchResult) {
	conns := "connection"
	if cfg.connections > 1 {
		conns += "s"
	}
	fmt.Fprintf(e.stdout, "bench: %d messages of %d bytes, %v, %d publishers on %d %s, topic %q, MQTT %v\n",
		cfg.count, cfg.size, cfg.qos, min(cfg.publishers, cfg.count), cfg.connections, conns, cfg.topic, r.version)
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "publish\t%d msgs\tin %v\t%s msgs/s\n", r.sent, r.pubTime.Round(time.Millisecond), rate(r.sent, r.pubTime))
	fmt.Fprintf(tw, "end-to-end\t%d msgs\tin %v\t%s msgs/s\n", r.received, r.e2eTime.Round(time.Millisecond), rate(r.received, r.e2eTime))
	// The latencies in columns of their own: under the rates' they
	// would spread out.
	tw.Flush()
	tw = tabwriter.NewWriter(e.stdout, len("end-to-end  "), 0, 2, ' ', 0)
	if len(r.pubLatency) > 0 {
		ack := "PUBACK"
		if cfg.qos == mqtt.QoS2 {
			ack = "PUBCOMP"
		}
		fmt.Fprintf(tw, "latency\t%s\tpublish until %s\n", percentiles(r.pubLatency), ack)
	}
	if len(r.e2eLatency) > 0 {
		fmt.Fprintf(tw, "latency\t%s\tpublish until received\n", percentiles(r.e2eLatency))
	}
	tw.Flush()
	if r.sent > 0 {
		fmt.Fprintf(e.stdout, "memory      %.1f allocs/msg, %d B/msg (both clients, this process)\n",
			float64(r.allocs)/float64(r.sent), r.allocBytes/uint64(r.sent))
	}
	if r.dropped > 0 {
		fmt.Fprintf(e.stdout, "dropped     %d msgs: QoS 0, the subscriber was too slow\n", r.dropped)
	}
	h, what := r.e2eLatency, "end-to-end latency"
	if len(h) == 0 {
		h, what = r.pubLatency, "publish latency"
	}
	if len(h) > 0 {
		fmt.Fprintf(e.stdout, "\n%s of %d messages:\n%s", what, len(h), histogram(h, 40))
	}
}

// percentiles formats the summary of a sorted latency list.
func percentiles(d []time.Duration) string {
	return fmt.Sprintf("p50 %v\tp90 %v\tp99 %v\tmax %v", round(percentile(d, 50)), round(percentile(d, 90)),
		round(percentile(d, 99)), round(d[len(d)-1]))
}

// round keeps three significant digits or so: 1.23ms, 456µs.
func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// histogram draws sorted in rows of bars at most width wide, one per
// bucket of a 1-2-5 series (100µs, 200µs, 500µs, 1ms, ...) from the
// fastest message's to the slowest's. A distribution is read faster than a
// list of percentiles: two humps, or a long tail, show at a glance.
func histogram(sorted []time.Duration, width int) string {
	if len(sorted) == 0 {
		return ""
	}
	// The bucket bounds: the smallest 1-2-5 value at or above the
	// fastest, up to the first at or above the slowest.
	var bounds []time.Duration
	for b := time.Duration(1); ; {
		if b >= sorted[0] || len(bounds) > 0 {
			bounds = append(bounds, b)
		}
		if b >= sorted[len(sorted)-1] {
			break
		}
		switch s := fmt.Sprint(int64(b)); s[0] {
		case '1', '5':
			b *= 2
		default:
			b = b / 2 * 5
		}
	}
	counts := make([]int, len(bounds))
	i := 0
	for _, d := range sorted {
		for d > bounds[i] {
			i++
		}
		counts[i]++
	}
	top := slices.Max(counts)
	labels := make([]string, len(bounds))
	nums := make([]string, len(bounds))
	wl, wn := 0, 0
	for i, b := range bounds {
		labels[i] = "≤ " + b.String()
		nums[i] = strconv.Itoa(counts[i])
		wl = max(wl, utf8.RuneCountInString(labels[i]))
		wn = max(wn, len(nums[i]))
	}
	var b strings.Builder
	for i, n := range counts {
		// Eighths of a cell, with the block characters, so that a
		// small bucket still shows.
		eighths := n * width * 8 / top
		if n > 0 && eighths == 0 {
			eighths = 1
		}
		bar := strings.Repeat("█", eighths/8)
		if r := eighths % 8; r > 0 {
			bar += string([]rune("▏▎▍▌▋▊▉")[r-1])
		}
		line := fmt.Sprintf("%*s  %*s  %5.1f%%  %s", wl, labels[i], wn, nums[i], 100*float64(n)/float64(len(sorted)), bar)
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	return b.String()
}

// benchJSON is the summary printed by --json. Durations are in seconds,
// latencies in milliseconds, as their names say.
type benchJSON struct {
	Messages       int          `json:"messages"`
	Size           int          `json:"size"`
	QoS            int          `json:"qos"`
	Publishers     int          `json:"publishers"`
	Connections    int          `json:"connections"`
	Topic          string       `json:"topic"`
	MQTT           string       `json:"mqtt"`
	Sent           int          `json:"sent"`
	Received       int          `json:"received"`
	Complete       bool         `json:"complete"`
	PublishSeconds float64      `json:"publish_seconds"`
	PublishRate    float64      `json:"publish_rate"`
	E2ESeconds     float64      `json:"end_to_end_seconds"`
	E2ERate        float64      `json:"end_to_end_rate"`
	PublishLatency *latencyJSON `json:"publish_latency_ms,omitempty"`
	E2ELatency     *latencyJSON `json:"end_to_end_latency_ms,omitempty"`
	AllocsPerMsg   float64      `json:"allocs_per_msg"`
	BytesPerMsg    float64      `json:"bytes_per_msg"`
	Dropped        int          `json:"dropped"`
	Error          string       `json:"error,omitempty"`
}

type latencyJSON struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func latencySummary(d []time.Duration) *latencyJSON {
	if len(d) == 0 {
		return nil
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return &latencyJSON{P50: ms(percentile(d, 50)), P90: ms(percentile(d, 90)), P99: ms(percentile(d, 99)), Max: ms(d[len(d)-1])}
}

// printBenchJSON writes r as one JSON object on a line.
func printBenchJSON(e *env, cfg benchConfig, r *benchResult) error {
	perSec := func(n int, d time.Duration) float64 {
		if d <= 0 {
			return 0
		}
		return float64(n) / d.Seconds()
	}
	j := benchJSON{
		Messages: cfg.count, Size: cfg.size, QoS: int(cfg.qos), Publishers: min(cfg.publishers, cfg.count),
		Connections: cfg.connections, Topic: cfg.topic, MQTT: r.version.String(),
		Sent: r.sent, Received: r.received, Complete: r.received == cfg.count && r.err == nil,
		PublishSeconds: r.pubTime.Seconds(), PublishRate: perSec(r.sent, r.pubTime),
		E2ESeconds: r.e2eTime.Seconds(), E2ERate: perSec(r.received, r.e2eTime),
		PublishLatency: latencySummary(r.pubLatency), E2ELatency: latencySummary(r.e2eLatency),
		Dropped: r.dropped,
	}
	if r.sent > 0 {
		j.AllocsPerMsg = float64(r.allocs) / float64(r.sent)
		j.BytesPerMsg = float64(r.allocBytes) / float64(r.sent)
	}
	switch {
	case r.interrupted:
		j.Error = "interrupted"
	case r.timedOut:
		j.Error = fmt.Sprintf("timed out after %v", cfg.timeout)
	case r.err != nil:
		j.Error = oneLine(r.err)
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(append(b, '\n'))
	return err
}

// rate formats n messages in d as messages per second.
func rate(n int, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(n)/d.Seconds())
}

// percentile returns the p-th percentile of sorted by the nearest-rank
// method: a value that was measured, never an interpolation.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted)+99)/100 - 1
	return sorted[max(i, 0)]
}
