//go:build js

package mqtt

// Tests of the GOOS=js transport under Node.js, against fakeHost's
// WebSocket (fakews_js_test.go). .ci/run runs them with
//
//	GOOS=js GOARCH=wasm go test -run '^TestJS' .
//
// browsertest/ runs the same client in a real Chromium against mosquitto.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/persist"
)

func jsCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// What a browser cannot do fails at Dial, before any WebSocket is made.
func TestJSDialRefusesWhatABrowserCannotDo(t *testing.T) {
	dialer := func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("unused") }
	tests := []struct {
		name string
		url  string
		opts *DialOptions
		want string
	}{
		{"tcp", "mqtt://127.0.0.1:1883", nil, "a browser cannot open TCP connections: use the server's WebSocket listener, ws:// or wss://"},
		{"tls", "mqtts://127.0.0.1:8883", nil, "a browser cannot open TCP connections"},
		{"tcp among Servers", "ws://127.0.0.1/mqtt", &DialOptions{Servers: []string{"tcp://127.0.0.1:1883"}}, "server URL tcp://127.0.0.1:1883: a browser cannot open TCP connections"},
		{"TLSConfig", "wss://127.0.0.1/mqtt", &DialOptions{TLSConfig: &tls.Config{}}, "DialOptions.TLSConfig cannot be used under GOOS=js: the browser makes the TLS connection"},
		{"Dialer", "ws://127.0.0.1/mqtt", &DialOptions{Dialer: dialer}, "DialOptions.Dialer cannot be used under GOOS=js"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := installFakeWebSocket(t, "refuse", nil)
			c, err := Dial(jsCtx(t), tc.url, tc.opts)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Dial: %v\nwant it to say %q", err, tc.want)
			}
			if len(h.made) != 0 {
				t.Errorf("Dial made a WebSocket before refusing")
			}
		})
	}
}

func TestJSDialWithoutWebSocket(t *testing.T) {
	removeWebSocket(t)
	_, err := Dial(jsCtx(t), "ws://127.0.0.1:9/mqtt", &DialOptions{NoReconnect: true})
	if err == nil || !strings.Contains(err.Error(), "this JavaScript host has no WebSocket") {
		t.Fatalf("Dial: %v, want an error that says the host has no WebSocket", err)
	}
}

// The browser keeps the cause of a failed handshake to itself; the error
// says so, and where to look.
func TestJSDialRefused(t *testing.T) {
	installFakeWebSocket(t, "refuse", nil)
	_, err := Dial(jsCtx(t), "ws://127.0.0.1:9/mqtt", &DialOptions{NoReconnect: true})
	for _, want := range []string{"WebSocket handshake with ws://127.0.0.1:9/mqtt", "code 1006", "its console may"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Dial: %v\nwant it to say %q", err, want)
		}
	}
}

// ctx bounds the wait for the socket to open, and the socket is closed.
func TestJSDialContext(t *testing.T) {
	h := installFakeWebSocket(t, "hang", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := Dial(ctx, "ws://127.0.0.1:9/mqtt", &DialOptions{NoReconnect: true})
		errc <- err
	}()
	if err := recv(t, errc); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial: %v, want context.DeadlineExceeded", err)
	}
	s := <-h.made
	if s.closeCount() == 0 || s.handlersSet() {
		t.Errorf("after Dial gave up: close() called %d times, handlers still set: %v", s.closeCount(), s.handlersSet())
	}
}

// The whole client over the host's WebSocket: the URL and subprotocol, the
// three QoS levels both ways, a reconnection after the server went away,
// and a Close that leaves no handler behind.
func TestJSClient(t *testing.T) {
	srv := mqtttest.NewUnstartedServer()
	t.Cleanup(srv.Close)
	h := installFakeWebSocket(t, "bridge", srv)
	ctx := jsCtx(t)
	lost := make(chan error, 1)
	c, err := Dial(ctx, "ws://user:pw@broker.test:8080/mqtt?sig=1", &DialOptions{
		ClientID:         "js",
		ReconnectDelay:   time.Millisecond,
		OnConnectionLost: func(err error) { lost <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	first := <-h.made
	if got, want := first.URL, "ws://broker.test:8080/mqtt?sig=1"; got != want {
		t.Errorf("WebSocket URL %q, want %q (no user info: the password goes in CONNECT)", got, want)
	}
	if diff := cmp.Diff([]string{"mqtt"}, first.Protocols); diff != "" {
		t.Errorf("subprotocols (-want +got):\n%s", diff) // MQTT-6.0.0-3
	}
	if first.binaryType != "arraybuffer" {
		t.Errorf("binaryType %q when the socket opened, want arraybuffer", first.binaryType)
	}
	if cn := c.current(); cn == nil || interruptible(cn.conn) {
		t.Errorf("the connection is read in turns; it must have a reading goroutine of its own")
	}

	sub, err := c.Subscribe(ctx, Filter{Topic: "js/#", QoS: QoS2})
	if err != nil {
		t.Fatal(err)
	}
	exchange := func(round string) {
		t.Helper()
		for q := QoS0; q <= QoS2; q++ {
			m := Message{Topic: "js/" + round, Payload: bytes.Repeat([]byte{byte('0' + q)}, 100<<10), QoS: q}
			if err := c.Publish(ctx, m); err != nil {
				t.Fatalf("%s: Publish %v: %v", round, q, err)
			}
			got, err := sub.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got.Topic != m.Topic || got.QoS != q || !bytes.Equal(got.Payload, m.Payload) {
				t.Fatalf("%s: received %s %v %d bytes, want %s %v %d bytes", round, got.Topic, got.QoS, len(got.Payload), m.Topic, q, len(m.Payload))
			}
		}
	}
	exchange("first")

	first.serverClose(1006)
	if err := <-lost; !strings.Contains(err.Error(), "the WebSocket closed with code 1006") {
		t.Errorf("OnConnectionLost(%v), want the close code", err)
	}
	second := <-h.made
	exchange("second") // on a clean start the client subscribed again
	if first.handlersSet() {
		t.Errorf("the lost socket keeps its handlers")
	}
	if err := c.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if second.handlersSet() || second.closeCount() == 0 {
		t.Errorf("after Disconnect: handlers set %v, close() called %d times", second.handlersSet(), second.closeCount())
	}
}

// recv waits for an error from a goroutine of the test, which fails if
// none comes within 5 seconds: what it waits for is stuck.
func recv(t *testing.T, errc chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("still waiting after 5s")
		return nil
	}
}

// dialManual opens a jsConn to a socket the test plays the server of.
func dialManual(t *testing.T) (*jsConn, *fakeSocket) {
	t.Helper()
	h := installFakeWebSocket(t, "manual", nil)
	tg, err := parseURL("ws://127.0.0.1:9/mqtt")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := dialTransport(jsCtx(t), tg, &DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn.(*jsConn), <-h.made
}

// Messages come out of Read in order, split as the reader asks; the
// server's close is io.EOF once they are read.
func TestJSConnRead(t *testing.T) {
	c, s := dialManual(t)
	s.deliver([]byte("hello "))
	s.deliver([]byte("browser"))
	s.serverClose(1000)
	var got []byte
	buf := make([]byte, 4)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if string(got) != "hello browser" {
		t.Errorf("read %q, want %q", got, "hello browser")
	}
}

// A read deadline cuts a waiting Read short, also one set while it waits
// (the client's handshake does that when its ctx ends), and a Read after it
// gets what arrived.
func TestJSConnReadDeadline(t *testing.T) {
	c, s := dialManual(t)
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	c.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond) // let Read wait
	c.SetDeadline(time.Unix(1, 0))
	if err := recv(t, errc); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read cut short: %v, want os.ErrDeadlineExceeded", err)
	}
	c.SetDeadline(time.Time{})
	s.deliver([]byte("x"))
	if n, err := c.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("Read after the deadline moved: %d, %v", n, err)
	}
}

// Close does not wait: a Read and a Write waiting on the socket return
// net.ErrClosed.
func TestJSConnCloseUnblocks(t *testing.T) {
	c, s := dialManual(t)
	s.setStuck(maxWSSending) // the network takes nothing
	errc := make(chan error, 2)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errc <- err
	}()
	go func() {
		_, err := c.Write([]byte("stuck"))
		errc <- err
	}()
	time.Sleep(30 * time.Millisecond) // let both wait
	c.Close()
	for range 2 {
		if err := recv(t, errc); !errors.Is(err, net.ErrClosed) {
			t.Errorf("after Close: %v, want net.ErrClosed", err)
		}
	}
	if s.handlersSet() || s.closeCount() != 1 {
		t.Errorf("after Close: handlers set %v, close() called %d times", s.handlersSet(), s.closeCount())
	}
}

// A Write waits while the browser holds maxWSSending bytes unsent, bounded
// by the write deadline, and goes on once the network takes them.
func TestJSConnWriteWaitsForTheNetwork(t *testing.T) {
	c, s := dialManual(t)
	s.setStuck(maxWSSending)
	c.SetWriteDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := c.Write([]byte("a")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write with the buffer full: %v, want os.ErrDeadlineExceeded", err)
	}
	c.SetWriteDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, err := c.Write([]byte("b"))
		done <- err
	}()
	time.Sleep(30 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Write returned (%v) while the buffer was full", err)
	default:
	}
	s.setStuck(0)
	if err := recv(t, done); err != nil {
		t.Fatal(err)
	}
	if got := s.take(); len(got) != 1 || string(got[0]) != "b" {
		t.Errorf("sent %q, want only \"b\"", got)
	}
}

// What arrives while nothing reads is bounded: past maxWSBuffered bytes
// the connection fails, drops what it held and closes the socket.
func TestJSConnBounded(t *testing.T) {
	c, s := dialManual(t)
	chunk := make([]byte, 1<<20)
	for range maxWSBuffered / len(chunk) {
		s.deliver(chunk)
	}
	if s.closeCount() != 0 {
		t.Fatalf("closed at %d bytes, the bound", maxWSBuffered)
	}
	s.deliver(chunk)
	if s.closeCount() != 1 {
		t.Fatalf("not closed past the bound")
	}
	c.mu.Lock()
	held := c.buffered
	c.mu.Unlock()
	if held != 0 {
		t.Errorf("holds %d bytes after failing", held)
	}
	_, err := c.Read(make([]byte, 1))
	if err == nil || !strings.Contains(err.Error(), "a browser's WebSocket cannot hold the server back") {
		t.Errorf("Read: %v, want the bound's error", err)
	}
}

// MQTT travels in binary messages (MQTT-6.0.0-1): a text one ends the
// connection.
func TestJSConnTextMessage(t *testing.T) {
	c, s := dialManual(t)
	s.deliverText("hello")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || !strings.Contains(err.Error(), "MQTT-6.0.0-1") {
		t.Errorf("Read after a text message: %v", err)
	}
}

// persist.Open works where the host has a file system (Node.js); in a
// browser it fails, saying what to use instead (browsertest checks that).
func TestJSPersistOpenUnderNode(t *testing.T) {
	st, err := persist.Open(t.TempDir())
	if err != nil {
		t.Fatalf("persist.Open under Node.js: %v", err)
	}
	st.Close()
}
