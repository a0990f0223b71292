package mqtt_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

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
