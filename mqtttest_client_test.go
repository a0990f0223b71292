package mqtt_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// packetTypes lists the types of the packets one client exchanged with the
// broker, as the broker recorded them, prefixed "->" when the client sent it.
// With outgoing set it keeps the packets of flows the client started (its
// PUBLISH and their acknowledgements), else those the broker started.
func packetTypes(srv *mqtttest.Server, clientID string, outgoing bool) []string {
	var out []string
	for _, r := range srv.Packets() {
		if r.ClientID != clientID {
			continue
		}
		prefix := "<-"
		fromClient := r.Dir == mqtttest.FromClient
		if fromClient {
			prefix = "->"
		}
		switch r.Packet.Type() {
		case wire.PUBLISH, wire.PUBREL:
			if fromClient != outgoing {
				continue
			}
		case wire.PUBACK, wire.PUBREC, wire.PUBCOMP:
			if fromClient == outgoing {
				continue
			}
		}
		out = append(out, prefix+r.Packet.Type().String())
	}
	return out
}

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
