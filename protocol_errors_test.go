package mqtt_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// This file holds the client's answers to a server that breaks the
// protocol: which DISCONNECT it sends (v5), and that it never takes an
// acknowledgement that cannot be right for success.

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
