package mqtt_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// MQTT-4.3.2-4, MQTT-4.6.0-2, MQTT-4.5.0-2: incoming QoS 1 messages are
// acknowledged when Next hands them out, in the order they arrived.
func TestIncomingAckOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V311, &wire.Connack{}, &mqtt.DialOptions{ClientID: "x"})
		ctx := context.Background()
		subscribe := func(topic string) *mqtt.Subscription {
			s, _ := p.subscribe(c, mqtt.Filter{Topic: topic, QoS: mqtt.QoS1})
			return s
		}
		sa, sb := subscribe("a"), subscribe("b")
		p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "a", Payload: []byte("first")},
			&wire.Publish{QoS: 1, PacketID: 2, Topic: "b", Payload: []byte("second")})
		m, err := sb.Next(ctx)
		if err != nil || string(m.Payload) != "second" {
			t.Fatalf("sb.Next = %q, %v", m.Payload, err)
		}
		m, err = sa.Next(ctx)
		if err != nil || string(m.Payload) != "first" {
			t.Fatalf("sa.Next = %q, %v", m.Payload, err)
		}
		for _, want := range []uint16{1, 2} {
			if got := p.expect(wire.PUBACK).(*wire.Puback).PacketID; got != want {
				t.Errorf("PUBACK %d, want %d", got, want)
			}
		}
		// A message no subscription matches is still acknowledged once
		// handed out: it waits for the first matching Subscription.
		p.send(&wire.Publish{QoS: 1, PacketID: 3, Topic: "later", Payload: []byte("held")})
		synctest.Wait()
		sl := subscribe("later")
		if m, err := sl.Next(ctx); err != nil || string(m.Payload) != "held" {
			t.Fatalf("held message: %q, %v", m.Payload, err)
		}
		if got := p.expect(wire.PUBACK).(*wire.Puback).PacketID; got != 3 {
			t.Errorf("PUBACK %d, want 3", got)
		}
	})
}

// MQTT-4.3.3-8, MQTT-4.3.3-10, MQTT-4.3.3-11, MQTT-4.3.3-12, MQTT-4.6.0-3:
// the QoS 2 receiver flow delivers once, repeats PUBREC for a resend and
// completes with PUBCOMP.
func TestIncomingQoS2(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		ctx := context.Background()
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "#", QoS: mqtt.QoS2})
		p.send(&wire.Publish{QoS: 2, PacketID: 5, Topic: "x", Payload: []byte("one")})
		m, err := s.Next(ctx)
		if err != nil || string(m.Payload) != "one" {
			t.Fatalf("Next = %q, %v", m.Payload, err)
		}
		if id := p.expect(wire.PUBREC).(*wire.Pubrec).PacketID; id != 5 {
			t.Fatalf("PUBREC %d", id)
		}
		// The server sends it again before PUBREL: PUBREC again, no
		// second delivery.
		p.send(&wire.Publish{QoS: 2, Dup: true, PacketID: 5, Topic: "x", Payload: []byte("one")})
		if id := p.expect(wire.PUBREC).(*wire.Pubrec).PacketID; id != 5 {
			t.Fatalf("PUBREC %d", id)
		}
		p.send(&wire.Pubrel{PacketID: 5})
		if id := p.expect(wire.PUBCOMP).(*wire.Pubcomp).PacketID; id != 5 {
			t.Fatalf("PUBCOMP %d", id)
		}
		// After PUBCOMP the identifier starts a new message.
		p.send(&wire.Publish{QoS: 2, PacketID: 5, Topic: "x", Payload: []byte("two")})
		m, err = s.Next(ctx)
		if err != nil || string(m.Payload) != "two" {
			t.Fatalf("Next = %q, %v; the resend was delivered twice or the new message lost", m.Payload, err)
		}
		p.expect(wire.PUBREC)
	})
}

// MQTT-4.3.2-5: once the client has sent PUBACK, the same packet identifier
// starts a new QoS 1 message, whatever its DUP flag says: it is delivered.
func TestIncomingQoS1IdentifierReused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS1})
		for i, payload := range []string{"first", "second"} {
			p.send(&wire.Publish{Topic: "t", QoS: 1, PacketID: 9, Dup: i > 0, Payload: []byte(payload)})
			m, err := s.Next(context.Background())
			if err != nil || string(m.Payload) != payload {
				t.Fatalf("message %d: %q, %v; want %q", i, m.Payload, err, payload)
			}
			if ack := p.expect(wire.PUBACK).(*wire.Puback); ack.PacketID != 9 {
				t.Errorf("PUBACK for %d, want 9", ack.PacketID)
			}
		}
	})
}

// MQTT-4.3.3-9: a QoS 2 receiver that refused a message with a PUBREC of
// 0x80 or above takes the next PUBLISH with that packet identifier for a
// new message. The client refuses none, not even a message it drops (here,
// one that matches no Subscription and finds no room among the messages
// held for one): it answers with a successful PUBREC, after which a PUBLISH
// with that identifier is a resend until PUBREL (MQTT-4.3.3-10). The test
// holds either way, so that a client that took to refusing what it drops
// (PUBREC 0x97, say) must also forget the identifier.
func TestDroppedQoS2Identifier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, &mqtt.DialOptions{MaxQueuedBytes: 1})
		p.send(&wire.Publish{Topic: "t", QoS: 2, PacketID: 1, Payload: []byte("held")},
			&wire.Publish{Topic: "t", QoS: 2, PacketID: 2, Payload: []byte("dropped")})
		p.expectPubrec(1) // held; acknowledged once the one behind it is due
		rec := p.expect(wire.PUBREC).(*wire.Pubrec)
		if rec.PacketID != 2 {
			t.Fatalf("PUBREC %d, want 2", rec.PacketID)
		}
		if n := c.Dropped(); n != 1 {
			t.Fatalf("Dropped() = %d, want 1", n)
		}
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS2})
		expectSoon(t, s, "held")
		p.send(&wire.Publish{Topic: "t", QoS: 2, PacketID: 2, Payload: []byte("new")})
		if rec.ReasonCode.IsError() {
			// Refused: 2 starts a new message.
			expectSoon(t, s, "new")
			p.expectPubrec(2)
			return
		}
		// Accepted: a resend until PUBREL, answered and not delivered.
		p.expectPubrec(2)
		expectNone(t, s)
		p.send(&wire.Pubrel{PacketID: 2})
		if comp := p.expect(wire.PUBCOMP).(*wire.Pubcomp); comp.PacketID != 2 || comp.ReasonCode.IsError() {
			t.Fatalf("PUBCOMP %d %v, want a success for 2", comp.PacketID, comp.ReasonCode)
		}
		p.send(&wire.Publish{Topic: "t", QoS: 2, PacketID: 2, Payload: []byte("newer")})
		expectSoon(t, s, "newer")
		p.expectPubrec(2)
	})
}

// A server that sends a QoS 2 message again, as a PUBLISH with DUP, after
// it released it (PUBREL answered with PUBCOMP) and the connection was lost
// (mosquitto 2.0 does now and then, one or two reconnections later) does
// not get it delivered twice: it is acknowledged with PUBREC again and its
// PUBREL completed, but Next does not hand it out. The same identifier used
// for a new message (DUP not set) is delivered.
func TestQoS2ResentAfterReleaseNotDeliveredTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newPipeDialer()
		var c *mqtt.Client
		dialed := async(func() error {
			var err error
			c, err = mqtt.Dial(context.Background(), "mqtt://broker.test", &mqtt.DialOptions{Version: mqtt.V5,
				ClientID: "twice", KeepSession: true, Dialer: d.dial, ReconnectDelay: time.Second, MaxReconnectDelay: time.Second})
			return err
		})
		connect := func(present bool) *peer {
			conn := <-d.conns
			p := &peer{t: t, v: wire.V5, conn: conn, r: wire.NewReader(conn, 0)}
			p.expect(wire.CONNECT)
			p.send(&wire.Connack{SessionPresent: present})
			return p
		}
		p := connect(false)
		if err := <-dialed; err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx := context.Background()
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS2})
		msg := &wire.Publish{Topic: "t", QoS: 2, PacketID: 7, Payload: []byte("once")}
		p.send(msg)
		if m, err := s.Next(ctx); err != nil || string(m.Payload) != "once" {
			t.Fatalf("Next: %q, %v", m.Payload, err)
		}
		p.expect(wire.PUBREC)
		p.send(&wire.Pubrel{PacketID: 7})
		p.expect(wire.PUBCOMP)

		// Two reconnections; on the second, the server sends it again.
		for i := range 2 {
			p.conn.Close()
			p = connect(true)
			if i == 0 {
				continue
			}
			again := *msg
			again.Dup = true
			p.send(&again)
			if rec := p.expect(wire.PUBREC).(*wire.Pubrec); rec.PacketID != 7 {
				t.Fatalf("PUBREC %d, want 7", rec.PacketID)
			}
			p.send(&wire.Pubrel{PacketID: 7})
			if comp := p.expect(wire.PUBCOMP).(*wire.Pubcomp); comp.PacketID != 7 || comp.ReasonCode != wire.Success {
				t.Fatalf("PUBCOMP %+v, want 7, success", comp)
			}
		}
		// A new message under the same identifier starts without DUP.
		fresh := *msg
		p.send(&fresh)
		m, err := s.Next(ctx)
		if err != nil || string(m.Payload) != "once" {
			t.Fatalf("Next after the resend: %q, %v; want the new message (the resend must not have been delivered)", m.Payload, err)
		}
		if m.Duplicate {
			t.Fatal("Next handed out the resend (DUP set) instead of the new message")
		}
		p.expect(wire.PUBREC)
		go func() { // read until closed
			for {
				if _, err := p.r.ReadPacket(wire.V5); err != nil {
					return
				}
			}
		}()
		c.Close()
		p.conn.Close()
	})
}

// A PUBREL for a packet identifier the client holds no QoS 2 message for is
// answered with PUBCOMP 0x92 in v5 (Packet Identifier not found,
// MQTT-3.7.2-1), and with a plain PUBCOMP in 3.1.1, which has no reason
// codes (MQTT-4.3.3-11: a PUBREL is always answered).
func TestPubrelUnknownID(t *testing.T) {
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				_, p := dialPeer(t, v, &wire.Connack{}, nil)
				p.send(&wire.Pubrel{PacketID: 42})
				comp := p.expect(wire.PUBCOMP).(*wire.Pubcomp)
				want := wire.PacketIdentifierNotFound
				if v != wire.V5 {
					want = wire.Success
				}
				if comp.PacketID != 42 || comp.ReasonCode != want {
					t.Fatalf("PUBCOMP %+v, want identifier 42 and %v", comp, want)
				}
			})
		})
	}
}

// MQTT-4.6.0-2: PUBACKs leave in the order the messages arrived, even when
// several goroutines take the messages with Next at once.
func TestConcurrentNextAcknowledgesInOrder(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := dialT(t, srv.URL, &mqtt.DialOptions{ClientID: "readers"})
	s, err := c.Subscribe(ctx, mqtt.Filter{Topic: "in", QoS: mqtt.QoS1})
	if err != nil {
		t.Fatal(err)
	}
	const n, readers = 2000, 4
	go func() {
		for range n {
			if err := srv.Publish(&wire.Publish{Topic: "in", QoS: 1, Payload: []byte("x")}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var wg sync.WaitGroup
	var got sync.Mutex
	taken := 0
	for range readers {
		wg.Go(func() {
			for {
				got.Lock()
				if taken == n {
					got.Unlock()
					return
				}
				taken++
				got.Unlock()
				if _, err := s.Next(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	acks := 0
	if _, err := srv.WaitPacket(ctx, func(r mqtttest.Record) bool {
		if r.Dir == mqtttest.FromClient && r.Packet.Type() == wire.PUBACK {
			acks++
		}
		return acks == n
	}); err != nil {
		t.Fatalf("waiting for %d PUBACKs: %v", n, err)
	}
	var sent, acked []uint16
	for _, r := range srv.Packets() {
		switch p := r.Packet.(type) {
		case *wire.Publish:
			if r.Dir == mqtttest.ToClient {
				sent = append(sent, p.PacketID)
			}
		case *wire.Puback:
			if r.Dir == mqtttest.FromClient {
				acked = append(acked, p.PacketID)
			}
		}
	}
	for i := range min(len(sent), len(acked)) {
		if sent[i] != acked[i] {
			t.Fatalf("PUBACK %d is for %d, but message %d was %d", i, acked[i], i, sent[i])
		}
	}
}
