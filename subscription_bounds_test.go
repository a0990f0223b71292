package mqtt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/wire"
)

// recorder reads everything the client sends from the moment it starts, so
// that a test can assert both what has been sent by now and that nothing
// else was: sent returns what arrived by the time every goroutine of the
// bubble is blocked (synctest.Wait), without waiting for a packet that
// must not come.
type recorder struct {
	p  *peer
	ch chan wire.Packet
}

func (p *peer) record() *recorder {
	r := &recorder{p: p, ch: make(chan wire.Packet, 4096)}
	go func() {
		defer close(r.ch)
		for {
			pkt, err := p.r.ReadPacket(p.v)
			if err != nil {
				return // the test's end closed the pipe
			}
			r.ch <- pkt
		}
	}()
	return r
}

// next waits for the next packet the client sends.
func (r *recorder) next() wire.Packet {
	r.p.t.Helper()
	pkt, ok := <-r.ch
	if !ok {
		r.p.t.Fatal("peer: the connection ended")
	}
	return pkt
}

// sent returns, once the bubble is idle, what the client sent since the
// last call, each packet as describe writes it.
func (r *recorder) sent() []string {
	synctest.Wait()
	got := []string{}
	for {
		select {
		case pkt, ok := <-r.ch:
			if !ok {
				return got
			}
			got = append(got, describe(pkt))
		default:
			return got
		}
	}
}

// subscribe has c subscribe to f, grants it, and returns the Subscription.
func (r *recorder) subscribe(c *mqtt.Client, f mqtt.Filter) *mqtt.Subscription {
	r.p.t.Helper()
	res := make(chan *mqtt.Subscription, 1)
	go func() {
		s, err := c.Subscribe(context.Background(), f)
		if err != nil {
			r.p.t.Error(err)
		}
		res <- s
	}()
	pkt, ok := r.next().(*wire.Subscribe)
	if !ok {
		r.p.t.Fatal("peer: expected SUBSCRIBE")
	}
	r.p.send(&wire.Suback{PacketID: pkt.PacketID, ReasonCodes: []wire.ReasonCode{wire.ReasonCode(f.QoS)}})
	return <-res
}

func encode(t *testing.T, pkt wire.Packet) []byte {
	t.Helper()
	b, err := pkt.Append(nil, wire.V5)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func describe(pkt wire.Packet) string {
	switch p := pkt.(type) {
	case *wire.Puback:
		return fmt.Sprintf("PUBACK %d", p.PacketID)
	case *wire.Pubrec:
		return fmt.Sprintf("PUBREC %d", p.PacketID)
	case *wire.Pubcomp:
		return fmt.Sprintf("PUBCOMP %d", p.PacketID)
	case *wire.Unsubscribe:
		return fmt.Sprintf("UNSUBSCRIBE %v", p.Topics)
	case *wire.Subscribe:
		topics := make([]string, len(p.Filters))
		for i, f := range p.Filters {
			topics[i] = f.Topic
		}
		return fmt.Sprintf("SUBSCRIBE %v", topics)
	}
	return pkt.Type().String()
}

// expectNext fails unless s hands out exactly the payloads want, in order,
// and then has nothing more.
func expectNext(t *testing.T, s *mqtt.Subscription, want ...string) {
	t.Helper()
	for _, w := range want {
		m, err := s.Next(context.Background())
		if err != nil || string(m.Payload) != w {
			t.Fatalf("Next = %q, %v; want %q", m.Payload, err, w)
		}
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if m, err := s.Next(done); err == nil {
		t.Fatalf("Next = %q, want nothing more", m.Payload)
	}
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
				if err := <-res; !errors.Is(err, context.Canceled) {
					t.Fatalf("Subscribe = %v, want context.Canceled", err)
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
