package mqtt_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/wire"
)

// MQTT-3.8.3-1, MQTT-3.10.3-1: SubscribeWith and UnsubscribeWith send their
// user properties (v5), SUBSCRIBE with the subscription identifier that
// Subscription.ID reports; the SUBSCRIBE that restores a subscription after
// a reconnection to a server that kept no session carries them too. Over
// 3.1.1 they are refused before anything is sent.
func TestSubscribeUserProperties(t *testing.T) {
	props := []mqtt.UserProperty{{Key: "tenant", Value: "a"}}
	synctest.Test(t, func(t *testing.T) {
		c, ps, p := dialPeers(t, wire.V5, nil)
		subscribed := make(chan *mqtt.Subscription, 1)
		go func() {
			s, err := c.SubscribeWith(context.Background(), &mqtt.SubscribeOptions{UserProperties: props}, mqtt.Filter{Topic: "t", QoS: mqtt.QoS1})
			if err != nil {
				t.Error(err)
			}
			subscribed <- s
		}()
		sub := p.expect(wire.SUBSCRIBE).(*wire.Subscribe)
		p.send(&wire.Suback{PacketID: sub.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1}})
		s := <-subscribed
		want := &wire.Properties{SubscriptionIDs: []int{s.ID()}, UserProperties: props}
		if diff := cmp.Diff(want, sub.Properties); diff != "" || s.ID() == 0 {
			t.Errorf("SUBSCRIBE properties (-want +got):\n%s\nID() = %d", diff, s.ID())
		}

		p.conn.Close()
		p, _ = ps.accept(&wire.Connack{})
		again := p.expect(wire.SUBSCRIBE).(*wire.Subscribe)
		if diff := cmp.Diff(want, again.Properties); diff != "" {
			t.Errorf("SUBSCRIBE again after the session was lost (-want +got):\n%s", diff)
		}
		p.send(&wire.Suback{PacketID: again.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1}})

		done := async(func() error {
			return c.UnsubscribeWith(context.Background(), &mqtt.UnsubscribeOptions{UserProperties: props}, "t")
		})
		un := p.expect(wire.UNSUBSCRIBE).(*wire.Unsubscribe)
		if diff := cmp.Diff(&wire.Properties{UserProperties: props}, un.Properties); diff != "" {
			t.Errorf("UNSUBSCRIBE properties (-want +got):\n%s", diff)
		}
		p.send(&wire.Unsuback{PacketID: un.PacketID, ReasonCodes: []wire.ReasonCode{wire.Success}})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V311, &wire.Connack{}, nil)
		r := p.record()
		ctx := context.Background()
		if _, err := c.SubscribeWith(ctx, &mqtt.SubscribeOptions{UserProperties: props}, mqtt.Filter{Topic: "t"}); !errors.Is(err, mqtt.ErrInvalid) {
			t.Errorf("SubscribeWith over 3.1.1: %v, want ErrInvalid", err)
		}
		if err := c.UnsubscribeWith(ctx, &mqtt.UnsubscribeOptions{UserProperties: props}, "t"); !errors.Is(err, mqtt.ErrInvalid) {
			t.Errorf("UnsubscribeWith over 3.1.1: %v, want ErrInvalid", err)
		}
		if got := r.sent(); len(got) != 0 {
			t.Errorf("sent %v", got)
		}
	})
}

// MQTT-3.3.4-3, MQTT-3.3.4-4: a message that matched several subscriptions
// carries their identifiers; each Subscription it matched receives it, with
// all of them in Message.SubscriptionIDs, and can tell its own by ID.
func TestMessageSubscriptionIDs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		a, _ := p.subscribe(c, mqtt.Filter{Topic: "t/#"})
		b, _ := p.subscribe(c, mqtt.Filter{Topic: "t/+"})
		other, _ := p.subscribe(c, mqtt.Filter{Topic: "t/x"})
		ids := []int{b.ID(), a.ID()}
		p.send(&wire.Publish{Topic: "t/x", Payload: []byte("both"), Properties: &wire.Properties{SubscriptionIDs: ids}})
		for _, s := range []*mqtt.Subscription{a, b} {
			m, err := s.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !cmp.Equal(ids, m.SubscriptionIDs) || !slices.Contains(m.SubscriptionIDs, s.ID()) {
				t.Errorf("subscription %d: SubscriptionIDs %v, want %v", s.ID(), m.SubscriptionIDs, ids)
			}
		}
		expectNext(t, other) // its filter matches, but the server did not name it
	})
}
