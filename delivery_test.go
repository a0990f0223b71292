package mqtt_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/internal/mosquitto"
	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// acks returns, once the bubble is idle, the acknowledgements the client
// sent since the last call, with their reason code when it is not 0.
func (r *recorder) acks() []string {
	synctest.Wait()
	got := []string{}
	for {
		select {
		case pkt, ok := <-r.ch:
			if !ok {
				return got
			}
			var code wire.ReasonCode
			switch p := pkt.(type) {
			case *wire.Puback:
				code = p.ReasonCode
			case *wire.Pubrec:
				code = p.ReasonCode
			case *wire.Pubcomp:
				code = p.ReasonCode
			}
			s := describe(pkt)
			if code != 0 {
				s += " " + code.String()
			}
			got = append(got, s)
		default:
			return got
		}
	}
}

// take takes the next message of s with NextDelivery and checks its payload.
func take(t *testing.T, s *mqtt.Subscription, payload string) *mqtt.Delivery {
	t.Helper()
	d, err := s.NextDelivery(context.Background())
	if err != nil || string(d.Payload) != payload {
		t.Fatalf("NextDelivery = %+v, %v; want %q", d, err, payload)
	}
	return d
}

// MQTT-4.3.2-4, MQTT-4.3.3-8, MQTT-3.4.2-1, MQTT-3.5.2-1, MQTT-4.3.3-9: a
// message refused with Delivery.Refuse is answered with a PUBACK or PUBREC
// carrying the reason code. A refused QoS 2 message ends its flow: it is not
// stored as received, its identifier starts a new message at once, and
// neither counts against the client's Receive Maximum any more
// (MQTT-3.3.4-9: with a maximum of 2, two more messages are no excess).
func TestDeliveryRefuse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := persist.NewMemory()
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, &mqtt.DialOptions{Store: store, ReceiveMaximum: 2})
		r := p.record()
		s := r.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS2})
		p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "t", Payload: []byte("one")},
			&wire.Publish{QoS: 2, PacketID: 2, Topic: "t", Payload: []byte("two")})
		one, two := take(t, s, "one"), take(t, s, "two")
		if got := r.acks(); len(got) != 0 {
			t.Fatalf("acknowledged before the application settled anything: %v", got)
		}
		if err := one.Refuse(wire.NotAuthorized); err != nil {
			t.Fatal(err)
		}
		if err := two.Refuse(wire.QuotaExceeded); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"PUBACK 1 not authorized", "PUBREC 2 quota exceeded"}, r.acks()); diff != "" {
			t.Fatalf("refusals (-want +got):\n%s", diff)
		}
		if entries, _ := store.Load(persist.Incoming); len(entries) != 0 {
			t.Errorf("the refused QoS 2 message is stored as received: %v", entries)
		}

		p.send(&wire.Publish{QoS: 2, PacketID: 3, Topic: "t", Payload: []byte("three")},
			&wire.Publish{QoS: 2, PacketID: 4, Topic: "t", Payload: []byte("four")})
		if got := r.acks(); len(got) != 0 || c.Err() != nil {
			t.Fatalf("with the refused messages answered, two more are within the Receive Maximum of 2: sent %v, %v", got, c.Err())
		}
		for _, want := range []string{"three", "four"} {
			if err := take(t, s, want).Accept(); err != nil {
				t.Fatal(err)
			}
		}
		if diff := cmp.Diff([]string{"PUBREC 3", "PUBREC 4"}, r.acks()); diff != "" {
			t.Fatalf("acceptances (-want +got):\n%s", diff)
		}
		if entries, _ := store.Load(persist.Incoming); len(entries) != 2 {
			t.Errorf("store holds %d received QoS 2 messages, want 2", len(entries))
		}
		p.send(&wire.Pubrel{PacketID: 3}, &wire.Pubrel{PacketID: 4})
		if diff := cmp.Diff([]string{"PUBCOMP 3", "PUBCOMP 4"}, r.acks()); diff != "" {
			t.Errorf("completions (-want +got):\n%s", diff)
		}

		// The refused identifier starts a new message, delivered.
		p.send(&wire.Publish{QoS: 2, PacketID: 2, Topic: "t", Payload: []byte("two again")})
		if err := take(t, s, "two again").Accept(); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"PUBREC 2"}, r.acks()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// MQTT-4.6.0-2, MQTT-4.6.0-3: acknowledgements leave in the order the
// messages arrived, whether Next handed them out or the application
// settled them, across Subscriptions: one settled early waits for the ones
// before it.
func TestDeliveryAckOrder(t *testing.T) {
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := dialPeer(t, v, &wire.Connack{}, nil)
				r := p.record()
				manual := r.subscribe(c, mqtt.Filter{Topic: "m", QoS: mqtt.QoS2})
				auto := r.subscribe(c, mqtt.Filter{Topic: "a", QoS: mqtt.QoS1})
				p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "m", Payload: []byte("1")},
					&wire.Publish{QoS: 1, PacketID: 2, Topic: "a", Payload: []byte("2")},
					&wire.Publish{QoS: 2, PacketID: 3, Topic: "m", Payload: []byte("3")},
					&wire.Publish{QoS: 1, PacketID: 4, Topic: "m", Payload: []byte("4")})
				d1 := take(t, manual, "1")
				expectNext(t, auto, "2")
				d3, d4 := take(t, manual, "3"), take(t, manual, "4")
				refuse := d3.Accept
				want3 := "PUBREC 3"
				if v == wire.V5 {
					refuse = func() error { return d3.Refuse(wire.ImplementationSpecificError) }
					want3 += " implementation specific error"
				}
				if err := d4.Accept(); err != nil {
					t.Fatal(err)
				}
				if err := refuse(); err != nil {
					t.Fatal(err)
				}
				if got := r.acks(); len(got) != 0 {
					t.Fatalf("sent %v before the first message was settled", got)
				}
				if err := d1.Accept(); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff([]string{"PUBACK 1", "PUBACK 2", want3, "PUBACK 4"}, r.acks()); diff != "" {
					t.Errorf("acknowledgements (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// A message the application never settles does not hold back the
// acknowledgements behind it for ever: after DialOptions.AckTimeout the
// client refuses it with 0x80 (v5) or acknowledges it (3.1.1), and those
// behind it leave in order (MQTT-4.6.0-2). A later Accept says it came too
// late. Unset, the timeout is one minute.
func TestDeliveryAckTimeout(t *testing.T) {
	for _, tc := range []struct {
		v       wire.Version
		timeout time.Duration
		want    string
	}{
		{wire.V311, 0, "PUBACK 1"},
		{wire.V5, 0, "PUBACK 1 unspecified error"},
		{wire.V5, 10 * time.Second, "PUBACK 1 unspecified error"},
	} {
		t.Run(fmt.Sprintf("%v/%v", tc.v, tc.timeout), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := dialPeer(t, tc.v, &wire.Connack{}, &mqtt.DialOptions{AckTimeout: tc.timeout, KeepAlive: -1})
				r := p.record()
				s := r.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS1})
				p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "t", Payload: []byte("forgotten")},
					&wire.Publish{QoS: 1, PacketID: 2, Topic: "t", Payload: []byte("next")})
				forgotten := take(t, s, "forgotten")
				expectNext(t, s, "next")
				timeout := tc.timeout
				if timeout == 0 {
					timeout = time.Minute
				}
				time.Sleep(timeout - time.Millisecond)
				if got := r.acks(); len(got) != 0 {
					t.Fatalf("sent %v before the AckTimeout of %v", got, timeout)
				}
				time.Sleep(time.Millisecond)
				if diff := cmp.Diff([]string{tc.want, "PUBACK 2"}, r.acks()); diff != "" {
					t.Fatalf("after the AckTimeout (-want +got):\n%s", diff)
				}
				if err := forgotten.Accept(); err == nil || !strings.Contains(err.Error(), "too late") {
					t.Errorf("Accept after the AckTimeout: %v, want an error saying it is too late", err)
				}
				if got := r.acks(); len(got) != 0 {
					t.Errorf("a late Accept sent %v", got)
				}
			})
		})
	}
}

// A message that matched several Subscriptions is acknowledged once, when
// each has handed it out (Next) or settled it (Delivery): refused if one
// refused it.
func TestDeliverySeveralSubscriptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		r := p.record()
		auto := r.subscribe(c, mqtt.Filter{Topic: "t/#", QoS: mqtt.QoS1})
		manual := r.subscribe(c, mqtt.Filter{Topic: "t/+", QoS: mqtt.QoS1})
		p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "t/1", Payload: []byte("refused")},
			&wire.Publish{QoS: 1, PacketID: 2, Topic: "t/2", Payload: []byte("accepted")})
		d1, d2 := take(t, manual, "refused"), take(t, manual, "accepted")
		if err := d1.Refuse(wire.NotAuthorized); err != nil {
			t.Fatal(err)
		}
		if err := d2.Accept(); err != nil {
			t.Fatal(err)
		}
		if got := r.acks(); len(got) != 0 {
			t.Fatalf("sent %v while another Subscription had the messages still queued", got)
		}
		expectNext(t, auto, "refused", "accepted")
		if diff := cmp.Diff([]string{"PUBACK 1 not authorized", "PUBACK 2"}, r.acks()); diff != "" {
			t.Errorf("acknowledgements (-want +got):\n%s", diff)
		}
	})
}

// What Refuse cannot do it refuses, leaving the message unsettled: a code
// that PUBACK and PUBREC do not have, or below 0x80 (MQTT-3.4.2-1,
// MQTT-3.5.2-1), and any refusal over MQTT 3.1.1, which has none. A message
// settles once; QoS 0 has nothing to settle.
func TestDeliveryRefuseInvalid(t *testing.T) {
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := dialPeer(t, v, &wire.Connack{}, nil)
				r := p.record()
				s := r.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS1})
				p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "t", Payload: []byte("one")})
				d := take(t, s, "one")
				codes := []wire.ReasonCode{wire.Success, wire.NoMatchingSubscribers, wire.MalformedPacket, wire.SessionTakenOver}
				if v != wire.V5 {
					codes = append(codes, wire.UnspecifiedError)
				}
				for _, code := range codes {
					if err := d.Refuse(code); !errors.Is(err, mqtt.ErrInvalid) {
						t.Errorf("Refuse(%#02x) = %v, want ErrInvalid", byte(code), err)
					}
				}
				if got := r.acks(); len(got) != 0 {
					t.Fatalf("sent %v after refusals that cannot be", got)
				}
				if err := d.Accept(); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff([]string{"PUBACK 1"}, r.acks()); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				if err := d.Accept(); err == nil {
					t.Error("a second Accept: no error")
				}

				p.send(&wire.Publish{Topic: "t", Payload: []byte("qos 0")})
				d = take(t, s, "qos 0")
				if err := d.Accept(); err != nil {
					t.Errorf("Accept of a QoS 0 message: %v", err)
				}
				if got := r.acks(); len(got) != 0 {
					t.Errorf("sent %v for a QoS 0 message", got)
				}
			})
		})
	}
}

// A held message acknowledged early, because a later one was acknowledged
// (see TestHeldMessagesDoNotHoldBackAcks), cannot be refused when
// NextDelivery takes it: Refuse says so; Accept has nothing left to do. So
// for one that arrived before its Subscribe's SUBACK.
func TestDeliveryHeldAcknowledged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		r := p.record()
		live := r.subscribe(c, mqtt.Filter{Topic: "live", QoS: mqtt.QoS1})
		subscribed := make(chan *mqtt.Subscription, 1)
		go func() {
			s, err := c.Subscribe(context.Background(), mqtt.Filter{Topic: "early", QoS: mqtt.QoS1})
			if err != nil {
				t.Error(err)
			}
			subscribed <- s
		}()
		sub, ok := r.next().(*wire.Subscribe)
		if !ok {
			t.Fatal("expected SUBSCRIBE")
		}
		p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "early", Payload: []byte("before the SUBACK")},
			&wire.Publish{QoS: 1, PacketID: 2, Topic: "live", Payload: []byte("live")})
		expectNext(t, live, "live")
		if diff := cmp.Diff([]string{"PUBACK 1", "PUBACK 2"}, r.acks()); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
		p.send(&wire.Suback{PacketID: sub.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1}})
		d := take(t, <-subscribed, "before the SUBACK")
		if err := d.Refuse(wire.NotAuthorized); err == nil || !strings.Contains(err.Error(), "acknowledged before") {
			t.Errorf("Refuse of a message acknowledged before its SUBACK: %v", err)
		}
		if got := r.acks(); len(got) != 0 {
			t.Errorf("sent %v", got)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{SessionPresent: true}, &mqtt.DialOptions{ClientID: "x", KeepSession: true})
		r := p.record()
		live := r.subscribe(c, mqtt.Filter{Topic: "live", QoS: mqtt.QoS1})
		p.send(&wire.Publish{QoS: 1, PacketID: 1, Topic: "old", Payload: []byte("held")},
			&wire.Publish{QoS: 1, PacketID: 2, Topic: "live", Payload: []byte("live")})
		expectNext(t, live, "live")
		if diff := cmp.Diff([]string{"PUBACK 1", "PUBACK 2"}, r.acks()); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
		old := r.subscribe(c, mqtt.Filter{Topic: "old", QoS: mqtt.QoS1})
		d := take(t, old, "held")
		if err := d.Refuse(wire.NotAuthorized); err == nil || !strings.Contains(err.Error(), "acknowledged before") {
			t.Errorf("Refuse of a message acknowledged before: %v", err)
		}
		if got := r.acks(); len(got) != 0 {
			t.Errorf("sent %v", got)
		}
	})
}

// Against mosquitto: a refused QoS 2 message (PUBREC 0x83) ends its flow at
// the broker (MQTT-4.3.3-9, MQTT-4.4.0-2 for the broker as sender), and a
// refused QoS 1 one is acknowledged: neither comes again, not even to the
// same session on a new connection, and the next messages flow.
func TestMosquittoDeliveryRefuse(t *testing.T) {
	t.Parallel()
	b := mosquitto.Start(t, mosquitto.Options{})
	ctx := testCtx(t)
	opts := &mqtt.DialOptions{ClientID: "refuser", KeepSession: true, Version: mqtt.V5}
	sub := dialT(t, b.TCPURL, opts)
	s, err := sub.Subscribe(ctx, mqtt.Filter{Topic: "refuse/#", QoS: mqtt.QoS2})
	if err != nil {
		t.Fatal(err)
	}
	pub := dialT(t, b.TCPURL, &mqtt.DialOptions{Version: mqtt.V5})
	for _, m := range []mqtt.Message{
		{Topic: "refuse/2", QoS: mqtt.QoS2, Payload: []byte("no 2")},
		{Topic: "refuse/1", QoS: mqtt.QoS1, Payload: []byte("no 1")},
	} {
		if err := pub.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		d, err := s.NextDelivery(ctx)
		if err != nil || string(d.Payload) != string(m.Payload) {
			t.Fatalf("NextDelivery = %+v, %v", d, err)
		}
		if err := d.Refuse(wire.ImplementationSpecificError); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Publish(ctx, mqtt.Message{Topic: "refuse/2", QoS: mqtt.QoS2, Payload: []byte("yes")}); err != nil {
		t.Fatal(err)
	}
	d, err := s.NextDelivery(ctx)
	if err != nil || string(d.Payload) != "yes" {
		t.Fatalf("after the refusals NextDelivery = %+v, %v; want the next message", d, err)
	}
	if err := d.Accept(); err != nil {
		t.Fatal(err)
	}
	if err := sub.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}

	// The same session again: mosquitto sends nothing of the refused
	// messages, only what was published meanwhile.
	if err := pub.Publish(ctx, mqtt.Message{Topic: "refuse/1", QoS: mqtt.QoS1, Payload: []byte("meanwhile")}); err != nil {
		t.Fatal(err)
	}
	again := dialT(t, b.TCPURL, opts)
	s, err = again.Subscribe(ctx, mqtt.Filter{Topic: "refuse/#", QoS: mqtt.QoS2})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Next(ctx)
	if err != nil || string(m.Payload) != "meanwhile" {
		t.Fatalf("on the resumed session Next = %q, %v; want only the message published meanwhile", m.Payload, err)
	}
}
