package mqtt_test

// Interoperability with brokers other than mosquitto (issue #18): NATS,
// alone and as a 3-node cluster, and RabbitMQ's MQTT plugin. One suite,
// runInterop, runs against each with what the broker is known to do
// written down in a brokerTraits, so that a broker upgrade that changes
// behaviour fails here and the compatibility table (docs/BROKERS.md) is
// updated with it.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/internal/mosquitto"
)

// brokerTraits is what a broker under test does, as observed; the suite
// checks each claim.
type brokerTraits struct {
	// pubURL and subURL are where publishers and subscribers connect: two
	// nodes of a cluster, or the same URL.
	pubURL, subURL string
	// version is what the tests ask for (0: let the client choose);
	// wantVersion what the connection must end up speaking.
	version, wantVersion mqtt.Version
	// grantQoS2 is the QoS granted to a QoS 2 subscription.
	grantQoS2 mqtt.QoS
	// retainedWildcard: a retained message reaches a new subscription
	// whose filter has a wildcard, not only an exact one.
	retainedWildcard bool
	// routed: a subscription made on one node is not at once known to
	// the node a publisher uses; wait for it by publishing probes.
	routed bool
	// noShared: the broker takes "$share/{group}/{filter}" for an
	// ordinary filter, which matches no topic a client may publish to.
	noShared bool
	// lateResend: a resumed session's unacknowledged messages may come
	// only after this long instead of at once (NATS 2.9: when its
	// JetStream consumer's ack_wait expires).
	lateResend time.Duration
}

// runInterop runs the interoperability suite against a broker: connect,
// QoS 0 and 1 in both directions (with mosquitto_pub and mosquitto_sub
// as the other end), QoS 2 subscriptions, retained messages, wills and
// persistent sessions.
func runInterop(t *testing.T, name string, bt brokerTraits) {
	opts := func(o mqtt.DialOptions) *mqtt.DialOptions {
		o.Version = bt.version
		return &o
	}
	prefix := "interop/" + name

	t.Run("connect", func(t *testing.T) {
		t.Parallel()
		c := dialT(t, bt.pubURL, opts(mqtt.DialOptions{}))
		if got := c.Version(); got != bt.wantVersion {
			t.Errorf("Version() = %v, want %v", got, bt.wantVersion)
		}
		if err := c.Disconnect(testCtx(t)); err != nil {
			t.Error(err)
		}
	})

	t.Run("qos", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		topic := prefix + "/qos"
		sub := dialT(t, bt.subURL, opts(mqtt.DialOptions{}))
		s, err := sub.Subscribe(ctx, mqtt.Filter{Topic: topic + "/#", QoS: mqtt.QoS2})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Filters()[0].QoS; got != bt.grantQoS2 {
			t.Errorf("a QoS 2 subscription was granted %v, want %v", got, bt.grantQoS2)
		}
		pub := dialT(t, bt.pubURL, opts(mqtt.DialOptions{}))
		awaitRoute(t, ctx, pub, s, topic+"/probe", bt.routed)
		for q := mqtt.QoS0; q <= min(mqtt.QoS1, bt.grantQoS2); q++ {
			payload := fmt.Appendf(nil, "at %v", q)
			if err := pub.Publish(ctx, mqtt.Message{Topic: topic + "/x", QoS: q, Payload: payload}); err != nil {
				t.Fatalf("publish at %v: %v", q, err)
			}
			m := nextSkipping(t, ctx, s, topic+"/probe")
			if m.Topic != topic+"/x" || !bytes.Equal(m.Payload, payload) || m.QoS != q {
				t.Errorf("got %q %q at %v, want %q %q at %v", m.Topic, m.Payload, m.QoS, topic+"/x", payload, q)
			}
		}
	})

	t.Run("other-clients", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		vflag := map[mqtt.Version]string{mqtt.V31: "mqttv31", mqtt.V311: "mqttv311", mqtt.V5: "mqttv5"}[bt.wantVersion]
		topic := prefix + "/cli"
		// mosquitto_pub to culex.
		c := dialT(t, bt.subURL, opts(mqtt.DialOptions{}))
		s, err := c.Subscribe(ctx, mqtt.Filter{Topic: topic + "/to-culex", QoS: mqtt.QoS1})
		if err != nil {
			t.Fatal(err)
		}
		for q := 0; q <= 1; q++ {
			msg := fmt.Sprintf("from mosquitto_pub qos %d", q)
			var m mqtt.Message
			// A cluster routes the subscription to the publisher's
			// node a moment later: publish again until it arrives.
			for attempt := 0; ; attempt++ {
				if err := mosquitto.Pub(t, append(hostPort(bt.pubURL), "-V", vflag, "-q", fmt.Sprint(q), "-t", topic+"/to-culex", "-m", msg)...); err != nil {
					t.Fatal(err)
				}
				wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
				m, err = s.Next(wctx)
				cancel()
				if err == nil || !bt.routed || attempt == 20 || ctx.Err() != nil {
					break
				}
			}
			if err != nil {
				t.Fatalf("mosquitto_pub at QoS %d: %v", q, err)
			}
			if string(m.Payload) != msg {
				t.Errorf("got %q, want %q", m.Payload, msg)
			}
		}
		// culex to mosquitto_sub: publish until mosquitto_sub, which
		// subscribes in the background, prints one.
		sp := mosquitto.Sub(t, append(hostPort(bt.subURL), "-V", vflag, "-q", "1", "-t", topic+"/from-culex/#", "-v")...)
		pub := dialT(t, bt.pubURL, opts(mqtt.DialOptions{}))
		probeTopic := topic + "/from-culex/probe"
		for routed := false; !routed; {
			if err := pub.Publish(ctx, mqtt.Message{Topic: probeTopic, Payload: []byte("probe")}); err != nil {
				t.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			_, err := sp.NextContext(wctx)
			cancel()
			routed = err == nil
			if ctx.Err() != nil {
				t.Fatal("mosquitto_sub never received a probe")
			}
		}
		var earlier []string // QoS 0 may have come more than once
		for q := mqtt.QoS0; q <= mqtt.QoS1; q++ {
			msg := fmt.Sprintf("from culex %v", q)
			want := topic + "/from-culex/x " + msg
			earlier = append(earlier, want)
			// At QoS 0 a cluster may lose a message between its nodes
			// (at most once): publish again until one arrives. At QoS 1
			// once is enough.
		publish:
			for {
				if err := pub.Publish(ctx, mqtt.Message{Topic: topic + "/from-culex/x", QoS: q, Payload: []byte(msg)}); err != nil {
					t.Fatal(err)
				}
				wctx, cancel := ctx, context.CancelFunc(func() {})
				if q == mqtt.QoS0 && bt.routed {
					wctx, cancel = context.WithTimeout(ctx, 500*time.Millisecond)
				}
				for {
					line, err := sp.NextContext(wctx)
					if err != nil && ctx.Err() == nil && wctx.Err() != nil {
						cancel()
						continue publish
					}
					cancel()
					if err != nil {
						t.Fatal(err)
					}
					if strings.HasPrefix(line, probeTopic+" ") || (line != want && slices.Contains(earlier, line)) {
						continue
					}
					if line != want {
						t.Errorf("mosquitto_sub printed %q, want %q", line, want)
					}
					break publish
				}
			}
		}
	})

	t.Run("retained", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		topic := prefix + "/retained/kept"
		pub := dialT(t, bt.pubURL, opts(mqtt.DialOptions{}))
		if err := pub.Publish(ctx, mqtt.Message{Topic: topic, Payload: []byte("kept"), QoS: mqtt.QoS1, Retain: true}); err != nil {
			t.Fatal(err)
		}
		sub := dialT(t, bt.subURL, opts(mqtt.DialOptions{}))
		// The retained message is stored at the broker once PUBACK
		// arrived; a cluster replicates it before that (NATS keeps
		// them in a JetStream stream).
		for _, f := range []struct {
			filter string
			want   bool
		}{{topic, true}, {prefix + "/retained/#", bt.retainedWildcard}, {prefix + "/retained/+", bt.retainedWildcard}} {
			s, err := sub.Subscribe(ctx, mqtt.Filter{Topic: f.filter, QoS: mqtt.QoS1})
			if err != nil {
				t.Fatal(err)
			}
			if f.want {
				m, err := s.Next(ctx)
				if err != nil {
					t.Fatalf("subscribing to %s: no retained message: %v", f.filter, err)
				}
				if !m.Retain || string(m.Payload) != "kept" || m.Topic != topic {
					t.Errorf("subscribing to %s: got %q %q retain=%v, want the retained message", f.filter, m.Topic, m.Payload, m.Retain)
				}
			} else {
				// Prove the negative on the event: a message
				// published after the subscription comes first.
				if err := pub.Publish(ctx, mqtt.Message{Topic: prefix + "/retained/after", Payload: []byte("after"), QoS: mqtt.QoS1}); err != nil {
					t.Fatal(err)
				}
				m, err := s.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if m.Retain {
					t.Errorf("subscribing to %s: the retained message arrived, against what docs/BROKERS.md says: update it", f.filter)
				}
			}
			if err := s.Unsubscribe(ctx); err != nil {
				t.Fatal(err)
			}
		}
		// An empty retained message clears it.
		if err := pub.Publish(ctx, mqtt.Message{Topic: topic, QoS: mqtt.QoS1, Retain: true}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("will", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		topic := prefix + "/will"
		sub := dialT(t, bt.subURL, opts(mqtt.DialOptions{}))
		s, err := sub.Subscribe(ctx, mqtt.Filter{Topic: topic + "/#", QoS: mqtt.QoS1})
		if err != nil {
			t.Fatal(err)
		}
		// Wait for the route with the will's client itself, so that a
		// message from its node surely arrives.
		willer := dialT(t, bt.pubURL, opts(mqtt.DialOptions{
			Will: &mqtt.Message{Topic: topic + "/gone", Payload: []byte("gone"), QoS: mqtt.QoS1}}))
		awaitRoute(t, ctx, willer, s, topic+"/probe", bt.routed)
		// A graceful Disconnect discards the will ...
		quiet := dialT(t, bt.pubURL, opts(mqtt.DialOptions{
			Will: &mqtt.Message{Topic: topic + "/gone", Payload: []byte("unexpected"), QoS: mqtt.QoS1}}))
		if err := quiet.Disconnect(ctx); err != nil {
			t.Fatal(err)
		}
		// ... Close, which sends no DISCONNECT, does not.
		willer.Close()
		m := nextSkipping(t, ctx, s, topic+"/probe")
		if m.Topic != topic+"/gone" || string(m.Payload) != "gone" {
			t.Errorf("will: got %q %q, want %s/gone \"gone\"", m.Topic, m.Payload, topic)
		}
	})

	if bt.noShared {
		t.Run("no-shared-subscriptions", func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			topic := prefix + "/shared"
			c := dialT(t, bt.subURL, opts(mqtt.DialOptions{}))
			shared, err := c.Subscribe(ctx, mqtt.Filter{Topic: "$share/group/" + topic + "/#"})
			if err != nil {
				t.Fatalf("SUBSCRIBE $share/...: %v", err)
			}
			t.Logf("SUBSCRIBE $share/group/%s/# granted %v", topic, shared.Filters()[0].QoS)
			marker, err := c.Subscribe(ctx, mqtt.Filter{Topic: topic + "-marker"})
			if err != nil {
				t.Fatal(err)
			}
			// Both at QoS 0, on one node, to one connection: the
			// broker sends them in order, so once the marker is in,
			// a message for the shared filter would be too.
			pub := dialT(t, bt.subURL, opts(mqtt.DialOptions{}))
			awaitRoute(t, ctx, pub, marker, topic+"-marker", bt.routed)
			if err := pub.Publish(ctx, mqtt.Message{Topic: topic + "/x", Payload: []byte("for the group")}); err != nil {
				t.Fatal(err)
			}
			if err := pub.Publish(ctx, mqtt.Message{Topic: topic + "-marker", Payload: []byte("marker")}); err != nil {
				t.Fatal(err)
			}
			for m := nextSkipping(t, ctx, marker, ""); string(m.Payload) != "marker"; m = nextSkipping(t, ctx, marker, "") {
			}
			wctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
			defer cancel()
			if m, err := shared.Next(wctx); err == nil {
				t.Errorf("the shared subscription received %q: docs/BROKERS.md says this broker has none; update it", m.Payload)
			}
		})
	}

	t.Run("session", func(t *testing.T) {
		t.Parallel()
		// Close below may leave messages in flight to the old
		// connection, if the broker routes them there before it has
		// seen the connection go.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second+bt.lateResend)
		defer cancel()
		topic := prefix + "/session"
		id := "s-" + name // MQTT 3.1 allows 23 bytes
		connects := make(chan bool, 4)
		subOpts := opts(mqtt.DialOptions{ClientID: id, KeepSession: true, OnConnect: func(p bool) { connects <- p }})
		sub := dialT(t, bt.subURL, subOpts)
		if present := <-connects; present {
			// A session left by an earlier run on the same broker:
			// harmless, the test only needs it to exist later.
			t.Logf("a session for %s was already there", id)
		}
		s, err := sub.Subscribe(ctx, mqtt.Filter{Topic: topic + "/#", QoS: mqtt.QoS1})
		if err != nil {
			t.Fatal(err)
		}
		pub := dialT(t, bt.pubURL, opts(mqtt.DialOptions{}))
		awaitRoute(t, ctx, pub, s, topic+"/probe", bt.routed)
		if err := sub.Close(); err != nil {
			t.Fatal(err)
		}
		const n = 20
		for i := range n {
			if err := pub.Publish(ctx, mqtt.Message{Topic: topic + "/x", QoS: mqtt.QoS1, Payload: seqPayload(1, i)}); err != nil {
				t.Fatal(err)
			}
		}
		// Back, on the other node of a cluster: the session and the
		// messages queued for it are there.
		sub = dialT(t, bt.pubURL, subOpts)
		// MQTT 3.1's CONNACK has no Session Present flag: the
		// messages below tell instead.
		if present := <-connects; !present && bt.wantVersion != mqtt.V31 {
			t.Fatalf("the session was not resumed")
		}
		s, err = sub.Subscribe(ctx, mqtt.Filter{Topic: topic + "/#", QoS: mqtt.QoS1})
		if err != nil {
			t.Fatal(err)
		}
		got := map[int]int{}
		for len(got) < n {
			m := nextSkipping(t, ctx, s, topic+"/probe")
			_, seq, ok := parseSeqPayload(m.Payload)
			if !ok || m.QoS != mqtt.QoS1 {
				t.Fatalf("unexpected %q at %v", m.Payload, m.QoS)
			}
			got[seq]++
		}
		// Clean up: a clean start ends the session. A cluster may
		// still be moving the session away from the connection just
		// closed, and close a CONNECT for it meanwhile (NATS does):
		// try again for a while.
		sub.Close()
		for attempt := 0; ; attempt++ {
			c, err := mqtt.Dial(ctx, bt.subURL, opts(mqtt.DialOptions{ClientID: id}))
			if err == nil {
				if err := c.Disconnect(ctx); err != nil {
					t.Error(err)
				}
				break
			}
			if attempt == 20 || ctx.Err() != nil {
				t.Logf("the session could not be cleaned up: %v", err)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// awaitRoute waits until s receives what pub publishes: on a cluster the
// subscription reaches the publisher's node asynchronously, so it
// publishes QoS 0 probes on probeTopic until one arrives. Without routed
// it does nothing. Probes that arrive later are for nextSkipping to drop.
func awaitRoute(t *testing.T, ctx context.Context, pub *mqtt.Client, s *mqtt.Subscription, probeTopic string, routed bool) {
	t.Helper()
	if !routed {
		return
	}
	start := time.Now()
	for probes := 1; ; probes++ {
		if err := pub.Publish(ctx, mqtt.Message{Topic: probeTopic, Payload: []byte("probe")}); err != nil {
			t.Fatalf("probe: %v", err)
		}
		wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		_, err := s.Next(wctx)
		cancel()
		if err == nil {
			t.Logf("the subscription was routed after %v (%d probes)", time.Since(start).Round(time.Millisecond), probes)
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("no probe arrived in %v: the subscription was never routed", time.Since(start))
		}
	}
}

// nextSkipping returns the next message of s that is not on skip, failing
// the test when ctx ends first.
func nextSkipping(t *testing.T, ctx context.Context, s *mqtt.Subscription, skip string) mqtt.Message {
	t.Helper()
	for {
		m, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		if m.Topic != skip {
			return m
		}
	}
}

// hostPort returns the mosquitto_pub/mosquitto_sub arguments for an
// mqtt:// URL: -h HOST -p PORT.
func hostPort(url string) []string {
	host, port, err := net.SplitHostPort(strings.TrimPrefix(url, "mqtt://"))
	if err != nil {
		panic(fmt.Sprintf("hostPort(%q): %v", url, err))
	}
	return []string{"-h", host, "-p", port}
}
