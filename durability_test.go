package mqtt_test

// The tests of issue #5, "never lose a message": a network that cuts
// connections at random moments, a publisher killed with SIGKILL, a broker
// restarted mid-stream and a connection that goes silent without closing.
// Each one checks, message by message, that what the client promised to
// deliver arrived: QoS 1 at least once, QoS 2 exactly once.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/internal/mosquitto"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// dialRetry dials until the broker accepts, bounded by ctx: the first
// connection through a chaos proxy may be cut before its CONNACK.
func dialRetry(t *testing.T, ctx context.Context, url string, o *mqtt.DialOptions) *mqtt.Client {
	t.Helper()
	for {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := mqtt.Dial(dctx, url, o)
		cancel()
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		if ctx.Err() != nil {
			t.Fatalf("dial %s: %v", url, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestChaos publishes QoS 1 and QoS 2 messages from many goroutines through
// a network that cuts the publisher's and the subscriber's connections
// every 10-100 ms, mostly in the middle of a packet, and checks that every
// QoS 1 message arrived at least once and every QoS 2 message exactly once.
func TestChaos(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		n, short   int // messages of each QoS, without and with -short
		publishers int
	}{
		{"mqtttest", 10000, 1000, 16},
		// One publisher without callbacks reads its answers itself
		// (connection.readFor), through every cut.
		{"lone-publisher", 1000, 200, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := tc.n
			if testing.Short() {
				n = tc.short
			}
			srv := mqtttest.NewServer(mqtttest.RecordLimit(0))
			t.Cleanup(srv.Close)
			runChaos(t, srv.URL, n, tc.publishers)
		})
	}
	t.Run("mosquitto", func(t *testing.T) {
		t.Parallel()
		// As many messages as against mqtttest: with -race, beside the
		// mqtttest subtest, on two cores, this takes about 4 s.
		n := 10000
		if testing.Short() {
			n = 1000
		}
		// max_queued_messages 0: mosquitto would otherwise drop QoS 1
		// and 2 messages beyond 1,000 queued for the subscriber while it
		// is cut off; queueing without limit is what the test needs.
		b := mosquitto.Start(t, mosquitto.Options{Extra: "max_queued_messages 0"})
		runChaos(t, b.TCPURL, n, 16)
	})
}

// runChaos is the body of TestChaos against the broker at url: n QoS 1 and
// n QoS 2 messages from the given number of goroutines. A lone publisher
// reads its own answers while it keeps publishing.
func runChaos(t *testing.T, url string, n, publishers int) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	topic := "chaos/" + t.Name()
	id := strings.ReplaceAll(t.Name(), "/", "-")

	subProxy := newFaultProxy(t, url, true)
	pubProxy := newFaultProxy(t, url, true)
	var subConnects, pubConnects atomic.Int64
	opts := func(clientID string, connects *atomic.Int64, store persist.Store) *mqtt.DialOptions {
		return &mqtt.DialOptions{
			Version:           mqtt.V5,
			ClientID:          clientID,
			KeepSession:       true,
			Store:             store,
			ReconnectDelay:    5 * time.Millisecond,
			MaxReconnectDelay: 50 * time.Millisecond,
			ConnectTimeout:    5 * time.Second,
			OnConnect:         func(bool) { connects.Add(1) },
		}
	}

	sub := dialRetry(t, ctx, subProxy.URL, opts(id+"-sub", &subConnects, nil))
	s, err := sub.Subscribe(ctx, mqtt.Filter{Topic: topic + "/#", QoS: mqtt.QoS2})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	got := newTally()
	var recvWG sync.WaitGroup
	recvCtx, stopRecv := context.WithCancel(context.Background())
	defer func() { stopRecv(); recvWG.Wait() }()
	got.receive(recvCtx, s, &recvWG)

	pubStore := persist.NewMemory()
	pubOpts := opts(id+"-pub", &pubConnects, pubStore)
	if publishers == 1 {
		// Count the attempts in BeforeConnect, before the connection.
		pubOpts.OnConnect = nil
		pubOpts.BeforeConnect = func(context.Context, *mqtt.ConnectAttempt) error {
			pubConnects.Add(1)
			return nil
		}
	}
	pub := dialRetry(t, ctx, pubProxy.URL, pubOpts)

	// Message k is QoS 1 + k%2 with sequence number k/2.
	okPub := make([]bool, 2*n) // Publish returned nil; each index written by one goroutine
	var errMu sync.Mutex
	var pubErrs []string
	var next atomic.Int64
	var wg sync.WaitGroup
	for range publishers {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= 2*n {
					return
				}
				q, seq := mqtt.QoS(1+k%2), k/2
				err := pub.Publish(ctx, mqtt.Message{Topic: fmt.Sprintf("%s/q%d", topic, q), QoS: q, Payload: seqPayload(q, seq)})
				if err != nil {
					errMu.Lock()
					pubErrs = append(pubErrs, fmt.Sprintf("%v message %d: %v", q, seq, err))
					errMu.Unlock()
					continue
				}
				okPub[k] = true
			}
		})
	}
	wg.Wait()
	published := time.Since(start)

	want := map[msgKey]bool{}
	for k := range 2 * n {
		want[msgKey{mqtt.QoS(1 + k%2), k / 2}] = true
	}
	// The tail arrives under chaos too.
	arrived := waitFor(30*time.Second, func() bool { return got.has(want) })

	// Then a calm network and a last message, after which nothing from
	// the run may still be on its way (a late duplicate would come
	// before it).
	subProxy.SetChaos(false)
	pubProxy.SetChaos(false)
	if err := pub.Publish(ctx, mqtt.Message{Topic: topic + "/end", QoS: mqtt.QoS1, Payload: []byte("end")}); err != nil {
		t.Errorf("publishing the end marker on a calm network: %v", err)
	}
	select {
	case <-got.endSeen:
	case <-time.After(10 * time.Second):
		t.Errorf("the end marker did not arrive within 10s of a calm network")
	}
	time.Sleep(100 * time.Millisecond)

	if len(pubErrs) > 0 {
		t.Errorf("%d of %d Publish calls failed (with reconnection on, none should), among them:\n\t%s",
			len(pubErrs), 2*n, strings.Join(pubErrs[:min(len(pubErrs), 10)], "\n\t"))
	}
	if !arrived {
		t.Errorf("not every message arrived within 30s of the last Publish")
	}
	got.check(t, want, func(k msgKey) string {
		i := 2*k.seq + int(k.qos) - 1
		return fmt.Sprintf("%v message %d (Publish returned nil: %v)", k.qos, k.seq, okPub[i])
	})

	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	if err := pub.Disconnect(dctx); err != nil {
		t.Errorf("publisher Disconnect: %v", err)
	}
	if es, err := pubStore.Load(persist.Outgoing); err != nil || len(es) != 0 {
		t.Errorf("publisher store after Disconnect: %d entries (error %v), want none", len(es), err)
	}
	if err := sub.Disconnect(dctx); err != nil {
		t.Errorf("subscriber Disconnect: %v", err)
	}

	dupQoS1 := 0
	for seq := range n {
		dupQoS1 += max(got.count(1, seq)-1, 0)
	}
	t.Logf("%d+%d messages published in %v, all checked after %v; cuts: publisher %d (%d inside a chunk), subscriber %d (%d inside a chunk); connections: publisher %d, subscriber %d; QoS 1 duplicates: %d",
		n, n, published.Round(time.Millisecond), time.Since(start).Round(time.Millisecond),
		pubProxy.cuts.Load(), pubProxy.partial.Load(), subProxy.cuts.Load(), subProxy.partial.Load(),
		pubConnects.Load(), subConnects.Load(), dupQoS1)
	if pubProxy.cuts.Load() == 0 || subProxy.cuts.Load() == 0 {
		t.Errorf("the proxies cut nothing: the test tested nothing")
	}
}

// The crash test: TestCrash runs its own test binary again as a child
// (TestCrashChild, selected by crashURLEnv) that publishes QoS 1 and QoS 2
// messages with a durable store and prints "OK <qos> <seq>" each time
// Publish returns nil. The parent kills it with SIGKILL at a random moment,
// starts the next child on the same store, which takes up what the last
// one left, and finally completes what is left itself.
const (
	crashURLEnv  = "CULEX_CRASH_URL"
	crashDirEnv  = "CULEX_CRASH_DIR"
	crashBaseEnv = "CULEX_CRASH_BASE"
	crashTopic   = "crash/msgs"
	crashPubID   = "crash-pub"
)

// crashOptions are the publisher's options, in the children and in the
// parent.
func crashOptions(store persist.Store) *mqtt.DialOptions {
	return &mqtt.DialOptions{
		Version:           mqtt.V5,
		ClientID:          crashPubID,
		KeepSession:       true,
		Store:             store,
		ReconnectDelay:    5 * time.Millisecond,
		MaxReconnectDelay: 50 * time.Millisecond,
	}
}

// TestCrashChild is the child of TestCrash; run by itself it does nothing.
func TestCrashChild(t *testing.T) {
	url := os.Getenv(crashURLEnv)
	if url == "" {
		t.Skip("the child process of TestCrash; runs only when TestCrash starts it")
	}
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "crash child: "+format+"\n", args...)
		os.Exit(2)
	}
	base, err := strconv.Atoi(os.Getenv(crashBaseEnv))
	if err != nil {
		fail("%v", err)
	}
	store, err := persist.Open(os.Getenv(crashDirEnv))
	if err != nil {
		fail("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	c, err := mqtt.Dial(ctx, url, crashOptions(store))
	cancel()
	if err != nil {
		fail("%v", err)
	}
	var outMu sync.Mutex
	say := func(line string) {
		outMu.Lock()
		os.Stdout.WriteString(line + "\n") // unbuffered: one write per line
		outMu.Unlock()
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= 1_000_000 {
					return
				}
				q, seq := mqtt.QoS(1+k%2), base+k/2
				err := c.Publish(context.Background(), mqtt.Message{Topic: crashTopic, QoS: q, Payload: seqPayload(q, seq)})
				if err != nil {
					say(fmt.Sprintf("ERR %d %d %v", q, seq, err))
					continue
				}
				say(fmt.Sprintf("OK %d %d", q, seq))
			}
		})
	}
	wg.Wait()
	time.Sleep(time.Hour) // wait for the kill
}

// TestCrash kills a publisher with SIGKILL at random moments and checks
// that every message it reported as published, and every message its
// durable store held, reached a persistent subscriber; QoS 2 ones exactly
// once; and that the store is empty once a new client has completed them.
func TestCrash(t *testing.T) {
	if os.Getenv(crashURLEnv) != "" {
		t.Skip("in the child")
	}
	switch runtime.GOOS {
	case "windows", "plan9", "js", "wasip1":
		t.Skip("needs SIGKILL and a re-executable test binary")
	}
	t.Parallel()
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	srv := mqtttest.NewServer(mqtttest.RecordLimit(0))
	t.Cleanup(srv.Close)
	dir := t.TempDir()

	sub := dialT(t, srv.URL, &mqtt.DialOptions{Version: mqtt.V5, ClientID: "crash-sub", KeepSession: true})
	s, err := sub.Subscribe(ctx, mqtt.Filter{Topic: "crash/#", QoS: mqtt.QoS2})
	if err != nil {
		t.Fatal(err)
	}
	got := newTally()
	var recvWG sync.WaitGroup
	recvCtx, stopRecv := context.WithCancel(context.Background())
	defer func() { stopRecv(); recvWG.Wait() }()
	got.receive(recvCtx, s, &recvWG)

	reported := map[msgKey]bool{} // Publish returned nil in a child
	stored := map[msgKey]bool{}   // a PUBLISH in the store after a kill
	pubrels := 0                  // PUBREL entries seen after kills
	for round := range rounds {
		killAfter := 20 + rand.N(1500)
		lines, errs := runCrashChild(t, ctx, srv.URL, dir, round*1_000_000, killAfter)
		for _, e := range errs {
			t.Errorf("round %d: child: %s", round, e)
		}
		for k := range lines {
			reported[k] = true
		}

		// What the killed child left in the store.
		st, err := persist.Open(dir)
		if err != nil {
			t.Fatalf("round %d: opening the store after the kill: %v", round, err)
		}
		out, err := st.Load(persist.Outgoing)
		if err != nil {
			t.Fatal(err)
		}
		in, err := st.Load(persist.Incoming)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if len(in) != 0 {
			t.Errorf("round %d: %d incoming entries in the store of a client that receives nothing", round, len(in))
		}
		nPub, nRel := 0, 0
		for _, e := range out {
			pkt, _, err := wire.Parse(e.Data, wire.V5)
			if err != nil {
				t.Fatalf("round %d: store entry %d does not parse: %v", round, e.ID, err)
			}
			switch p := pkt.(type) {
			case *wire.Publish:
				q, seq, ok := parseSeqPayload(p.Payload)
				if !ok || byte(q) != p.QoS || p.Topic != crashTopic || p.PacketID != e.ID {
					t.Fatalf("round %d: store entry %d is a PUBLISH of %q at QoS %d, id %d", round, e.ID, p.Payload, p.QoS, p.PacketID)
				}
				k := msgKey{q, seq}
				if reported[k] {
					// It leaves the store when acknowledged, before
					// Publish returns; a stale QoS 2 entry would be
					// resent and delivered twice.
					t.Errorf("round %d: %v message %d is still in the store although its Publish returned nil", round, q, seq)
				}
				stored[k] = true
				nPub++
			case *wire.Pubrel:
				nRel++
			default:
				t.Fatalf("round %d: store entry %d is a %v", round, e.ID, pkt.Type())
			}
		}
		pubrels += nRel
		t.Logf("round %d: killed after %d reported publishes (asked for %d); the store held %d PUBLISH and %d PUBREL", round, len(lines), killAfter, nPub, nRel)
	}

	if len(stored)+pubrels == 0 {
		t.Errorf("no kill left anything in the store: the resume of stored messages was not tested")
	}

	// A new client on the same store completes what the last child left.
	st, err := persist.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pub := dialT(t, srv.URL, crashOptions(st))
	if err := pub.Disconnect(ctx); err != nil {
		t.Errorf("Disconnect (draining what the children left): %v", err)
	}
	if es, err := st.Load(persist.Outgoing); err != nil || len(es) != 0 {
		t.Errorf("the store holds %d outgoing entries after the drain (error %v), want none", len(es), err)
	}

	want := map[msgKey]bool{}
	for k := range reported {
		want[k] = true
	}
	for k := range stored {
		want[k] = true
	}
	arrived := waitFor(20*time.Second, func() bool { return got.has(want) })
	// An end marker behind everything, so that late duplicates show.
	if err := sub.Publish(ctx, mqtt.Message{Topic: "crash/end", QoS: mqtt.QoS1, Payload: []byte("end")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got.endSeen:
	case <-ctx.Done():
		t.Fatal("the end marker did not arrive")
	}
	time.Sleep(50 * time.Millisecond)
	if !arrived {
		t.Errorf("not every message arrived within 20s")
	}
	got.check(t, want, func(k msgKey) string {
		return fmt.Sprintf("%v message %d (reported published: %v, in the store after a kill: %v)", k.qos, k.seq, reported[k], stored[k])
	})
	got.mu.Lock()
	total := got.total
	got.mu.Unlock()
	t.Logf("%d rounds: %d messages reported published, %d PUBLISH and %d PUBREL left in the store across kills; the subscriber received %d messages",
		rounds, len(reported), len(stored), pubrels, total)
}

// runCrashChild runs one child publishing from sequence number base,
// kills it with SIGKILL once it has reported killAfter publishes, and
// returns every message it reported as published (also those reported
// after the kill was decided) and its error lines.
func runCrashChild(t *testing.T, ctx context.Context, url, dir string, base, killAfter int) (map[msgKey]bool, []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), crashURLEnv+"="+url, crashDirEnv+"="+dir, crashBaseEnv+"="+strconv.Itoa(base))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Whatever happens, no child outlives the test.
	stop := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	defer stop()
	lines := map[msgKey]bool{}
	var errs []string
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "OK":
			q, err1 := strconv.Atoi(f[1])
			seq, err2 := strconv.Atoi(f[2])
			if err1 != nil || err2 != nil {
				errs = append(errs, "bad line: "+sc.Text())
				continue
			}
			lines[msgKey{mqtt.QoS(q), seq}] = true
		case len(f) > 0 && f[0] == "ERR":
			errs = append(errs, sc.Text())
		}
		if !killed && len(lines) >= killAfter {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	// The pipe is closed: the child is dead (its last lines were read).
	cmd.Process.Kill()
	err = cmd.Wait()
	if !killed {
		t.Fatalf("the child ended before it was killed, after %d publishes: %v", len(lines), err)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("the child ended with %v, want death by SIGKILL", err)
	}
	return lines, errs
}

// TestBrokerRestart restarts a mosquitto with persistence in the middle of
// a stream of QoS 1 messages: both clients reconnect by themselves, resume
// their sessions, and every message arrives.
func TestBrokerRestart(t *testing.T) {
	t.Parallel()
	n := 3000
	if testing.Short() {
		n = 600
	}
	const publishers = 8
	b := mosquitto.Start(t, mosquitto.Options{Persistence: true, Extra: "max_queued_messages 0"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	type counters struct {
		connects, resumed, reconnecting, lost atomic.Int64
	}
	opts := func(id string, c *counters) *mqtt.DialOptions {
		return &mqtt.DialOptions{
			Version:           mqtt.V5,
			ClientID:          id,
			KeepSession:       true,
			ReconnectDelay:    20 * time.Millisecond,
			MaxReconnectDelay: 200 * time.Millisecond,
			OnConnect: func(present bool) {
				c.connects.Add(1)
				if present {
					c.resumed.Add(1)
				}
			},
			OnReconnecting:   func(int, time.Duration, error) { c.reconnecting.Add(1) },
			OnConnectionLost: func(error) { c.lost.Add(1) },
		}
	}
	var subC, pubC counters
	subOpts := opts("restart-sub", &subC)
	subOpts.ReceiveMaximum = 32 // the backlog waits at the broker, not in the client
	sub := dialT(t, b.TCPURL, subOpts)
	s, err := sub.Subscribe(ctx, mqtt.Filter{Topic: "restart/#", QoS: mqtt.QoS1})
	if err != nil {
		t.Fatal(err)
	}
	// The subscriber stops taking messages before the restart, so that
	// the broker holds a backlog for it, some sent and unacknowledged,
	// most queued, that must survive the restart.
	got := newTally()
	var recvWG sync.WaitGroup
	recvCtx, stopRecv := context.WithCancel(context.Background())
	resume := make(chan struct{})
	var paused atomic.Bool
	resumeOnce := sync.OnceFunc(func() { close(resume) })
	defer func() { resumeOnce(); stopRecv(); recvWG.Wait() }()
	recvWG.Go(func() {
		for {
			m, err := s.Next(recvCtx)
			if err != nil {
				return
			}
			if paused.Load() {
				<-resume
			}
			got.add(m)
		}
	})

	pub := dialT(t, b.TCPURL, opts("restart-pub", &pubC))
	var next, done atomic.Int64
	var errMu sync.Mutex
	var pubErrs []string
	var wg sync.WaitGroup
	for range publishers {
		wg.Go(func() {
			for {
				seq := int(next.Add(1) - 1)
				if seq >= n {
					return
				}
				if err := pub.Publish(ctx, mqtt.Message{Topic: "restart/q1", QoS: mqtt.QoS1, Payload: seqPayload(1, seq)}); err != nil {
					errMu.Lock()
					pubErrs = append(pubErrs, fmt.Sprintf("message %d: %v", seq, err))
					errMu.Unlock()
				}
				done.Add(1)
			}
		})
	}
	// Pause the subscriber a third of the way through, restart two
	// thirds of the way, with messages in flight in both directions.
	if !waitFor(30*time.Second, func() bool { return done.Load() >= int64(n/3) }) {
		t.Fatalf("only %d of %d messages published after 30s", done.Load(), n)
	}
	paused.Store(true)
	if !waitFor(30*time.Second, func() bool { return done.Load() >= int64(2*n/3) }) {
		t.Fatalf("only %d of %d messages published after 30s", done.Load(), n)
	}
	atRestart := done.Load()
	got.mu.Lock()
	backlog := int(atRestart) - got.total
	got.mu.Unlock()
	restartStart := time.Now()
	b.Restart(t)
	restartTook := time.Since(restartStart)
	resumeOnce()
	wg.Wait()

	want := map[msgKey]bool{}
	for seq := range n {
		want[msgKey{1, seq}] = true
	}
	arrived := waitFor(20*time.Second, func() bool { return got.has(want) })
	if err := pub.Publish(ctx, mqtt.Message{Topic: "restart/end", QoS: mqtt.QoS1, Payload: []byte("end")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got.endSeen:
	case <-ctx.Done():
		t.Fatal("the end marker did not arrive")
	}
	for _, e := range pubErrs[:min(len(pubErrs), 10)] {
		t.Errorf("Publish failed: %s", e)
	}
	if !arrived {
		t.Errorf("not every message arrived within 20s")
	}
	got.check(t, want, func(k msgKey) string { return fmt.Sprintf("QoS 1 message %d", k.seq) })

	for _, c := range []struct {
		name string
		c    *counters
	}{{"publisher", &pubC}, {"subscriber", &subC}} {
		connects, resumed, reconnecting, lost := c.c.connects.Load(), c.c.resumed.Load(), c.c.reconnecting.Load(), c.c.lost.Load()
		t.Logf("%s: %d connections (%d resumed a session), %d reconnection attempts, %d connections lost", c.name, connects, resumed, reconnecting, lost)
		if connects < 2 || reconnecting < 1 || lost < 1 {
			t.Errorf("%s: %d connections, %d reconnection attempts, %d lost: want a lost connection and a reconnection", c.name, connects, reconnecting, lost)
		}
		if resumed != connects-1 {
			t.Errorf("%s: %d of %d reconnections resumed the session, want all (the broker persists sessions)", c.name, resumed, connects-1)
		}
	}
	t.Logf("restart after %d of %d messages published, with %d not yet taken by the subscriber, took %v",
		atRestart, n, backlog, restartTook.Round(time.Millisecond))
}

// TestHalfOpen freezes the connection without closing it (no FIN, no RST,
// no data) and checks that keep alive finds it dead within 1.5 keep alive,
// that the client reconnects, and that a publish made meanwhile and one
// made after both succeed.
func TestHalfOpen(t *testing.T) {
	t.Parallel()
	const keepAlive = 2 * time.Second
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	proxy := newFaultProxy(t, srv.URL, false)
	lost := make(chan error, 10)
	var connects atomic.Int64
	c := dialT(t, proxy.URL, &mqtt.DialOptions{
		Version:           mqtt.V5,
		ClientID:          "half-open",
		KeepSession:       true,
		KeepAlive:         keepAlive,
		ReconnectDelay:    10 * time.Millisecond,
		MaxReconnectDelay: 50 * time.Millisecond,
		OnConnect:         func(bool) { connects.Add(1) },
		OnConnectionLost:  func(err error) { lost <- err },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Publish(ctx, mqtt.Message{Topic: "half/open", QoS: mqtt.QoS1, Payload: []byte("before")}); err != nil {
		t.Fatal(err)
	}

	frozenAt := time.Now()
	if n := proxy.Freeze(); n != 1 {
		t.Fatalf("froze %d connections, want 1", n)
	}
	// A publish into the void: it must complete after the reconnection.
	during := make(chan error, 1)
	go func() {
		during <- c.Publish(ctx, mqtt.Message{Topic: "half/open", QoS: mqtt.QoS1, Payload: []byte("during")})
	}()
	var cause error
	select {
	case cause = <-lost:
	case <-time.After(3 * keepAlive):
		t.Fatalf("the connection was not found dead within %v of freezing it", 3*keepAlive)
	}
	took := time.Since(frozenAt)
	t.Logf("connection lost %v after freezing it (keep alive %v): %v", took.Round(time.Millisecond), keepAlive, cause)
	// The ping goes out after 3/4 keep alive of silence and may take 1/2
	// keep alive: ~1.25 keep alive; the server allows itself 1.5.
	if took > keepAlive*3/2 {
		t.Errorf("found dead after %v, more than 1.5 keep alive (%v)", took, keepAlive*3/2)
	}
	if took < keepAlive/2 {
		t.Errorf("found dead after %v, before a PINGRESP could be overdue (half the keep alive, %v): lost for another reason", took, keepAlive/2)
	}

	if !waitFor(5*time.Second, func() bool { return connects.Load() >= 2 }) {
		t.Fatalf("no reconnection within 5s of losing the connection")
	}
	select {
	case err := <-during:
		if err != nil {
			t.Errorf("Publish made while the connection was frozen: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("Publish made while the connection was frozen did not return within 5s of the reconnection")
	}
	if err := c.Publish(ctx, mqtt.Message{Topic: "half/open", QoS: mqtt.QoS1, Payload: []byte("after")}); err != nil {
		t.Errorf("Publish after the reconnection: %v", err)
	}
	if got := proxy.accepted.Load(); got < 2 {
		t.Errorf("the proxy accepted %d connections, want the first and a new one", got)
	}
}
