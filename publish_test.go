package mqtt_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
	"github.com/google/go-cmp/cmp"
)

// sentRecorder is an OnPacketSent hook that keeps the types sent.
type sentRecorder struct {
	mu   sync.Mutex
	sent []wire.Type
}

func (r *sentRecorder) record(p wire.Packet) {
	r.mu.Lock()
	r.sent = append(r.sent, p.Type())
	r.mu.Unlock()
}

func (r *sentRecorder) types() []wire.Type {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wire.Type(nil), r.sent...)
}

// A negative MessageExpiry is a mistake, not "never expires" (that is 0):
// Publish refuses it before anything is sent, at every QoS.
func TestPublishNegativeMessageExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec sentRecorder
		c, _ := dialPeer(t, wire.V5, &wire.Connack{}, &mqtt.DialOptions{OnPacketSent: rec.record})
		for q := mqtt.QoS0; q <= mqtt.QoS2; q++ {
			err := c.Publish(context.Background(), mqtt.Message{Topic: "t", QoS: q, MessageExpiry: -time.Second})
			if err == nil || !strings.Contains(err.Error(), "MessageExpiry") || !strings.HasPrefix(err.Error(), "mqtt: ") {
				t.Errorf("%v: Publish: %v, want a refusal naming MessageExpiry", q, err)
			}
		}
		synctest.Wait()
		if sent := rec.types(); len(sent) != 1 {
			t.Errorf("packets sent: %v, want only CONNECT", sent)
		}
	})
}

// A PUBLISH over the protocol's limit (a Remaining Length of at most
// 268,435,455 bytes, section 2.1.4) is ErrPacketTooLarge, as one over the
// server's Maximum Packet Size is (MQTT-3.2.2-15), even when the server set
// none; nothing is sent and nothing stays in the Store.
func TestPublishOverProtocolLimit(t *testing.T) {
	payload := make([]byte, 256<<20+1) // over the limit with any header; never written to, so hardly resident
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var rec sentRecorder
				store := persist.NewMemory()
				c, _ := dialPeer(t, v, &wire.Connack{}, &mqtt.DialOptions{OnPacketSent: rec.record, Store: store})
				for q := mqtt.QoS0; q <= mqtt.QoS2; q++ {
					err := c.Publish(context.Background(), mqtt.Message{Topic: "t", QoS: q, Payload: payload})
					if !errors.Is(err, mqtt.ErrPacketTooLarge) || !strings.HasPrefix(err.Error(), "mqtt: ") || strings.Contains(err.Error(), "mqtt: mqtt: ") {
						t.Errorf("%v: Publish: %v, want ErrPacketTooLarge", q, err)
					}
				}
				synctest.Wait()
				if sent := rec.types(); len(sent) != 1 {
					t.Errorf("packets sent: %v, want only CONNECT", sent)
				}
				if entries, _ := store.Load(persist.Outgoing); len(entries) != 0 {
					t.Errorf("the store holds %d messages", len(entries))
				}
			})
		})
	}
}

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
