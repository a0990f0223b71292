package mqtt_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// peer is a scripted server on the other end of a net.Pipe: each test says
// packet by packet what the server receives and sends. It runs inside a
// synctest bubble, so "nothing more was sent" can be asserted with
// synctest.Wait instead of sleeps.
type peer struct {
	t    *testing.T
	v    wire.Version
	conn net.Conn
	r    *wire.Reader
}

// dialPeer dials a client whose network connection is a pipe to a peer that
// answers CONNECT with ack. opts may be nil.
func dialPeer(t *testing.T, v wire.Version, ack *wire.Connack, opts *mqtt.DialOptions) (*mqtt.Client, *peer) {
	t.Helper()
	var o mqtt.DialOptions
	if opts != nil {
		o = *opts
	}
	if o.Version == 0 {
		o.Version = mqtt.Version(v)
	}
	o.NoReconnect = true // one connection per peer; reconnect_test.go has more
	conns := make(chan net.Conn, 1)
	o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		a, b := net.Pipe()
		conns <- b
		return a, nil
	}
	var c *mqtt.Client
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err = mqtt.Dial(context.Background(), "mqtt://broker.test", &o)
	}()
	p := &peer{t: t, v: v, conn: <-conns}
	p.r = wire.NewReader(p.conn, 0)
	connect := p.expect(wire.CONNECT).(*wire.Connect)
	if connect.Version != v {
		t.Fatalf("CONNECT for version %v, want %v", connect.Version, v)
	}
	p.send(ack)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); p.conn.Close() })
	return c, p
}

func (p *peer) read() wire.Packet {
	p.t.Helper()
	pkt, err := p.r.ReadPacket(p.v)
	if err != nil {
		p.t.Fatalf("peer: reading: %v", err)
	}
	return pkt
}

func (p *peer) expect(t wire.Type) wire.Packet {
	p.t.Helper()
	pkt := p.read()
	if pkt.Type() != t {
		p.t.Fatalf("peer: got %v %+v, want %v", pkt.Type(), pkt, t)
	}
	return pkt
}

func (p *peer) send(pkts ...wire.Packet) {
	p.t.Helper()
	for _, pkt := range pkts {
		b, err := pkt.Append(nil, p.v)
		if err != nil {
			p.t.Fatalf("peer: encoding %v: %v", pkt.Type(), err)
		}
		if _, err := p.conn.Write(b); err != nil {
			p.t.Fatalf("peer: writing %v: %v", pkt.Type(), err)
		}
	}
}

// subscribe has c subscribe to f, answers the SUBSCRIBE granting the QoS
// asked for, and returns the Subscription with the SUBSCRIBE the peer read.
func (p *peer) subscribe(c *mqtt.Client, f mqtt.Filter) (*mqtt.Subscription, *wire.Subscribe) {
	p.t.Helper()
	res := make(chan *mqtt.Subscription, 1)
	go func() {
		s, err := c.Subscribe(context.Background(), f)
		if err != nil {
			p.t.Error(err)
		}
		res <- s
	}()
	pkt := p.expect(wire.SUBSCRIBE).(*wire.Subscribe)
	p.send(&wire.Suback{PacketID: pkt.PacketID, ReasonCodes: []wire.ReasonCode{wire.ReasonCode(f.QoS)}})
	return <-res, pkt
}

// async runs f in a goroutine and returns a channel with its error.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

var versions = []wire.Version{wire.V31, wire.V311, wire.V5}

// MQTT-2.2.1-3, MQTT-4.3.2-1, MQTT-4.3.2-2, MQTT-4.3.2-3, MQTT-2.2.1-5:
// concurrent QoS 1 publishes get distinct non-zero identifiers, go out with
// DUP 0, and each returns once its own PUBACK arrives, whatever the order.
func TestPublishQoS1(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := persist.NewMemory()
				c, p := dialPeer(t, v, &wire.Connack{}, &mqtt.DialOptions{ClientID: "x", Store: store})
				ctx := context.Background()
				const n = 3
				results := make([]<-chan error, n)
				for i := range n {
					results[i] = async(func() error {
						return c.Publish(ctx, mqtt.Message{Topic: "a/b", QoS: mqtt.QoS1, Payload: []byte{byte(i)}})
					})
				}
				ids := map[uint16]bool{}
				var pubs []*wire.Publish
				for range n {
					pub := p.expect(wire.PUBLISH).(*wire.Publish)
					if pub.PacketID == 0 || ids[pub.PacketID] {
						t.Fatalf("packet identifier %d is zero or in use", pub.PacketID)
					}
					if pub.Dup || pub.QoS != 1 {
						t.Errorf("first transmission has DUP=%v QoS=%d, want DUP=false QoS=1", pub.Dup, pub.QoS)
					}
					ids[pub.PacketID] = true
					pubs = append(pubs, pub)
				}
				synctest.Wait()
				if entries, _ := store.Load(persist.Outgoing); len(entries) != n {
					t.Errorf("store holds %d messages in flight, want %d", len(entries), n)
				}
				for _, r := range results {
					select {
					case err := <-r:
						t.Fatalf("Publish returned %v before its PUBACK", err)
					default:
					}
				}
				// Acknowledge in reverse order.
				for i := n - 1; i >= 0; i-- {
					p.send(&wire.Puback{PacketID: pubs[i].PacketID})
				}
				for _, r := range results {
					if err := <-r; err != nil {
						t.Error(err)
					}
				}
				if entries, _ := store.Load(persist.Outgoing); len(entries) != 0 {
					t.Errorf("store holds %d messages after their PUBACKs, want 0", len(entries))
				}
			})
		})
	}
}

// MQTT-4.3.3-1, MQTT-4.3.3-2, MQTT-4.3.3-3, MQTT-4.3.3-4, MQTT-4.3.3-5,
// MQTT-4.6.0-4: the QoS 2 sender flow: a first PUBLISH of QoS 2 with DUP 0,
// unacknowledged until PUBREC, then PUBREL until PUBCOMP.
func TestPublishQoS2(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := dialPeer(t, v, &wire.Connack{}, &mqtt.DialOptions{ClientID: "x"})
				res := async(func() error {
					return c.Publish(context.Background(), mqtt.Message{Topic: "t", QoS: mqtt.QoS2, Payload: []byte("once")})
				})
				pub := p.expect(wire.PUBLISH).(*wire.Publish)
				if pub.QoS != 2 || pub.Dup || pub.PacketID == 0 {
					t.Fatalf("PUBLISH QoS=%d DUP=%v id=%d", pub.QoS, pub.Dup, pub.PacketID)
				}
				p.send(&wire.Pubrec{PacketID: pub.PacketID})
				rel := p.expect(wire.PUBREL).(*wire.Pubrel)
				if rel.PacketID != pub.PacketID {
					t.Errorf("PUBREL id %d, want %d", rel.PacketID, pub.PacketID)
				}
				synctest.Wait()
				select {
				case err := <-res:
					t.Fatalf("Publish returned %v before PUBCOMP", err)
				default:
				}
				p.send(&wire.Pubcomp{PacketID: pub.PacketID})
				if err := <-res; err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// MQTT-4.4.0-2: a PUBACK or PUBREC with a failure settles the message; the
// caller gets a *ReasonError and no PUBREL follows.
func TestPublishRefused(t *testing.T) {
	for _, qos := range []mqtt.QoS{mqtt.QoS1, mqtt.QoS2} {
		t.Run(qos.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
				res := async(func() error {
					return c.Publish(context.Background(), mqtt.Message{Topic: "secret", QoS: qos})
				})
				pub := p.expect(wire.PUBLISH).(*wire.Publish)
				props := &wire.Properties{ReasonString: "no access to secret"}
				if qos == mqtt.QoS1 {
					p.send(&wire.Puback{PacketID: pub.PacketID, ReasonCode: wire.NotAuthorized, Properties: props})
				} else {
					p.send(&wire.Pubrec{PacketID: pub.PacketID, ReasonCode: wire.NotAuthorized, Properties: props})
				}
				err := <-res
				var re *mqtt.ReasonError
				if !errors.As(err, &re) {
					t.Fatalf("got %v, want *ReasonError", err)
				}
				want := &mqtt.ReasonError{Op: "publish", Topic: "secret", ReasonCode: wire.NotAuthorized, ReasonString: "no access to secret"}
				if diff := cmp.Diff(want, re); diff != "" {
					t.Errorf("(-want +got)\n%s", diff)
				}
				// The next packet is the PINGREQ of an idle connection,
				// not a PUBREL.
				p.expect(wire.PINGREQ)
			})
		})
	}
}

// Cancellation before the PUBLISH was written: not sent, removed from the
// store. After: ErrOutcomeUnknown, and delivery completes in the background.
func TestPublishCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := persist.NewMemory()
		// Receive Maximum 1: a second publish waits for quota.
		c, p := dialPeer(t, wire.V5, &wire.Connack{Properties: &wire.Properties{ReceiveMaximum: 1}}, &mqtt.DialOptions{Store: store})
		first := async(func() error {
			return c.Publish(context.Background(), mqtt.Message{Topic: "t", QoS: mqtt.QoS1, Payload: []byte("1")})
		})
		pub := p.expect(wire.PUBLISH).(*wire.Publish)

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1, Payload: []byte("2")})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, mqtt.ErrOutcomeUnknown) {
			t.Fatalf("publish waiting for quota: got %v, want a not-sent error wrapping context.DeadlineExceeded", err)
		}
		if entries, _ := store.Load(persist.Outgoing); len(entries) != 1 {
			t.Errorf("store holds %d messages, want only the one in flight", len(entries))
		}
		p.send(&wire.Puback{PacketID: pub.PacketID})
		if err := <-first; err != nil {
			t.Fatal(err)
		}

		// Cancelled after the PUBLISH went out.
		ctx, cancel = context.WithCancel(context.Background())
		res := async(func() error { return c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1, Payload: []byte("3")}) })
		pub = p.expect(wire.PUBLISH).(*wire.Publish)
		cancel()
		err = <-res
		if !errors.Is(err, mqtt.ErrOutcomeUnknown) || !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want ErrOutcomeUnknown and context.Canceled", err)
		}
		if entries, _ := store.Load(persist.Outgoing); len(entries) != 1 {
			t.Errorf("store holds %d messages, want the unacknowledged one", len(entries))
		}
		p.send(&wire.Puback{PacketID: pub.PacketID})
		synctest.Wait()
		if entries, _ := store.Load(persist.Outgoing); len(entries) != 0 {
			t.Errorf("store holds %d messages after the late PUBACK, want 0", len(entries))
		}

		// A context that has already ended sends nothing at all.
		err = c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS0})
		if !errors.Is(err, context.Canceled) || errors.Is(err, mqtt.ErrOutcomeUnknown) {
			t.Errorf("publish with an ended context: got %v", err)
		}
	})
}

// MQTT-3.3.4-7, MQTT-4.9.0-1, MQTT-4.9.0-2: at most Receive Maximum QoS>0
// PUBLISH in flight (a quota that starts at it). MQTT-3.3.4-8,
// MQTT-4.9.0-3: while the quota is used up, every other packet goes out
// and every packet from the server is answered: SUBSCRIBE, the PUBREL of
// the client's own QoS 2 message, the acknowledgements of incoming QoS 1
// and QoS 2 messages (PUBACK, PUBREC, PUBCOMP), UNSUBSCRIBE.
func TestReceiveMaximum(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		sent := 0
		opts := &mqtt.DialOptions{OnPacketSent: func(p wire.Packet) {
			if p.Type() == wire.PUBLISH {
				mu.Lock()
				sent++
				mu.Unlock()
			}
		}}
		c, p := dialPeer(t, wire.V5, &wire.Connack{Properties: &wire.Properties{ReceiveMaximum: 2}}, opts)
		ctx := context.Background()
		publish := func(q mqtt.QoS) <-chan error {
			return async(func() error { return c.Publish(ctx, mqtt.Message{Topic: "t", QoS: q}) })
		}
		first := publish(mqtt.QoS1)
		a := p.expect(wire.PUBLISH).(*wire.Publish)
		second := publish(mqtt.QoS2)
		b := p.expect(wire.PUBLISH).(*wire.Publish)
		third := publish(mqtt.QoS1)
		synctest.Wait()
		mu.Lock()
		if sent != 2 {
			t.Errorf("%d PUBLISH sent with a Receive Maximum of 2", sent)
		}
		mu.Unlock()
		// A SUBSCRIBE is not held back by the exhausted quota.
		var s *mqtt.Subscription
		subRes := async(func() (err error) { s, err = c.Subscribe(ctx, mqtt.Filter{Topic: "in", QoS: mqtt.QoS2}); return err })
		sub := p.expect(wire.SUBSCRIBE).(*wire.Subscribe)
		p.send(&wire.Suback{PacketID: sub.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS2}})
		if err := <-subRes; err != nil {
			t.Fatal(err)
		}
		// Nor the PUBREL of the QoS 2 message, which keeps its unit of
		// quota until PUBCOMP.
		p.send(&wire.Pubrec{PacketID: b.PacketID})
		if rel := p.expect(wire.PUBREL).(*wire.Pubrel); rel.PacketID != b.PacketID {
			t.Fatalf("PUBREL %d, want %d", rel.PacketID, b.PacketID)
		}
		// Nor the acknowledgements of incoming messages.
		p.send(&wire.Publish{Topic: "in", QoS: 1, PacketID: 10, Payload: []byte("one")},
			&wire.Publish{Topic: "in", QoS: 2, PacketID: 11, Payload: []byte("two")})
		expectNext(t, s, "one", "two")
		if ack := p.expect(wire.PUBACK).(*wire.Puback); ack.PacketID != 10 {
			t.Errorf("PUBACK %d, want 10", ack.PacketID)
		}
		p.expectPubrec(11)
		p.send(&wire.Pubrel{PacketID: 11})
		if comp := p.expect(wire.PUBCOMP).(*wire.Pubcomp); comp.PacketID != 11 {
			t.Errorf("PUBCOMP %d, want 11", comp.PacketID)
		}
		// Nor an UNSUBSCRIBE.
		unsubRes := async(func() error { return c.Unsubscribe(ctx, "in") })
		unsub := p.expect(wire.UNSUBSCRIBE).(*wire.Unsubscribe)
		p.send(&wire.Unsuback{PacketID: unsub.PacketID, ReasonCodes: []wire.ReasonCode{0}})
		if err := <-unsubRes; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		mu.Lock()
		if sent != 2 {
			t.Errorf("%d PUBLISH sent with a Receive Maximum of 2 and none acknowledged", sent)
		}
		mu.Unlock()
		p.send(&wire.Puback{PacketID: a.PacketID})
		c3 := p.expect(wire.PUBLISH).(*wire.Publish)
		p.send(&wire.Puback{PacketID: c3.PacketID}, &wire.Pubcomp{PacketID: b.PacketID})
		for _, r := range []<-chan error{first, second, third} {
			if err := <-r; err != nil {
				t.Error(err)
			}
		}
	})
}

// MQTT-3.2.2-11, MQTT-3.2.2-14, MQTT-3.2.2-15, MQTT-3.3.2-2, MQTT-4.7.3-1:
// what the server cannot take is refused before anything is sent.
func TestPublishValidation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := false
		q := byte(1)
		var mu sync.Mutex
		var sent []wire.Type
		opts := &mqtt.DialOptions{OnPacketSent: func(p wire.Packet) {
			mu.Lock()
			sent = append(sent, p.Type())
			mu.Unlock()
		}}
		c, _ := dialPeer(t, wire.V5, &wire.Connack{Properties: &wire.Properties{
			MaximumQoS: &q, RetainAvailable: &f, MaximumPacketSize: 100}}, opts)
		ctx := context.Background()
		for _, tc := range []struct {
			name string
			m    mqtt.Message
			is   error
		}{
			{"MQTT-3.2.2-11 QoS above maximum", mqtt.Message{Topic: "t", QoS: mqtt.QoS2}, nil},
			{"MQTT-3.2.2-14 retain unavailable", mqtt.Message{Topic: "t", Retain: true}, nil},
			{"MQTT-3.2.2-15 too large", mqtt.Message{Topic: "t", Payload: make([]byte, 100)}, mqtt.ErrPacketTooLarge},
			{"MQTT-3.3.2-2 wildcard", mqtt.Message{Topic: "a/+"}, wire.ErrProtocol},
			{"MQTT-4.7.3-1 empty topic", mqtt.Message{Topic: ""}, wire.ErrProtocol},
			{"QoS 3", mqtt.Message{Topic: "t", QoS: 3}, nil},
		} {
			err := c.Publish(ctx, tc.m)
			if err == nil {
				t.Errorf("%s: no error", tc.name)
			} else if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%s: got %v, want %v", tc.name, err, tc.is)
			}
		}
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(sent) != 1 { // the CONNECT
			t.Errorf("packets sent: %v, want only CONNECT", sent)
		}
	})
}

// MQTT-4.3.2-4, MQTT-4.6.0-2, MQTT-4.5.0-2: incoming QoS 1 messages are
// acknowledged when Next hands them out, in the order they arrived.
func TestIncomingAckOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V311, &wire.Connack{}, &mqtt.DialOptions{ClientID: "x"})
		ctx := context.Background()
		subscribe := func(topic string) *mqtt.Subscription {
			s, _ := p.subscribe(c, mqtt.Filter{Topic: topic, QoS: mqtt.QoS1})
			return s
		}
		sa, sb := subscribe("a"), subscribe("b")
		p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "a", Payload: []byte("first")},
			&wire.Publish{QoS: 1, PacketID: 2, Topic: "b", Payload: []byte("second")})
		m, err := sb.Next(ctx)
		if err != nil || string(m.Payload) != "second" {
			t.Fatalf("sb.Next = %q, %v", m.Payload, err)
		}
		m, err = sa.Next(ctx)
		if err != nil || string(m.Payload) != "first" {
			t.Fatalf("sa.Next = %q, %v", m.Payload, err)
		}
		for _, want := range []uint16{1, 2} {
			if got := p.expect(wire.PUBACK).(*wire.Puback).PacketID; got != want {
				t.Errorf("PUBACK %d, want %d", got, want)
			}
		}
		// A message no subscription matches is still acknowledged once
		// handed out: it waits for the first matching Subscription.
		p.send(&wire.Publish{QoS: 1, PacketID: 3, Topic: "later", Payload: []byte("held")})
		synctest.Wait()
		sl := subscribe("later")
		if m, err := sl.Next(ctx); err != nil || string(m.Payload) != "held" {
			t.Fatalf("held message: %q, %v", m.Payload, err)
		}
		if got := p.expect(wire.PUBACK).(*wire.Puback).PacketID; got != 3 {
			t.Errorf("PUBACK %d, want 3", got)
		}
	})
}

// MQTT-4.3.3-8, MQTT-4.3.3-10, MQTT-4.3.3-11, MQTT-4.3.3-12, MQTT-4.6.0-3:
// the QoS 2 receiver flow delivers once, repeats PUBREC for a resend and
// completes with PUBCOMP.
func TestIncomingQoS2(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		ctx := context.Background()
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "#", QoS: mqtt.QoS2})
		p.send(&wire.Publish{QoS: 2, PacketID: 5, Topic: "x", Payload: []byte("one")})
		m, err := s.Next(ctx)
		if err != nil || string(m.Payload) != "one" {
			t.Fatalf("Next = %q, %v", m.Payload, err)
		}
		if id := p.expect(wire.PUBREC).(*wire.Pubrec).PacketID; id != 5 {
			t.Fatalf("PUBREC %d", id)
		}
		// The server sends it again before PUBREL: PUBREC again, no
		// second delivery.
		p.send(&wire.Publish{QoS: 2, Dup: true, PacketID: 5, Topic: "x", Payload: []byte("one")})
		if id := p.expect(wire.PUBREC).(*wire.Pubrec).PacketID; id != 5 {
			t.Fatalf("PUBREC %d", id)
		}
		p.send(&wire.Pubrel{PacketID: 5})
		if id := p.expect(wire.PUBCOMP).(*wire.Pubcomp).PacketID; id != 5 {
			t.Fatalf("PUBCOMP %d", id)
		}
		// After PUBCOMP the identifier starts a new message.
		p.send(&wire.Publish{QoS: 2, PacketID: 5, Topic: "x", Payload: []byte("two")})
		m, err = s.Next(ctx)
		if err != nil || string(m.Payload) != "two" {
			t.Fatalf("Next = %q, %v; the resend was delivered twice or the new message lost", m.Payload, err)
		}
		p.expect(wire.PUBREC)
	})
}

// MQTT-3.1.2-20, MQTT-3.1.2-21, MQTT-3.2.2-21: PINGREQ after the keep alive
// (the server's value wins), and a silent server ends the connection.
func TestKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ka := uint16(4)
		start := time.Now()
		c, p := dialPeer(t, wire.V5, &wire.Connack{Properties: &wire.Properties{ServerKeepAlive: &ka}},
			&mqtt.DialOptions{KeepAlive: 60 * time.Second})
		p.expect(wire.PINGREQ)
		// Three quarters of the keep alive, so that a silent server is
		// found out within 1.25 keep alive.
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("PINGREQ after %v, want after 3/4 of the server keep alive of 4s", d)
		}
		p.send(&wire.Pingresp{})
		p.expect(wire.PINGREQ)
		// No PINGRESP this time: the client gives up within 1.5 x keep alive.
		start = time.Now()
		go func() {
			for { // drain whatever else the client writes
				if _, err := p.r.ReadPacket(p.v); err != nil {
					return
				}
			}
		}()
		<-c.Done()
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("dead connection noticed %v after PINGREQ, want half the keep alive", d)
		}
		if !errors.Is(c.Err(), mqtt.ErrClosed) {
			t.Errorf("Err() = %v, want one wrapping ErrClosed", c.Err())
		}
	})
}

// Close ends pending calls with ErrClosed, a Publish waiting for the
// server's Receive Maximum included, and waits for its goroutines.
func TestClosePending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{Properties: &wire.Properties{ReceiveMaximum: 1}}, nil)
		ctx := context.Background()
		pub := async(func() error { return c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}) })
		p.expect(wire.PUBLISH)
		queued := async(func() error { return c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}) })
		synctest.Wait() // waiting for quota
		sub := async(func() error { _, err := c.Subscribe(ctx, mqtt.Filter{Topic: "t"}); return err })
		p.expect(wire.SUBSCRIBE)
		go func() {
			for {
				if _, err := p.r.ReadPacket(p.v); err != nil {
					return
				}
			}
		}()
		c.Close()
		for name, ch := range map[string]<-chan error{"publish": pub, "publish waiting for quota": queued, "subscribe": sub} {
			if err := <-ch; !errors.Is(err, mqtt.ErrClosed) {
				t.Errorf("%s: got %v, want ErrClosed", name, err)
			}
		}
		if err := c.Publish(ctx, mqtt.Message{Topic: "t"}); !errors.Is(err, mqtt.ErrClosed) {
			t.Errorf("publish after Close: %v", err)
		}
		c.Close() // twice is fine
		// synctest.Test fails if a goroutine of the client is left.
	})
}

// A server DISCONNECT ends the client with a *DisconnectError.
func TestServerDisconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		p.send(&wire.Disconnect{ReasonCode: wire.SessionTakenOver, Properties: &wire.Properties{ReasonString: "another client"}})
		<-c.Done()
		var de *mqtt.DisconnectError
		if !errors.As(c.Err(), &de) || de.ReasonCode != wire.SessionTakenOver || de.ReasonString != "another client" {
			t.Errorf("Err() = %v, want *DisconnectError session taken over", c.Err())
		}
	})
}

// A refused filter fails Subscribe with a *ReasonError naming it.
func TestSubscribeRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		res := async(func() error {
			_, err := c.Subscribe(context.Background(), mqtt.Filter{Topic: "ok"}, mqtt.Filter{Topic: "forbidden/#"})
			return err
		})
		s := p.expect(wire.SUBSCRIBE).(*wire.Subscribe)
		p.send(&wire.Suback{PacketID: s.PacketID, ReasonCodes: []wire.ReasonCode{0, wire.NotAuthorized}})
		u := p.expect(wire.UNSUBSCRIBE).(*wire.Unsubscribe)
		if diff := cmp.Diff([]string{"ok"}, u.Topics); diff != "" {
			t.Errorf("granted filters unsubscribed (-want +got)\n%s", diff)
		}
		p.send(&wire.Unsuback{PacketID: u.PacketID, ReasonCodes: []wire.ReasonCode{0}})
		err := <-res
		var re *mqtt.ReasonError
		if !errors.As(err, &re) || re.Topic != "forbidden/#" || re.ReasonCode != wire.NotAuthorized {
			t.Errorf("got %v, want *ReasonError for forbidden/#", err)
		}
	})
}

// MQTT-4.4.0-1, MQTT-3.3.1-1, MQTT-4.6.0-1, v311:MQTT-4.4.0-1,
// v311:MQTT-2.3.1-3: a client started again on a durable store resends what
// an earlier one left unacknowledged: PUBLISH with DUP and PUBREL, with the
// original identifiers and in the original order.
func TestResumeFromStore(t *testing.T) {
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			dir := t.TempDir()
			var firstIDs []uint16
			synctest.Test(t, func(t *testing.T) {
				store, err := persist.Open(dir)
				if err != nil {
					t.Fatal(err)
				}
				defer store.Close()
				opts := &mqtt.DialOptions{ClientID: "resumer", KeepSession: true, Store: store}
				c, p := dialPeer(t, v, &wire.Connack{}, opts)
				for _, m := range []mqtt.Message{
					{Topic: "a", QoS: mqtt.QoS1, Payload: []byte("one")},
					{Topic: "b", QoS: mqtt.QoS2, Payload: []byte("two")},
					{Topic: "c", QoS: mqtt.QoS2, Payload: []byte("three")},
				} {
					ctx, cancel := context.WithCancel(context.Background())
					res := async(func() error { return c.Publish(ctx, m) })
					pub := p.expect(wire.PUBLISH).(*wire.Publish)
					firstIDs = append(firstIDs, pub.PacketID)
					if m.Topic == "c" { // this one gets past PUBREC
						p.send(&wire.Pubrec{PacketID: pub.PacketID})
						p.expect(wire.PUBREL)
					}
					cancel()
					if err := <-res; !errors.Is(err, mqtt.ErrOutcomeUnknown) {
						t.Fatalf("got %v, want ErrOutcomeUnknown", err)
					}
				}
				go func() { // the peer reads on until the end
					for {
						if _, err := p.r.ReadPacket(p.v); err != nil {
							return
						}
					}
				}()
				c.Close()
			})
			synctest.Test(t, func(t *testing.T) {
				store, err := persist.Open(dir)
				if err != nil {
					t.Fatal(err)
				}
				defer store.Close()
				opts := &mqtt.DialOptions{ClientID: "resumer", KeepSession: true, Store: store}
				_, p := dialPeer(t, v, &wire.Connack{SessionPresent: true}, opts)
				for i, want := range []struct {
					typ   wire.Type
					topic string
				}{{wire.PUBLISH, "a"}, {wire.PUBLISH, "b"}, {wire.PUBREL, ""}} {
					pkt := p.read()
					if pkt.Type() != want.typ {
						t.Fatalf("resend %d: got %v, want %v", i, pkt.Type(), want.typ)
					}
					switch pkt := pkt.(type) {
					case *wire.Publish:
						if !pkt.Dup || pkt.Topic != want.topic || pkt.PacketID != firstIDs[i] {
							t.Errorf("resend %d: DUP=%v topic %q id %d, want DUP topic %q id %d", i, pkt.Dup, pkt.Topic, pkt.PacketID, want.topic, firstIDs[i])
						}
					case *wire.Pubrel:
						if pkt.PacketID != firstIDs[i] {
							t.Errorf("PUBREL id %d, want %d", pkt.PacketID, firstIDs[i])
						}
					}
				}
				// Complete every flow.
				p.send(&wire.Puback{PacketID: firstIDs[0]}, &wire.Pubrec{PacketID: firstIDs[1]},
					&wire.Pubcomp{PacketID: firstIDs[2]})
				if rel := p.expect(wire.PUBREL).(*wire.Pubrel); rel.PacketID != firstIDs[1] {
					t.Errorf("PUBREL id %d, want %d", rel.PacketID, firstIDs[1])
				}
				p.send(&wire.Pubcomp{PacketID: firstIDs[1]})
				synctest.Wait()
				if entries, _ := store.Load(persist.Outgoing); len(entries) != 0 {
					t.Errorf("%d messages left in the store after every acknowledgement", len(entries))
				}
			})
		})
	}
}

// The client accepts every topic alias from 1 up to the Topic Alias Maximum
// it sent (MQTT-3.3.2-10): a PUBLISH with a topic sets the alias, one with
// the alias alone is delivered with that topic. An alias above the maximum
// closes the connection with DISCONNECT 0x94.
func TestServerTopicAliases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, &mqtt.DialOptions{TopicAliasMaximum: 3})
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "#"})
		for _, alias := range []uint16{1, 3} {
			topic := fmt.Sprintf("long/topic/%d", alias)
			p.send(&wire.Publish{Topic: topic, Payload: []byte("set"), Properties: &wire.Properties{TopicAlias: alias}},
				&wire.Publish{Payload: []byte("used"), Properties: &wire.Properties{TopicAlias: alias}})
			for _, want := range []string{"set", "used"} {
				m, err := s.Next(context.Background())
				if err != nil || m.Topic != topic || string(m.Payload) != want {
					t.Errorf("alias %d: got %q %q (%v), want %q %q", alias, m.Topic, m.Payload, err, topic, want)
				}
			}
		}
		p.send(&wire.Publish{Topic: "x", Properties: &wire.Properties{TopicAlias: 4}})
		if d := p.expect(wire.DISCONNECT).(*wire.Disconnect); d.ReasonCode != wire.TopicAliasInvalid {
			t.Errorf("DISCONNECT %v, want topic alias invalid", d.ReasonCode)
		}
		<-c.Done()
	})
}

// MQTT-4.3.2-5: once the client has sent PUBACK, the same packet identifier
// starts a new QoS 1 message, whatever its DUP flag says: it is delivered.
func TestIncomingQoS1IdentifierReused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS1})
		for i, payload := range []string{"first", "second"} {
			p.send(&wire.Publish{Topic: "t", QoS: 1, PacketID: 9, Dup: i > 0, Payload: []byte(payload)})
			m, err := s.Next(context.Background())
			if err != nil || string(m.Payload) != payload {
				t.Fatalf("message %d: %q, %v; want %q", i, m.Payload, err, payload)
			}
			if ack := p.expect(wire.PUBACK).(*wire.Puback); ack.PacketID != 9 {
				t.Errorf("PUBACK for %d, want 9", ack.PacketID)
			}
		}
	})
}

// MQTT-3.4.2-2, MQTT-3.4.2-3, MQTT-3.5.2-2, MQTT-3.5.2-3, MQTT-3.6.2-2,
// MQTT-3.6.2-3, MQTT-3.7.2-2, MQTT-3.7.2-3, MQTT-3.14.2-3, MQTT-3.14.2-4: an
// acknowledgement or DISCONNECT carries a Reason String or User Property
// only when it still fits the server's Maximum Packet Size. The client adds
// neither, so its PUBACK, PUBREC, PUBREL, PUBCOMP and DISCONNECT fit even a
// tiny limit.
func TestAcknowledgementsFitTheServersLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit = 16
		c, p := dialPeer(t, wire.V5, &wire.Connack{Properties: &wire.Properties{MaximumPacketSize: limit}}, nil)
		check := func(pkt wire.Packet) {
			t.Helper()
			var props *wire.Properties
			switch q := pkt.(type) {
			case *wire.Puback:
				props = q.Properties
			case *wire.Pubrec:
				props = q.Properties
			case *wire.Pubrel:
				props = q.Properties
			case *wire.Pubcomp:
				props = q.Properties
			case *wire.Disconnect:
				props = q.Properties
			}
			if props != nil && (props.ReasonString != "" || len(props.UserProperties) > 0) {
				t.Errorf("%v with a reason string or user properties: %+v", pkt.Type(), props)
			}
			if b, err := pkt.Append(nil, wire.V5); err != nil || len(b) > limit {
				t.Errorf("%v of %d bytes (%v), over the server's limit of %d", pkt.Type(), len(b), err, limit)
			}
		}
		ctx := context.Background()
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS2})

		p.send(&wire.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("a")})
		if _, err := s.Next(ctx); err != nil {
			t.Fatal(err)
		}
		check(p.expect(wire.PUBACK))
		p.send(&wire.Publish{Topic: "t", QoS: 2, PacketID: 2, Payload: []byte("b")})
		if _, err := s.Next(ctx); err != nil {
			t.Fatal(err)
		}
		check(p.expect(wire.PUBREC))
		p.send(&wire.Pubrel{PacketID: 2})
		check(p.expect(wire.PUBCOMP))

		published := async(func() error { return c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS2, Payload: []byte("c")}) })
		id := p.expect(wire.PUBLISH).(*wire.Publish).PacketID
		p.send(&wire.Pubrec{PacketID: id})
		check(p.expect(wire.PUBREL))
		p.send(&wire.Pubcomp{PacketID: id})
		if err := <-published; err != nil {
			t.Fatal(err)
		}

		disconnected := async(func() error { return c.Disconnect(ctx) })
		check(p.expect(wire.DISCONNECT))
		if err := <-disconnected; err != nil {
			t.Fatal(err)
		}
	})
}

// Message expiry never cuts a QoS 2 flow short. As sender (MQTT-4.3.3-7):
// once the PUBLISH has gone out, a PUBREC that comes after the message's
// lifetime is answered with PUBREL. As receiver (MQTT-4.3.3-13): a message
// whose lifetime ends before the application takes it is still delivered
// and its handshake completed.
func TestQoS2IgnoresExpiryOnceStarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		ctx := context.Background()
		published := async(func() error {
			return c.Publish(ctx, mqtt.Message{Topic: "out", QoS: mqtt.QoS2, MessageExpiry: time.Second})
		})
		id := p.expect(wire.PUBLISH).(*wire.Publish).PacketID
		time.Sleep(5 * time.Second) // the message's lifetime is over
		p.send(&wire.Pubrec{PacketID: id})
		if rel := p.expect(wire.PUBREL).(*wire.Pubrel); rel.PacketID != id {
			t.Fatalf("PUBREL for %d, want %d", rel.PacketID, id)
		}
		p.send(&wire.Pubcomp{PacketID: id})
		if err := <-published; err != nil {
			t.Fatalf("publish: %v", err)
		}

		s, _ := p.subscribe(c, mqtt.Filter{Topic: "in", QoS: mqtt.QoS2})
		one := uint32(1)
		p.send(&wire.Publish{Topic: "in", QoS: 2, PacketID: 7, Payload: []byte("late"),
			Properties: &wire.Properties{MessageExpiry: &one}})
		synctest.Wait()
		time.Sleep(5 * time.Second)
		m, err := s.Next(ctx)
		if err != nil || string(m.Payload) != "late" {
			t.Fatalf("Next: %q, %v; want the message whose lifetime ended", m.Payload, err)
		}
		if rec := p.expect(wire.PUBREC).(*wire.Pubrec); rec.PacketID != 7 || rec.ReasonCode.IsError() {
			t.Fatalf("PUBREC %+v, want a success for 7", rec)
		}
		p.send(&wire.Pubrel{PacketID: 7})
		if comp := p.expect(wire.PUBCOMP).(*wire.Pubcomp); comp.PacketID != 7 {
			t.Fatalf("PUBCOMP for %d, want 7", comp.PacketID)
		}
	})
}

// failingDeletes is a Store whose Delete fails: the client cannot record
// that a message was acknowledged.
type failingDeletes struct{ persist.Store }

func (failingDeletes) Delete(persist.Direction, uint16) error {
	return errors.New("disk full")
}

// v311:MQTT-4.8.0-2: an error while processing a packet from the server
// (here the Store refusing to record a PUBACK) closes the connection. The
// message stays in flight: the client cannot tell whether it was
// delivered, and says so.
func TestStoreErrorClosesConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V311, &wire.Connack{}, &mqtt.DialOptions{Store: failingDeletes{persist.NewMemory()}})
		published := async(func() error {
			return c.Publish(context.Background(), mqtt.Message{Topic: "t", QoS: mqtt.QoS1})
		})
		id := p.expect(wire.PUBLISH).(*wire.Publish).PacketID
		p.send(&wire.Puback{PacketID: id})
		if pkt, err := p.r.ReadPacket(p.v); err == nil {
			t.Fatalf("the client sent %v; want the connection closed", pkt.Type())
		}
		err := <-published
		if !errors.Is(err, mqtt.ErrOutcomeUnknown) || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("publish: %v, want ErrOutcomeUnknown naming the Store's error", err)
		}
	})
}

// Close ends a Publish that waits for room in the writer's buffer, which a
// server that does not read has filled.
func TestCloseWhileBufferFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		_ = p // never reads again
		ctx := context.Background()
		big := make([]byte, 256<<10)
		blocked := async(func() error {
			for {
				if err := c.Publish(ctx, mqtt.Message{Topic: "t", Payload: big}); err != nil {
					return err
				}
			}
		})
		synctest.Wait() // the buffer is full: Publish waits for room
		c.Close()
		if err := <-blocked; !errors.Is(err, mqtt.ErrClosed) {
			t.Fatalf("publish: %v, want ErrClosed", err)
		}
	})
}

// Disconnect waits for the messages in flight before it sends DISCONNECT
// (MQTT-3.14.4-1: nothing after it); when its ctx ends first it disconnects
// anyway and says what it left.
func TestDisconnectDrains(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		ctx := context.Background()
		published := async(func() error { return c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}) })
		id := p.expect(wire.PUBLISH).(*wire.Publish).PacketID
		disconnected := async(func() error { return c.Disconnect(ctx) })
		synctest.Wait()
		select {
		case err := <-disconnected:
			t.Fatalf("Disconnect returned %v with a message in flight", err)
		default:
		}
		p.send(&wire.Puback{PacketID: id})
		p.expect(wire.DISCONNECT)
		if err := <-published; err != nil {
			t.Errorf("publish: %v", err)
		}
		if err := <-disconnected; err != nil {
			t.Errorf("disconnect: %v", err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		published := async(func() error { return c.Publish(context.Background(), mqtt.Message{Topic: "t", QoS: mqtt.QoS1}) })
		p.expect(wire.PUBLISH) // never acknowledged
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		disconnected := async(func() error { return c.Disconnect(ctx) })
		p.expect(wire.DISCONNECT)
		if err := <-disconnected; !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "in flight") {
			t.Errorf("disconnect: %v, want an error naming the messages in flight and the deadline", err)
		}
		if err := <-published; !errors.Is(err, mqtt.ErrOutcomeUnknown) {
			t.Errorf("publish: %v, want ErrOutcomeUnknown", err)
		}
	})
}

// Message properties on a 3.1.1 connection are refused before anything is
// sent, rather than dropped without a word.
func TestPublishPropertiesNeedV5(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := dialPeer(t, wire.V311, &wire.Connack{}, nil)
		ctx := context.Background()
		for _, m := range []mqtt.Message{
			{Topic: "t", ContentType: "text/plain"},
			{Topic: "t", QoS: mqtt.QoS1, MessageExpiry: time.Minute},
			{Topic: "t", QoS: mqtt.QoS2, UserProperties: []mqtt.UserProperty{{Key: "k", Value: "v"}}},
		} {
			if err := c.Publish(ctx, m); err == nil || !strings.Contains(err.Error(), "need MQTT 5.0") {
				t.Errorf("publish %+v over 3.1.1: %v, want a refusal naming MQTT 5.0", m, err)
			}
		}
		// Nothing was sent: a PUBLISH would block on the silent peer and
		// the loop above would never have ended.
	})
}

// MQTT-4.3.3-9: a QoS 2 receiver that refused a message with a PUBREC of
// 0x80 or above takes the next PUBLISH with that packet identifier for a
// new message. The client refuses none, not even a message it drops (here,
// one that matches no Subscription and finds no room among the messages
// held for one): it answers with a successful PUBREC, after which a PUBLISH
// with that identifier is a resend until PUBREL (MQTT-4.3.3-10). The test
// holds either way, so that a client that took to refusing what it drops
// (PUBREC 0x97, say) must also forget the identifier.
func TestDroppedQoS2Identifier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, &mqtt.DialOptions{MaxQueuedBytes: 1})
		p.send(&wire.Publish{Topic: "t", QoS: 2, PacketID: 1, Payload: []byte("held")},
			&wire.Publish{Topic: "t", QoS: 2, PacketID: 2, Payload: []byte("dropped")})
		p.expectPubrec(1) // held; acknowledged once the one behind it is due
		rec := p.expect(wire.PUBREC).(*wire.Pubrec)
		if rec.PacketID != 2 {
			t.Fatalf("PUBREC %d, want 2", rec.PacketID)
		}
		if n := c.Dropped(); n != 1 {
			t.Fatalf("Dropped() = %d, want 1", n)
		}
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS2})
		expectSoon(t, s, "held")
		p.send(&wire.Publish{Topic: "t", QoS: 2, PacketID: 2, Payload: []byte("new")})
		if rec.ReasonCode.IsError() {
			// Refused: 2 starts a new message.
			expectSoon(t, s, "new")
			p.expectPubrec(2)
			return
		}
		// Accepted: a resend until PUBREL, answered and not delivered.
		p.expectPubrec(2)
		expectNone(t, s)
		p.send(&wire.Pubrel{PacketID: 2})
		if comp := p.expect(wire.PUBCOMP).(*wire.Pubcomp); comp.PacketID != 2 || comp.ReasonCode.IsError() {
			t.Fatalf("PUBCOMP %d %v, want a success for 2", comp.PacketID, comp.ReasonCode)
		}
		p.send(&wire.Publish{Topic: "t", QoS: 2, PacketID: 2, Payload: []byte("newer")})
		expectSoon(t, s, "newer")
		p.expectPubrec(2)
	})
}
