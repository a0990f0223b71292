package mqtt_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/internal/testcert"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// The tests in this file cover a client that only publishes at QoS 1 and 2,
// one message at a time: while it keeps publishing it has no reading
// goroutine, and the Publish that waits reads its own answer
// (connection.readFor; "Who reads the connection" in connection.go). They
// run over TCP and TLS, the connections whose reads can be interrupted; the
// scripted peers over pipes always have a reading goroutine.

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
			ctx := testCtx(t)
			c := dialT(t, srv.URL, o)
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
// goes on. The caller gave up, the session did not (MQTT-4.1.0-1: no
// session state is thrown away while the connection is open).
func TestPublisherGivesUpWhileReading(t *testing.T) {
	t.Parallel()
	for name, start := range servers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, o := start()
			o.ClientID = "impatient"
			o.NoReconnect = true // a lost connection would fail the test, not hide
			store := persist.NewMemory()
			o.Store = store
			drop := srv.Inject(func(r mqtttest.Record) bool {
				return r.Dir == mqtttest.ToClient && r.Packet.Type() == wire.PUBACK
			}, mqtttest.Drop)
			ctx := testCtx(t)
			c := dialT(t, srv.URL, o)
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
			if entries, _ := store.Load(persist.Outgoing); len(entries) != 1 || entries[0].ID != id {
				t.Fatalf("the Store holds %v after the caller gave up, want message %d, in flight", entries, id)
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
			if entries, _ := store.Load(persist.Outgoing); len(entries) != 0 {
				t.Errorf("the Store holds %v after the PUBACK, want nothing", entries)
			}
		})
	}
}

// A client that has only published, one message at a time, and calls
// nothing since, knows promptly that the server ended the connection:
// Connected turns false and, with NoReconnect, Done closes, without a
// call to Done or any other to make it look. Both ways a server ends it:
// DISCONNECT (MQTT 5.0), and closing the connection.
func TestLonePublisherSeesTheServerEndIt(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"disconnect", "close"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			srv := mqtttest.NewServer()
			t.Cleanup(srv.Close)
			ctx := testCtx(t)
			c := dialT(t, srv.URL, &mqtt.DialOptions{ClientID: "idle", NoReconnect: true})
			for range 3 {
				if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}); err != nil {
					t.Fatal(err)
				}
			}
			conn, err := srv.Conn(ctx, "idle")
			if err != nil {
				t.Fatal(err)
			}
			ended := time.Now()
			if how == "disconnect" {
				if err := conn.Disconnect(wire.AdministrativeAction, nil); err != nil {
					t.Fatal(err)
				}
			} else {
				conn.Close()
			}
			for c.Connected() {
				if time.Since(ended) > time.Second {
					t.Fatal("Connected still true a second after the server ended the connection")
				}
				time.Sleep(time.Millisecond)
			}
			t.Logf("Connected false %v after the server ended the connection", time.Since(ended))
			if s := c.State(); s != mqtt.StateClosed {
				t.Errorf("State: %v, want closed (NoReconnect)", s)
			}
			select {
			case <-c.Done():
			case <-ctx.Done():
				t.Fatal("Done not closed after the server ended the connection")
			}
			var de *mqtt.DisconnectError
			if how == "disconnect" && (!errors.As(c.Err(), &de) || de.ReasonCode != wire.AdministrativeAction) {
				t.Fatalf("Err: %v, want the server's DISCONNECT", c.Err())
			}
			if how == "close" && !errors.Is(c.Err(), mqtt.ErrClosed) {
				t.Fatalf("Err: %v, want ErrClosed and the loss", c.Err())
			}
		})
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
	c := dialT(t, srv.URL, &mqtt.DialOptions{ClientID: "many"})
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
	ctx := testCtx(t)
	c := dialT(t, srv.URL, &mqtt.DialOptions{
		ClientID:       "resend",
		KeepSession:    true,
		ReconnectDelay: 10 * time.Millisecond,
	})
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

// splitConn is a server's network connection whose next write can be cut:
// after cut, only the first n bytes of the next write go out, the rest when
// released.
type splitConn struct {
	net.Conn
	mu   sync.Mutex
	n    int
	rest []byte
}

func (s *splitConn) cut(n int) { s.mu.Lock(); s.n = n; s.mu.Unlock() }

func (s *splitConn) Write(b []byte) (int, error) {
	whole := len(b)
	s.mu.Lock()
	n := s.n
	s.n = 0
	if n > 0 && n < len(b) {
		s.rest = append([]byte(nil), b[n:]...)
		b = b[:n]
	}
	s.mu.Unlock()
	if _, err := s.Conn.Write(b); err != nil {
		return 0, err
	}
	return whole, nil
}

func (s *splitConn) release() error {
	s.mu.Lock()
	rest := s.rest
	s.rest = nil
	s.mu.Unlock()
	_, err := s.Conn.Write(rest)
	return err
}

// A Publish over TLS that gives up while it reads, in the middle of a TLS
// record: the connection goes on, and the record's rest completes the
// message (crypto/tls keeps a partly read record after a read timeout).
func TestPublisherGivesUpInsideTLSRecord(t *testing.T) {
	t.Parallel()
	certs, err := testcert.New()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type server struct {
		split *splitConn
		tls   *tls.Conn
		r     *wire.Reader
	}
	accepted := make(chan server, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			t.Error(err)
			close(accepted)
			return
		}
		split := &splitConn{Conn: raw}
		conn := tls.Server(split, certs.ServerTLSConfig())
		r := wire.NewReader(conn, 0)
		if p, err := r.ReadPacket(wire.V5); err != nil || p.Type() != wire.CONNECT {
			t.Errorf("server: %v, %v; want CONNECT", p, err)
		}
		b, _ := (&wire.Connack{}).Append(nil, wire.V5)
		conn.Write(b)
		accepted <- server{split, conn, r}
	}()
	ctx := testCtx(t)
	c := dialT(t, "mqtts://"+ln.Addr().String(), &mqtt.DialOptions{
		TLSConfig: certs.ClientTLSConfig(false), NoReconnect: true,
	})
	srv, ok := <-accepted
	if !ok {
		t.FailNow()
	}
	defer srv.tls.Close()

	short, cancelShort := context.WithCancel(ctx)
	published := async(func() error { return c.Publish(short, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}) })
	p, err := srv.r.ReadPacket(wire.V5)
	if err != nil {
		t.Fatal(err)
	}
	srv.split.cut(8) // the record's header and three bytes of it
	b, _ := (&wire.Puback{PacketID: p.(*wire.Publish).PacketID}).Append(nil, wire.V5)
	if _, err := srv.tls.Write(b); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // let the client read the part; the test holds either way
	cancelShort()
	if err := <-published; !errors.Is(err, mqtt.ErrOutcomeUnknown) {
		t.Fatalf("publish: %v, want ErrOutcomeUnknown", err)
	}
	if err := srv.split.release(); err != nil {
		t.Fatal(err)
	}
	go func() { // DISCONNECT
		srv.r.ReadPacket(wire.V5)
	}()
	if err := c.Disconnect(ctx); err != nil {
		t.Fatalf("disconnect: %v, want the message acknowledged by the record's rest", err)
	}
}

// MQTT-4.6.0-2: PUBACKs leave in the order the messages arrived, even when
// several goroutines take the messages with Next at once.
func TestConcurrentNextAcknowledgesInOrder(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := dialT(t, srv.URL, &mqtt.DialOptions{ClientID: "readers"})
	s, err := c.Subscribe(ctx, mqtt.Filter{Topic: "in", QoS: mqtt.QoS1})
	if err != nil {
		t.Fatal(err)
	}
	const n, readers = 2000, 4
	go func() {
		for range n {
			if err := srv.Publish(&wire.Publish{Topic: "in", QoS: 1, Payload: []byte("x")}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var wg sync.WaitGroup
	var got sync.Mutex
	taken := 0
	for range readers {
		wg.Go(func() {
			for {
				got.Lock()
				if taken == n {
					got.Unlock()
					return
				}
				taken++
				got.Unlock()
				if _, err := s.Next(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	acks := 0
	if _, err := srv.WaitPacket(ctx, func(r mqtttest.Record) bool {
		if r.Dir == mqtttest.FromClient && r.Packet.Type() == wire.PUBACK {
			acks++
		}
		return acks == n
	}); err != nil {
		t.Fatalf("waiting for %d PUBACKs: %v", n, err)
	}
	var sent, acked []uint16
	for _, r := range srv.Packets() {
		switch p := r.Packet.(type) {
		case *wire.Publish:
			if r.Dir == mqtttest.ToClient {
				sent = append(sent, p.PacketID)
			}
		case *wire.Puback:
			if r.Dir == mqtttest.FromClient {
				acked = append(acked, p.PacketID)
			}
		}
	}
	for i := range min(len(sent), len(acked)) {
		if sent[i] != acked[i] {
			t.Fatalf("PUBACK %d is for %d, but message %d was %d", i, acked[i], i, sent[i])
		}
	}
}

// A lone publisher that falls quiet still keeps its connection alive: it
// pings, and reads the PINGRESP. When the server goes silent (no answer, no
// FIN: a half-open connection), Connected turns false within 1.5 times the
// keep alive of the last packet received, the time the server allows
// itself (MQTT-3.1.2-24), and with NoReconnect the client ends
// (MQTT-3.1.2-20).
func TestPublisherKeepAlive(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const keepAlive = time.Second
	c := dialT(t, srv.URL, &mqtt.DialOptions{ClientID: "quiet", KeepAlive: keepAlive, NoReconnect: true})
	if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}); err != nil {
		t.Fatal(err)
	}
	conn, err := srv.Conn(ctx, "quiet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WaitPacket(ctx, func(r mqtttest.Record) bool {
		return r.Dir == mqtttest.ToClient && r.Packet.Type() == wire.PINGRESP
	}); err != nil {
		t.Fatal(err)
	}
	// The PINGRESP is the last packet the client receives: it sends
	// nothing before its next ping, which the paused server leaves
	// unanswered.
	silent := time.Now()
	conn.Pause()
	for c.Connected() {
		if time.Since(silent) > 3*keepAlive {
			t.Fatal("Connected still true three keep alives after the server went silent")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if took := time.Since(silent); took > keepAlive*3/2 {
		t.Errorf("Connected turned false %v after the server went silent, want at most 1.5 × keep alive (%v)", took, keepAlive*3/2)
	} else {
		t.Logf("Connected false %v after the server went silent (keep alive %v)", took, keepAlive)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the client did not end after a silent server")
	}
	if err := c.Err(); !errors.Is(err, mqtt.ErrClosed) || !strings.Contains(err.Error(), "PINGRESP") {
		t.Fatalf("Err: %v, want the missing PINGRESP", err)
	}
}
