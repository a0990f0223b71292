package mqtt_test

// Suite: hostile brokers and failing Stores.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/internal/testcert"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/persist"
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
	ln := listenLocal(t)
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
		serveConns(ln, serve)
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
	t.Cleanup(func() { close(stop) })
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

// errNoSpace is what a Store on a full disk says.
var errNoSpace = fmt.Errorf("write session.log: %w", syscall.ENOSPC)

// A Store that fails ends the client, saying so everywhere (Err, Done,
// OnConnectionLost, the calls that wait), instead of reconnecting forever to
// fail the same way; what it held stays there. It used to reconnect 25 times
// in 5s, for ever, with Err nil. Three ways to meet a full disk: removing an
// acknowledged message, forgetting the last session's state at a
// reconnection, recording an incoming QoS 2 message as received.
func TestStoreFailureEndsClient(t *testing.T) {
	t.Parallel()
	for _, when := range []string{"PUBACK", "reconnect", "incoming QoS 2"} {
		t.Run(when, func(t *testing.T) {
			t.Parallel()
			srv := mqtttest.NewServer()
			t.Cleanup(srv.Close)
			mem := persist.NewMemory()
			store := &switchable{Store: mem}
			lost := make(chan error, 10)
			c := dialT(t, srv.URL, &mqtt.DialOptions{Store: store, ReconnectDelay: 10 * time.Millisecond,
				OnConnectionLost: func(err error) { lost <- err }})
			ctx := testCtx(t)
			isStoreErr := func(err error) bool {
				return errors.Is(err, syscall.ENOSPC) && strings.Contains(err.Error(), "store")
			}

			var waiting <-chan error // a call that waits when the Store fails
			switch when {
			case "PUBACK":
				hold := srv.Inject(func(r mqtttest.Record) bool {
					return r.Dir == mqtttest.ToClient && r.Packet.Type() == wire.PUBACK
				}, mqtttest.Hold)
				waiting = async(func() error {
					return c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1, Payload: []byte("kept")})
				})
				if _, err := hold.Wait(ctx); err != nil {
					t.Fatal(err)
				}
				store.full.Store(true)
				hold.Release()
			case "reconnect":
				hold := srv.Inject(func(r mqtttest.Record) bool {
					return r.Dir == mqtttest.ToClient && r.Packet.Type() == wire.PUBACK
				}, mqtttest.Drop)
				waiting = async(func() error {
					return c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1, Payload: []byte("kept")})
				})
				if _, err := hold.Wait(ctx); err != nil {
					t.Fatal(err)
				}
				store.full.Store(true)
				srv.CloseClientConnections()
			case "incoming QoS 2":
				sub, err := c.Subscribe(ctx, mqtt.Filter{Topic: "in", QoS: mqtt.QoS2})
				if err != nil {
					t.Fatal(err)
				}
				store.full.Store(true)
				if err := srv.Publish(&wire.Publish{Topic: "in", QoS: 2, Payload: []byte("x")}); err != nil {
					t.Fatal(err)
				}
				if _, err := sub.Next(ctx); err != nil {
					t.Fatal(err)
				}
				waiting = async(func() error { _, err := sub.Next(ctx); return err })
			}

			select {
			case <-c.Done():
			case <-ctx.Done():
				connects := 0
				for _, r := range srv.Packets() {
					if r.Packet.Type() == wire.CONNECT {
						connects++
					}
				}
				t.Fatalf("the client did not end after its Store failed; it connected %d times", connects)
			}
			if err := c.Err(); !isStoreErr(err) || !errors.Is(err, mqtt.ErrClosed) {
				t.Errorf("Err = %v, want ErrClosed and the Store's ENOSPC, naming the store", err)
			}
			if err := <-waiting; !isStoreErr(err) {
				t.Errorf("the waiting call: %v, want the Store's ENOSPC naming the store", err)
			}
			if when != "incoming QoS 2" {
				entries, err := mem.Load(persist.Outgoing)
				if err != nil || len(entries) != 1 {
					t.Errorf("the Store holds %d messages (%v), want the unacknowledged one", len(entries), err)
				}
			}
			if when == "reconnect" {
				return // the connection was lost before the Store failed
			}
			select { // called just after the client ended
			case err := <-lost:
				if !isStoreErr(err) {
					t.Errorf("OnConnectionLost(%v), want the Store's ENOSPC naming the store", err)
				}
			case <-ctx.Done():
				t.Error("OnConnectionLost was not called")
			}
		})
	}
}

// switchable is a Store whose disk can be made full and empty again.
type switchable struct {
	persist.Store
	full atomic.Bool
}

func (s *switchable) Put(d persist.Direction, id uint16, b []byte) error {
	if s.full.Load() {
		return errNoSpace
	}
	return s.Store.Put(d, id, b)
}

func (s *switchable) Delete(d persist.Direction, id uint16) error {
	if s.full.Load() {
		return errNoSpace
	}
	return s.Store.Delete(d, id)
}

func (s *switchable) Reset(d persist.Direction) error {
	if s.full.Load() {
		return errNoSpace
	}
	return s.Store.Reset(d)
}
