package mqtt_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/internal/nats"
)

// TestNATS runs the interoperability suite against one nats-server 2.9,
// whose MQTT is 3.1.1 on JetStream: the client, asked for nothing, falls
// back from 5.0 to 3.1.1; QoS 2 subscriptions are granted QoS 1.
func TestNATS(t *testing.T) {
	t.Parallel()
	nd := nats.Start(t, nats.Options{})
	runInterop(t, "nats", brokerTraits{
		pubURL: nd.MQTTURL, subURL: nd.MQTTURL,
		wantVersion: mqtt.V311, grantQoS2: mqtt.QoS1, retainedWildcard: true, noShared: true,
	})

	// What NATS 2.9 answers by closing the connection: a QoS 2 PUBLISH
	// (QoS 2 came in 2.10), a topic with "." or " " in it (its subjects
	// separate levels with "."), and a CONNECT for MQTT 3.1. With
	// reconnection on, a PUBLISH that is refused this way is sent again
	// on every new connection, for ever (issue #18 point 4); here the
	// client has none, and Publish reports the outcome unknown.
	for _, tc := range []struct {
		name string
		m    mqtt.Message
	}{
		{"qos2-publish", mqtt.Message{Topic: "nats/qos2", QoS: mqtt.QoS2}},
		{"dot-in-topic", mqtt.Message{Topic: "nats/v1.2/state", QoS: mqtt.QoS1}},
		{"space-in-topic", mqtt.Message{Topic: "nats/living room", QoS: mqtt.QoS1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dialT(t, nd.MQTTURL, &mqtt.DialOptions{NoReconnect: true})
			err := c.Publish(testCtx(t), tc.m)
			if !errors.Is(err, mqtt.ErrOutcomeUnknown) || !strings.Contains(err.Error(), "closed the connection") {
				t.Errorf("got %v, want ErrOutcomeUnknown: the server closed the connection (docs/BROKERS.md)", err)
			}
		})
	}
	t.Run("v3.1", func(t *testing.T) {
		t.Parallel()
		_, err := mqtt.Dial(testCtx(t), nd.MQTTURL, &mqtt.DialOptions{Version: mqtt.V31})
		if err == nil || !strings.Contains(err.Error(), "closed the connection before CONNACK") {
			t.Errorf("Dial with MQTT 3.1: got %v, want the server closing the connection before CONNACK", err)
		}
	})
}

// TestNATSCluster runs it across a 3-node cluster: publishers on one node,
// subscribers on another, a persistent session resumed on the other node.
func TestNATSCluster(t *testing.T) {
	t.Parallel()
	c := nats.StartCluster(t, 3, nats.Options{})
	runInterop(t, "nats-cluster", brokerTraits{
		pubURL: c.Nodes[0].MQTTURL, subURL: c.Nodes[1].MQTTURL,
		wantVersion: mqtt.V311, grantQoS2: mqtt.QoS1, retainedWildcard: true, routed: true, noShared: true,
	})
}
