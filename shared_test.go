package mqtt_test

// Shared subscriptions (MQTT 5.0 section 4.8.2, "$share/{group}/{filter}";
// mosquitto offers them to 3.1.1 clients too): what each consumer of a
// group receives, and what becomes of the messages of a consumer that dies
// before it has acknowledged them. docs/BROKERS.md reports the findings.

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/internal/mosquitto"
	"github.com/culex-mqtt/mqtt/wire"
)

// consumers records which consumer of a group received which message:
// payloads are decimal sequence numbers.
type consumers struct {
	mu  sync.Mutex
	got map[string][]int // consumer name -> sequence numbers, in arrival order
	wg  sync.WaitGroup
}

func newConsumers() *consumers { return &consumers{got: map[string][]int{}} }

// read hands every message of s to name until ctx ends.
func (cs *consumers) read(t *testing.T, ctx context.Context, name string, s *mqtt.Subscription) {
	cs.wg.Go(func() {
		for {
			m, err := s.Next(ctx)
			if err != nil {
				return
			}
			seq, err := strconv.Atoi(string(m.Payload))
			if err != nil {
				t.Errorf("%s: unexpected payload %q", name, m.Payload)
				continue
			}
			cs.mu.Lock()
			cs.got[name] = append(cs.got[name], seq)
			cs.mu.Unlock()
		}
	})
}

// count returns how many times each sequence number arrived, at the named
// consumers (all of them if none is named).
func (cs *consumers) count(names ...string) map[int]int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	n := map[int]int{}
	for name, seqs := range cs.got {
		if len(names) > 0 && !slices.Contains(names, name) {
			continue
		}
		for _, s := range seqs {
			n[s]++
		}
	}
	return n
}

// has reports whether every sequence number in [from, to) arrived.
func (cs *consumers) has(from, to int, names ...string) bool {
	n := cs.count(names...)
	for s := from; s < to; s++ {
		if n[s] == 0 {
			return false
		}
	}
	return true
}

func (cs *consumers) of(name string) []int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return slices.Clone(cs.got[name])
}

func publishSeq(t *testing.T, ctx context.Context, pub *mqtt.Client, topic string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := pub.Publish(ctx, mqtt.Message{Topic: topic, QoS: mqtt.QoS1, Payload: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
}

// TestMosquittoSharedSubscriptions shares a stream between consumers on
// mosquitto, over MQTT 5.0 and 3.1.1: each message reaches one consumer of
// the group (MQTT 5.0 section 4.8.2), and all of them take a part.
func TestMosquittoSharedSubscriptions(t *testing.T) {
	t.Parallel()
	b := mosquitto.Start(t, mosquitto.Options{})
	for _, v := range []mqtt.Version{mqtt.V5, mqtt.V311} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			topic := "jobs/spread/" + v.String()
			cs := newConsumers()
			rctx, stop := context.WithCancel(ctx)
			defer func() { stop(); cs.wg.Wait() }()
			names := []string{"c1", "c2", "c3"}
			for _, name := range names {
				c := dialT(t, b.TCPURL, &mqtt.DialOptions{Version: v})
				s, err := c.Subscribe(ctx, mqtt.Filter{Topic: "$share/workers/" + topic + "/#", QoS: mqtt.QoS1})
				if err != nil {
					t.Fatal(err)
				}
				if got := s.Filters()[0].QoS; got != mqtt.QoS1 {
					t.Fatalf("granted %v", got)
				}
				cs.read(t, rctx, name, s)
			}
			pub := dialT(t, b.TCPURL, &mqtt.DialOptions{Version: v})
			const n = 300
			publishSeq(t, ctx, pub, topic+"/x", 0, n)
			if !waitFor(10*time.Second, func() bool { return cs.has(0, n) }) {
				t.Fatalf("not every message arrived: %v", cs.count())
			}
			// A marker through an ordinary subscription: nothing of
			// the run comes after it, so the count below is final.
			plain := dialT(t, b.TCPURL, &mqtt.DialOptions{Version: v})
			ps, err := plain.Subscribe(ctx, mqtt.Filter{Topic: topic + "-end", QoS: mqtt.QoS1})
			if err != nil {
				t.Fatal(err)
			}
			publishSeq(t, ctx, pub, topic+"-end", n, n+1)
			if _, err := ps.Next(ctx); err != nil {
				t.Fatal(err)
			}
			for seq, k := range cs.count() {
				if k != 1 {
					t.Errorf("message %d arrived %d times in the group", seq, k)
				}
			}
			for _, name := range names {
				if len(cs.of(name)) == 0 {
					t.Errorf("%s received nothing of %d messages", name, n)
				}
				t.Logf("%s received %d", name, len(cs.of(name)))
			}
		})
	}
}

// TestMosquittoSharedConsumerDies has a consumer of a shared subscription
// die (its connection cut, no DISCONNECT) while it holds unacknowledged
// QoS 1 messages and more are queued for it, over MQTT 5.0 and 3.1.1, with
// a clean and with a persistent session. MQTT 5.0 section 4.8.2 lets the
// server keep such a QoS 1 message for the consumer until it reconnects,
// and says it should send it to another consumer of the group once the
// consumer's session has ended. What mosquitto 2.0.11 does, as
// docs/BROKERS.md reports it:
//
//   - It never hands a dead consumer's messages to the others of the group.
//   - With a clean session they are lost with the session.
//   - With a persistent session they wait in it, and the dead consumer
//     keeps being given its turn: a share of every later message is queued
//     for it, until it comes back (or its session expires).
func TestMosquittoSharedConsumerDies(t *testing.T) {
	t.Parallel()
	b := mosquitto.Start(t, mosquitto.Options{})
	for _, v := range []mqtt.Version{mqtt.V5, mqtt.V311} {
		for _, keep := range []bool{false, true} {
			session := map[bool]string{false: "clean", true: "persistent"}[keep]
			t.Run(v.String()+"/"+session, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				topic := "jobs/dies/" + v.String() + "/" + session
				filter := mqtt.Filter{Topic: "$share/workers/" + topic + "/#", QoS: mqtt.QoS1}
				cs := newConsumers()
				rctx, stop := context.WithCancel(ctx)
				defer func() { stop(); cs.wg.Wait() }()

				// The consumer that will die joins alone and is sent
				// the first batch; it never calls Next, so it
				// acknowledges nothing: the first 4 are in flight to
				// it (its Receive Maximum), the rest queued for it.
				const batch1, batch2 = 10, 30
				var held sync.Map // sequence numbers of PUBLISHes it read
				deadID := "dead-" + v.String() + "-" + session
				deadOpts := &mqtt.DialOptions{Version: v, ClientID: deadID, KeepSession: keep, ReceiveMaximum: 4,
					OnPacketReceived: func(p wire.Packet) {
						if pp, ok := p.(*wire.Publish); ok {
							seq, _ := strconv.Atoi(string(pp.Payload))
							held.Store(seq, true)
						}
					}}
				dead := dialT(t, b.TCPURL, deadOpts)
				if _, err := dead.Subscribe(ctx, filter); err != nil {
					t.Fatal(err)
				}
				pub := dialT(t, b.TCPURL, &mqtt.DialOptions{Version: v})
				publishSeq(t, ctx, pub, topic+"/x", 0, batch1)
				heldCount := func() int {
					n := 0
					held.Range(func(any, any) bool { n++; return true })
					return n
				}
				if !waitFor(10*time.Second, func() bool { return heldCount() >= 4 }) {
					t.Fatalf("the consumer was sent %d messages, want 4", heldCount())
				}

				// Two others join; then it dies.
				for _, name := range []string{"b", "c"} {
					c := dialT(t, b.TCPURL, &mqtt.DialOptions{Version: v})
					s, err := c.Subscribe(ctx, filter)
					if err != nil {
						t.Fatal(err)
					}
					cs.read(t, rctx, name, s)
				}
				dead.Close() // no DISCONNECT: as if its process were killed
				b.WaitForLog(t, "Client "+deadID+" closed its connection", 10*time.Second)
				t.Logf("the consumer died holding %d unacknowledged messages, with %d more queued for it", heldCount(), batch1-heldCount())

				// The group goes on without it.
				publishSeq(t, ctx, pub, topic+"/x", batch1, batch1+batch2)
				if keep {
					// It comes back on its session (with the
					// default Receive Maximum: see
					// TestMosquittoResumedBacklog) and receives what
					// was kept for it.
					back := *deadOpts
					back.ReceiveMaximum, back.OnPacketReceived = 0, nil
					again := dialT(t, b.TCPURL, &back)
					s, err := again.Subscribe(ctx, filter)
					if err != nil {
						t.Fatal(err)
					}
					cs.read(t, rctx, "back", s)
					if !waitFor(10*time.Second, func() bool { return cs.has(0, batch1+batch2) }) {
						t.Fatalf("after the consumer came back, messages are missing: %v", cs.count())
					}
				} else if !waitFor(10*time.Second, func() bool { return cs.has(batch1, batch1+batch2, "b", "c") }) {
					t.Fatalf("the other consumers did not receive the second batch: %v", cs.count("b", "c"))
				}
				// A marker through an ordinary subscription, published
				// after both batches: had the broker given the dead
				// consumer's messages to the others, it would have
				// done so before.
				plain := dialT(t, b.TCPURL, &mqtt.DialOptions{Version: v})
				ps, err := plain.Subscribe(ctx, mqtt.Filter{Topic: topic + "-end", QoS: mqtt.QoS1})
				if err != nil {
					t.Fatal(err)
				}
				publishSeq(t, ctx, pub, topic+"-end", -1, 0)
				if _, err := ps.Next(ctx); err != nil {
					t.Fatal(err)
				}
				others := cs.count("b", "c")
				var redelivered []int
				for seq := range batch1 {
					if others[seq] > 0 {
						redelivered = append(redelivered, seq)
					}
				}
				if len(redelivered) > 0 {
					t.Errorf("the dead consumer's messages %v went to the others: docs/BROKERS.md says mosquitto never does that", redelivered)
				}
				missing := 0
				for seq := batch1; seq < batch1+batch2; seq++ {
					if others[seq] == 0 {
						missing++
					}
				}
				if !keep {
					if missing > 0 {
						t.Errorf("%d messages of the second batch missing at the other consumers", missing)
					}
					t.Logf("lost with the clean session: the %d messages of the first batch; the others received all %d later ones", batch1, batch2)
					return
				}
				if missing == 0 {
					t.Errorf("the others received the whole second batch: docs/BROKERS.md says mosquitto queues a share for the dead consumer's session")
				}
				got := cs.of("back")
				t.Logf("kept in the persistent session and delivered on its return: %d messages (%d of the first batch, %d of the %d published while it was gone; %d sent twice)",
					len(got), len(slices.DeleteFunc(slices.Clone(got), func(s int) bool { return s >= batch1 })), missing, batch2, len(got)-len(cs.count("back")))
			})
		}
	}
}

// TestMosquittoResumedBacklog resumes a persistent session for which
// mosquitto queued more QoS 1 messages than the client's Receive Maximum
// while it was away, as a consumer of a shared subscription that comes
// back finds it (TestMosquittoSharedConsumerDies), and checks that every
// one arrives.
//
// Over MQTT 5.0, mosquitto 2.0.11 sends one message more than the Receive
// Maximum once the messages it sends again (DUP) are acknowledged; the
// client takes that for the protocol error it is (MQTT-3.3.4-9: DISCONNECT
// 0x93), connects again, and the rest arrives, some twice.
//
// Over MQTT 3.1.1 the client stops reading at its Receive Maximum (a 3.1.1
// server is not told it), but first acknowledges the messages held for a
// Subscribe: when that many messages of the resumed session arrive before
// the SUBACK of the Subscribe that would take them, the SUBACK is read all
// the same (it was not, and Subscribe waited until its ctx ended).
func TestMosquittoResumedBacklog(t *testing.T) {
	t.Parallel()
	b := mosquitto.Start(t, mosquitto.Options{})
	for _, v := range []mqtt.Version{mqtt.V5, mqtt.V311} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			topic := "backlog/" + v.String()
			var refusals atomic.Int64
			opts := &mqtt.DialOptions{Version: v, ClientID: "backlog-" + v.String(), KeepSession: true, ReceiveMaximum: 5,
				ReconnectDelay: 10 * time.Millisecond,
				OnPacketSent: func(p wire.Packet) {
					if d, ok := p.(*wire.Disconnect); ok && d.ReasonCode == wire.ReceiveMaximumExceeded {
						refusals.Add(1)
					}
				}}
			c := dialT(t, b.TCPURL, opts)
			if _, err := c.Subscribe(ctx, mqtt.Filter{Topic: topic + "/#", QoS: mqtt.QoS1}); err != nil {
				t.Fatal(err)
			}
			c.Close()
			pub := dialT(t, b.TCPURL, &mqtt.DialOptions{Version: v})
			const n = 20
			publishSeq(t, ctx, pub, topic+"/x", 0, n)

			c = dialT(t, b.TCPURL, opts)
			s, err := c.Subscribe(ctx, mqtt.Filter{Topic: topic + "/#", QoS: mqtt.QoS1})
			if err != nil {
				t.Fatal(err)
			}
			cs := newConsumers()
			rctx, stop := context.WithCancel(ctx)
			defer func() { stop(); cs.wg.Wait() }()
			cs.read(t, rctx, "c", s)
			if !waitFor(10*time.Second, func() bool { return cs.has(0, n) }) {
				t.Fatalf("not every message of the backlog arrived: %v", cs.count())
			}
			t.Logf("%d messages, %d received; the client refused %d times a message beyond its Receive Maximum (DISCONNECT 0x93)",
				n, len(cs.of("c")), refusals.Load())
		})
	}
}
