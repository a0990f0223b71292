package mqtt_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// A message the server answers by closing the connection, every time it is
// sent, must not block the session for good: after 5 losses in a row right
// after sending it, with nothing sent after it acknowledged, the client
// gives it up.

// closesOn has srv close the connection whenever a client sends a PUBLISH
// that match accepts.
func closesOn(srv *mqtttest.Server, match func(*wire.Publish) bool) {
	srv.Inject(func(r mqtttest.Record) bool {
		p, ok := r.Packet.(*wire.Publish)
		return ok && r.Dir == mqtttest.FromClient && match(p)
	}, mqtttest.CloseConn)
}

func connectCount(srv *mqtttest.Server) int {
	n := 0
	for _, r := range srv.Packets() {
		if r.Packet.Type() == wire.CONNECT {
			n++
		}
	}
	return n
}

// The Publish that waits fails with ErrOutcomeUnknown and why; the message
// leaves the Store; the rest of the session goes on.
func TestPoisonMessageGivenUp(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	closesOn(srv, func(p *wire.Publish) bool { return p.Topic == "poison" })
	store := persist.NewMemory()
	c := dialT(t, srv.URL, &mqtt.DialOptions{Store: store, ReconnectDelay: time.Millisecond, MaxReconnectDelay: time.Millisecond})
	ctx := testCtx(t)
	err := c.Publish(ctx, mqtt.Message{Topic: "poison", QoS: mqtt.QoS1})
	if !errors.Is(err, mqtt.ErrOutcomeUnknown) || !strings.Contains(err.Error(), "closed the connection each of the 5 times") {
		t.Fatalf("Publish of the poison: %v, want ErrOutcomeUnknown saying the server closed the connection each time", err)
	}
	if entries, _ := store.Load(persist.Outgoing); len(entries) != 0 {
		t.Errorf("the Store holds %d messages after the poison was given up", len(entries))
	}
	if err := c.Publish(ctx, mqtt.Message{Topic: "fine", QoS: mqtt.QoS1}); err != nil {
		t.Fatalf("a message after the poison: %v", err)
	}
	if n := connectCount(srv); n != 6 {
		t.Errorf("%d connections, want 6: one for each of the 5 sends of the poison, one to go on", n)
	}
}

// When no Publish waits any more, OnUndeliverable gets the message.
func TestPoisonMessageHook(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	closesOn(srv, func(p *wire.Publish) bool { return p.Topic == "poison" })
	type given struct {
		m   mqtt.Message
		err error
	}
	gaveUp := make(chan given, 1)
	c := dialT(t, srv.URL, &mqtt.DialOptions{ReconnectDelay: 20 * time.Millisecond, MaxReconnectDelay: 20 * time.Millisecond,
		OnUndeliverable: func(m mqtt.Message, err error) { gaveUp <- given{m, err} }})
	short, cancel := context.WithTimeout(testCtx(t), 10*time.Millisecond)
	defer cancel()
	if err := c.Publish(short, mqtt.Message{Topic: "poison", Payload: []byte("p"), QoS: mqtt.QoS1}); !errors.Is(err, mqtt.ErrOutcomeUnknown) {
		t.Fatalf("Publish with a short ctx: %v, want ErrOutcomeUnknown", err)
	}
	select {
	case g := <-gaveUp:
		if g.m.Topic != "poison" || string(g.m.Payload) != "p" || g.m.QoS != mqtt.QoS1 || !errors.Is(g.err, mqtt.ErrOutcomeUnknown) {
			t.Errorf("OnUndeliverable(%+v, %v), want the poison message", g.m, g.err)
		}
	case <-testCtx(t).Done():
		t.Fatal("OnUndeliverable was not called")
	}
}

// A QoS 2 message that a 3.1.1 server closes the connection for (NATS
// before 2.10 does that to every QoS 2 PUBLISH) says the server may not
// support QoS 2.
func TestPoisonQoS2Over311(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	closesOn(srv, func(p *wire.Publish) bool { return p.QoS == 2 })
	c := dialT(t, srv.URL, &mqtt.DialOptions{Version: mqtt.V311, ReconnectDelay: time.Millisecond, MaxReconnectDelay: time.Millisecond})
	err := c.Publish(testCtx(t), mqtt.Message{Topic: "t", QoS: mqtt.QoS2})
	if !errors.Is(err, mqtt.ErrOutcomeUnknown) || !strings.Contains(err.Error(), "does not support QoS 2") {
		t.Fatalf("Publish at QoS 2: %v, want a hint that the server may not support QoS 2", err)
	}
}

// Losses that are not the message's fault (the server acknowledged a
// message sent after it each time) never give it up.
func TestNoPoisonWhenServerWentPast(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	var slowID uint16 // only the fault's match touches it, one packet at a time
	hold := srv.Inject(func(r mqtttest.Record) bool {
		switch p := r.Packet.(type) {
		case *wire.Publish:
			if r.Dir == mqtttest.FromClient && p.Topic == "slow" {
				slowID = p.PacketID
			}
		case *wire.Puback:
			return r.Dir == mqtttest.ToClient && slowID != 0 && p.PacketID == slowID
		}
		return false
	}, mqtttest.Drop)
	connected := make(chan struct{}, 10)
	c := dialT(t, srv.URL, &mqtt.DialOptions{ClientID: "past", KeepSession: true, ReconnectDelay: time.Millisecond,
		OnConnect: func(bool) { connected <- struct{}{} }})
	<-connected
	ctx := testCtx(t)
	slow := async(func() error { return c.Publish(ctx, mqtt.Message{Topic: "slow", QoS: mqtt.QoS1}) })
	if _, err := srv.WaitPacket(ctx, func(r mqtttest.Record) bool {
		p, ok := r.Packet.(*wire.Publish)
		return ok && p.Topic == "slow"
	}); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if err := c.Publish(ctx, mqtt.Message{Topic: "later", QoS: mqtt.QoS1}); err != nil {
			t.Fatal(err)
		}
		srv.CloseClientConnections()
		<-connected
	}
	hold.Release()
	srv.CloseClientConnections() // the next connection sends it again
	if err := <-slow; err != nil {
		t.Fatalf("the message whose PUBACK was lost 4 times: %v, want it delivered", err)
	}
}
