package mqtt_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/wire"
)

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
