package mqtt_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// withinJitter reports whether d is base varied by at most 20 %.
func withinJitter(d, base time.Duration) bool {
	return d >= base*8/10 && d <= base*12/10
}

// After a lost connection the client connects again after about a second
// and, the server having kept the session, sends what was unacknowledged
// as it stood: PUBLISH with DUP, PUBREL past PUBREC (never the PUBLISH
// again: MQTT-4.3.3-6), in the original order and with the original
// identifiers (MQTT-4.4.0-1, MQTT-3.3.1-1, MQTT-4.6.0-1, MQTT-3.1.3-2:
// the client ID keys the session; v311:MQTT-4.1.0-1: the client keeps the
// session's state for the session's life, not the connection's). Publish
// calls waiting meanwhile return when the new connection's
// acknowledgements arrive.
func TestReconnectResends(t *testing.T) {
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, ps, p := dialPeers(t, v, &mqtt.DialOptions{ClientID: "r", KeepSession: true})
				ctx := context.Background()
				var results []<-chan error
				var ids []uint16
				for _, m := range []mqtt.Message{
					{Topic: "a", QoS: mqtt.QoS1},
					{Topic: "b", QoS: mqtt.QoS2},
					{Topic: "c", QoS: mqtt.QoS2},
				} {
					results = append(results, async(func() error { return c.Publish(ctx, m) }))
					pub := p.expect(wire.PUBLISH).(*wire.Publish)
					ids = append(ids, pub.PacketID)
					if m.Topic == "b" {
						p.send(&wire.Pubrec{PacketID: pub.PacketID})
						p.expect(wire.PUBREL)
					}
				}
				lostAt := time.Now()
				p.conn.Close()

				p2, connect := ps.accept(&wire.Connack{SessionPresent: true})
				if connect.CleanStart || connect.ClientID != "r" {
					t.Errorf("CONNECT clean start %v client ID %q, want the session of %q", connect.CleanStart, connect.ClientID, "r")
				}
				att := ps.reconnects()
				if len(att) != 1 || att[0].n != 1 || !withinJitter(att[0].delay, time.Second) || att[0].err == nil {
					t.Fatalf("OnReconnecting calls %+v, want one: attempt 1 after about 1s with the cause", att)
				}
				if d := time.Since(lostAt); d != att[0].delay {
					t.Errorf("reconnected after %v, want the announced %v", d, att[0].delay)
				}
				for i, want := range []wire.Type{wire.PUBLISH, wire.PUBREL, wire.PUBLISH} {
					pkt := p2.read()
					if pkt.Type() != want {
						t.Fatalf("resend %d: %v, want %v", i, pkt.Type(), want)
					}
					switch pkt := pkt.(type) {
					case *wire.Publish:
						if !pkt.Dup || pkt.PacketID != ids[i] {
							t.Errorf("resend %d: DUP %v id %d, want DUP id %d", i, pkt.Dup, pkt.PacketID, ids[i])
						}
					case *wire.Pubrel:
						if pkt.PacketID != ids[i] {
							t.Errorf("PUBREL id %d, want %d", pkt.PacketID, ids[i])
						}
					}
				}
				synctest.Wait()
				for i, r := range results {
					select {
					case err := <-r:
						t.Fatalf("publish %d returned %v before its acknowledgement", i, err)
					default:
					}
				}
				// The server had completed b before the cut: its PUBCOMP
				// says so (0x92), and the message counts as delivered.
				comp := &wire.Pubcomp{PacketID: ids[1]}
				if v == wire.V5 {
					comp.ReasonCode = wire.PacketIdentifierNotFound
				}
				p2.send(&wire.Puback{PacketID: ids[0]}, comp, &wire.Pubrec{PacketID: ids[2]})
				p2.expect(wire.PUBREL)
				p2.send(&wire.Pubcomp{PacketID: ids[2]})
				for i, r := range results {
					if err := <-r; err != nil {
						t.Errorf("publish %d: %v", i, err)
					}
				}
				if c.Err() != nil {
					t.Errorf("Err() = %v while connected", c.Err())
				}
				ps.mu.Lock()
				lost := len(ps.lost)
				ps.mu.Unlock()
				if lost != 1 {
					t.Errorf("OnConnectionLost called %d times, want 1", lost)
				}
				p2.drain()
			})
		})
	}
}

// When the server kept no session, the client discards its session state
// (MQTT-3.2.2-5): it completes QoS 2 flows past PUBREC (the server had the
// message), subscribes again to what it had (MQTT.js resubscribe), and sends
// unacknowledged PUBLISHes afresh (DUP 0: the new session never saw them).
func TestReconnectWithoutSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, ps, p := dialPeers(t, wire.V5, nil)
		ctx := context.Background()
		s, sub := p.subscribe(c, mqtt.Filter{Topic: "s/#", QoS: mqtt.QoS2})
		// A filter unsubscribed is not subscribed again.
		go c.Subscribe(ctx, mqtt.Filter{Topic: "u/1"}, mqtt.Filter{Topic: "u/2"})
		subU := p.expect(wire.SUBSCRIBE).(*wire.Subscribe)
		p.send(&wire.Suback{PacketID: subU.PacketID, ReasonCodes: []wire.ReasonCode{0, 0}})
		unsub := async(func() error { return c.Unsubscribe(ctx, "u/2") })
		p.send(&wire.Unsuback{PacketID: p.expect(wire.UNSUBSCRIBE).(*wire.Unsubscribe).PacketID, ReasonCodes: []wire.ReasonCode{0}})
		if err := <-unsub; err != nil {
			t.Fatal(err)
		}
		one := async(func() error { return c.Publish(ctx, mqtt.Message{Topic: "x", QoS: mqtt.QoS1}) })
		pub1 := p.expect(wire.PUBLISH).(*wire.Publish)
		two := async(func() error { return c.Publish(ctx, mqtt.Message{Topic: "y", QoS: mqtt.QoS2}) })
		pub2 := p.expect(wire.PUBLISH).(*wire.Publish)
		p.send(&wire.Pubrec{PacketID: pub2.PacketID})
		p.expect(wire.PUBREL)
		p.conn.Close()

		p2, connect := ps.accept(&wire.Connack{})
		if !connect.CleanStart {
			t.Error("reconnected without clean start although KeepSession is false")
		}
		resub := p2.expect(wire.SUBSCRIBE).(*wire.Subscribe)
		if len(resub.Filters) != 1 || resub.Filters[0].Topic != "s/#" || resub.Filters[0].QoS != 2 {
			t.Errorf("resubscribed to %+v, want s/# at the QoS asked for, 2", resub.Filters)
		}
		resub2 := p2.expect(wire.SUBSCRIBE).(*wire.Subscribe)
		if len(resub2.Filters) != 1 || resub2.Filters[0].Topic != "u/1" {
			t.Errorf("resubscribed to %+v, want u/1 alone (u/2 was unsubscribed)", resub2.Filters)
		}
		if ids := resub.Properties.SubscriptionIDs; len(ids) != 1 || ids[0] != sub.Properties.SubscriptionIDs[0] {
			t.Errorf("resubscribed with subscription IDs %v, want the original %v", ids, sub.Properties.SubscriptionIDs)
		}
		again := p2.expect(wire.PUBLISH).(*wire.Publish)
		if again.Dup || again.Topic != "x" || again.PacketID != pub1.PacketID {
			t.Errorf("resent %+v, want x afresh (DUP 0) with id %d", again, pub1.PacketID)
		}
		if err := <-two; err != nil {
			t.Errorf("QoS 2 publish past PUBREC: %v, want nil", err)
		}
		p2.send(&wire.Suback{PacketID: resub.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS2}},
			&wire.Suback{PacketID: resub2.PacketID, ReasonCodes: []wire.ReasonCode{0}},
			&wire.Puback{PacketID: again.PacketID},
			&wire.Publish{Topic: "s/1", Payload: []byte("hi")})
		if err := <-one; err != nil {
			t.Errorf("QoS 1 publish: %v", err)
		}
		m, err := s.Next(ctx)
		if err != nil || m.Topic != "s/1" {
			t.Errorf("Next after resubscribing: %+v, %v", m, err)
		}
		p2.drain()
	})
}

// While the client is reconnecting, calls wait (bounded by their ctx): a
// Publish whose ctx ends first was not sent and leaves nothing in the Store;
// QoS 0 messages are queued; the waits between attempts double.
func TestCallsWaitWhileReconnecting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := persist.NewMemory()
		c, ps, p := dialPeers(t, wire.V5, &mqtt.DialOptions{Store: store})
		ps.mu.Lock()
		ps.refuse = 2
		ps.mu.Unlock()
		if !c.Connected() {
			t.Error("Connected() = false before the connection was lost")
		}
		p.conn.Close()
		synctest.Wait()
		if c.Connected() {
			t.Error("Connected() = true while reconnecting")
		}

		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		err := c.Publish(ctx, mqtt.Message{Topic: "late", QoS: mqtt.QoS1})
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, mqtt.ErrOutcomeUnknown) {
			t.Errorf("publish with a short ctx while offline: %v, want not sent, deadline exceeded", err)
		}
		if e, _ := store.Load(persist.Outgoing); len(e) != 0 {
			t.Errorf("%d messages in the store after a publish that was not sent", len(e))
		}
		if err := c.Publish(context.Background(), mqtt.Message{Topic: "q0", Payload: []byte("1")}); err != nil {
			t.Errorf("QoS 0 publish while offline: %v, want queued", err)
		}
		one := async(func() error {
			return c.Publish(context.Background(), mqtt.Message{Topic: "q1", QoS: mqtt.QoS1})
		})
		sub := async(func() error { _, err := c.Subscribe(context.Background(), mqtt.Filter{Topic: "f"}); return err })

		p2, _ := ps.accept(&wire.Connack{})
		synctest.Wait()
		if !c.Connected() {
			t.Error("Connected() = false after reconnecting")
		}
		att := ps.reconnects()
		if len(att) != 3 {
			t.Fatalf("%d reconnection attempts, want 3 (two refused)", len(att))
		}
		for i, base := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
			if att[i].n != i+1 || !withinJitter(att[i].delay, base) {
				t.Errorf("attempt %d: %+v, want number %d after about %v", i, att[i], i+1, base)
			}
		}
		if att[1].err == nil || att[2].err == nil {
			t.Errorf("attempts after a refused dial carry no error: %+v", att)
		}
		// The QoS 1 message waiting in the Store goes out with the
		// resumed ones, then the queued QoS 0, then the waiting calls.
		seen := map[string]wire.Packet{}
		for range 3 {
			pkt := p2.read()
			switch pkt := pkt.(type) {
			case *wire.Publish:
				if pkt.Dup {
					t.Errorf("%q sent with DUP although it was never sent before", pkt.Topic)
				}
				seen[pkt.Topic] = pkt
			case *wire.Subscribe:
				seen["SUBSCRIBE"] = pkt
			}
		}
		if len(seen) != 3 || seen["q0"] == nil || seen["q1"] == nil || seen["SUBSCRIBE"] == nil {
			t.Fatalf("after reconnecting got %v, want q0, q1 and the SUBSCRIBE", seen)
		}
		p2.send(&wire.Puback{PacketID: seen["q1"].(*wire.Publish).PacketID},
			&wire.Suback{PacketID: seen["SUBSCRIBE"].(*wire.Subscribe).PacketID, ReasonCodes: []wire.ReasonCode{0}})
		if err := <-one; err != nil {
			t.Errorf("QoS 1 publish made while offline: %v", err)
		}
		if err := <-sub; err != nil {
			t.Errorf("subscribe made while offline: %v", err)
		}
		p2.drain()
	})
}

// With OfflineQueue negative, a QoS 0 Publish fails at once while offline.
func TestOfflineQueueOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _, p := dialPeers(t, wire.V5, &mqtt.DialOptions{OfflineQueue: -1})
		p.conn.Close()
		synctest.Wait()
		err := c.Publish(context.Background(), mqtt.Message{Topic: "t"})
		if !errors.Is(err, mqtt.ErrNotConnected) {
			t.Errorf("QoS 0 publish while offline: %v, want ErrNotConnected", err)
		}
	})
}

// A SUBSCRIBE unanswered when the connection was lost is sent again, with
// its identifier, and Subscribe returns with the new connection's SUBACK.
func TestReconnectPendingSubscribe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, ps, p := dialPeers(t, wire.V5, &mqtt.DialOptions{ClientID: "s", KeepSession: true})
		sub := async(func() error {
			_, err := c.Subscribe(context.Background(), mqtt.Filter{Topic: "t", QoS: mqtt.QoS1})
			return err
		})
		first := p.expect(wire.SUBSCRIBE).(*wire.Subscribe)
		p.conn.Close()
		p2, _ := ps.accept(&wire.Connack{SessionPresent: true})
		again := p2.expect(wire.SUBSCRIBE).(*wire.Subscribe)
		if again.PacketID != first.PacketID || again.Filters[0].Topic != "t" {
			t.Errorf("SUBSCRIBE sent again as %+v, want id %d filter t", again, first.PacketID)
		}
		p2.send(&wire.Suback{PacketID: again.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1}})
		if err := <-sub; err != nil {
			t.Errorf("Subscribe: %v", err)
		}
		p2.drain()
	})
}

// An incoming QoS 2 message the server sends again on the next connection
// of the same session (MQTT-4.3.3-10) is delivered once: the client answers
// the copy with PUBREC once the application has the message.
func TestReconnectIncomingQoS2(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, ps, p := dialPeers(t, wire.V5, &mqtt.DialOptions{ClientID: "in", KeepSession: true})
		ctx := context.Background()
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS2})
		p.send(&wire.Publish{Topic: "t", QoS: 2, PacketID: 7, Payload: []byte("once")})
		synctest.Wait()
		p.conn.Close()
		synctest.Wait()
		// Delivered while offline: no PUBREC can go out now.
		if m, err := s.Next(ctx); err != nil || string(m.Payload) != "once" {
			t.Fatalf("Next: %+v, %v", m, err)
		}
		p2, _ := ps.accept(&wire.Connack{SessionPresent: true})
		p2.send(&wire.Publish{Topic: "t", QoS: 2, PacketID: 7, Dup: true, Payload: []byte("once")})
		if rec := p2.expect(wire.PUBREC).(*wire.Pubrec); rec.PacketID != 7 {
			t.Errorf("PUBREC for %d, want 7", rec.PacketID)
		}
		p2.send(&wire.Pubrel{PacketID: 7})
		if comp := p2.expect(wire.PUBCOMP).(*wire.Pubcomp); comp.PacketID != 7 {
			t.Errorf("PUBCOMP for %d, want 7", comp.PacketID)
		}
		nctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if m, err := s.Next(nctx); err == nil {
			t.Errorf("the resent QoS 2 message was delivered again: %+v", m)
		}
		p2.drain()
	})
}

// A server that goes silent without closing the connection (half-open) is
// found out by keep alive within 1.25 keep alive, and the client connects
// again.
func TestReconnectHalfOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, ps, p := dialPeers(t, wire.V5, &mqtt.DialOptions{KeepAlive: 4 * time.Second})
		start := time.Now()
		p.drain() // reads, never answers
		p2, _ := ps.accept(&wire.Connack{})
		ps.mu.Lock()
		lost := ps.lost
		ps.mu.Unlock()
		if len(lost) != 1 {
			t.Fatalf("OnConnectionLost calls: %v", lost)
		}
		att := ps.reconnects()
		if d := time.Since(start) - att[0].delay; d > 5*time.Second {
			t.Errorf("silent server found out after %v, want within 1.25 x 4s", d)
		}
		go func() {
			for {
				pkt, err := p2.r.ReadPacket(p2.v)
				if err != nil {
					return
				}
				if pub, ok := pkt.(*wire.Publish); ok {
					p2.send(&wire.Puback{PacketID: pub.PacketID})
				}
			}
		}()
		if err := c.Publish(context.Background(), mqtt.Message{Topic: "t", QoS: mqtt.QoS1}); err != nil {
			t.Errorf("publish after reconnecting: %v", err)
		}
	})
}

// A server DISCONNECT saying another client took the session over ends the
// client instead of reconnecting: reconnecting would take the session back.
func TestSessionTakenOverEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, ps, p := dialPeers(t, wire.V5, nil)
		p.send(&wire.Disconnect{ReasonCode: wire.SessionTakenOver})
		<-c.Done()
		var de *mqtt.DisconnectError
		if !errors.As(c.Err(), &de) || !errors.Is(c.Err(), mqtt.ErrClosed) {
			t.Errorf("Err() = %v, want ErrClosed and the *DisconnectError", c.Err())
		}
		synctest.Wait()
		if att := ps.reconnects(); len(att) != 0 {
			t.Errorf("reconnected %d times after session taken over", len(att))
		}
	})
}

// A takeover right after an attempt of ours lost its connection between
// CONNECT and CONNACK may be that CONNECT, read late by the server: the
// client connects again instead of ending, once. A second takeover, with no
// such attempt before it, is another client's: final.
func TestSessionTakenOverAfterUnansweredConnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, ps, p := dialPeers(t, wire.V5, &mqtt.DialOptions{KeepSession: true})
		p.conn.Close() // lost: the client dials again

		// An attempt whose CONNECT the server read but never answered.
		ghost := &peer{t: t, v: wire.V5, conn: <-ps.conns}
		ghost.r = wire.NewReader(ghost.conn, 0)
		ghost.expect(wire.CONNECT)
		ghost.conn.Close()

		p2, _ := ps.accept(&wire.Connack{SessionPresent: true})
		p2.send(&wire.Disconnect{ReasonCode: wire.SessionTakenOver})
		p3, _ := ps.accept(&wire.Connack{SessionPresent: true})
		synctest.Wait()
		if err := c.Err(); err != nil {
			t.Fatalf("after a takeover that may have been our own CONNECT, the client ended: %v", err)
		}

		p3.send(&wire.Disconnect{ReasonCode: wire.SessionTakenOver})
		<-c.Done()
		var de *mqtt.DisconnectError
		if !errors.As(c.Err(), &de) || de.ReasonCode != wire.SessionTakenOver {
			t.Errorf("Err() = %v, want the *DisconnectError of the second takeover", c.Err())
		}
	})
}

// Close while the client waits to reconnect ends it at once; every call
// waiting returns ErrClosed, and no goroutine is left (synctest checks).
func TestCloseWhileReconnecting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _, p := dialPeers(t, wire.V5, nil)
		p.conn.Close()
		synctest.Wait()
		pub := async(func() error {
			return c.Publish(context.Background(), mqtt.Message{Topic: "t", QoS: mqtt.QoS1})
		})
		synctest.Wait()
		start := time.Now()
		c.Close()
		if d := time.Since(start); d != 0 {
			t.Errorf("Close took %v", d)
		}
		if err := <-pub; !errors.Is(err, mqtt.ErrClosed) || errors.Is(err, mqtt.ErrOutcomeUnknown) {
			t.Errorf("publish waiting to reconnect: %v, want not sent, ErrClosed", err)
		}
	})
}

// Disconnect is not a lost connection: the server closing the connection
// after DISCONNECT neither calls OnConnectionLost nor starts reconnecting.
func TestDisconnectIsNotALoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, ps, p := dialPeers(t, wire.V5, nil)
		go func() {
			p.expect(wire.DISCONNECT)
			p.conn.Close() // as a server does at once (MQTT-3.14.4-2)
		}()
		if err := c.Disconnect(context.Background()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		ps.mu.Lock()
		defer ps.mu.Unlock()
		if len(ps.lost) != 0 || len(ps.attempts) != 0 {
			t.Errorf("after Disconnect: OnConnectionLost %v, OnReconnecting %v", ps.lost, ps.attempts)
		}
	})
}

// Reconnect drops the connection with a DISCONNECT and connects again at
// once (a reconnection delay of an hour is not waited); the message in
// flight is sent again and completes; State agrees with the callbacks at
// each step.
func TestReconnect(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	var mu sync.Mutex
	var c *mqtt.Client
	connected := make(chan struct{}, 2)
	var seen []string
	record := func(event string) {
		mu.Lock()
		defer mu.Unlock()
		if c != nil {
			seen = append(seen, event+":"+c.State().String())
		}
	}
	client := dialT(t, srv.URL, &mqtt.DialOptions{ClientID: "again", KeepSession: true, ReconnectDelay: time.Hour,
		OnConnect:        func(bool) { record("connect"); connected <- struct{}{} },
		OnConnectionLost: func(error) { record("lost") }})
	mu.Lock()
	c = client
	mu.Unlock()
	if s := c.State(); s != mqtt.StateConnected {
		t.Fatalf("State() = %v after Dial", s)
	}
	ctx := testCtx(t)
	hold := srv.Inject(func(r mqtttest.Record) bool {
		return r.Dir == mqtttest.ToClient && r.Packet.Type() == wire.PUBACK
	}, mqtttest.Drop)
	published := async(func() error { return c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}) })
	if _, err := hold.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	hold.Release()
	if err := c.Reconnect(ctx); err != nil {
		t.Fatalf("Reconnect: %v", err)
	}
	<-connected // Dial's
	<-connected // OnConnect runs just after Reconnect returns
	if err := <-published; err != nil {
		t.Fatalf("the message in flight: %v", err)
	}
	// By connection: the records of two connections may interleave.
	var disconnectedOn, dupOn int
	for _, r := range srv.Packets() {
		if r.Dir != mqtttest.FromClient {
			continue
		}
		switch p := r.Packet.(type) {
		case *wire.Disconnect:
			disconnectedOn = r.Conn
		case *wire.Publish:
			if p.Dup {
				dupOn = r.Conn
			}
		}
	}
	if disconnectedOn == 0 || dupOn <= disconnectedOn {
		t.Errorf("DISCONNECT on connection %d, the PUBLISH sent again (DUP) on connection %d; want DISCONNECT, then the DUP on a later one",
			disconnectedOn, dupOn)
	}
	c.Close()
	if s := c.State(); s != mqtt.StateClosed {
		t.Errorf("State() = %v after Close", s)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"lost:reconnecting", "connect:connected"}; len(seen) != 2 || seen[0] != want[0] || seen[1] != want[1] {
		t.Errorf("callbacks saw %v, want %v", seen, want)
	}
}

// Reconnect during a reconnection delay makes the next attempt now.
func TestReconnectWhileReconnecting(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	lost := make(chan struct{}, 1)
	c := dialT(t, srv.URL, &mqtt.DialOptions{ReconnectDelay: time.Hour, OnConnectionLost: func(error) { lost <- struct{}{} }})
	srv.CloseClientConnections()
	<-lost
	if s := c.State(); s != mqtt.StateReconnecting {
		t.Errorf("State() = %v after the connection was lost", s)
	}
	if err := c.Reconnect(testCtx(t)); err != nil {
		t.Fatalf("Reconnect: %v", err)
	}
	if s := c.State(); s != mqtt.StateConnected {
		t.Errorf("State() = %v after Reconnect", s)
	}
}

// With NoReconnect, Reconnect has nothing to do and says so; a lost
// connection closes the client, which State says when OnConnectionLost
// runs.
func TestReconnectNoReconnect(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	states := make(chan mqtt.State, 1)
	var c *mqtt.Client
	ready := make(chan struct{})
	c = dialT(t, srv.URL, &mqtt.DialOptions{NoReconnect: true, OnConnectionLost: func(error) { <-ready; states <- c.State() }})
	close(ready)
	if err := c.Reconnect(testCtx(t)); !errors.Is(err, mqtt.ErrInvalid) {
		t.Errorf("Reconnect with NoReconnect: %v, want ErrInvalid", err)
	}
	srv.CloseClientConnections()
	if s := <-states; s != mqtt.StateClosed {
		t.Errorf("State() in OnConnectionLost = %v, want closed", s)
	}
}
