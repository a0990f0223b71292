package mqtt_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// The tests in this file cover a client that only publishes at QoS 1 and 2
// and sets no callbacks: it has no reading goroutine, and the Publish that
// waits reads its own answer (connection.readFor). They run over TCP and
// TLS, the connections whose reads can be interrupted; the scripted peers
// of client_test.go use pipes and always have a reading goroutine.

// servers returns a plain and a TLS fake broker, each with the options a
// client needs to reach it.
func servers(t *testing.T) map[string]func() (*mqtttest.Server, *mqtt.DialOptions) {
	return map[string]func() (*mqtttest.Server, *mqtt.DialOptions){
		"tcp": func() (*mqtttest.Server, *mqtt.DialOptions) {
			srv := mqtttest.NewServer()
			t.Cleanup(srv.Close)
			return srv, &mqtt.DialOptions{}
		},
		"tls": func() (*mqtttest.Server, *mqtt.DialOptions) {
			srv := mqtttest.NewTLSServer()
			t.Cleanup(srv.Close)
			return srv, &mqtt.DialOptions{TLSConfig: srv.ClientTLSConfig()}
		},
	}
}

// fromClient matches the packets of type typ that the client sent.
func fromClient(typ wire.Type) func(mqtttest.Record) bool {
	return func(r mqtttest.Record) bool { return r.Dir == mqtttest.FromClient && r.Packet.Type() == typ }
}

// Sequential publishes at QoS 1 and 2 complete with the exact flows of
// MQTT-4.3.2-4 and MQTT-4.3.3-11, the caller reading the answers.
func TestPublisherReadsItsAnswers(t *testing.T) {
	t.Parallel()
	for name, start := range servers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, o := start()
			o.ClientID = "reader"
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := mqtt.Dial(ctx, srv.URL, o)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for i := range 20 {
				q := mqtt.QoS(1 + i%2)
				if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: q, Payload: []byte{byte(i)}}); err != nil {
					t.Fatalf("publish %d at QoS %d: %v", i, q, err)
				}
				want = append(want, "->PUBLISH")
				if q == 1 {
					want = append(want, "<-PUBACK")
				} else {
					want = append(want, "<-PUBREC", "->PUBREL", "<-PUBCOMP")
				}
			}
			if err := c.Disconnect(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := srv.WaitPacket(ctx, fromClient(wire.DISCONNECT)); err != nil {
				t.Fatal(err)
			}
			got := packetTypes(srv, "reader", true)
			want = append(append([]string{"->CONNECT", "<-CONNACK"}, want...), "->DISCONNECT")
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("packets:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// A Publish whose context ends while it reads returns ErrOutcomeUnknown at
// once, even with half of the answer read; the answer's other half, when it
// comes, completes the message (Disconnect drains it), and the connection
// goes on.
func TestPublisherGivesUpWhileReading(t *testing.T) {
	t.Parallel()
	for name, start := range servers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, o := start()
			o.ClientID = "impatient"
			o.NoReconnect = true // a lost connection would fail the test, not hide
			drop := srv.Inject(func(r mqtttest.Record) bool {
				return r.Dir == mqtttest.ToClient && r.Packet.Type() == wire.PUBACK
			}, mqtttest.Drop)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := mqtt.Dial(ctx, srv.URL, o)
			if err != nil {
				t.Fatal(err)
			}
			short, cancelShort := context.WithCancel(ctx)
			published := async(func() error {
				return c.Publish(short, mqtt.Message{Topic: "t", QoS: mqtt.QoS1})
			})
			r, err := srv.WaitPacket(ctx, fromClient(wire.PUBLISH))
			if err != nil {
				t.Fatal(err)
			}
			id := r.Packet.(*wire.Publish).PacketID
			conn, err := srv.Conn(ctx, "impatient")
			if err != nil {
				t.Fatal(err)
			}
			if err := conn.WriteRaw([]byte{0x40, 0x02}); err != nil { // PUBACK's fixed header only
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // let the client read it; the test holds either way
			cancelShort()
			if err := <-published; !errors.Is(err, mqtt.ErrOutcomeUnknown) || !errors.Is(err, context.Canceled) {
				t.Fatalf("publish: %v, want ErrOutcomeUnknown and context.Canceled", err)
			}
			if err := conn.WriteRaw([]byte{byte(id >> 8), byte(id)}); err != nil { // the rest
				t.Fatal(err)
			}
			drop.Release()
			if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS2}); err != nil {
				t.Fatalf("publish after giving up: %v", err)
			}
			if err := c.Disconnect(ctx); err != nil {
				t.Fatalf("disconnect: %v, want the first message acknowledged", err)
			}
		})
	}
}

// A client that reads only while it waits learns of a DISCONNECT the server
// sent meanwhile as soon as it calls Done.
func TestDoneWatchesTheConnection(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := mqtt.Dial(ctx, srv.URL, &mqtt.DialOptions{ClientID: "idle", NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}); err != nil {
		t.Fatal(err)
	}
	conn, err := srv.Conn(ctx, "idle")
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Disconnect(wire.AdministrativeAction, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("Done not closed after the server's DISCONNECT")
	}
	var de *mqtt.DisconnectError
	if err := c.Err(); !errors.As(err, &de) || de.ReasonCode != wire.AdministrativeAction {
		t.Fatalf("Err: %v, want the server's DISCONNECT", err)
	}
}

// Publishers that wait at the same time take turns reading, then hand the
// connection to a reading goroutine; every message completes once.
func TestConcurrentPublishersShareTheReading(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := mqtt.Dial(ctx, srv.URL, &mqtt.DialOptions{ClientID: "many"})
	if err != nil {
		t.Fatal(err)
	}
	const publishers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for g := range publishers {
		wg.Go(func() {
			for i := range each {
				m := mqtt.Message{Topic: fmt.Sprintf("t/%d", g), QoS: mqtt.QoS(1 + (g+i)%2)}
				if err := c.Publish(ctx, m); err != nil {
					errs <- fmt.Errorf("publisher %d, message %d: %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := c.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range srv.Packets() {
		if r.Dir == mqtttest.FromClient && r.Packet.Type() == wire.PUBLISH {
			n++
		}
	}
	if n != publishers*each {
		t.Errorf("the server received %d PUBLISH, want %d", n, publishers*each)
	}
}

// The connection fails while the Publish reads: the client reconnects and
// sends the message again (MQTT-4.4.0-1 with KeepSession), and the Publish
// returns when the new connection brings the acknowledgement.
func TestPublisherReadsThroughReconnect(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	first := true
	srv.Inject(func(r mqtttest.Record) bool {
		if r.Dir == mqtttest.FromClient && r.Packet.Type() == wire.PUBLISH && first {
			first = false
			return true
		}
		return false
	}, mqtttest.CloseConn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := mqtt.Dial(ctx, srv.URL, &mqtt.DialOptions{
		ClientID:       "resend",
		KeepSession:    true,
		ReconnectDelay: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1, Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	var dups []bool
	for _, r := range srv.Packets() {
		if p, ok := r.Packet.(*wire.Publish); ok && r.Dir == mqtttest.FromClient {
			dups = append(dups, p.Dup)
		}
	}
	if fmt.Sprint(dups) != "[false true]" {
		t.Errorf("DUP flags of the PUBLISH the server read: %v, want [false true]", dups)
	}
}
