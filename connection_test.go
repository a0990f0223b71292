package mqtt_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/internal/testcert"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// MQTT-3.1.2-20, MQTT-3.1.2-21, MQTT-3.2.2-21: PINGREQ after the keep alive
// (the server's value wins), and a silent server ends the connection.
func TestKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ka := uint16(4)
		start := time.Now()
		c, p := dialPeer(t, wire.V5, &wire.Connack{Properties: &wire.Properties{ServerKeepAlive: &ka}},
			&mqtt.DialOptions{KeepAlive: 60 * time.Second})
		p.expect(wire.PINGREQ)
		// Three quarters of the keep alive, so that a silent server is
		// found out within 1.25 keep alive.
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("PINGREQ after %v, want after 3/4 of the server keep alive of 4s", d)
		}
		p.send(&wire.Pingresp{})
		p.expect(wire.PINGREQ)
		// No PINGRESP this time: the client gives up within 1.5 x keep alive.
		start = time.Now()
		go func() {
			for { // drain whatever else the client writes
				if _, err := p.r.ReadPacket(p.v); err != nil {
					return
				}
			}
		}()
		<-c.Done()
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("dead connection noticed %v after PINGREQ, want half the keep alive", d)
		}
		if !errors.Is(c.Err(), mqtt.ErrClosed) {
			t.Errorf("Err() = %v, want one wrapping ErrClosed", c.Err())
		}
	})
}

// MQTT-3.4.2-2, MQTT-3.4.2-3, MQTT-3.5.2-2, MQTT-3.5.2-3, MQTT-3.6.2-2,
// MQTT-3.6.2-3, MQTT-3.7.2-2, MQTT-3.7.2-3, MQTT-3.14.2-3, MQTT-3.14.2-4: an
// acknowledgement or DISCONNECT carries a Reason String or User Property
// only when it still fits the server's Maximum Packet Size. The client adds
// neither, so its PUBACK, PUBREC, PUBREL, PUBCOMP and DISCONNECT fit even a
// tiny limit.
func TestAcknowledgementsFitTheServersLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit = 16
		c, p := dialPeer(t, wire.V5, &wire.Connack{Properties: &wire.Properties{MaximumPacketSize: limit}}, nil)
		check := func(pkt wire.Packet) {
			t.Helper()
			var props *wire.Properties
			switch q := pkt.(type) {
			case *wire.Puback:
				props = q.Properties
			case *wire.Pubrec:
				props = q.Properties
			case *wire.Pubrel:
				props = q.Properties
			case *wire.Pubcomp:
				props = q.Properties
			case *wire.Disconnect:
				props = q.Properties
			}
			if props != nil && (props.ReasonString != "" || len(props.UserProperties) > 0) {
				t.Errorf("%v with a reason string or user properties: %+v", pkt.Type(), props)
			}
			if b, err := pkt.Append(nil, wire.V5); err != nil || len(b) > limit {
				t.Errorf("%v of %d bytes (%v), over the server's limit of %d", pkt.Type(), len(b), err, limit)
			}
		}
		ctx := context.Background()
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS2})

		p.send(&wire.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("a")})
		if _, err := s.Next(ctx); err != nil {
			t.Fatal(err)
		}
		check(p.expect(wire.PUBACK))
		p.send(&wire.Publish{Topic: "t", QoS: 2, PacketID: 2, Payload: []byte("b")})
		if _, err := s.Next(ctx); err != nil {
			t.Fatal(err)
		}
		check(p.expect(wire.PUBREC))
		p.send(&wire.Pubrel{PacketID: 2})
		check(p.expect(wire.PUBCOMP))

		published := async(func() error { return c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS2, Payload: []byte("c")}) })
		id := p.expect(wire.PUBLISH).(*wire.Publish).PacketID
		p.send(&wire.Pubrec{PacketID: id})
		check(p.expect(wire.PUBREL))
		p.send(&wire.Pubcomp{PacketID: id})
		if err := <-published; err != nil {
			t.Fatal(err)
		}

		disconnected := async(func() error { return c.Disconnect(ctx) })
		check(p.expect(wire.DISCONNECT))
		if err := <-disconnected; err != nil {
			t.Fatal(err)
		}
	})
}

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

// The client's answers to a server that breaks the protocol: which
// DISCONNECT it sends (v5), and that it never takes an acknowledgement that
// cannot be right for success.

// expectDisconnect reads what the client sends until it closes the
// connection, and checks that it closed at once (not after its keep alive
// gave up on the peer, which the bubble's clock would show) and that the
// last packet was a DISCONNECT with code (v5), or that it closed without
// one (3.x).
func (p *peer) expectDisconnect(code wire.ReasonCode) {
	p.t.Helper()
	start := time.Now()
	var last wire.Packet
	for {
		pkt, err := p.r.ReadPacket(p.v)
		if err != nil {
			break
		}
		last = pkt
	}
	if d := time.Since(start); d > time.Second {
		p.t.Fatalf("the client closed the connection only after %v (last packet %v)", d, last)
	}
	if p.v != wire.V5 {
		if last != nil && last.Type() == wire.DISCONNECT {
			p.t.Fatalf("a %v client sent DISCONNECT; only servers say why in 3.x", p.v)
		}
		return
	}
	d, ok := last.(*wire.Disconnect)
	if !ok {
		p.t.Fatalf("the client's last packet was %v, want DISCONNECT %v", last, code)
	}
	if d.ReasonCode != code {
		p.t.Fatalf("DISCONNECT %v, want %v", d.ReasonCode, code)
	}
}

// A fixed header that breaks the rules is a malformed packet: DISCONNECT
// 0x81, then the connection is closed (4.13.1; MQTT-4.13.1-1 is its
// server half).
func TestMalformedHeaderDisconnects(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"reserved flags", []byte{0x41, 0x02, 0x00, 0x01}},            // PUBACK with flags 0001 (MQTT-2.1.3-1)
		{"QoS 3", []byte{0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01}},    // MQTT-3.3.1-4
		{"type 0", []byte{0x00, 0x00}},                                // reserved packet type
		{"5-byte length", []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}}, // the remaining length has at most 4 bytes
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
				p.conn.Write(tc.raw)
				p.expectDisconnect(wire.MalformedPacket)
				<-c.Done()
				if !errors.Is(c.Err(), wire.ErrMalformed) {
					t.Errorf("Err = %v, want it to match wire.ErrMalformed", c.Err())
				}
			})
		})
	}
}

// A packet larger than the Maximum Packet Size the client announced:
// DISCONNECT 0x95 (MQTT-3.1.2-24 binds the server; the client refuses what
// it said it would not take).
func TestPacketOverClientMaximumDisconnects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, &mqtt.DialOptions{MaximumPacketSize: 100})
		p.send(&wire.Publish{Topic: "t", Payload: make([]byte, 200)})
		p.expectDisconnect(wire.PacketTooLarge)
		<-c.Done()
	})
}

// A SUBACK must answer each filter of the SUBSCRIBE, in order
// (MQTT-3.8.4-6, MQTT-3.9.3-1), and never grant more than was asked
// (MQTT-3.8.4-7 binds the server). A SUBACK that does not is a protocol
// error: the connection is closed (v311:MQTT-4.8.0-1 for 3.1.1, where the
// client closes without a word), and Subscribe does not report a grant that
// never happened.
func TestBadSubackIsProtocolError(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codes []wire.ReasonCode
	}{
		{"too few codes", []wire.ReasonCode{1}},
		{"too many codes", []wire.ReasonCode{1, 1, 1}},
		{"QoS above the asked", []wire.ReasonCode{2, 1}},
	} {
		for _, v := range []wire.Version{wire.V311, wire.V5} {
			t.Run(tc.name+"/"+v.String(), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					c, p := dialPeer(t, v, &wire.Connack{}, nil)
					subscribed := async(func() error {
						_, err := c.Subscribe(context.Background(),
							mqtt.Filter{Topic: "a", QoS: mqtt.QoS1}, mqtt.Filter{Topic: "b", QoS: mqtt.QoS1})
						return err
					})
					sub := p.expect(wire.SUBSCRIBE).(*wire.Subscribe)
					p.send(&wire.Suback{PacketID: sub.PacketID, ReasonCodes: tc.codes})
					p.expectDisconnect(wire.ProtocolError)
					if err := <-subscribed; err == nil {
						t.Fatal("Subscribe succeeded on a SUBACK that does not answer its filters")
					}
				})
			})
		}
	}
}

// An UNSUBACK must carry a reason code for each topic filter of the
// UNSUBSCRIBE (v5, MQTT-3.11.3-1).
func TestBadUnsubackIsProtocolError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		unsubscribed := async(func() error { return c.Unsubscribe(context.Background(), "a", "b") })
		unsub := p.expect(wire.UNSUBSCRIBE).(*wire.Unsubscribe)
		p.send(&wire.Unsuback{PacketID: unsub.PacketID, ReasonCodes: []wire.ReasonCode{0}})
		p.expectDisconnect(wire.ProtocolError)
		if err := <-unsubscribed; err == nil {
			t.Fatal("Unsubscribe succeeded on an UNSUBACK with one code for two filters")
		}
	})
}

// An acknowledgement of the wrong QoS flow is a protocol error, never a
// success: a PUBACK for a QoS 2 PUBLISH (which stays unacknowledged until
// its PUBREC: MQTT-4.3.3-3) or a PUBREC for a QoS 1 one. The connection is
// closed; the Publish fails with ErrOutcomeUnknown (the server may have the
// message, not exactly once) and the message leaves the Store: sent again,
// it would be answered the same way, for ever (RabbitMQ before 3.13 answers
// every QoS 2 PUBLISH with PUBACK).
func TestWrongFlowAckIsProtocolError(t *testing.T) {
	for _, tc := range []struct {
		name string
		qos  mqtt.QoS
		ack  func(id uint16) wire.Packet
	}{
		{"PUBACK for QoS 2", mqtt.QoS2, func(id uint16) wire.Packet { return &wire.Puback{PacketID: id} }},
		{"PUBREC for QoS 1", mqtt.QoS1, func(id uint16) wire.Packet { return &wire.Pubrec{PacketID: id} }},
		{"PUBACK 0x80 for QoS 2", mqtt.QoS2, func(id uint16) wire.Packet {
			return &wire.Puback{PacketID: id, ReasonCode: wire.UnspecifiedError}
		}},
	} {
		for _, v := range []wire.Version{wire.V311, wire.V5} {
			if v != wire.V5 && tc.name == "PUBACK 0x80 for QoS 2" {
				continue
			}
			t.Run(tc.name+"/"+v.String(), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					store := persist.NewMemory()
					c, p := dialPeer(t, v, &wire.Connack{}, &mqtt.DialOptions{Store: store})
					published := async(func() error {
						return c.Publish(context.Background(), mqtt.Message{Topic: "t", QoS: tc.qos})
					})
					id := p.expect(wire.PUBLISH).(*wire.Publish).PacketID
					p.send(tc.ack(id))
					p.expectDisconnect(wire.ProtocolError)
					if err := <-published; !errors.Is(err, mqtt.ErrOutcomeUnknown) || !strings.Contains(err.Error(), "protocol error") {
						t.Fatalf("Publish at %v after a %s: %v, want ErrOutcomeUnknown naming the protocol error", tc.qos, tc.name, err)
					}
					if entries, _ := store.Load(persist.Outgoing); len(entries) != 0 {
						t.Fatalf("the Store holds %d messages, want none: sent again it would be answered the same way", len(entries))
					}
				})
			})
		}
	}
}

// Who reads the connection (connection.go): a client that only publishes
// at QoS 1 and 2, one message at a time, has the Publish that waits read
// its own answer (connection.readFor) while it keeps publishing, and no
// reading goroutine. These tests run over TCP and TLS, the connections whose
// reads can be interrupted; the scripted peers over pipes always have a
// reading goroutine.

// Sequential publishes at QoS 1 and 2 complete with the exact flows of
// MQTT-4.3.2-4 and MQTT-4.3.3-11, the caller reading the answers.
func TestPublisherReadsItsAnswers(t *testing.T) {
	t.Parallel()
	for name, start := range servers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, o := start()
			o.ClientID = "reader"
			ctx := testCtx(t)
			c := dialT(t, srv.URL, o)
			var want []string
			for i := range 20 {
				q := mqtt.QoS(1 + i%2)
				if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: q, Payload: []byte{byte(i)}}); err != nil {
					t.Fatalf("publish %d at QoS %d: %v", i, q, err)
				}
				want = append(want, "->PUBLISH")
				if q == 1 {
					want = append(want, "<-PUBACK")
				} else {
					want = append(want, "<-PUBREC", "->PUBREL", "<-PUBCOMP")
				}
			}
			if err := c.Disconnect(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := srv.WaitPacket(ctx, fromClient(wire.DISCONNECT)); err != nil {
				t.Fatal(err)
			}
			got := packetTypes(srv, "reader", true)
			want = append(append([]string{"->CONNECT", "<-CONNACK"}, want...), "->DISCONNECT")
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("packets:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// A Publish whose context ends while it reads returns ErrOutcomeUnknown at
// once, even with half of the answer read; the answer's other half, when it
// comes, completes the message (Disconnect drains it), and the connection
// goes on. The caller gave up, the session did not (MQTT-4.1.0-1: no
// session state is thrown away while the connection is open).
func TestPublisherGivesUpWhileReading(t *testing.T) {
	t.Parallel()
	for name, start := range servers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, o := start()
			o.ClientID = "impatient"
			o.NoReconnect = true // a lost connection would fail the test, not hide
			store := persist.NewMemory()
			o.Store = store
			drop := srv.Inject(func(r mqtttest.Record) bool {
				return r.Dir == mqtttest.ToClient && r.Packet.Type() == wire.PUBACK
			}, mqtttest.Drop)
			ctx := testCtx(t)
			c := dialT(t, srv.URL, o)
			short, cancelShort := context.WithCancel(ctx)
			published := async(func() error {
				return c.Publish(short, mqtt.Message{Topic: "t", QoS: mqtt.QoS1})
			})
			r, err := srv.WaitPacket(ctx, fromClient(wire.PUBLISH))
			if err != nil {
				t.Fatal(err)
			}
			id := r.Packet.(*wire.Publish).PacketID
			conn, err := srv.Conn(ctx, "impatient")
			if err != nil {
				t.Fatal(err)
			}
			if err := conn.WriteRaw([]byte{0x40, 0x02}); err != nil { // PUBACK's fixed header only
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // let the client read it; the test holds either way
			cancelShort()
			if err := <-published; !errors.Is(err, mqtt.ErrOutcomeUnknown) || !errors.Is(err, context.Canceled) {
				t.Fatalf("publish: %v, want ErrOutcomeUnknown and context.Canceled", err)
			}
			if entries, _ := store.Load(persist.Outgoing); len(entries) != 1 || entries[0].ID != id {
				t.Fatalf("the Store holds %v after the caller gave up, want message %d, in flight", entries, id)
			}
			if err := conn.WriteRaw([]byte{byte(id >> 8), byte(id)}); err != nil { // the rest
				t.Fatal(err)
			}
			drop.Release()
			if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS2}); err != nil {
				t.Fatalf("publish after giving up: %v", err)
			}
			if err := c.Disconnect(ctx); err != nil {
				t.Fatalf("disconnect: %v, want the first message acknowledged", err)
			}
			if entries, _ := store.Load(persist.Outgoing); len(entries) != 0 {
				t.Errorf("the Store holds %v after the PUBACK, want nothing", entries)
			}
		})
	}
}

// A client that has only published, one message at a time, and calls
// nothing since, knows promptly that the server ended the connection:
// Connected turns false and, with NoReconnect, Done closes, without a
// call to Done or any other to make it look. Both ways a server ends it:
// DISCONNECT (MQTT 5.0), and closing the connection.
func TestLonePublisherSeesTheServerEndIt(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"disconnect", "close"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			srv := mqtttest.NewServer()
			t.Cleanup(srv.Close)
			ctx := testCtx(t)
			c := dialT(t, srv.URL, &mqtt.DialOptions{ClientID: "idle", NoReconnect: true})
			for range 3 {
				if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}); err != nil {
					t.Fatal(err)
				}
			}
			conn, err := srv.Conn(ctx, "idle")
			if err != nil {
				t.Fatal(err)
			}
			ended := time.Now()
			if how == "disconnect" {
				if err := conn.Disconnect(wire.AdministrativeAction, nil); err != nil {
					t.Fatal(err)
				}
			} else {
				conn.Close()
			}
			for c.Connected() {
				if time.Since(ended) > time.Second {
					t.Fatal("Connected still true a second after the server ended the connection")
				}
				time.Sleep(time.Millisecond)
			}
			t.Logf("Connected false %v after the server ended the connection", time.Since(ended))
			if s := c.State(); s != mqtt.StateClosed {
				t.Errorf("State: %v, want closed (NoReconnect)", s)
			}
			select {
			case <-c.Done():
			case <-ctx.Done():
				t.Fatal("Done not closed after the server ended the connection")
			}
			var de *mqtt.DisconnectError
			if how == "disconnect" && (!errors.As(c.Err(), &de) || de.ReasonCode != wire.AdministrativeAction) {
				t.Fatalf("Err: %v, want the server's DISCONNECT", c.Err())
			}
			if how == "close" && !errors.Is(c.Err(), mqtt.ErrClosed) {
				t.Fatalf("Err: %v, want ErrClosed and the loss", c.Err())
			}
		})
	}
}

// A caller that publishes and takes the message back in turn, while nobody
// else reads: the acknowledgement Next makes leaves with the next PUBLISH,
// in one write (the server reads both at once), not by a hand-off to the
// writer's goroutine; and when no packet follows, it leaves all the same,
// once the turn was left unused (readerAfter).
func TestAckRidesWithTheNextPublish(t *testing.T) {
	t.Parallel()
	ln := listenLocal(t)
	reads := make(chan []byte, 16) // what each read of the server got, after the SUBSCRIBE
	go serveConns(ln, func(conn net.Conn) {
		buf := make([]byte, 4096)
		var pending []byte
		subscribed := false
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			if subscribed {
				reads <- slices.Clone(buf[:n])
			}
			pending = append(pending, buf[:n]...)
			for {
				pkt, n, err := wire.Parse(pending, wire.V5)
				if err != nil {
					break
				}
				pending = pending[n:]
				var out []wire.Packet
				switch p := pkt.(type) {
				case *wire.Connect:
					out = append(out, &wire.Connack{})
				case *wire.Subscribe:
					subscribed = true
					out = append(out, &wire.Suback{PacketID: p.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1}})
				case *wire.Publish:
					out = append(out, &wire.Publish{Topic: p.Topic, QoS: 1, PacketID: p.PacketID, Payload: p.Payload},
						&wire.Puback{PacketID: p.PacketID})
				}
				var b []byte
				for _, q := range out {
					b, _ = q.Append(b, wire.V5)
				}
				conn.Write(b)
			}
		}
	})
	ctx := testCtx(t)
	c := dialT(t, "mqtt://"+ln.Addr().String(), &mqtt.DialOptions{NoReconnect: true})
	s, err := c.Subscribe(ctx, mqtt.Filter{Topic: "rt", QoS: mqtt.QoS1})
	if err != nil {
		t.Fatal(err)
	}
	// roundTrip returns how long the turn to read was left unused before
	// its Publish: from the last Publish's return, when the turn went back.
	// Past readerAfter (10 ms) the reading goroutine starts and flushes the
	// acknowledgement alone, as it should: on a loaded machine the test
	// cannot tell then.
	var gaveBack time.Time
	roundTrip := func(i int) (unused time.Duration) {
		unused = time.Since(gaveBack)
		if err := c.Publish(ctx, mqtt.Message{Topic: "rt", QoS: mqtt.QoS1, Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
		gaveBack = time.Now()
		if _, err := s.Next(ctx); err != nil {
			t.Fatal(err)
		}
		return unused
	}
	read := func() []wire.Packet {
		t.Helper()
		select {
		case b := <-reads:
			var got []wire.Packet
			for len(b) > 0 {
				pkt, n, err := wire.Parse(b, wire.V5)
				if err != nil {
					t.Fatalf("the server read part of a packet: % x", b)
				}
				got = append(got, pkt)
				b = b[n:]
			}
			return got
		case <-time.After(5 * time.Second):
			t.Fatal("the server read nothing for 5 s")
			return nil
		}
	}
	roundTrip(1)
	if got := read(); len(got) != 1 || got[0].Type() != wire.PUBLISH {
		t.Fatalf("first read: %v, want the first PUBLISH", packetNames(got))
	}
	for i := 2; i <= 4; i++ {
		unused := roundTrip(i)
		got := read()
		if len(got) == 1 && got[0].Type() == wire.PUBACK && unused > 5*time.Millisecond {
			t.Logf("round trip %d: the turn was left unused for %v: the PUBACK left alone", i, unused)
			read() // the PUBLISH
			continue
		}
		if len(got) != 2 || got[0].Type() != wire.PUBACK || got[1].Type() != wire.PUBLISH {
			t.Fatalf("round trip %d: the server read %v in one read, want the PUBACK of the last message with the next PUBLISH", i, packetNames(got))
		}
	}
	// Nothing follows the last acknowledgement: it leaves by itself.
	if got := read(); len(got) != 1 || got[0].Type() != wire.PUBACK {
		t.Fatalf("last read: %v, want the PUBACK of the last message", packetNames(got))
	}
}

// packetNames lists the types of pkts.
func packetNames(pkts []wire.Packet) []string {
	var names []string
	for _, p := range pkts {
		names = append(names, p.Type().String())
	}
	return names
}

// Publishers that wait at the same time take turns reading, then hand the
// connection to a reading goroutine; every message completes once.
func TestConcurrentPublishersShareTheReading(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := dialT(t, srv.URL, &mqtt.DialOptions{ClientID: "many"})
	const publishers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for g := range publishers {
		wg.Go(func() {
			for i := range each {
				m := mqtt.Message{Topic: fmt.Sprintf("t/%d", g), QoS: mqtt.QoS(1 + (g+i)%2)}
				if err := c.Publish(ctx, m); err != nil {
					errs <- fmt.Errorf("publisher %d, message %d: %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := c.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range srv.Packets() {
		if r.Dir == mqtttest.FromClient && r.Packet.Type() == wire.PUBLISH {
			n++
		}
	}
	if n != publishers*each {
		t.Errorf("the server received %d PUBLISH, want %d", n, publishers*each)
	}
}

// The connection fails while the Publish reads: the client reconnects and
// sends the message again (MQTT-4.4.0-1 with KeepSession), and the Publish
// returns when the new connection brings the acknowledgement.
func TestPublisherReadsThroughReconnect(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	first := true
	srv.Inject(func(r mqtttest.Record) bool {
		if r.Dir == mqtttest.FromClient && r.Packet.Type() == wire.PUBLISH && first {
			first = false
			return true
		}
		return false
	}, mqtttest.CloseConn)
	ctx := testCtx(t)
	c := dialT(t, srv.URL, &mqtt.DialOptions{
		ClientID:       "resend",
		KeepSession:    true,
		ReconnectDelay: 10 * time.Millisecond,
	})
	if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1, Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	var dups []bool
	for _, r := range srv.Packets() {
		if p, ok := r.Packet.(*wire.Publish); ok && r.Dir == mqtttest.FromClient {
			dups = append(dups, p.Dup)
		}
	}
	if fmt.Sprint(dups) != "[false true]" {
		t.Errorf("DUP flags of the PUBLISH the server read: %v, want [false true]", dups)
	}
}

// splitConn is a server's network connection whose next write can be cut:
// after cut, only the first n bytes of the next write go out, the rest when
// released.
type splitConn struct {
	net.Conn
	mu   sync.Mutex
	n    int
	rest []byte
}

func (s *splitConn) cut(n int) { s.mu.Lock(); s.n = n; s.mu.Unlock() }

func (s *splitConn) Write(b []byte) (int, error) {
	whole := len(b)
	s.mu.Lock()
	n := s.n
	s.n = 0
	if n > 0 && n < len(b) {
		s.rest = append([]byte(nil), b[n:]...)
		b = b[:n]
	}
	s.mu.Unlock()
	if _, err := s.Conn.Write(b); err != nil {
		return 0, err
	}
	return whole, nil
}

func (s *splitConn) release() error {
	s.mu.Lock()
	rest := s.rest
	s.rest = nil
	s.mu.Unlock()
	_, err := s.Conn.Write(rest)
	return err
}

// A Publish over TLS that gives up while it reads, in the middle of a TLS
// record: the connection goes on, and the record's rest completes the
// message (crypto/tls keeps a partly read record after a read timeout).
func TestPublisherGivesUpInsideTLSRecord(t *testing.T) {
	t.Parallel()
	certs, err := testcert.New()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type server struct {
		split *splitConn
		tls   *tls.Conn
		r     *wire.Reader
	}
	accepted := make(chan server, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			t.Error(err)
			close(accepted)
			return
		}
		split := &splitConn{Conn: raw}
		conn := tls.Server(split, certs.ServerTLSConfig())
		r := wire.NewReader(conn, 0)
		if p, err := r.ReadPacket(wire.V5); err != nil || p.Type() != wire.CONNECT {
			t.Errorf("server: %v, %v; want CONNECT", p, err)
		}
		b, _ := (&wire.Connack{}).Append(nil, wire.V5)
		conn.Write(b)
		accepted <- server{split, conn, r}
	}()
	ctx := testCtx(t)
	c := dialT(t, "mqtts://"+ln.Addr().String(), &mqtt.DialOptions{
		TLSConfig: certs.ClientTLSConfig(false), NoReconnect: true,
	})
	srv, ok := <-accepted
	if !ok {
		t.FailNow()
	}
	defer srv.tls.Close()

	short, cancelShort := context.WithCancel(ctx)
	published := async(func() error { return c.Publish(short, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}) })
	p, err := srv.r.ReadPacket(wire.V5)
	if err != nil {
		t.Fatal(err)
	}
	srv.split.cut(8) // the record's header and three bytes of it
	b, _ := (&wire.Puback{PacketID: p.(*wire.Publish).PacketID}).Append(nil, wire.V5)
	if _, err := srv.tls.Write(b); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // let the client read the part; the test holds either way
	cancelShort()
	if err := <-published; !errors.Is(err, mqtt.ErrOutcomeUnknown) {
		t.Fatalf("publish: %v, want ErrOutcomeUnknown", err)
	}
	if err := srv.split.release(); err != nil {
		t.Fatal(err)
	}
	go func() { // DISCONNECT
		srv.r.ReadPacket(wire.V5)
	}()
	if err := c.Disconnect(ctx); err != nil {
		t.Fatalf("disconnect: %v, want the message acknowledged by the record's rest", err)
	}
}

// A lone publisher that falls quiet still keeps its connection alive: it
// pings, and reads the PINGRESP. When the server goes silent (no answer, no
// FIN: a half-open connection), Connected turns false within 1.5 times the
// keep alive of the last packet received, the time the server allows
// itself (MQTT-3.1.2-24), and with NoReconnect the client ends
// (MQTT-3.1.2-20).
func TestPublisherKeepAlive(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const keepAlive = time.Second
	c := dialT(t, srv.URL, &mqtt.DialOptions{ClientID: "quiet", KeepAlive: keepAlive, NoReconnect: true})
	if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}); err != nil {
		t.Fatal(err)
	}
	conn, err := srv.Conn(ctx, "quiet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WaitPacket(ctx, func(r mqtttest.Record) bool {
		return r.Dir == mqtttest.ToClient && r.Packet.Type() == wire.PINGRESP
	}); err != nil {
		t.Fatal(err)
	}
	// The PINGRESP is the last packet the client receives: it sends
	// nothing before its next ping, which the paused server leaves
	// unanswered.
	silent := time.Now()
	conn.Pause()
	for c.Connected() {
		if time.Since(silent) > 3*keepAlive {
			t.Fatal("Connected still true three keep alives after the server went silent")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if took := time.Since(silent); took > keepAlive*3/2 {
		t.Errorf("Connected turned false %v after the server went silent, want at most 1.5 × keep alive (%v)", took, keepAlive*3/2)
	} else {
		t.Logf("Connected false %v after the server went silent (keep alive %v)", took, keepAlive)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the client did not end after a silent server")
	}
	if err := c.Err(); !errors.Is(err, mqtt.ErrClosed) || !strings.Contains(err.Error(), "PINGRESP") {
		t.Fatalf("Err: %v, want the missing PINGRESP", err)
	}
}
