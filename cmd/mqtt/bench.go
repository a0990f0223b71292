package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/wire"
)

var benchCommand = &command{
	name:     "bench",
	summary:  "measure publish throughput and latency against a broker",
	synopsis: "mqtt bench [-t topic] [-q qos] [-C messages] [--publishers N] [--size bytes] [flags]",
	intro: `mqtt bench connects two clients: one subscribes to the topic, the other
publishes -C messages from --publishers goroutines at once. It reports the publish rate
(until the last Publish returned), the end-to-end rate (until the subscriber
had them all) and, at QoS 1 and 2, the publish latency: how long each Publish
waited for its PUBACK or PUBCOMP.

Payloads of 12 bytes or more carry a run identifier and a sequence number, so
the subscriber counts each message of this run once and nothing else; smaller
payloads are counted as they come.`,
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
	concurrency int
	size        int
	timeout     time.Duration
}

// benchResult is what a benchmark measured.
type benchResult struct {
	version    mqtt.Version
	sent       int
	pubTime    time.Duration // from the first Publish until the last returned
	received   int
	e2eTime    time.Duration // from the first Publish until the last message arrived
	dropped    int           // QoS 0 messages the subscriber dropped
	latencies  []time.Duration
	incomplete bool // the timeout passed before every message arrived
}

// benchFlags defines the flags of "mqtt bench".
func benchFlags() (*flagSet, func(context.Context, *env) error) {
	fs := newFlagSet("bench")
	cfg := benchConfig{topic: "culex/bench", count: 10000, concurrency: 16, size: 64}
	var (
		qos     int
		timeout = duration(time.Minute)
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
	fs.intVar(&cfg.concurrency, flagSpec{names: []string{"publishers"}, arg: "N",
		help: "the goroutines that publish at once (default 16)"})
	fs.define(&timeout, flagSpec{names: []string{"W", "timeout"}, arg: "D", origin: mosquittoFlag,
		help: "give up after D, counted from the first publish (default 60s)"})
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
		case cfg.concurrency < 1:
			return usagef("--publishers %d: use at least one", cfg.concurrency)
		case cfg.size < 0 || cfg.size > maxPayload:
			return usagef("--size %d is not a payload size", cfg.size)
		case cfg.timeout <= 0:
			return usagef("-W must be positive")
		}
		if err := wire.CheckTopicName(cfg.topic); err != nil {
			return usagef("-t: %v", err)
		}
		// Two clients cannot share a client ID: the broker would
		// disconnect the first when the second connects.
		pubID, subID := "", ""
		if conn.clientID != "" {
			pubID, subID = conn.clientID+"-pub", conn.clientID+"-sub"
		}
		sc, err := conn.dial(ctx, conn.options(e, subID, "subscriber"))
		if err != nil {
			return fmt.Errorf("subscriber: %w", err)
		}
		defer sc.Close()
		pc, err := conn.dial(ctx, conn.options(e, pubID, "publisher"))
		if err != nil {
			disconnect(ctx, sc)
			return fmt.Errorf("publisher: %w", err)
		}
		defer pc.Close()

		r, err := runBench(ctx, cfg, pc, sc)
		// Disconnect both, whatever happened, so that a broker keeps no
		// half-finished QoS 2 state for them.
		disconnect(ctx, pc)
		disconnect(ctx, sc)
		if err != nil {
			if ctx.Err() != nil {
				return errors.New("interrupted")
			}
			return err
		}
		printBench(e, cfg, r)
		if r.incomplete {
			return fmt.Errorf("only %d of %d messages arrived within %v (-W)", r.received, cfg.count, cfg.timeout)
		}
		return nil
	}
}

// runBench subscribes with sc, publishes cfg.count messages with pc and
// waits until sc has received them all or cfg.timeout has passed.
func runBench(ctx context.Context, cfg benchConfig, pc, sc *mqtt.Client) (*benchResult, error) {
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

	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	start := time.Now()

	// The subscriber counts in its own goroutine while the publishers
	// run, so that neither side's pace limits the other's measurement.
	var (
		received int
		lastRecv time.Time
		recvDone = make(chan struct{})
	)
	rctx, stopRecv := context.WithCancel(ctx)
	defer stopRecv()
	go func() {
		defer close(recvDone)
		for received < cfg.count {
			m, err := s.Next(rctx)
			if err != nil {
				return // timeout, interruption, or the client ended
			}
			if count.add(m.Payload) {
				received++
				lastRecv = time.Now()
			}
		}
	}()

	sent, latencies, err := publishAll(ctx, cfg, pc, runID, tagged)
	pubTime := time.Since(start)
	if err != nil {
		stopRecv()
		<-recvDone
		return nil, err
	}
	<-recvDone // all received, or ctx ended
	r := &benchResult{
		version:    pc.Version(),
		sent:       sent,
		pubTime:    pubTime,
		received:   received,
		e2eTime:    lastRecv.Sub(start),
		dropped:    s.Dropped(),
		incomplete: received < cfg.count,
	}
	if received == 0 {
		r.e2eTime = time.Since(start)
	}
	if cfg.qos > 0 {
		slices.Sort(latencies)
		r.latencies = latencies
	}
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

// add reports whether payload is a message of the run not seen before.
func (t *tally) add(payload []byte) bool {
	if !t.tagged {
		return true
	}
	if len(payload) < tagSize || !bytes.Equal(payload[:8], t.runID) {
		return false // another publisher's message
	}
	seq := binary.BigEndian.Uint32(payload[8:tagSize])
	if int64(seq) >= int64(len(t.seen)) || t.seen[seq] {
		return false // a duplicate, as QoS 1 allows, or not ours after all
	}
	t.seen[seq] = true
	return true
}

// tag writes the tag of message seq of run runID at the start of p, which
// holds at least tagSize bytes.
func tag(p, runID []byte, seq int) {
	copy(p, runID)
	binary.BigEndian.PutUint32(p[8:tagSize], uint32(seq))
}

// publishAll publishes cfg.count messages from cfg.concurrency goroutines
// and returns how many succeeded and how long each Publish took, in no
// particular order. The first error stops every publisher.
func publishAll(ctx context.Context, cfg benchConfig, pc *mqtt.Client, runID []byte, tagged bool) (int, []time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next      atomic.Int64
		latencies = make([]time.Duration, cfg.count) // by sequence number: no lock needed
		firstErr  error
		errOnce   sync.Once
		wg        sync.WaitGroup
	)
	for range min(cfg.concurrency, cfg.count) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.count || ctx.Err() != nil {
					return
				}
				// A fresh payload each time: Publish's doc does not
				// promise that a QoS 0 payload is no longer used once
				// it returns ("queued"), so one buffer per publisher
				// could change under the library.
				p := make([]byte, cfg.size)
				for j := range p {
					p[j] = 'a' + byte(j%26)
				}
				if tagged {
					tag(p, runID, i)
				}
				t0 := time.Now()
				err := pc.Publish(ctx, mqtt.Message{Topic: cfg.topic, Payload: p, QoS: cfg.qos})
				latencies[i] = time.Since(t0)
				if err != nil {
					errOnce.Do(func() {
						firstErr = fmt.Errorf("publisher: message %d: %w", i, err)
						cancel()
					})
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, nil, firstErr
	}
	return cfg.count, latencies, nil
}

// printBench writes r as a header and a few aligned lines.
func printBench(e *env, cfg benchConfig, r *benchResult) {
	fmt.Fprintf(e.stdout, "bench: %d messages of %d bytes, %v, %d publishers, topic %q, MQTT %v\n",
		cfg.count, cfg.size, cfg.qos, min(cfg.concurrency, cfg.count), cfg.topic, r.version)
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "publish\t%d msgs\tin %v\t%s msgs/s\n", r.sent, r.pubTime.Round(time.Millisecond), rate(r.sent, r.pubTime))
	fmt.Fprintf(tw, "end-to-end\t%d msgs\tin %v\t%s msgs/s\n", r.received, r.e2eTime.Round(time.Millisecond), rate(r.received, r.e2eTime))
	if len(r.latencies) > 0 {
		ack := "PUBACK"
		if cfg.qos == mqtt.QoS2 {
			ack = "PUBCOMP"
		}
		fmt.Fprintf(tw, "latency\tp50 %v\tp99 %v\tpublish until %s\n",
			percentile(r.latencies, 50).Round(time.Microsecond), percentile(r.latencies, 99).Round(time.Microsecond), ack)
	}
	if r.dropped > 0 {
		fmt.Fprintf(tw, "dropped\t%d msgs\t\tQoS 0, the subscriber was too slow\n", r.dropped)
	}
	tw.Flush()
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
