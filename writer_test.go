package mqtt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
	"github.com/google/go-cmp/cmp"
)

// Large messages, many at once, arrive whole and unmixed: the socket takes
// a write in parts (the non-blocking write hands the rest to the writer's
// goroutine) while other publishers keep adding to the buffer. Over TCP and
// TLS.
func TestLargeMessages(t *testing.T) {
	t.Parallel()
	for name, start := range servers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, o := start()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			sub := dialT(t, srv.URL, &mqtt.DialOptions{TLSConfig: o.TLSConfig})
			s, err := sub.Subscribe(ctx, mqtt.Filter{Topic: "big/#", QoS: mqtt.QoS1})
			if err != nil {
				t.Fatal(err)
			}
			pub := dialT(t, srv.URL, &mqtt.DialOptions{TLSConfig: o.TLSConfig})

			payload := func(g, i, size int) []byte {
				return bytes.Repeat([]byte(fmt.Sprintf("%d.%d;", g, i)), size/5)
			}
			const publishers, each = 6, 4
			var wg sync.WaitGroup
			for g := range publishers {
				wg.Go(func() {
					for i := range each {
						size := 256 << 10
						if g == 0 && i == 0 {
							size = 4 << 20
						}
						m := mqtt.Message{Topic: fmt.Sprintf("big/%d/%d", g, i), QoS: mqtt.QoS(1 + i%2), Payload: payload(g, i, size)}
						if err := pub.Publish(ctx, m); err != nil {
							t.Errorf("publish %d/%d: %v", g, i, err)
							return
						}
					}
				})
			}
			for range publishers * each {
				m, err := s.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var g, i int
				if _, err := fmt.Sscanf(m.Topic, "big/%d/%d", &g, &i); err != nil {
					t.Fatalf("topic %q", m.Topic)
				}
				size := 256 << 10
				if g == 0 && i == 0 {
					size = 4 << 20
				}
				if !bytes.Equal(m.Payload, payload(g, i, size)) {
					t.Fatalf("%s: %d bytes, not the %d published", m.Topic, len(m.Payload), size/5*len(fmt.Sprintf("%d.%d;", g, i)))
				}
			}
			wg.Wait()
		})
	}
}

// Close ends a Publish that waits for room in the writer's buffer, which a
// server that does not read has filled.
func TestCloseWhileBufferFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		_ = p // never reads again
		ctx := context.Background()
		big := make([]byte, 256<<10)
		blocked := async(func() error {
			for {
				if err := c.Publish(ctx, mqtt.Message{Topic: "t", Payload: big}); err != nil {
					return err
				}
			}
		})
		synctest.Wait() // the buffer is full: Publish waits for room
		c.Close()
		if err := <-blocked; !errors.Is(err, mqtt.ErrClosed) {
			t.Fatalf("publish: %v, want ErrClosed", err)
		}
	})
}

// With AutoTopicAlias, a topic published again goes out as its alias alone
// (MQTT-3.3.2-8); when the server's maximum is reached the oldest alias
// takes the new topic, sent in full (MQTT-3.3.2-7; never above the maximum:
// MQTT-3.3.2-9, MQTT-3.2.2-17). The subscriber sees every topic in full. A
// client PUBLISH never carries a Subscription Identifier (MQTT-3.3.4-6), nor
// does a client without an authentication method send AUTH (MQTT-4.12.0-7).
// A server without topic aliases gets none (MQTT-3.2.2-18).
func TestAutoTopicAlias(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer(mqtttest.TopicAliasMaximum(3))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := mqtt.Dial(ctx, srv.URL, &mqtt.DialOptions{ClientID: "alias", AutoTopicAlias: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sub, err := c.Subscribe(ctx, mqtt.Filter{Topic: "#", QoS: mqtt.QoS1})
	if err != nil {
		t.Fatal(err)
	}
	topics := []string{"a/long/topic", "a/long/topic", "b", "c", "b", "d", "a/long/topic"}
	for _, tp := range topics {
		if err := c.Publish(ctx, mqtt.Message{Topic: tp, QoS: mqtt.QoS1, Payload: []byte(tp)}); err != nil {
			t.Fatalf("publish %q: %v", tp, err)
		}
	}
	for _, tp := range topics {
		m, err := sub.Next(ctx)
		if err != nil || m.Topic != tp || string(m.Payload) != tp {
			t.Fatalf("received %q %q (%v), want %q", m.Topic, m.Payload, err, tp)
		}
	}
	var got []string
	for _, r := range srv.Packets() {
		if r.Dir != mqtttest.FromClient {
			continue
		}
		if p, ok := r.Packet.(*wire.Publish); ok {
			got = append(got, fmt.Sprintf("%q=%d", p.Topic, p.Properties.TopicAlias))
			if len(p.Properties.SubscriptionIDs) != 0 {
				t.Errorf("client PUBLISH with subscription IDs %v", p.Properties.SubscriptionIDs)
			}
		}
		if r.Packet.Type() == wire.AUTH {
			t.Error("client sent AUTH without an authentication method")
		}
	}
	want := []string{`"a/long/topic"=1`, `""=1`, `"b"=2`, `"c"=3`, `""=2`,
		`"d"=1`, // all three taken: the oldest, 1, goes to d
		`"a/long/topic"=2`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PUBLISH topics and aliases (-want +got)\n%s", diff)
	}

	none := mqtttest.NewServer(mqtttest.TopicAliasMaximum(0))
	t.Cleanup(none.Close)
	c2, err := mqtt.Dial(ctx, none.URL, &mqtt.DialOptions{AutoTopicAlias: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for range 2 {
		if err := c2.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range none.Packets() {
		if p, ok := r.Packet.(*wire.Publish); ok && p.Properties != nil && p.Properties.TopicAlias != 0 {
			t.Errorf("topic alias %d sent to a server without topic aliases", p.Properties.TopicAlias)
		}
	}
}
