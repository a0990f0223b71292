package mqtt_test

import (
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// Server redirection (MQTT 5.0 section 4.11): a CONNACK or DISCONNECT with
// reason code 0x9C (use another server) or 0x9D (server moved) and a Server
// Reference sends the client to the server(s) it names.

// referrer is a server that answers every CONNECT with a CONNACK of code
// and Server Reference ref, and counts the connections it got.
type referrer struct {
	addr     string
	connects atomic.Int32
}

func newReferrer(t *testing.T, code wire.ReasonCode, ref func() string) *referrer {
	t.Helper()
	ln := listenLocal(t)
	r := &referrer{addr: ln.Addr().String()}
	serveConns(ln, func(c net.Conn) {
		if _, err := wire.NewReader(c, 0).ReadPacket(wire.V5); err != nil {
			return
		}
		r.connects.Add(1)
		b, _ := (&wire.Connack{ReasonCode: code, Properties: &wire.Properties{ServerReference: ref()}}).Append(nil, wire.V5)
		c.Write(b)
	})
	return r
}

func addrOf(url string) string { return url[strings.Index(url, "://")+3:] }

// 0x9C: the client connects to the referenced server, with the credentials
// of the URL it was given; the redirection holds for that connection only,
// so a reconnection asks the first server again.
func TestRedirectUseAnotherServer(t *testing.T) {
	t.Parallel()
	var users = make(chan string, 10)
	srv := mqtttest.NewServer(mqtttest.Authenticate(func(c *wire.Connect) wire.ReasonCode {
		users <- c.Username
		return wire.Success
	}))
	t.Cleanup(srv.Close)
	// Two references, the first of which refuses connections.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	ref := newReferrer(t, wire.UseAnotherServer, func() string { return deadAddr + " " + addrOf(srv.URL) })
	connected := make(chan struct{}, 10)
	c := dialT(t, "mqtt://alice:pw@"+ref.addr, &mqtt.DialOptions{Version: mqtt.V5, ReconnectDelay: time.Millisecond,
		OnConnect: func(bool) { connected <- struct{}{} }})
	<-connected
	if u := <-users; u != "alice" {
		t.Errorf("the referenced server got user %q, want alice from the URL", u)
	}
	if n := ref.connects.Load(); n != 1 {
		t.Fatalf("the first server got %d connections, want 1", n)
	}
	srv.CloseClientConnections()
	<-connected
	if n := ref.connects.Load(); n != 2 {
		t.Errorf("after a reconnection the first server got %d connections, want 2: 0x9C holds for one connection", n)
	}
	if err := c.Publish(testCtx(t), mqtt.Message{Topic: "t", QoS: mqtt.QoS1}); err != nil {
		t.Fatal(err)
	}
}

// 0x9D: the referenced server is the first tried from then on.
func TestRedirectServerMoved(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ref := newReferrer(t, wire.ServerMoved, func() string { return addrOf(srv.URL) })
	connected := make(chan struct{}, 10)
	c := dialT(t, "mqtt://"+ref.addr, &mqtt.DialOptions{Version: mqtt.V5, ReconnectDelay: time.Millisecond,
		OnConnect: func(bool) { connected <- struct{}{} }})
	<-connected
	srv.CloseClientConnections()
	<-connected
	if n := ref.connects.Load(); n != 1 {
		t.Errorf("the server that moved got %d connections, want only the first", n)
	}
	_ = c
}

// A DISCONNECT with a redirection sends the client to the referenced
// server at once, without the reconnection delay.
func TestRedirectOnDisconnect(t *testing.T) {
	t.Parallel()
	from, to := mqtttest.NewServer(), mqtttest.NewServer()
	t.Cleanup(from.Close)
	t.Cleanup(to.Close)
	connected := make(chan struct{}, 10)
	c := dialT(t, from.URL, &mqtt.DialOptions{Version: mqtt.V5, ClientID: "moving", ReconnectDelay: time.Hour,
		OnConnect: func(bool) { connected <- struct{}{} }})
	<-connected
	ctx := testCtx(t)
	conn, err := from.Conn(ctx, "moving")
	if err != nil {
		t.Fatal(err)
	}
	conn.Disconnect(wire.UseAnotherServer, &wire.Properties{ServerReference: addrOf(to.URL)})
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("the client did not connect to the referenced server (a reconnection delay of an hour was waited?)")
	}
	if _, err := to.Conn(ctx, "moving"); err != nil {
		t.Fatalf("the referenced server has no connection from the client: %v", err)
	}
	if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}); err != nil {
		t.Fatal(err)
	}
}

// Servers that refer to each other do not keep the client going round:
// redirections are bounded, and the error says so. NoRedirect turns them
// off: the error carries the reference.
func TestRedirectBounded(t *testing.T) {
	t.Parallel()
	var a, b *referrer
	a = newReferrer(t, wire.UseAnotherServer, func() string { return b.addr })
	b = newReferrer(t, wire.UseAnotherServer, func() string { return a.addr })
	_, err := mqtt.Dial(testCtx(t), "mqtt://"+a.addr, &mqtt.DialOptions{Version: mqtt.V5})
	if err == nil || !strings.Contains(err.Error(), "in a row") {
		t.Fatalf("Dial: %v, want an error about redirections in a row", err)
	}
	if n := a.connects.Load() + b.connects.Load(); n > 10 {
		t.Errorf("%d connections for one Dial", n)
	}

	_, err = mqtt.Dial(testCtx(t), "mqtt://"+a.addr, &mqtt.DialOptions{Version: mqtt.V5, NoRedirect: true})
	var ce *mqtt.ConnectError
	if !errors.As(err, &ce) || ce.ReasonCode != wire.UseAnotherServer || ce.ServerReference != b.addr {
		t.Fatalf("Dial with NoRedirect: %v, want the *ConnectError with the reference", err)
	}
}
