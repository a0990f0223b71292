package mqtt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/internal/mosquitto"
	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// MQTT-3.8.3-1, MQTT-3.10.3-1: SubscribeWith and UnsubscribeWith send their
// user properties (v5), SUBSCRIBE with the subscription identifier that
// Subscription.ID reports; the SUBSCRIBE that restores a subscription after
// a reconnection to a server that kept no session carries them too. Over
// 3.1.1 they are refused before anything is sent.
func TestSubscribeUserProperties(t *testing.T) {
	props := []mqtt.UserProperty{{Key: "tenant", Value: "a"}}
	synctest.Test(t, func(t *testing.T) {
		c, ps, p := dialPeers(t, wire.V5, nil)
		subscribed := make(chan *mqtt.Subscription, 1)
		go func() {
			s, err := c.SubscribeWith(context.Background(), &mqtt.SubscribeOptions{UserProperties: props}, mqtt.Filter{Topic: "t", QoS: mqtt.QoS1})
			if err != nil {
				t.Error(err)
			}
			subscribed <- s
		}()
		sub := p.expect(wire.SUBSCRIBE).(*wire.Subscribe)
		p.send(&wire.Suback{PacketID: sub.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1}})
		s := <-subscribed
		want := &wire.Properties{SubscriptionIDs: []int{s.ID()}, UserProperties: props}
		if diff := cmp.Diff(want, sub.Properties); diff != "" || s.ID() == 0 {
			t.Errorf("SUBSCRIBE properties (-want +got):\n%s\nID() = %d", diff, s.ID())
		}

		p.conn.Close()
		p, _ = ps.accept(&wire.Connack{})
		again := p.expect(wire.SUBSCRIBE).(*wire.Subscribe)
		if diff := cmp.Diff(want, again.Properties); diff != "" {
			t.Errorf("SUBSCRIBE again after the session was lost (-want +got):\n%s", diff)
		}
		p.send(&wire.Suback{PacketID: again.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1}})

		done := async(func() error {
			return c.UnsubscribeWith(context.Background(), &mqtt.UnsubscribeOptions{UserProperties: props}, "t")
		})
		un := p.expect(wire.UNSUBSCRIBE).(*wire.Unsubscribe)
		if diff := cmp.Diff(&wire.Properties{UserProperties: props}, un.Properties); diff != "" {
			t.Errorf("UNSUBSCRIBE properties (-want +got):\n%s", diff)
		}
		p.send(&wire.Unsuback{PacketID: un.PacketID, ReasonCodes: []wire.ReasonCode{wire.Success}})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V311, &wire.Connack{}, nil)
		r := p.record()
		ctx := context.Background()
		if _, err := c.SubscribeWith(ctx, &mqtt.SubscribeOptions{UserProperties: props}, mqtt.Filter{Topic: "t"}); !errors.Is(err, mqtt.ErrInvalid) {
			t.Errorf("SubscribeWith over 3.1.1: %v, want ErrInvalid", err)
		}
		if err := c.UnsubscribeWith(ctx, &mqtt.UnsubscribeOptions{UserProperties: props}, "t"); !errors.Is(err, mqtt.ErrInvalid) {
			t.Errorf("UnsubscribeWith over 3.1.1: %v, want ErrInvalid", err)
		}
		if got := r.sent(); len(got) != 0 {
			t.Errorf("sent %v", got)
		}
	})
}

// MQTT-3.3.4-3, MQTT-3.3.4-4: a message that matched several subscriptions
// carries their identifiers; each Subscription it matched receives it, with
// all of them in Message.SubscriptionIDs, and can tell its own by ID.
func TestMessageSubscriptionIDs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		a, _ := p.subscribe(c, mqtt.Filter{Topic: "t/#"})
		b, _ := p.subscribe(c, mqtt.Filter{Topic: "t/+"})
		other, _ := p.subscribe(c, mqtt.Filter{Topic: "t/x"})
		ids := []int{b.ID(), a.ID()}
		p.send(&wire.Publish{Topic: "t/x", Payload: []byte("both"), Properties: &wire.Properties{SubscriptionIDs: ids}})
		for _, s := range []*mqtt.Subscription{a, b} {
			m, err := s.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !cmp.Equal(ids, m.SubscriptionIDs) || !slices.Contains(m.SubscriptionIDs, s.ID()) {
				t.Errorf("subscription %d: SubscriptionIDs %v, want %v", s.ID(), m.SubscriptionIDs, ids)
			}
		}
		expectNext(t, other) // its filter matches, but the server did not name it
	})
}

// Filters reports the QoS the server granted for each filter, which may be
// lower than asked (MQTT-3.9.3-1: SUBACK answers the filters in order).
// Subscription.Unsubscribe sends one UNSUBSCRIBE with all of them; a
// refused filter is a *ReasonError naming it; the subscription stops anyway,
// handing out what it had queued (its QoS 1/2 messages acknowledged at
// once), then ErrClosed.
func TestSubscriptionFiltersAndUnsubscribe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		ctx := context.Background()
		res := make(chan *mqtt.Subscription, 1)
		go func() {
			s, err := c.Subscribe(ctx, mqtt.Filter{Topic: "a/#", QoS: mqtt.QoS2}, mqtt.Filter{Topic: "b", QoS: mqtt.QoS1})
			if err != nil {
				t.Error(err)
			}
			res <- s
		}()
		sub := p.expect(wire.SUBSCRIBE).(*wire.Subscribe)
		p.send(&wire.Suback{PacketID: sub.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1, wire.GrantedQoS0}})
		s := <-res
		want := []mqtt.Filter{{Topic: "a/#", QoS: mqtt.QoS1}, {Topic: "b", QoS: mqtt.QoS0}}
		if diff := cmp.Diff(want, s.Filters()); diff != "" {
			t.Errorf("Filters (-want +got):\n%s", diff)
		}

		p.send(&wire.Publish{Topic: "b", Payload: []byte("queued")})
		p.send(&wire.Publish{Topic: "a/x", QoS: 1, PacketID: 5, Payload: []byte("queued too")})
		synctest.Wait()
		unsub := async(func() error { return s.Unsubscribe(ctx) })
		u := p.expect(wire.UNSUBSCRIBE).(*wire.Unsubscribe)
		if diff := cmp.Diff([]string{"a/#", "b"}, u.Topics); diff != "" {
			t.Errorf("UNSUBSCRIBE topics (-want +got):\n%s", diff)
		}
		p.send(&wire.Unsuback{PacketID: u.PacketID, ReasonCodes: []wire.ReasonCode{wire.Success, wire.NotAuthorized}})
		var re *mqtt.ReasonError
		if err := <-unsub; !errors.As(err, &re) || re.Topic != "b" || re.ReasonCode != wire.NotAuthorized {
			t.Fatalf("Unsubscribe: %v, want a *ReasonError for b, not authorized", err)
		}
		// The QoS 1 message is acknowledged at once: the server must not
		// wait for an application that may never take it.
		if ack := p.expect(wire.PUBACK).(*wire.Puback); ack.PacketID != 5 {
			t.Fatalf("PUBACK for %d, want 5", ack.PacketID)
		}
		for _, want := range []string{"queued", "queued too"} {
			if m, err := s.Next(ctx); err != nil || string(m.Payload) != want {
				t.Fatalf("Next after Unsubscribe: %q, %v; want %q, queued before", m.Payload, err, want)
			}
		}
		if _, err := s.Next(ctx); !errors.Is(err, mqtt.ErrClosed) {
			t.Fatalf("Next once drained: %v, want ErrClosed", err)
		}
		// Again: nothing left to unsubscribe, nothing sent.
		if err := s.Unsubscribe(ctx); err != nil {
			t.Errorf("second Unsubscribe: %v", err)
		}
	})
}

// Unsubscribe ends like Publish: when its ctx ends after the UNSUBSCRIBE
// was sent, the error matches ErrOutcomeUnknown and ctx's error, and the
// filters deliver no more all the same.
func TestUnsubscribeOutcomeUnknown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		res := make(chan *mqtt.Subscription, 1)
		go func() {
			s, err := c.Subscribe(context.Background(), mqtt.Filter{Topic: "u", QoS: mqtt.QoS1})
			if err != nil {
				t.Error(err)
			}
			res <- s
		}()
		sub := p.expect(wire.SUBSCRIBE).(*wire.Subscribe)
		p.send(&wire.Suback{PacketID: sub.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1}})
		s := <-res

		ctx, cancel := context.WithCancel(context.Background())
		unsub := async(func() error { return c.Unsubscribe(ctx, "u") })
		p.expect(wire.UNSUBSCRIBE)
		cancel()
		if err := <-unsub; !errors.Is(err, mqtt.ErrOutcomeUnknown) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Unsubscribe: %v, want ErrOutcomeUnknown and context.Canceled", err)
		}
		if _, err := s.Next(context.Background()); !errors.Is(err, mqtt.ErrClosed) {
			t.Fatalf("Next after the Unsubscribe: %v, want ErrClosed", err)
		}
	})
}

// A Subscription holds up to 65,536 QoS 0 messages the application has not
// taken; beyond that it drops them and counts them in Dropped, rather than
// hold up the reading goroutine.
func TestDroppedQoS0(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V311, &wire.Connack{}, nil)
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "t"})
		const held, extra = 1 << 16, 10
		for range held + extra {
			p.send(&wire.Publish{Topic: "t", Payload: []byte("x")})
		}
		p.send(&wire.Pingresp{}) // read after the last PUBLISH
		synctest.Wait()
		if got := s.Dropped(); got != extra {
			t.Fatalf("Dropped() = %d, want %d", got, extra)
		}
		for i := range held {
			if _, err := s.Next(context.Background()); err != nil {
				t.Fatalf("Next %d: %v", i, err)
			}
		}
	})
}

// A refused filter fails Subscribe with a *ReasonError naming it.
func TestSubscribeRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		res := async(func() error {
			_, err := c.Subscribe(context.Background(), mqtt.Filter{Topic: "ok"}, mqtt.Filter{Topic: "forbidden/#"})
			return err
		})
		s := p.expect(wire.SUBSCRIBE).(*wire.Subscribe)
		p.send(&wire.Suback{PacketID: s.PacketID, ReasonCodes: []wire.ReasonCode{0, wire.NotAuthorized}})
		u := p.expect(wire.UNSUBSCRIBE).(*wire.Unsubscribe)
		if diff := cmp.Diff([]string{"ok"}, u.Topics); diff != "" {
			t.Errorf("granted filters unsubscribed (-want +got)\n%s", diff)
		}
		p.send(&wire.Unsuback{PacketID: u.PacketID, ReasonCodes: []wire.ReasonCode{0}})
		err := <-res
		var re *mqtt.ReasonError
		if !errors.As(err, &re) || re.Topic != "forbidden/#" || re.ReasonCode != wire.NotAuthorized {
			t.Errorf("got %v, want *ReasonError for forbidden/#", err)
		}
	})
}

// The client accepts every topic alias from 1 up to the Topic Alias Maximum
// it sent (MQTT-3.3.2-10): a PUBLISH with a topic sets the alias, one with
// the alias alone is delivered with that topic. An alias above the maximum
// closes the connection with DISCONNECT 0x94.
func TestServerTopicAliases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, &mqtt.DialOptions{TopicAliasMaximum: 3})
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "#"})
		for _, alias := range []uint16{1, 3} {
			topic := fmt.Sprintf("long/topic/%d", alias)
			p.send(&wire.Publish{Topic: topic, Payload: []byte("set"), Properties: &wire.Properties{TopicAlias: alias}},
				&wire.Publish{Payload: []byte("used"), Properties: &wire.Properties{TopicAlias: alias}})
			for _, want := range []string{"set", "used"} {
				m, err := s.Next(context.Background())
				if err != nil || m.Topic != topic || string(m.Payload) != want {
					t.Errorf("alias %d: got %q %q (%v), want %q %q", alias, m.Topic, m.Payload, err, topic, want)
				}
			}
		}
		p.send(&wire.Publish{Topic: "x", Properties: &wire.Properties{TopicAlias: 4}})
		if d := p.expect(wire.DISCONNECT).(*wire.Disconnect); d.ReasonCode != wire.TopicAliasInvalid {
			t.Errorf("DISCONNECT %v, want topic alias invalid", d.ReasonCode)
		}
		<-c.Done()
	})
}

func encode(t *testing.T, pkt wire.Packet) []byte {
	t.Helper()
	b, err := pkt.Append(nil, wire.V5)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A Subscribe whose ctx ends before its SUBACK leaves the server
// subscribed. Messages that match only that subscription can never be read:
// they are acknowledged at once (MQTT-4.5.0-2, MQTT-3.3.4-1), in arrival
// order (MQTT-4.6.0-2, MQTT-4.6.0-3), and counted in Client.Dropped, so that
// they never hold back the acknowledgement of a message that arrived after
// them. When the SUBACK arrives, the client unsubscribes from the filters the
// server granted (not the refused one), with nobody waiting for the
// UNSUBACK; a new Subscribe to the filter then receives again.
func TestAbandonedSubscribe(t *testing.T) {
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := dialPeer(t, v, &wire.Connack{}, &mqtt.DialOptions{ClientID: "x"})
				r := p.record()
				sb := r.subscribe(c, mqtt.Filter{Topic: "b", QoS: mqtt.QoS1})

				ctx, cancel := context.WithCancel(context.Background())
				res := async(func() error {
					_, err := c.Subscribe(ctx, mqtt.Filter{Topic: "a/#", QoS: mqtt.QoS2}, mqtt.Filter{Topic: "z", QoS: mqtt.QoS1})
					return err
				})
				sub, ok := r.next().(*wire.Subscribe)
				if !ok {
					t.Fatal("expected SUBSCRIBE")
				}
				cancel()
				if err := <-res; !errors.Is(err, context.Canceled) || !errors.Is(err, mqtt.ErrOutcomeUnknown) {
					t.Fatalf("Subscribe = %v, want context.Canceled and ErrOutcomeUnknown", err)
				}

				p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "a/1", Payload: []byte("nobody")},
					&wire.Publish{QoS: 2, PacketID: 2, Topic: "a/2", Payload: []byte("nobody")},
					&wire.Publish{Topic: "a/3", Payload: []byte("nobody")},
					&wire.Publish{QoS: 1, PacketID: 3, Topic: "b", Payload: []byte("live")})
				expectNext(t, sb, "live")
				if diff := cmp.Diff([]string{"PUBACK 1", "PUBREC 2", "PUBACK 3"}, r.sent()); diff != "" {
					t.Errorf("acknowledgements (-want +got):\n%s", diff)
				}
				if got := c.Dropped(); got != 3 {
					t.Errorf("Dropped() = %d, want 3", got)
				}
				if got := c.Stats().Dropped; got != 3 {
					t.Errorf("Stats().Dropped = %d, want 3", got)
				}
				p.send(&wire.Pubrel{PacketID: 2}) // MQTT-4.3.3-11
				if diff := cmp.Diff([]string{"PUBCOMP 2"}, r.sent()); diff != "" {
					t.Errorf("after PUBREL (-want +got):\n%s", diff)
				}

				p.send(&wire.Suback{PacketID: sub.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS2, wire.UnspecifiedError}})
				pkt := r.next()
				un, ok := pkt.(*wire.Unsubscribe)
				if !ok || !cmp.Equal(un.Topics, []string{"a/#"}) {
					t.Fatalf("after the SUBACK the client sent %s, want UNSUBSCRIBE [a/#]", describe(pkt))
				}
				// Until the UNSUBACK, still nobody's.
				p.send(&wire.Publish{QoS: 1, PacketID: 4, Topic: "a/4", Payload: []byte("nobody")})
				if diff := cmp.Diff([]string{"PUBACK 4"}, r.sent()); diff != "" {
					t.Errorf("before the UNSUBACK (-want +got):\n%s", diff)
				}
				unsuback := &wire.Unsuback{PacketID: un.PacketID}
				if v == wire.V5 {
					unsuback.ReasonCodes = []wire.ReasonCode{wire.Success}
				}
				p.send(unsuback)
				if got := r.sent(); len(got) != 0 {
					t.Errorf("after the UNSUBACK the client sent %v", got)
				}

				sa := r.subscribe(c, mqtt.Filter{Topic: "a/#", QoS: mqtt.QoS1})
				p.send(&wire.Publish{QoS: 1, PacketID: 5, Topic: "a/5", Payload: []byte("again")})
				expectNext(t, sa, "again")
				if diff := cmp.Diff([]string{"PUBACK 5"}, r.sent()); diff != "" {
					t.Errorf("subscribed again (-want +got):\n%s", diff)
				}
				if got := c.Dropped(); got != 4 {
					t.Errorf("Dropped() = %d, want 4", got)
				}
				if got := c.Stats().Dropped; got != 4 {
					t.Errorf("Stats().Dropped = %d, want 4", got)
				}
			})
		})
	}
}

// Subscribe's ctx ends while its SUBACK is on its way: whichever comes
// first, the filter ends up either with a Subscription (no UNSUBSCRIBE) or
// unsubscribed exactly once, and nothing waits or leaks. The three orders
// of cancel and SUBACK below make both outcomes happen.
func TestAbandonedSubscribeRacesSuback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		r := p.record()
		var won, lost int
		for i := range 50 {
			ctx, cancel := context.WithCancel(context.Background())
			subs := make(chan *mqtt.Subscription, 1)
			res := async(func() error {
				s, err := c.Subscribe(ctx, mqtt.Filter{Topic: "r", QoS: mqtt.QoS1})
				subs <- s
				return err
			})
			sub, ok := r.next().(*wire.Subscribe)
			if !ok {
				t.Fatal("expected SUBSCRIBE")
			}
			suback := &wire.Suback{PacketID: sub.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1}}
			switch i % 3 {
			case 0:
				go cancel()
				p.send(suback)
			case 1:
				sent := async(func() error { _, err := p.conn.Write(encode(t, suback)); return err })
				cancel()
				if err := <-sent; err != nil {
					t.Fatal(err)
				}
			case 2:
				cancel()
				p.send(suback)
			}
			err := <-res
			s := <-subs
			cancel()
			if err == nil {
				won++
				if got := r.sent(); len(got) != 0 {
					t.Fatalf("%d: Subscribe succeeded, yet the client sent %v", i, got)
				}
				go s.Unsubscribe(context.Background())
			} else {
				lost++
			}
			pkt := r.next()
			un, ok := pkt.(*wire.Unsubscribe)
			if !ok || !cmp.Equal(un.Topics, []string{"r"}) {
				t.Fatalf("%d (Subscribe: %v): the client sent %s, want UNSUBSCRIBE [r]", i, err, describe(pkt))
			}
			p.send(&wire.Unsuback{PacketID: un.PacketID, ReasonCodes: []wire.ReasonCode{wire.Success}})
			if got := r.sent(); len(got) != 0 {
				t.Fatalf("%d: then the client sent %v", i, got)
			}
		}
		t.Logf("Subscribe succeeded %d times, gave up %d times", won, lost)
	})
}

// A Subscribe that gives up gives back what it had received: a resumed
// session's message held for it goes back to the held messages, for the
// next Subscribe that matches, and is acknowledged once that one hands it
// out (MQTT-4.3.2-4), not before.
func TestAbandonedSubscribeGivesBackHeldMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V311, &wire.Connack{SessionPresent: true}, &mqtt.DialOptions{ClientID: "x", KeepSession: true})
		r := p.record()
		p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "a", Payload: []byte("held")})
		synctest.Wait() // held before the Subscribe, not routed to its withdrawn Subscription
		ctx, cancel := context.WithCancel(context.Background())
		res := async(func() error {
			_, err := c.Subscribe(ctx, mqtt.Filter{Topic: "a", QoS: mqtt.QoS1})
			return err
		})
		sub, ok := r.next().(*wire.Subscribe)
		if !ok {
			t.Fatal("expected SUBSCRIBE")
		}
		cancel()
		if err := <-res; !errors.Is(err, context.Canceled) {
			t.Fatalf("Subscribe = %v, want context.Canceled", err)
		}
		p.send(&wire.Suback{PacketID: sub.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1}})
		pkt := r.next()
		un, ok := pkt.(*wire.Unsubscribe)
		if !ok {
			t.Fatalf("the client sent %s, want UNSUBSCRIBE", describe(pkt))
		}
		p.send(&wire.Unsuback{PacketID: un.PacketID})
		if got := r.sent(); len(got) != 0 {
			t.Fatalf("the client sent %v; the held message must wait for a Subscription", got)
		}
		s := r.subscribe(c, mqtt.Filter{Topic: "a", QoS: mqtt.QoS1})
		expectNext(t, s, "held")
		if diff := cmp.Diff([]string{"PUBACK 1"}, r.sent()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if got := c.Dropped(); got != 0 {
			t.Errorf("Dropped() = %d, want 0", got)
		}
		if got := c.Stats().Dropped; got != 0 {
			t.Errorf("Stats().Dropped = %d, want 0", got)
		}
	})
}

// The usual retry: Subscribe gives up (ctx) before its SUBACK, and the
// application subscribes to the same filter again before that SUBACK
// arrives. The server holds one subscription per filter (MQTT-3.8.4-3), so
// the client must not unsubscribe it: the new Subscription receives.
func TestSubscribeRetriedAfterCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		r := p.record()
		ctx, cancel := context.WithCancel(context.Background())
		res := async(func() error {
			_, err := c.Subscribe(ctx, mqtt.Filter{Topic: "a", QoS: mqtt.QoS1}, mqtt.Filter{Topic: "other", QoS: mqtt.QoS1})
			return err
		})
		first, ok := r.next().(*wire.Subscribe)
		if !ok {
			t.Fatal("expected SUBSCRIBE")
		}
		cancel()
		if err := <-res; !errors.Is(err, context.Canceled) {
			t.Fatalf("Subscribe = %v, want context.Canceled", err)
		}
		subs := make(chan *mqtt.Subscription, 1)
		go func() {
			s, err := c.Subscribe(context.Background(), mqtt.Filter{Topic: "a", QoS: mqtt.QoS1})
			if err != nil {
				t.Error(err)
			}
			subs <- s
		}()
		second, ok := r.next().(*wire.Subscribe)
		if !ok {
			t.Fatal("expected a second SUBSCRIBE")
		}
		p.send(&wire.Suback{PacketID: first.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1, wire.GrantedQoS1}})
		if diff := cmp.Diff([]string{"UNSUBSCRIBE [other]"}, r.sent()); diff != "" {
			t.Fatalf("after the first SUBACK (-want +got):\n%s", diff)
		}
		p.send(&wire.Suback{PacketID: second.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1}})
		s := <-subs
		p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "a", Payload: []byte("for the retry")})
		expectNext(t, s, "for the retry")
		if diff := cmp.Diff([]string{"PUBACK 1"}, r.sent()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if got := c.Dropped(); got != 0 {
			t.Errorf("Dropped() = %d, want 0", got)
		}
		if got := c.Stats().Dropped; got != 0 {
			t.Errorf("Stats().Dropped = %d, want 0", got)
		}
	})
}

// A refused filter fails Subscribe (TestSubscribeRefused); the filters
// granted with it are unsubscribed, and what they bring until the UNSUBACK
// is acknowledged at once (MQTT-4.5.0-2) and counted in Client.Dropped,
// even when Subscribe's ctx has ended by then.
func TestSubscribeRefusedDropsUntilUnsubscribed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		r := p.record()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		res := async(func() error {
			_, err := c.Subscribe(ctx, mqtt.Filter{Topic: "ok", QoS: mqtt.QoS1}, mqtt.Filter{Topic: "forbidden", QoS: mqtt.QoS1})
			return err
		})
		sub, ok := r.next().(*wire.Subscribe)
		if !ok {
			t.Fatal("expected SUBSCRIBE")
		}
		p.send(&wire.Suback{PacketID: sub.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1, wire.NotAuthorized}})
		var re *mqtt.ReasonError
		if err := <-res; !errors.As(err, &re) || re.Topic != "forbidden" {
			t.Fatalf("Subscribe = %v, want a *ReasonError for forbidden", err)
		}
		cancel()
		pkt := r.next()
		un, ok := pkt.(*wire.Unsubscribe)
		if !ok || !cmp.Equal(un.Topics, []string{"ok"}) {
			t.Fatalf("the client sent %s, want UNSUBSCRIBE [ok]", describe(pkt))
		}
		p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "ok", Payload: []byte("nobody")})
		if diff := cmp.Diff([]string{"PUBACK 1"}, r.sent()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if got := c.Dropped(); got != 1 {
			t.Errorf("Dropped() = %d, want 1", got)
		}
		if got := c.Stats().Dropped; got != 1 {
			t.Errorf("Stats().Dropped = %d, want 1", got)
		}
		p.send(&wire.Unsuback{PacketID: un.PacketID, ReasonCodes: []wire.ReasonCode{wire.Success}})
		if got := r.sent(); len(got) != 0 {
			t.Errorf("after the UNSUBACK the client sent %v", got)
		}
	})
}

// Messages of a resumed session that match no Subscription yet are held for
// the first Subscribe that matches, but a held message never holds back the
// acknowledgement of a later message the application has taken
// (MQTT-4.6.0-2, MQTT-4.6.0-3): it is acknowledged then, and stays held,
// handed out once, without a second acknowledgement.
func TestHeldMessagesDoNotHoldBackAcks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V311, &wire.Connack{SessionPresent: true}, &mqtt.DialOptions{ClientID: "x", KeepSession: true})
		r := p.record()
		sb := r.subscribe(c, mqtt.Filter{Topic: "b", QoS: mqtt.QoS1})
		p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "old", Payload: []byte("held 1")},
			&wire.Publish{QoS: 2, PacketID: 2, Topic: "old", Payload: []byte("held 2")},
			&wire.Publish{QoS: 1, PacketID: 3, Topic: "b", Payload: []byte("live")})
		if got := r.sent(); len(got) != 0 {
			t.Fatalf("acknowledged before anything was handed out: %v", got)
		}
		expectNext(t, sb, "live")
		if diff := cmp.Diff([]string{"PUBACK 1", "PUBREC 2", "PUBACK 3"}, r.sent()); diff != "" {
			t.Fatalf("acknowledgements once the later message was handed out (-want +got):\n%s", diff)
		}
		so := r.subscribe(c, mqtt.Filter{Topic: "old", QoS: mqtt.QoS2})
		expectNext(t, so, "held 1", "held 2")
		p.send(&wire.Pubrel{PacketID: 2})
		if diff := cmp.Diff([]string{"PUBCOMP 2"}, r.sent()); diff != "" {
			t.Errorf("after handing out the held messages (-want +got):\n%s", diff)
		}
		if got := c.Dropped(); got != 0 {
			t.Errorf("Dropped() = %d, want 0", got)
		}
		if got := c.Stats().Dropped; got != 0 {
			t.Errorf("Stats().Dropped = %d, want 0", got)
		}
	})
}

// Messages held for a future Subscribe are bounded by bytes (topic and
// payload, DialOptions.MaxQueuedBytes): one that does not fit is dropped,
// acknowledged if QoS 1/2 (MQTT-4.5.0-2) in arrival order (MQTT-4.6.0-2,
// MQTT-4.6.0-3), and counted in Client.Dropped; those that fit go to the
// first Subscribe that matches.
func TestHeldMessagesBoundedByBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{SessionPresent: true},
			&mqtt.DialOptions{ClientID: "x", KeepSession: true, MaxQueuedBytes: 1000})
		r := p.record()
		payload := func(i int) []byte { return fmt.Appendf(bytes.Repeat([]byte{'.'}, 97), "%02d", i) } // 99 bytes: 100 with the topic
		var want []string
		var acks []string
		for i := 1; i <= 12; i++ {
			p.send(&wire.Publish{QoS: 1, PacketID: uint16(i), Topic: "h", Payload: payload(i)})
			acks = append(acks, fmt.Sprint("PUBACK ", i))
			if i <= 10 {
				want = append(want, string(payload(i)))
			}
		}
		p.send(&wire.Publish{Topic: "h", Payload: payload(13)},
			&wire.Publish{QoS: 2, PacketID: 14, Topic: "h", Payload: payload(14)})
		acks = append(acks, "PUBREC 14")
		// 1 to 10 fill the 1000 bytes; 11 and 12 are acknowledged at once,
		// and 1 to 10, held, with them, since they arrived before.
		if diff := cmp.Diff(acks, r.sent()); diff != "" {
			t.Errorf("acknowledgements (-want +got):\n%s", diff)
		}
		if got := c.Dropped(); got != 4 {
			t.Errorf("Dropped() = %d, want 4 (11, 12, the QoS 0 13 and 14)", got)
		}
		s := r.subscribe(c, mqtt.Filter{Topic: "h", QoS: mqtt.QoS2})
		expectNext(t, s, want...)
		if got := r.sent(); len(got) != 0 {
			t.Errorf("handing out the held messages sent %v", got)
		}
	})
}

// Messages held for a future Subscribe are bounded by count too (65,536):
// held QoS 0 messages beyond it are dropped and counted in Client.Dropped.
func TestHeldMessagesBoundedByCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V311, &wire.Connack{}, nil)
		const held, extra = 1 << 16, 3
		for range held + extra {
			p.send(&wire.Publish{Topic: "h", Payload: []byte("x")})
		}
		r := p.record()
		p.send(&wire.Pingresp{}) // read after the last PUBLISH
		synctest.Wait()
		if got := c.Dropped(); got != extra {
			t.Errorf("Dropped() = %d, want %d", got, extra)
		}
		s := r.subscribe(c, mqtt.Filter{Topic: "h"})
		for i := range held {
			if _, err := s.Next(context.Background()); err != nil {
				t.Fatalf("Next %d: %v", i, err)
			}
		}
		expectNext(t, s)
		if got := s.Dropped(); got != 0 {
			t.Errorf("Subscription.Dropped() = %d, want 0", got)
		}
	})
}

// A Subscription whose application does not call Next keeps at most
// DialOptions.MaxQueuedBytes of QoS 0 messages (16 MiB by default, counting
// topic and payload): the newest, which do not fit, are dropped and counted
// in Subscription.Dropped. QoS 1 and 2 messages are not dropped (the
// client's Receive Maximum bounds them) and do not count.
func TestQoS0QueueBoundedByBytes(t *testing.T) {
	const size = 64 << 10
	for _, tc := range []struct {
		name  string
		opt   int
		limit int
	}{
		{"default", 0, 16 << 20},
		{"1MiB", 1 << 20, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := dialPeer(t, wire.V311, &wire.Connack{}, &mqtt.DialOptions{MaxQueuedBytes: tc.opt})
				s, _ := p.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS1})
				payload := make([]byte, size)
				const n = 1000
				for i := range n {
					payload[0], payload[1] = byte(i>>8), byte(i)
					p.send(&wire.Publish{Topic: "t", Payload: payload})
				}
				// QoS 1 messages beyond the bound are kept.
				for i := range 3 {
					p.send(&wire.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: "t", Payload: payload})
				}
				p.send(&wire.Pingresp{}) // read after the last PUBLISH
				synctest.Wait()
				fit := tc.limit / (size + len("t"))
				if got := s.Dropped(); got != n-fit {
					t.Errorf("Dropped() = %d, want %d", got, n-fit)
				}
				for i := range fit {
					m, err := s.Next(context.Background())
					if err != nil || m.QoS != mqtt.QoS0 || int(m.Payload[0])<<8|int(m.Payload[1]) != i {
						t.Fatalf("Next %d: QoS %d message %d, %v; want the first %d QoS 0 messages, in order", i, m.QoS, int(m.Payload[0])<<8|int(m.Payload[1]), err, fit)
					}
				}
				for i := range 3 {
					m, err := s.Next(context.Background())
					if err != nil || m.QoS != mqtt.QoS1 {
						t.Fatalf("Next: QoS %d, %v; want QoS 1 message %d", m.QoS, err, i+1)
					}
				}
				expectNext(t, s)
				if got := c.Dropped(); got != 0 {
					t.Errorf("Client.Dropped() = %d, want 0: the Subscription counts its own", got)
				}
			})
		})
	}
}

// A QoS 0 message larger than DialOptions.MaxQueuedBytes is still queued
// when no other QoS 0 message waits, so that such messages are not all
// lost; the next one that does not fit is dropped.
func TestQoS0LargerThanTheBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, &mqtt.DialOptions{MaxQueuedBytes: 10})
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "t"})
		big := make([]byte, 100)
		p.send(&wire.Publish{Topic: "t", Payload: append(big, '1')}, &wire.Publish{Topic: "t", Payload: append(big, '2')})
		p.send(&wire.Pingresp{}) // read after the last PUBLISH
		synctest.Wait()
		if got := s.Dropped(); got != 1 {
			t.Errorf("Dropped() = %d, want 1", got)
		}
		expectNext(t, s, string(append(big, '1')))
		p.send(&wire.Publish{Topic: "t", Payload: append(big, '3')})
		expectNext(t, s, string(append(big, '3')))
	})
}

// acks returns, once the bubble is idle, the acknowledgements the client
// sent since the last call, with their reason code when it is not 0.
func (r *recorder) acks() []string { return r.drain(describeWithCode) }

// describeWithCode is describe, with the reason code of an acknowledgement
// when it is not 0.
func describeWithCode(pkt wire.Packet) string {
	var code wire.ReasonCode
	switch p := pkt.(type) {
	case *wire.Puback:
		code = p.ReasonCode
	case *wire.Pubrec:
		code = p.ReasonCode
	case *wire.Pubcomp:
		code = p.ReasonCode
	}
	s := describe(pkt)
	if code != 0 {
		s += " " + code.String()
	}
	return s
}

// take takes the next message of s with NextDelivery and checks its payload.
func take(t *testing.T, s *mqtt.Subscription, payload string) *mqtt.Delivery {
	t.Helper()
	d, err := s.NextDelivery(context.Background())
	if err != nil || string(d.Payload) != payload {
		t.Fatalf("NextDelivery = %+v, %v; want %q", d, err, payload)
	}
	return d
}

// MQTT-4.3.2-4, MQTT-4.3.3-8, MQTT-3.4.2-1, MQTT-3.5.2-1, MQTT-4.3.3-9: a
// message refused with Delivery.Refuse is answered with a PUBACK or PUBREC
// carrying the reason code. A refused QoS 2 message ends its flow: it is not
// stored as received, its identifier starts a new message at once, and
// neither counts against the client's Receive Maximum any more
// (MQTT-3.3.4-9: with a maximum of 2, two more messages are no excess).
func TestDeliveryRefuse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := persist.NewMemory()
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, &mqtt.DialOptions{Store: store, ReceiveMaximum: 2})
		r := p.record()
		s := r.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS2})
		p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "t", Payload: []byte("one")},
			&wire.Publish{QoS: 2, PacketID: 2, Topic: "t", Payload: []byte("two")})
		one, two := take(t, s, "one"), take(t, s, "two")
		if got := r.acks(); len(got) != 0 {
			t.Fatalf("acknowledged before the application settled anything: %v", got)
		}
		if err := one.Refuse(wire.NotAuthorized); err != nil {
			t.Fatal(err)
		}
		if err := two.Refuse(wire.QuotaExceeded); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"PUBACK 1 not authorized", "PUBREC 2 quota exceeded"}, r.acks()); diff != "" {
			t.Fatalf("refusals (-want +got):\n%s", diff)
		}
		if entries, _ := store.Load(persist.Incoming); len(entries) != 0 {
			t.Errorf("the refused QoS 2 message is stored as received: %v", entries)
		}

		p.send(&wire.Publish{QoS: 2, PacketID: 3, Topic: "t", Payload: []byte("three")},
			&wire.Publish{QoS: 2, PacketID: 4, Topic: "t", Payload: []byte("four")})
		if got := r.acks(); len(got) != 0 || c.Err() != nil {
			t.Fatalf("with the refused messages answered, two more are within the Receive Maximum of 2: sent %v, %v", got, c.Err())
		}
		for _, want := range []string{"three", "four"} {
			if err := take(t, s, want).Accept(); err != nil {
				t.Fatal(err)
			}
		}
		if diff := cmp.Diff([]string{"PUBREC 3", "PUBREC 4"}, r.acks()); diff != "" {
			t.Fatalf("acceptances (-want +got):\n%s", diff)
		}
		if entries, _ := store.Load(persist.Incoming); len(entries) != 2 {
			t.Errorf("store holds %d received QoS 2 messages, want 2", len(entries))
		}
		p.send(&wire.Pubrel{PacketID: 3}, &wire.Pubrel{PacketID: 4})
		if diff := cmp.Diff([]string{"PUBCOMP 3", "PUBCOMP 4"}, r.acks()); diff != "" {
			t.Errorf("completions (-want +got):\n%s", diff)
		}

		// The refused identifier starts a new message, delivered.
		p.send(&wire.Publish{QoS: 2, PacketID: 2, Topic: "t", Payload: []byte("two again")})
		if err := take(t, s, "two again").Accept(); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"PUBREC 2"}, r.acks()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// MQTT-4.6.0-2, MQTT-4.6.0-3: acknowledgements leave in the order the
// messages arrived, whether Next handed them out or the application
// settled them, across Subscriptions: one settled early waits for the ones
// before it.
func TestDeliveryAckOrder(t *testing.T) {
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := dialPeer(t, v, &wire.Connack{}, nil)
				r := p.record()
				manual := r.subscribe(c, mqtt.Filter{Topic: "m", QoS: mqtt.QoS2})
				auto := r.subscribe(c, mqtt.Filter{Topic: "a", QoS: mqtt.QoS1})
				p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "m", Payload: []byte("1")},
					&wire.Publish{QoS: 1, PacketID: 2, Topic: "a", Payload: []byte("2")},
					&wire.Publish{QoS: 2, PacketID: 3, Topic: "m", Payload: []byte("3")},
					&wire.Publish{QoS: 1, PacketID: 4, Topic: "m", Payload: []byte("4")})
				d1 := take(t, manual, "1")
				expectNext(t, auto, "2")
				d3, d4 := take(t, manual, "3"), take(t, manual, "4")
				refuse := d3.Accept
				want3 := "PUBREC 3"
				if v == wire.V5 {
					refuse = func() error { return d3.Refuse(wire.ImplementationSpecificError) }
					want3 += " implementation specific error"
				}
				if err := d4.Accept(); err != nil {
					t.Fatal(err)
				}
				if err := refuse(); err != nil {
					t.Fatal(err)
				}
				if got := r.acks(); len(got) != 0 {
					t.Fatalf("sent %v before the first message was settled", got)
				}
				if err := d1.Accept(); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff([]string{"PUBACK 1", "PUBACK 2", want3, "PUBACK 4"}, r.acks()); diff != "" {
					t.Errorf("acknowledgements (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// A message the application never settles does not hold back the
// acknowledgements behind it for ever: after DialOptions.AckTimeout the
// client refuses it with 0x80 (v5) or acknowledges it (3.1.1), and those
// behind it leave in order (MQTT-4.6.0-2). A later Accept says it came too
// late. Unset, the timeout is one minute.
func TestDeliveryAckTimeout(t *testing.T) {
	for _, tc := range []struct {
		v       wire.Version
		timeout time.Duration
		want    string
	}{
		{wire.V311, 0, "PUBACK 1"},
		{wire.V5, 0, "PUBACK 1 unspecified error"},
		{wire.V5, 10 * time.Second, "PUBACK 1 unspecified error"},
	} {
		t.Run(fmt.Sprintf("%v/%v", tc.v, tc.timeout), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := dialPeer(t, tc.v, &wire.Connack{}, &mqtt.DialOptions{AckTimeout: tc.timeout, KeepAlive: -1})
				r := p.record()
				s := r.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS1})
				p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "t", Payload: []byte("forgotten")},
					&wire.Publish{QoS: 1, PacketID: 2, Topic: "t", Payload: []byte("next")})
				forgotten := take(t, s, "forgotten")
				expectNext(t, s, "next")
				timeout := tc.timeout
				if timeout == 0 {
					timeout = time.Minute
				}
				time.Sleep(timeout - time.Millisecond)
				if got := r.acks(); len(got) != 0 {
					t.Fatalf("sent %v before the AckTimeout of %v", got, timeout)
				}
				time.Sleep(time.Millisecond)
				if diff := cmp.Diff([]string{tc.want, "PUBACK 2"}, r.acks()); diff != "" {
					t.Fatalf("after the AckTimeout (-want +got):\n%s", diff)
				}
				if err := forgotten.Accept(); err == nil || !strings.Contains(err.Error(), "too late") {
					t.Errorf("Accept after the AckTimeout: %v, want an error saying it is too late", err)
				}
				if got := r.acks(); len(got) != 0 {
					t.Errorf("a late Accept sent %v", got)
				}
			})
		})
	}
}

// A message that matched several Subscriptions is acknowledged once, when
// each has handed it out (Next) or settled it (Delivery): refused if one
// refused it.
func TestDeliverySeveralSubscriptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		r := p.record()
		auto := r.subscribe(c, mqtt.Filter{Topic: "t/#", QoS: mqtt.QoS1})
		manual := r.subscribe(c, mqtt.Filter{Topic: "t/+", QoS: mqtt.QoS1})
		p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "t/1", Payload: []byte("refused")},
			&wire.Publish{QoS: 1, PacketID: 2, Topic: "t/2", Payload: []byte("accepted")})
		d1, d2 := take(t, manual, "refused"), take(t, manual, "accepted")
		if err := d1.Refuse(wire.NotAuthorized); err != nil {
			t.Fatal(err)
		}
		if err := d2.Accept(); err != nil {
			t.Fatal(err)
		}
		if got := r.acks(); len(got) != 0 {
			t.Fatalf("sent %v while another Subscription had the messages still queued", got)
		}
		expectNext(t, auto, "refused", "accepted")
		if diff := cmp.Diff([]string{"PUBACK 1 not authorized", "PUBACK 2"}, r.acks()); diff != "" {
			t.Errorf("acknowledgements (-want +got):\n%s", diff)
		}
	})
}

// What Refuse cannot do it refuses, leaving the message unsettled: a code
// that PUBACK and PUBREC do not have, or below 0x80 (MQTT-3.4.2-1,
// MQTT-3.5.2-1), and any refusal over MQTT 3.1.1, which has none. A message
// settles once; QoS 0 has nothing to settle.
func TestDeliveryRefuseInvalid(t *testing.T) {
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := dialPeer(t, v, &wire.Connack{}, nil)
				r := p.record()
				s := r.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS1})
				p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "t", Payload: []byte("one")})
				d := take(t, s, "one")
				codes := []wire.ReasonCode{wire.Success, wire.NoMatchingSubscribers, wire.MalformedPacket, wire.SessionTakenOver}
				if v != wire.V5 {
					codes = append(codes, wire.UnspecifiedError)
				}
				for _, code := range codes {
					if err := d.Refuse(code); !errors.Is(err, mqtt.ErrInvalid) {
						t.Errorf("Refuse(%#02x) = %v, want ErrInvalid", byte(code), err)
					}
				}
				if got := r.acks(); len(got) != 0 {
					t.Fatalf("sent %v after refusals that cannot be", got)
				}
				if err := d.Accept(); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff([]string{"PUBACK 1"}, r.acks()); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				if err := d.Accept(); err == nil {
					t.Error("a second Accept: no error")
				}

				p.send(&wire.Publish{Topic: "t", Payload: []byte("qos 0")})
				d = take(t, s, "qos 0")
				if err := d.Accept(); err != nil {
					t.Errorf("Accept of a QoS 0 message: %v", err)
				}
				if got := r.acks(); len(got) != 0 {
					t.Errorf("sent %v for a QoS 0 message", got)
				}
			})
		})
	}
}

// A held message acknowledged early, because a later one was acknowledged
// (see TestHeldMessagesDoNotHoldBackAcks), cannot be refused when
// NextDelivery takes it: Refuse says so; Accept has nothing left to do. So
// for one that arrived before its Subscribe's SUBACK.
func TestDeliveryHeldAcknowledged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		r := p.record()
		live := r.subscribe(c, mqtt.Filter{Topic: "live", QoS: mqtt.QoS1})
		subscribed := make(chan *mqtt.Subscription, 1)
		go func() {
			s, err := c.Subscribe(context.Background(), mqtt.Filter{Topic: "early", QoS: mqtt.QoS1})
			if err != nil {
				t.Error(err)
			}
			subscribed <- s
		}()
		sub, ok := r.next().(*wire.Subscribe)
		if !ok {
			t.Fatal("expected SUBSCRIBE")
		}
		p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "early", Payload: []byte("before the SUBACK")},
			&wire.Publish{QoS: 1, PacketID: 2, Topic: "live", Payload: []byte("live")})
		expectNext(t, live, "live")
		if diff := cmp.Diff([]string{"PUBACK 1", "PUBACK 2"}, r.acks()); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
		p.send(&wire.Suback{PacketID: sub.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1}})
		d := take(t, <-subscribed, "before the SUBACK")
		if err := d.Refuse(wire.NotAuthorized); err == nil || !strings.Contains(err.Error(), "acknowledged before") {
			t.Errorf("Refuse of a message acknowledged before its SUBACK: %v", err)
		}
		if got := r.acks(); len(got) != 0 {
			t.Errorf("sent %v", got)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{SessionPresent: true}, &mqtt.DialOptions{ClientID: "x", KeepSession: true})
		r := p.record()
		live := r.subscribe(c, mqtt.Filter{Topic: "live", QoS: mqtt.QoS1})
		p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "old", Payload: []byte("held")},
			&wire.Publish{QoS: 1, PacketID: 2, Topic: "live", Payload: []byte("live")})
		expectNext(t, live, "live")
		if diff := cmp.Diff([]string{"PUBACK 1", "PUBACK 2"}, r.acks()); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
		old := r.subscribe(c, mqtt.Filter{Topic: "old", QoS: mqtt.QoS1})
		d := take(t, old, "held")
		if err := d.Refuse(wire.NotAuthorized); err == nil || !strings.Contains(err.Error(), "acknowledged before") {
			t.Errorf("Refuse of a message acknowledged before: %v", err)
		}
		if got := r.acks(); len(got) != 0 {
			t.Errorf("sent %v", got)
		}
	})
}

// Against mosquitto: a refused QoS 2 message (PUBREC 0x83) ends its flow at
// the broker (MQTT-4.3.3-9, MQTT-4.4.0-2 for the broker as sender), and a
// refused QoS 1 one is acknowledged: neither comes again, not even to the
// same session on a new connection, and the next messages flow.
func TestMosquittoDeliveryRefuse(t *testing.T) {
	t.Parallel()
	b := mosquitto.Start(t, mosquitto.Options{})
	ctx := testCtx(t)
	opts := &mqtt.DialOptions{ClientID: "refuser", KeepSession: true, Version: mqtt.V5}
	sub := dialT(t, b.TCPURL, opts)
	s, err := sub.Subscribe(ctx, mqtt.Filter{Topic: "refuse/#", QoS: mqtt.QoS2})
	if err != nil {
		t.Fatal(err)
	}
	pub := dialT(t, b.TCPURL, &mqtt.DialOptions{Version: mqtt.V5})
	for _, m := range []mqtt.Message{
		{Topic: "refuse/2", QoS: mqtt.QoS2, Payload: []byte("no 2")},
		{Topic: "refuse/1", QoS: mqtt.QoS1, Payload: []byte("no 1")},
	} {
		if err := pub.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		d, err := s.NextDelivery(ctx)
		if err != nil || string(d.Payload) != string(m.Payload) {
			t.Fatalf("NextDelivery = %+v, %v", d, err)
		}
		if err := d.Refuse(wire.ImplementationSpecificError); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Publish(ctx, mqtt.Message{Topic: "refuse/2", QoS: mqtt.QoS2, Payload: []byte("yes")}); err != nil {
		t.Fatal(err)
	}
	d, err := s.NextDelivery(ctx)
	if err != nil || string(d.Payload) != "yes" {
		t.Fatalf("after the refusals NextDelivery = %+v, %v; want the next message", d, err)
	}
	if err := d.Accept(); err != nil {
		t.Fatal(err)
	}
	if err := sub.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}

	// The same session again: mosquitto sends nothing of the refused
	// messages, only what was published meanwhile.
	if err := pub.Publish(ctx, mqtt.Message{Topic: "refuse/1", QoS: mqtt.QoS1, Payload: []byte("meanwhile")}); err != nil {
		t.Fatal(err)
	}
	again := dialT(t, b.TCPURL, opts)
	s, err = again.Subscribe(ctx, mqtt.Filter{Topic: "refuse/#", QoS: mqtt.QoS2})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Next(ctx)
	if err != nil || string(m.Payload) != "meanwhile" {
		t.Fatalf("on the resumed session Next = %q, %v; want only the message published meanwhile", m.Payload, err)
	}
}
