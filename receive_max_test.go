package mqtt_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// The client's own Receive Maximum bounds the QoS 1 and 2 messages a server
// may have sent and not yet seen acknowledged: a server that ignores it
// cannot make the client buffer without bound.

// MQTT-3.3.4-9: a v5 server that sends more unacknowledged QoS 1 or 2
// messages than the client's Receive Maximum is disconnected with 0x93.
// Acknowledged ones make room again: the limit is on what is in flight,
// not on what arrived.
func TestReceiveMaximumEnforcedV5(t *testing.T) {
	for _, qos := range []byte{1, 2} {
		t.Run(mqtt.QoS(qos).String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const max = 10
				c, p := dialPeer(t, wire.V5, &wire.Connack{}, &mqtt.DialOptions{ReceiveMaximum: max})
				ctx := context.Background()
				s, _ := p.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS(qos)})
				// Two taken and acknowledged (and, at QoS 2, released):
				// their identifiers no longer count.
				for id := uint16(1); id <= 2; id++ {
					p.send(&wire.Publish{Topic: "t", QoS: qos, PacketID: id})
					if _, err := s.Next(ctx); err != nil {
						t.Fatal(err)
					}
					if qos == 1 {
						p.expect(wire.PUBACK)
					} else {
						p.expect(wire.PUBREC)
						p.send(&wire.Pubrel{PacketID: id})
						p.expect(wire.PUBCOMP)
					}
				}
				for id := uint16(3); id < 3+max; id++ {
					p.send(&wire.Publish{Topic: "t", QoS: qos, PacketID: id})
				}
				synctest.Wait()
				if err := c.Err(); err != nil {
					t.Fatalf("the client ended at %d messages in flight, its Receive Maximum: %v", max, err)
				}
				p.send(&wire.Publish{Topic: "t", QoS: qos, PacketID: 100})
				p.expectDisconnect(wire.ReceiveMaximumExceeded)
				<-c.Done()
			})
		})
	}
}

// A 3.1.1 server has no Receive Maximum to respect, and the client no
// DISCONNECT to say so: with ReceiveMaximum messages unacknowledged the
// client stops reading, so that TCP holds the server back, and reads again
// as the application takes them. (Here the pipe shows it: the server's
// write of the next message does not complete.)
func TestReceiveMaximumBackpressureV311(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const max = 10
		c, p := dialPeer(t, wire.V311, &wire.Connack{}, &mqtt.DialOptions{ReceiveMaximum: max, KeepAlive: 10 * time.Second})
		ctx := context.Background()
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS1})
		for id := uint16(1); id <= max; id++ {
			p.send(&wire.Publish{Topic: "t", QoS: 1, PacketID: id})
		}
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			p.send(&wire.Publish{Topic: "t", QoS: 1, PacketID: 11})
		}()
		synctest.Wait()
		select {
		case <-sent:
			t.Fatalf("the client read an 11th unacknowledged message with a Receive Maximum of %d", max)
		default:
		}
		// Stopped reading on purpose is not a dead server: a minute of
		// keep alive passes without the client giving up.
		time.Sleep(time.Minute)
		if err := c.Err(); err != nil {
			t.Fatalf("the client ended while it held back the server: %v", err)
		}
		if _, err := s.Next(ctx); err != nil {
			t.Fatal(err)
		}
		// Read in order: the pings sent meanwhile, then the PUBACK.
		for {
			pkt := p.read()
			if pkt.Type() == wire.PINGREQ {
				continue
			}
			if ack, ok := pkt.(*wire.Puback); !ok || ack.PacketID != 1 {
				t.Fatalf("got %v, want PUBACK 1", pkt)
			}
			break
		}
		<-sent // room for one more: read
		for id := 2; id <= max+1; id++ {
			m, err := s.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_ = m
		}
		if c.Err() != nil {
			t.Fatal(c.Err())
		}
	})
}

// A v5 server that resends its backlog at once when a session resumes, DUP
// set, beyond the client's Receive Maximum (mosquitto 2.0 after a restart
// does), is held back like a 3.x server rather than disconnected, which
// would only have it resend the same backlog again for ever.
func TestReceiveMaximumResentBacklogV5(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const max = 10
		c, p := dialPeer(t, wire.V5, &wire.Connack{SessionPresent: true},
			&mqtt.DialOptions{ReceiveMaximum: max, KeepSession: true, ClientID: "resumed"})
		ctx := context.Background()
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS1})
		for id := uint16(1); id <= max+1; id++ {
			p.send(&wire.Publish{Topic: "t", QoS: 1, PacketID: id, Dup: true})
		}
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			p.send(&wire.Publish{Topic: "t", QoS: 1, PacketID: max + 2, Dup: true})
		}()
		synctest.Wait()
		select {
		case <-sent:
			t.Fatalf("the client read %d unacknowledged messages with a Receive Maximum of %d", max+2, max)
		default:
		}
		if err := c.Err(); err != nil {
			t.Fatalf("the client ended: %v", err)
		}
		for id := uint16(1); id <= max+2; id++ {
			if _, err := s.Next(ctx); err != nil {
				t.Fatal(err)
			}
			if ack := p.expect(wire.PUBACK).(*wire.Puback); ack.PacketID != id {
				t.Fatalf("PUBACK %d, want %d", ack.PacketID, id)
			}
		}
		<-sent
	})
}

// Messages of a resumed session that no Subscription takes yet do not hold
// a 3.1.1 server back: at the Receive Maximum they are acknowledged (they
// stay held for the Subscribe to come), so that the reader goes on and the
// Subscribe the application makes now gets its SUBACK.
func TestReceiveMaximumHeldMessagesV311(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const max = 10
		c, p := dialPeer(t, wire.V311, &wire.Connack{SessionPresent: true},
			&mqtt.DialOptions{ReceiveMaximum: max, KeepSession: true, ClientID: "resumed"})
		ctx := context.Background()
		for id := uint16(1); id <= max+5; id++ {
			p.send(&wire.Publish{Topic: "t", QoS: 1, PacketID: id, Dup: true})
		}
		type subscribed struct {
			s   *mqtt.Subscription
			err error
		}
		res := make(chan subscribed, 1)
		go func() {
			s, err := c.Subscribe(ctx, mqtt.Filter{Topic: "t", QoS: mqtt.QoS1})
			res <- subscribed{s, err}
		}()
		acked := 0
		for {
			pkt := p.read()
			if _, ok := pkt.(*wire.Puback); ok {
				acked++
				continue
			}
			sub, ok := pkt.(*wire.Subscribe)
			if !ok {
				t.Fatalf("got %v, want PUBACK or SUBSCRIBE", pkt.Type())
			}
			p.send(&wire.Suback{PacketID: sub.PacketID, ReasonCodes: []wire.ReasonCode{1}})
			break
		}
		r := <-res
		if r.err != nil {
			t.Fatalf("Subscribe with the held messages at the Receive Maximum: %v", r.err)
		}
		for range max + 5 {
			if _, err := r.s.Next(ctx); err != nil {
				t.Fatal(err)
			}
		}
		_ = acked
	})
}

// The same when the messages arrive between SUBSCRIBE and its SUBACK: the
// Subscription has them, but nobody can take them before Subscribe returns.
func TestReceiveMaximumBeforeSubackV311(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const max = 10
		c, p := dialPeer(t, wire.V311, &wire.Connack{SessionPresent: true},
			&mqtt.DialOptions{ReceiveMaximum: max, KeepSession: true, ClientID: "resumed"})
		ctx := context.Background()
		type subscribed struct {
			s   *mqtt.Subscription
			err error
		}
		res := make(chan subscribed, 1)
		go func() {
			s, err := c.Subscribe(ctx, mqtt.Filter{Topic: "t", QoS: mqtt.QoS1})
			res <- subscribed{s, err}
		}()
		sub := p.expect(wire.SUBSCRIBE).(*wire.Subscribe)
		for id := uint16(1); id <= max+5; id++ {
			p.send(&wire.Publish{Topic: "t", QoS: 1, PacketID: id, Dup: true})
		}
		p.send(&wire.Suback{PacketID: sub.PacketID, ReasonCodes: []wire.ReasonCode{1}})
		go func() { // the acknowledgements
			for {
				if _, err := p.r.ReadPacket(p.v); err != nil {
					return
				}
			}
		}()
		r := <-res
		if r.err != nil {
			t.Fatalf("Subscribe with the Receive Maximum reached before its SUBACK: %v", r.err)
		}
		for range max + 5 {
			if _, err := r.s.Next(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// MQTT-3.3.4-9, MQTT-4.3.2-4: the client makes room for another message
// before its PUBACK goes out. A server that keeps to the client's Receive
// Maximum may send the next message as soon as it has the PUBACK, and the
// reader must not count that one beyond the maximum: the client counted it
// now and then, and disconnected a server that did nothing wrong with
// 0x93. Over TCP, with a maximum of 1, each PUBACK releases the next
// message at once.
func TestReceiveMaximumRoomBeforePuback(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancelCause(testCtx(t))
	c := dialT(t, srv.URL, &mqtt.DialOptions{ReceiveMaximum: 1, OnConnectionLost: cancel})
	s, err := c.Subscribe(ctx, mqtt.Filter{Topic: "t", QoS: mqtt.QoS1})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	go func() {
		for range n {
			if srv.Publish(&wire.Publish{Topic: "t", QoS: 1, Payload: []byte("x")}) != nil {
				return
			}
		}
	}()
	for i := range n {
		if _, err := s.Next(ctx); err != nil {
			t.Fatalf("message %d: %v (%v)", i, err, context.Cause(ctx))
		}
	}
}
