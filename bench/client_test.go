package bench

// Client benchmarks: culex, paho.mqtt.golang, paho.golang and a raw socket
// pump (raw_test.go) doing the same work through one private mosquitto
// (broker_test.go). Every benchmark is a shape of use; its sub-benchmarks are
// the contenders, run one after another against the same broker:
//
//	BenchmarkQoS0Throughput/{raw,raw-unbatched,culex,paho.mqtt.golang,paho.golang}
//	BenchmarkQoS1Throughput/...   BenchmarkQoS2Throughput/...
//	BenchmarkRoundTrip/{raw,culex,paho.mqtt.golang,paho.golang}
//	BenchmarkRoundTripNoDelay/... BenchmarkShortLivedJob/...
//
// One op is one message (throughput shapes), one round trip, or one job, so
// ns/op and allocs/op are per message and b.N sizes the run: use a -benchtime
// of a duration (1s, 2s), not a count of 1x. Allocations are those of the
// whole process while the clock runs: for QoS 0, publisher and subscriber.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/culex-mqtt/mqtt"
)

// contender is one client driven through the shapes. Setup (connecting,
// subscribing) happens before the clock starts; stop ends it after.
type contender interface {
	name() string
	// qos0 connects a subscriber (to topic, QoS 0) and a publisher; run
	// publishes n QoS 0 messages and returns when the subscriber has all.
	qos0(tb testing.TB, addr, topic string, payload []byte) (run func(n int) error, stop func())
	// publishInflight connects a publisher; run publishes n messages at
	// qos, keeping 64 in flight, and returns when all are acknowledged.
	publishInflight(tb testing.TB, addr, topic string, payload []byte, qos byte) (run func(n int) error, stop func())
	// roundTrip connects a client subscribed to topic at QoS 1; rt
	// publishes one QoS 1 message to topic and returns once it has both
	// the PUBACK and the message back.
	roundTrip(tb testing.TB, addr, topic string, payload []byte) (rt func() error, stop func())
	// job connects, publishes one QoS 1 message, and disconnects.
	job(ctx context.Context, addr, topic string, payload []byte) error
}

var contenders = []contender{
	rawContender{},
	rawContender{unbatched: true},
	culexContender{},
	pahoMQTTContender{},
	pahoGolangContender{},
}

// latencyContenders are the contenders of the round trip and the
// short-lived job. raw-unbatched is left out: raw writes one packet per
// system call there already, so it would run raw's code a second time.
var latencyContenders = []contender{
	rawContender{},
	culexContender{},
	pahoMQTTContender{},
	pahoGolangContender{},
}

// inflight is how many QoS 1/2 publishes the throughput shapes keep going.
const inflight = 64

// benchPayload is the payload of every message.
var benchPayload = func() []byte {
	p := make([]byte, 64)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return p
}()

func BenchmarkQoS0Throughput(b *testing.B) {
	br := startBroker(b)
	for _, c := range contenders {
		b.Run(c.name(), func(b *testing.B) {
			benchThroughput(b, br, func() (func(int) error, func()) {
				return c.qos0(b, br.Addr, benchTopic("qos0"), benchPayload)
			})
		})
	}
}

// BenchmarkQoS1Throughput measures at the publisher alone: nobody
// subscribes, so what is measured is the publish/acknowledge path.
func BenchmarkQoS1Throughput(b *testing.B) {
	br := startBroker(b)
	for _, c := range contenders {
		b.Run(c.name(), func(b *testing.B) {
			benchThroughput(b, br, func() (func(int) error, func()) {
				return c.publishInflight(b, br.Addr, benchTopic("qos1"), benchPayload, 1)
			})
		})
	}
}

// BenchmarkQoS2Throughput is BenchmarkQoS1Throughput with QoS 2.
func BenchmarkQoS2Throughput(b *testing.B) {
	br := startBroker(b)
	for _, c := range contenders {
		b.Run(c.name(), func(b *testing.B) {
			benchThroughput(b, br, func() (func(int) error, func()) {
				return c.publishInflight(b, br.Addr, benchTopic("qos2"), benchPayload, 2)
			})
		})
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	br := startBroker(b)
	for _, c := range latencyContenders {
		b.Run(c.name(), func(b *testing.B) {
			rt, stop := c.roundTrip(b, br.Addr, benchTopic("rtt"), benchPayload)
			defer stop()
			benchLatency(b, br, rt)
		})
	}
}

// BenchmarkRoundTripNoDelay is BenchmarkRoundTrip against a mosquitto that
// sets TCP_NODELAY on its sockets (set_tcp_nodelay true; mosquitto's default
// is false). With Nagle's algorithm on, the broker holds back its second
// small packet (the PUBACK after the message, or the other way round) until
// the client's TCP acknowledges the first; a client that sends nothing while
// it waits (culex, which acknowledges a message only when Next hands it
// out) then waits for the receiver's delayed ACK timer: about 40 ms.
func BenchmarkRoundTripNoDelay(b *testing.B) {
	br := startBroker(b, "set_tcp_nodelay true")
	for _, c := range latencyContenders {
		b.Run(c.name(), func(b *testing.B) {
			rt, stop := c.roundTrip(b, br.Addr, benchTopic("rtt"), benchPayload)
			defer stop()
			benchLatency(b, br, rt)
		})
	}
}

func BenchmarkShortLivedJob(b *testing.B) {
	br := startBroker(b)
	for _, c := range latencyContenders {
		b.Run(c.name(), func(b *testing.B) {
			topic := benchTopic("job")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			benchLatency(b, br, func() error { return c.job(ctx, br.Addr, topic, benchPayload) })
		})
	}
}

// benchThroughput runs b.N messages through one setup and reports msgs/s.
func benchThroughput(b *testing.B, br *benchBroker, setup func() (func(int) error, func())) {
	run, stop := setup()
	defer stop()
	b.ReportAllocs()
	cpu := startCPU(br)
	b.ResetTimer()
	start := time.Now()
	if err := run(b.N); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	cpu.report(b)
}

// benchLatency times b.N sequential calls of op and reports their median
// and 99th percentile.
func benchLatency(b *testing.B, br *benchBroker, op func() error) {
	samples := make([]time.Duration, b.N)
	b.ReportAllocs()
	cpu := startCPU(br)
	b.ResetTimer()
	for i := range samples {
		t := time.Now()
		if err := op(); err != nil {
			b.Fatalf("after %d: %v", i, err)
		}
		samples[i] = time.Since(t)
	}
	b.StopTimer()
	cpu.report(b)
	slices.Sort(samples)
	b.ReportMetric(float64(percentile(samples, 50))/1e3, "p50-µs")
	b.ReportMetric(float64(percentile(samples, 99))/1e3, "p99-µs")
}

// cpuMeter measures the CPU time the broker and this process (the client,
// or for QoS 0 both clients) spend during a benchmark, per op: what a client
// costs, and what it makes the broker spend. Linux only.
type cpuMeter struct {
	pid         int
	broker, own time.Duration
	ok          bool
}

func startCPU(br *benchBroker) cpuMeter {
	m := cpuMeter{pid: br.PID}
	var ok1, ok2 bool
	m.broker, ok1 = processCPU(m.pid)
	m.own, ok2 = selfCPU()
	m.ok = ok1 && ok2
	return m
}

// report adds broker-µs/op and client-µs/op. The broker's figure has the
// resolution of a clock tick (10 ms) over the whole run.
func (m cpuMeter) report(b *testing.B) {
	broker, ok1 := processCPU(m.pid)
	own, ok2 := selfCPU()
	if !m.ok || !ok1 || !ok2 {
		return
	}
	b.ReportMetric(float64(broker-m.broker)/1e3/float64(b.N), "broker-µs/op")
	b.ReportMetric(float64(own-m.own)/1e3/float64(b.N), "client-µs/op")
}

// percentile returns the p-th percentile of sorted samples (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

// benchSeq makes topics and client identifiers unique across runs, and
// brokers of earlier runs irrelevant.
var benchSeq atomic.Int64

func init() { benchSeq.Store(rand.Int64N(1e8)) }

// benchTopic returns a fresh topic. Topics of one shape have the same
// length, so every contender sends packets of the same size.
func benchTopic(shape string) string {
	return fmt.Sprintf("bench/%s/%08d", shape, benchSeq.Add(1)%1e8)
}

// clientID returns a fresh client identifier.
func clientID(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, benchSeq.Add(1))
}

// runTimeout bounds a run of n messages: generous, only there so that a
// lost message fails the benchmark instead of hanging it.
func runTimeout(n int) time.Duration {
	return 30*time.Second + time.Duration(n)*100*time.Microsecond
}

// stallTimeout is how long a subscriber may go without a message before
// the run fails.
const stallTimeout = 10 * time.Second

// awaitAll waits for done, the subscriber's end, while got (messages
// received) keeps growing. When it stops growing for stallTimeout, abort is
// called and an error returned.
func awaitAll(done <-chan error, got *atomic.Int64, n int, abort func()) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, since := got.Load(), time.Now()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			if g := got.Load(); g != last {
				last, since = g, time.Now()
			} else if time.Since(since) >= stallTimeout {
				abort()
				return fmt.Errorf("the subscriber received %d of %d messages, then nothing for %v", g, n, stallTimeout)
			}
		}
	}
}

// firstError keeps the first of the errors of many goroutines.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// parallel runs n calls of op on workers goroutines and returns the first
// error.
func parallel(n, workers int, op func() error) error {
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	var fe firstError
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if err := op(); err != nil {
					fe.set(err)
					left.Store(0)
					return
				}
			}
		}()
	}
	wg.Wait()
	return fe.get()
}

// culexContender is culex used as its documentation says: Dial, Publish
// (one goroutine per message in flight), Subscribe and Subscription.Next.
// It speaks MQTT 5.0, its default with mosquitto.
type culexContender struct{}

func (culexContender) name() string { return "culex" }

func culexDial(ctx context.Context, addr, id string) (*mqtt.Client, error) {
	return mqtt.Dial(ctx, "mqtt://"+addr, &mqtt.DialOptions{ClientID: id})
}

func culexMustDial(tb testing.TB, addr, prefix string) *mqtt.Client {
	tb.Helper()
	c, err := culexDial(context.Background(), addr, clientID(prefix))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func culexStop(cs ...*mqtt.Client) func() {
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, c := range cs {
			c.Disconnect(ctx)
		}
	}
}

func (culexContender) qos0(tb testing.TB, addr, topic string, payload []byte) (func(int) error, func()) {
	ctx := context.Background()
	sub := culexMustDial(tb, addr, "culex-sub")
	s, err := sub.Subscribe(ctx, mqtt.Filter{Topic: topic, QoS: mqtt.QoS0})
	if err != nil {
		tb.Fatal(err)
	}
	pub := culexMustDial(tb, addr, "culex-pub")
	run := func(n int) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var got atomic.Int64
		done := make(chan error, 1)
		go func() {
			for got.Load() < int64(n) {
				if _, err := s.Next(ctx); err != nil {
					done <- err
					return
				}
				got.Add(1)
			}
			done <- nil
		}()
		m := mqtt.Message{Topic: topic, Payload: payload, QoS: mqtt.QoS0}
		for range n {
			if err := pub.Publish(ctx, m); err != nil {
				return err
			}
		}
		err := awaitAll(done, &got, n, cancel)
		if d := s.Dropped(); err != nil && d > 0 {
			err = fmt.Errorf("%w; culex dropped %d QoS 0 messages", err, d)
		}
		return err
	}
	return run, culexStop(pub, sub)
}

func (culexContender) publishInflight(tb testing.TB, addr, topic string, payload []byte, qos byte) (func(int) error, func()) {
	pub := culexMustDial(tb, addr, "culex-pub")
	run := func(n int) error {
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout(n))
		defer cancel()
		m := mqtt.Message{Topic: topic, Payload: payload, QoS: mqtt.QoS(qos)}
		return parallel(n, inflight, func() error { return pub.Publish(ctx, m) })
	}
	return run, culexStop(pub)
}

func (culexContender) roundTrip(tb testing.TB, addr, topic string, payload []byte) (func() error, func()) {
	c := culexMustDial(tb, addr, "culex-rt")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	s, err := c.Subscribe(ctx, mqtt.Filter{Topic: topic, QoS: mqtt.QoS1})
	if err != nil {
		tb.Fatal(err)
	}
	m := mqtt.Message{Topic: topic, Payload: payload, QoS: mqtt.QoS1}
	rt := func() error {
		if err := c.Publish(ctx, m); err != nil {
			return err
		}
		got, err := s.Next(ctx)
		if err != nil {
			return err
		}
		if len(got.Payload) != len(payload) {
			return errors.New("culex: received a different message")
		}
		return nil
	}
	stop := culexStop(c)
	return rt, func() { stop(); cancel() }
}

func (culexContender) job(ctx context.Context, addr, topic string, payload []byte) error {
	c, err := culexDial(ctx, addr, clientID("culex-job"))
	if err != nil {
		return err
	}
	if err := c.Publish(ctx, mqtt.Message{Topic: topic, Payload: payload, QoS: mqtt.QoS1}); err != nil {
		c.Close()
		return err
	}
	return c.Disconnect(ctx)
}

// TestClientsThroughBroker checks that every contender does every shape
// through a real broker, with a few messages each: the benchmarks' setup
// and their counting are right, and stay fast enough for go test.
func TestClientsThroughBroker(t *testing.T) {
	br := startBroker(t)
	for _, c := range contenders {
		t.Run(c.name(), func(t *testing.T) {
			run, stop := c.qos0(t, br.Addr, benchTopic("qos0"), benchPayload)
			if err := run(200); err != nil {
				t.Errorf("QoS 0: %v", err)
			}
			stop()
			for _, qos := range []byte{1, 2} {
				run, stop := c.publishInflight(t, br.Addr, benchTopic("qos"+string('0'+qos)), benchPayload, qos)
				if err := run(200); err != nil {
					t.Errorf("QoS %d: %v", qos, err)
				}
				stop()
			}
			rt, stop := c.roundTrip(t, br.Addr, benchTopic("rtt"), benchPayload)
			for i := range 3 {
				if err := rt(); err != nil {
					t.Errorf("round trip %d: %v", i, err)
				}
			}
			stop()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.job(ctx, br.Addr, benchTopic("job"), benchPayload); err != nil {
				t.Errorf("short-lived job: %v", err)
			}
		})
	}
}
