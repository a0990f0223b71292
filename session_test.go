package mqtt_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// This file holds the client's half of the session: what it keeps, for how
// long, and what it throws away.

// connects records the CONNECT packets a client sends (DialOptions.OnPacketSent).
type connects struct {
	mu   sync.Mutex
	pkts []*wire.Connect
}

func (r *connects) hook(p wire.Packet) {
	if c, ok := p.(*wire.Connect); ok {
		r.mu.Lock()
		r.pkts = append(r.pkts, c)
		r.mu.Unlock()
	}
}

func (r *connects) all() []*wire.Connect {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*wire.Connect(nil), r.pkts...)
}

// expectSoon fails the test unless s hands out a message with payload want
// within a minute of the bubble's clock: a client that does not deliver it
// fails the test rather than hanging it.
func expectSoon(t *testing.T, s *mqtt.Subscription, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v, want the message %q", err, want)
	}
	if string(m.Payload) != want {
		t.Fatalf("Next: %q, want %q", m.Payload, want)
	}
}

// expectNone fails the test if s has a message to hand out.
func expectNone(t *testing.T, s *mqtt.Subscription) {
	t.Helper()
	synctest.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if m, err := s.Next(ctx); err == nil {
		t.Fatalf("Next handed out %q, want nothing", m.Payload)
	}
}

// expectPubrec reads the client's PUBREC for id.
func (p *peer) expectPubrec(id uint16) {
	p.t.Helper()
	if rec := p.expect(wire.PUBREC).(*wire.Pubrec); rec.PacketID != id || rec.ReasonCode.IsError() {
		p.t.Fatalf("PUBREC %d %v, want a success for %d", rec.PacketID, rec.ReasonCode, id)
	}
}

// MQTT-3.1.2-4 (5.0), v311:MQTT-3.1.2-6 (3.1.1): without KeepSession every
// CONNECT asks for a new session (Clean Start, Clean Session), and the
// client throws away what it held of the last one: an incoming QoS 2
// message it answered with PUBREC, left in the Store by an earlier process
// or by the lost connection, is forgotten, so that a new message with that
// packet identifier is delivered, not taken for a resend. A clean session
// lasts as long as its connection, and its state is never used again.
func TestCleanStartDiscardsSession(t *testing.T) {
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := persist.NewMemory()
				// An earlier process answered QoS 2 message 9 with PUBREC.
				if err := store.Put(persist.Incoming, 9, nil); err != nil {
					t.Fatal(err)
				}
				var sent connects
				c, ps, p := dialPeers(t, v, &mqtt.DialOptions{ClientID: "clean", Store: store, OnPacketSent: sent.hook})
				s, _ := p.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS2})
				p.send(&wire.Publish{Topic: "t", QoS: 2, PacketID: 9, Payload: []byte("new 9")})
				expectSoon(t, s, "new 9")
				p.expectPubrec(9)
				// 7 waits for its PUBREL when the connection is lost.
				p.send(&wire.Publish{Topic: "t", QoS: 2, PacketID: 7, Payload: []byte("old 7")})
				expectSoon(t, s, "old 7")
				p.expectPubrec(7)
				p.conn.Close()

				p2, _ := ps.accept(&wire.Connack{})
				resub := p2.expect(wire.SUBSCRIBE).(*wire.Subscribe)
				p2.send(&wire.Suback{PacketID: resub.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS2}})
				synctest.Wait()
				if entries, _ := store.Load(persist.Incoming); len(entries) != 0 {
					t.Errorf("the Store holds %d incoming QoS 2 identifiers of the last session, want none", len(entries))
				}
				p2.send(&wire.Publish{Topic: "t", QoS: 2, PacketID: 7, Payload: []byte("new 7")})
				expectSoon(t, s, "new 7")
				p2.expectPubrec(7)
				for i, cp := range sent.all() {
					if !cp.CleanStart {
						t.Errorf("CONNECT %d without clean start", i+1)
					}
				}
				if n := len(sent.all()); n != 2 {
					t.Errorf("%d CONNECT packets, want 2", n)
				}
				p2.drain()
			})
		})
	}
}

// MQTT-3.1.2-23 (5.0), v311:MQTT-3.1.2-4 (3.1.1): with KeepSession every
// CONNECT asks the server to keep the session (Clean Start 0, and in 5.0 a
// Session Expiry Interval above 0), and the client keeps its own half when
// the connection closes: on the next connection it sends the unacknowledged
// PUBLISH again, and takes the server's resend of a QoS 2 message it
// answered with PUBREC for what it is, answering PUBREC without delivering
// it twice. So it does after a Disconnect, for a new client on the same
// Store.
func TestKeptSessionSurvivesConnection(t *testing.T) {
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := persist.NewMemory()
				var sent connects
				opts := &mqtt.DialOptions{ClientID: "kept", KeepSession: true, SessionExpiry: time.Hour,
					Store: store, OnPacketSent: sent.hook}
				ctx := context.Background()
				c, ps, p := dialPeers(t, v, opts)
				s, _ := p.subscribe(c, mqtt.Filter{Topic: "in", QoS: mqtt.QoS2})
				p.send(&wire.Publish{Topic: "in", QoS: 2, PacketID: 7, Payload: []byte("once")})
				expectSoon(t, s, "once")
				p.expectPubrec(7)
				published := async(func() error { return c.Publish(ctx, mqtt.Message{Topic: "out", QoS: mqtt.QoS1}) })
				pub := p.expect(wire.PUBLISH).(*wire.Publish)
				p.conn.Close()

				p2, _ := ps.accept(&wire.Connack{SessionPresent: true})
				if again := p2.expect(wire.PUBLISH).(*wire.Publish); !again.Dup || again.PacketID != pub.PacketID {
					t.Errorf("PUBLISH sent again with DUP %v id %d, want DUP and id %d", again.Dup, again.PacketID, pub.PacketID)
				}
				p2.send(&wire.Publish{Topic: "in", QoS: 2, PacketID: 7, Dup: true, Payload: []byte("once")})
				p2.expectPubrec(7)
				p2.send(&wire.Pubrel{PacketID: 7})
				if comp := p2.expect(wire.PUBCOMP).(*wire.Pubcomp); comp.PacketID != 7 || comp.ReasonCode.IsError() {
					t.Errorf("PUBCOMP %d %v, want a success for 7", comp.PacketID, comp.ReasonCode)
				}
				p2.send(&wire.Puback{PacketID: pub.PacketID})
				if err := <-published; err != nil {
					t.Errorf("publish: %v", err)
				}
				expectNone(t, s)

				// QoS 2 message 8 waits for its PUBREL when the client
				// disconnects.
				p2.send(&wire.Publish{Topic: "in", QoS: 2, PacketID: 8, Payload: []byte("kept")})
				expectSoon(t, s, "kept")
				p2.expectPubrec(8)
				disconnected := async(func() error { return c.Disconnect(ctx) })
				p2.expect(wire.DISCONNECT)
				if err := <-disconnected; err != nil {
					t.Fatalf("disconnect: %v", err)
				}
				p2.conn.Close()

				c2, p3 := dialPeer(t, v, &wire.Connack{SessionPresent: true}, opts)
				p3.send(&wire.Publish{Topic: "in", QoS: 2, PacketID: 8, Dup: true, Payload: []byte("kept")})
				p3.expectPubrec(8)
				p3.send(&wire.Pubrel{PacketID: 8})
				if comp := p3.expect(wire.PUBCOMP).(*wire.Pubcomp); comp.PacketID != 8 || comp.ReasonCode.IsError() {
					t.Errorf("PUBCOMP %d %v, want a success for 8", comp.PacketID, comp.ReasonCode)
				}
				s2, _ := p3.subscribe(c2, mqtt.Filter{Topic: "in", QoS: mqtt.QoS2})
				expectNone(t, s2)

				all := sent.all()
				if len(all) != 3 {
					t.Fatalf("%d CONNECT packets, want 3", len(all))
				}
				for i, cp := range all {
					if cp.CleanStart || cp.ClientID != "kept" {
						t.Errorf("CONNECT %d: clean start %v, client ID %q; want the session of %q", i+1, cp.CleanStart, cp.ClientID, "kept")
					}
					if v == wire.V5 && (cp.Properties == nil || cp.Properties.SessionExpiry == nil || *cp.Properties.SessionExpiry != 3600) {
						t.Errorf("CONNECT %d: properties %+v, want a Session Expiry Interval of 3600", i+1, cp.Properties)
					}
				}
			})
		})
	}
}

// MQTT-4.1.0-1 (5.0), v311:MQTT-4.1.0-2 (3.1.1): a session, a clean one
// too, lasts at least as long as its connection: nothing of it is thrown
// away while the connection is open, however long it stays quiet. A QoS 1
// and a QoS 2 message whose Publish gave up after sending stay in the Store
// and in flight, and acknowledgements an hour later complete them; an
// incoming QoS 2 message answered with PUBREC is still known an hour later,
// so that a resend is not delivered again.
func TestSessionKeptWhileConnected(t *testing.T) {
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := persist.NewMemory()
				c, p := dialPeer(t, v, &wire.Connack{}, &mqtt.DialOptions{Store: store, KeepAlive: -1})
				ctx := context.Background()
				s, _ := p.subscribe(c, mqtt.Filter{Topic: "in", QoS: mqtt.QoS2})
				var ids []uint16
				for _, q := range []mqtt.QoS{mqtt.QoS1, mqtt.QoS2} {
					short, cancel := context.WithCancel(ctx)
					published := async(func() error { return c.Publish(short, mqtt.Message{Topic: "out", QoS: q}) })
					ids = append(ids, p.expect(wire.PUBLISH).(*wire.Publish).PacketID)
					cancel()
					if err := <-published; !errors.Is(err, mqtt.ErrOutcomeUnknown) {
						t.Fatalf("publish at %v: %v, want ErrOutcomeUnknown", q, err)
					}
				}
				p.send(&wire.Publish{Topic: "in", QoS: 2, PacketID: 5, Payload: []byte("once")})
				expectSoon(t, s, "once")
				p.expectPubrec(5)

				time.Sleep(time.Hour) // a quiet connection (keep alive off)
				if entries, _ := store.Load(persist.Outgoing); len(entries) != 2 {
					t.Fatalf("the Store holds %d messages an hour later, want the 2 unacknowledged", len(entries))
				}
				p.send(&wire.Publish{Topic: "in", QoS: 2, PacketID: 5, Dup: true, Payload: []byte("once")})
				p.expectPubrec(5)
				p.send(&wire.Puback{PacketID: ids[0]}, &wire.Pubrec{PacketID: ids[1]})
				if rel := p.expect(wire.PUBREL).(*wire.Pubrel); rel.PacketID != ids[1] || rel.ReasonCode.IsError() {
					t.Fatalf("PUBREL %d %v, want a success for %d", rel.PacketID, rel.ReasonCode, ids[1])
				}
				p.send(&wire.Pubcomp{PacketID: ids[1]}, &wire.Pubrel{PacketID: 5})
				if comp := p.expect(wire.PUBCOMP).(*wire.Pubcomp); comp.PacketID != 5 || comp.ReasonCode.IsError() {
					t.Fatalf("PUBCOMP %d %v, want a success for 5", comp.PacketID, comp.ReasonCode)
				}
				expectNone(t, s)
				if entries, _ := store.Load(persist.Outgoing); len(entries) != 0 {
					t.Errorf("the Store holds %d messages after their acknowledgements, want none", len(entries))
				}
				disconnected := async(func() error { return c.Disconnect(ctx) })
				p.expect(wire.DISCONNECT)
				if err := <-disconnected; err != nil {
					t.Errorf("disconnect: %v", err)
				}
			})
		})
	}
}
