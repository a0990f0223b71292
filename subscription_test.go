package mqtt_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/wire"
)

// Filters reports the QoS the server granted for each filter, which may be
// lower than asked (MQTT-3.9.3-1: SUBACK answers the filters in order).
// Subscription.Unsubscribe sends one UNSUBSCRIBE with all of them; a
// refused filter is a *ReasonError naming it; the subscription stops anyway,
// handing out what it had queued (its QoS 1/2 messages acknowledged at
// once), then ErrClosed.
func TestSubscriptionFiltersAndUnsubscribe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		ctx := context.Background()
		res := make(chan *mqtt.Subscription, 1)
		go func() {
			s, err := c.Subscribe(ctx, mqtt.Filter{Topic: "a/#", QoS: mqtt.QoS2}, mqtt.Filter{Topic: "b", QoS: mqtt.QoS1})
			if err != nil {
				t.Error(err)
			}
			res <- s
		}()
		sub := p.expect(wire.SUBSCRIBE).(*wire.Subscribe)
		p.send(&wire.Suback{PacketID: sub.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1, wire.GrantedQoS0}})
		s := <-res
		want := []mqtt.Filter{{Topic: "a/#", QoS: mqtt.QoS1}, {Topic: "b", QoS: mqtt.QoS0}}
		if diff := cmp.Diff(want, s.Filters()); diff != "" {
			t.Errorf("Filters (-want +got):\n%s", diff)
		}

		p.send(&wire.Publish{Topic: "b", Payload: []byte("queued")})
		p.send(&wire.Publish{Topic: "a/x", QoS: 1, PacketID: 5, Payload: []byte("queued too")})
		synctest.Wait()
		unsub := async(func() error { return s.Unsubscribe(ctx) })
		u := p.expect(wire.UNSUBSCRIBE).(*wire.Unsubscribe)
		if diff := cmp.Diff([]string{"a/#", "b"}, u.Topics); diff != "" {
			t.Errorf("UNSUBSCRIBE topics (-want +got):\n%s", diff)
		}
		p.send(&wire.Unsuback{PacketID: u.PacketID, ReasonCodes: []wire.ReasonCode{wire.Success, wire.NotAuthorized}})
		var re *mqtt.ReasonError
		if err := <-unsub; !errors.As(err, &re) || re.Topic != "b" || re.ReasonCode != wire.NotAuthorized {
			t.Fatalf("Unsubscribe: %v, want a *ReasonError for b, not authorized", err)
		}
		// The QoS 1 message is acknowledged at once: the server must not
		// wait for an application that may never take it.
		if ack := p.expect(wire.PUBACK).(*wire.Puback); ack.PacketID != 5 {
			t.Fatalf("PUBACK for %d, want 5", ack.PacketID)
		}
		for _, want := range []string{"queued", "queued too"} {
			if m, err := s.Next(ctx); err != nil || string(m.Payload) != want {
				t.Fatalf("Next after Unsubscribe: %q, %v; want %q, queued before", m.Payload, err, want)
			}
		}
		if _, err := s.Next(ctx); !errors.Is(err, mqtt.ErrClosed) {
			t.Fatalf("Next once drained: %v, want ErrClosed", err)
		}
		// Again: nothing left to unsubscribe, nothing sent.
		if err := s.Unsubscribe(ctx); err != nil {
			t.Errorf("second Unsubscribe: %v", err)
		}
	})
}

// A Subscription holds up to 65,536 QoS 0 messages the application has not
// taken; beyond that it drops them and counts them in Dropped, rather than
// hold up the reading goroutine.
func TestDroppedQoS0(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V311, &wire.Connack{}, nil)
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "t"})
		const held, extra = 1 << 16, 10
		for range held + extra {
			p.send(&wire.Publish{Topic: "t", Payload: []byte("x")})
		}
		p.send(&wire.Pingresp{}) // read after the last PUBLISH
		synctest.Wait()
		if got := s.Dropped(); got != extra {
			t.Fatalf("Dropped() = %d, want %d", got, extra)
		}
		for i := range held {
			if _, err := s.Next(context.Background()); err != nil {
				t.Fatalf("Next %d: %v", i, err)
			}
		}
	})
}
