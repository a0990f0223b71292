package mqtt_test

// Suite: the client against the fake broker mqtttest, which decodes and records every packet.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// The exact packet sequence of a session publishing and receiving at each
// QoS through the fake broker, for every protocol version
// (MQTT-3.3.4-1, MQTT-4.3.1-1, MQTT-4.3.2-4, MQTT-4.3.3-11, MQTT-3.14.4-1).
func TestPacketSequence(t *testing.T) {
	t.Parallel()
	for _, v := range []mqtt.Version{mqtt.V31, mqtt.V311, mqtt.V5} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			srv := mqtttest.NewServer()
			t.Cleanup(srv.Close)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := mqtt.Dial(ctx, srv.URL, &mqtt.DialOptions{Version: v, ClientID: "seq"})
			if err != nil {
				t.Fatal(err)
			}
			sub, err := c.Subscribe(ctx, mqtt.Filter{Topic: "s/#", QoS: mqtt.QoS2})
			if err != nil {
				t.Fatal(err)
			}
			for q := mqtt.QoS0; q <= mqtt.QoS2; q++ {
				if err := c.Publish(ctx, mqtt.Message{Topic: "s/x", QoS: q, Payload: []byte{byte(q)}}); err != nil {
					t.Fatal(err)
				}
				m, err := sub.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if m.QoS != q || m.Payload[0] != byte(q) {
					t.Fatalf("got QoS %v payload %v", m.QoS, m.Payload)
				}
				// Wait until the flow has finished on the broker's side.
				last := map[mqtt.QoS]wire.Type{mqtt.QoS0: wire.PUBLISH, mqtt.QoS1: wire.PUBACK, mqtt.QoS2: wire.PUBCOMP}[q]
				if _, err := srv.WaitPacket(ctx, func(r mqtttest.Record) bool {
					return r.Dir == mqtttest.FromClient && r.Packet.Type() == last
				}); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Disconnect(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := srv.WaitPacket(ctx, func(r mqtttest.Record) bool { return r.Packet.Type() == wire.DISCONNECT }); err != nil {
				t.Fatal(err)
			}
			// What the client published, and how each flow went on.
			want := []string{
				"->CONNECT", "<-CONNACK", "->SUBSCRIBE", "<-SUBACK",
				"->PUBLISH",             // QoS 0
				"->PUBLISH", "<-PUBACK", // QoS 1
				"->PUBLISH", "<-PUBREC", "->PUBREL", "<-PUBCOMP", // QoS 2
				"->DISCONNECT",
			}
			if diff := cmp.Diff(want, packetTypes(srv, "seq", true)); diff != "" {
				t.Errorf("outgoing flows (-want +got)\n%s", diff)
			}
			// What the client received, and how it answered.
			want = []string{
				"->CONNECT", "<-CONNACK", "->SUBSCRIBE", "<-SUBACK",
				"<-PUBLISH",             // QoS 0
				"<-PUBLISH", "->PUBACK", // QoS 1
				"<-PUBLISH", "->PUBREC", "<-PUBREL", "->PUBCOMP", // QoS 2
				"->DISCONNECT",
			}
			if diff := cmp.Diff(want, packetTypes(srv, "seq", false)); diff != "" {
				t.Errorf("incoming flows (-want +got)\n%s", diff)
			}
		})
	}
}

// mqtttest decodes what the client sends: the user properties of
// SUBSCRIBE, UNSUBSCRIBE and DISCONNECT arrive as they were given.
func TestUserPropertiesReachTheServer(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx := testCtx(t)
	c := dialT(t, srv.URL, &mqtt.DialOptions{ClientID: "props"})
	props := func(what string) []mqtt.UserProperty { return []mqtt.UserProperty{{Key: "op", Value: what}} }
	if _, err := c.SubscribeWith(ctx, &mqtt.SubscribeOptions{UserProperties: props("subscribe")}, mqtt.Filter{Topic: "p"}); err != nil {
		t.Fatal(err)
	}
	if err := c.UnsubscribeWith(ctx, &mqtt.UnsubscribeOptions{UserProperties: props("unsubscribe")}, "p"); err != nil {
		t.Fatal(err)
	}
	if err := c.DisconnectWith(ctx, &mqtt.DisconnectOptions{UserProperties: props("disconnect")}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WaitPacket(ctx, func(r mqtttest.Record) bool { return r.Packet.Type() == wire.DISCONNECT }); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range srv.Packets() {
		if r.Dir != mqtttest.FromClient {
			continue
		}
		var pr *wire.Properties
		switch p := r.Packet.(type) {
		case *wire.Subscribe:
			pr = p.Properties
		case *wire.Unsubscribe:
			pr = p.Properties
		case *wire.Disconnect:
			pr = p.Properties
		default:
			continue
		}
		if pr != nil {
			got = append(got, fmt.Sprintf("%v %v", r.Packet.Type(), pr.UserProperties))
		}
	}
	want := []string{"SUBSCRIBE [{op subscribe}]", "UNSUBSCRIBE [{op unsubscribe}]", "DISCONNECT [{op disconnect}]"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
