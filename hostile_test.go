package mqtt_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/internal/testcert"
	"github.com/culex-mqtt/mqtt/wire"
)

// This file holds tests against hostile brokers: raw-socket peers that
// speak just enough MQTT to get a client going, then misbehave.

// stalledBroker accepts MQTT connections over transport ("tcp", "tls", "ws"
// or "wss"), answers CONNECT with a 3.1.1 CONNACK and then never reads
// again, like a broker that hangs or a network that stopped moving. It
// returns the URL to dial and, for TLS, the client's configuration.
func stalledBroker(t *testing.T, transport string) (string, *tls.Config) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var clientTLS *tls.Config
	if transport == "tls" || transport == "wss" {
		b, err := testcert.New()
		if err != nil {
			t.Fatal(err)
		}
		ln = tls.NewListener(ln, b.ServerTLSConfig())
		clientTLS = b.ClientTLSConfig(false)
	}
	// serve handles one connection: CONNECT in, CONNACK out, then nothing
	// until the test ends.
	serve := func(c net.Conn) {
		if _, err := wire.NewReader(c, 0).ReadPacket(wire.V311); err != nil {
			return
		}
		c.Write([]byte{0x20, 0x02, 0x00, 0x00})
		<-stop
	}
	switch transport {
	case "tcp", "tls":
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { defer c.Close(); serve(c) }()
			}
		}()
	case "ws", "wss":
		srv := &http.Server{Handler: websocket.Server{
			Handshake: func(cfg *websocket.Config, _ *http.Request) error {
				cfg.Protocol = []string{"mqtt"}
				return nil
			},
			Handler: func(ws *websocket.Conn) {
				ws.PayloadType = websocket.BinaryFrame
				serve(ws)
			},
		}}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	t.Cleanup(func() { close(stop); ln.Close() })
	scheme := map[string]string{"tcp": "mqtt", "tls": "mqtts", "ws": "ws", "wss": "wss"}[transport]
	return scheme + "://" + ln.Addr().String(), clientTLS
}

// fillPipe publishes QoS 0 messages until the client's write buffer is full:
// the network takes nothing more, and the client's writing goroutine is
// blocked in a write.
func fillPipe(t *testing.T, c *mqtt.Client) {
	t.Helper()
	payload := make([]byte, 256<<10)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Publish(ctx, mqtt.Message{Topic: "fill", Payload: payload})
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return
		}
		if err != nil {
			t.Fatalf("filling the pipe: %v", err)
		}
	}
	t.Fatal("the write buffer never filled up")
}

// within runs f and fails the test if it has not returned after limit,
// reporting how long it took.
func within(t *testing.T, limit time.Duration, what string, f func()) time.Duration {
	t.Helper()
	start := time.Now()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s did not return within %v", what, limit)
	}
	return time.Since(start)
}

// TestStalledBrokerEveryTransport: once the broker stops reading, a client's
// write blocks; Close, Disconnect and the keep alive must still end the
// client as quickly over WebSocket as over TCP. (x/net/websocket's Close
// sends a close frame under the lock that the blocked write holds.)
func TestStalledBrokerEveryTransport(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"tcp", "tls", "ws", "wss"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			url, tlsConfig := stalledBroker(t, transport)
			dial := func(o mqtt.DialOptions) *mqtt.Client {
				o.Version, o.TLSConfig, o.NoReconnect = mqtt.V311, tlsConfig, true
				return dialT(t, url, &o)
			}
			t.Run("Close", func(t *testing.T) {
				c := dial(mqtt.DialOptions{})
				fillPipe(t, c)
				d := within(t, 5*time.Second, "Close", func() { c.Close() })
				t.Logf("Close took %v", d)
			})
			t.Run("Disconnect", func(t *testing.T) {
				c := dial(mqtt.DialOptions{})
				fillPipe(t, c)
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				d := within(t, 5*time.Second, "Disconnect with a context of 1s", func() { c.Disconnect(ctx) })
				t.Logf("Disconnect took %v", d)
				if !errors.Is(c.Err(), mqtt.ErrClosed) {
					t.Errorf("Err after Disconnect = %v, want ErrClosed", c.Err())
				}
			})
			t.Run("KeepAlive", func(t *testing.T) {
				// MQTT-3.1.2-20: no PINGRESP within the keep alive
				// ends the connection.
				c := dial(mqtt.DialOptions{KeepAlive: 2 * time.Second})
				fillPipe(t, c)
				start := time.Now()
				select {
				case <-c.Done():
					t.Logf("dead peer found in %v after the pipe filled: %v", time.Since(start), c.Err())
				case <-time.After(8 * time.Second):
					t.Fatal("a broker that stopped reading, with a keep alive of 2s, was not found dead in 8s")
				}
			})
		})
	}
}
