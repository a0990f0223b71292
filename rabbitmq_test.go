package mqtt_test

// Suite: interoperability with RabbitMQ's MQTT plugin (runInterop, brokers_test.go).

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/internal/rabbitmq"
)

// TestRabbitMQ runs the interoperability suite against RabbitMQ's MQTT
// plugin (3.10: MQTT 3.1 and 3.1.1), on a node of its own, and then what
// is peculiar to it.
func TestRabbitMQ(t *testing.T) {
	t.Parallel()
	b := rabbitmq.Start(t, rabbitmq.Options{})
	// Asked for 5.0, RabbitMQ before 3.13 closes the connection without a
	// CONNACK: with Version 0 the client falls back to 3.1.1 on that.
	t.Run("version-fallback", func(t *testing.T) {
		t.Parallel()
		c := dialT(t, b.MQTTURL, nil)
		if v := c.Version(); v != mqtt.V311 {
			t.Fatalf("Version() = %v, want 3.1.1 after the fall back", v)
		}
		if err := c.Publish(testCtx(t), mqtt.Message{Topic: "fallback", QoS: mqtt.QoS1}); err != nil {
			t.Fatal(err)
		}
	})
	v311 := &mqtt.DialOptions{Version: mqtt.V311}
	for _, v := range []mqtt.Version{mqtt.V311, mqtt.V31} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			// A "." in a topic is a level separator to RabbitMQ (see
			// below): no dots in the suite's topics.
			runInterop(t, "rabbitmq-v"+strings.ReplaceAll(v.String(), ".", ""), brokerTraits{
				pubURL: b.MQTTURL, subURL: b.MQTTURL,
				version: v, wantVersion: v,
				grantQoS2: mqtt.QoS1, retainedWildcard: false, noShared: true,
			})
		})
	}

	// RabbitMQ routes MQTT messages through an AMQP topic exchange, whose
	// routing keys separate levels with "." where MQTT has "/": it
	// turns "/" into "." on the way in and "." into "/" on the way out.
	// A "." in a topic name is therefore a level separator, and the
	// subscriber receives the topic with "/" in its place, which no
	// longer matches a filter written with the ".": the client holds
	// such a message for the first Subscription that will match it.
	t.Run("dots", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		c := dialT(t, b.MQTTURL, v311)
		exact, err := c.Subscribe(ctx, mqtt.Filter{Topic: "dots/v1.2/state", QoS: mqtt.QoS1})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Publish(ctx, mqtt.Message{Topic: "dots/v1.2/state", Payload: []byte("on"), QoS: mqtt.QoS1}); err != nil {
			t.Fatal(err)
		}
		// The message comes back as dots/v1/2/state, which matches no
		// Subscription: a wildcard one made now receives it.
		all, err := c.Subscribe(ctx, mqtt.Filter{Topic: "dots/#", QoS: mqtt.QoS1})
		if err != nil {
			t.Fatal(err)
		}
		m, err := all.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Topic != "dots/v1/2/state" {
			t.Errorf("published to dots/v1.2/state, received on %q, want dots/v1/2/state (docs/BROKERS.md)", m.Topic)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		if m, err := exact.Next(wctx); err == nil {
			t.Errorf("the subscription to dots/v1.2/state received %q on %q", m.Payload, m.Topic)
		}
	})

	// RabbitMQ 3.10 grants QoS 1 to a QoS 2 subscription and answers a
	// QoS 2 PUBLISH with PUBACK, where MQTT wants PUBREC
	// (v311:MQTT-4.3.3-2): a protocol error. The client closes the
	// connection and does not pretend the message was delivered exactly
	// once; the broker has it, at QoS 1.
	t.Run("qos2-publish", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		sub := dialT(t, b.MQTTURL, v311)
		// Not qos2/#: the parallel subtest below publishes to qos2/loop.
		s, err := sub.Subscribe(ctx, mqtt.Filter{Topic: "qos2/x", QoS: mqtt.QoS2})
		if err != nil {
			t.Fatal(err)
		}
		c := dialT(t, b.MQTTURL, &mqtt.DialOptions{Version: mqtt.V311, NoReconnect: true})
		err = c.Publish(ctx, mqtt.Message{Topic: "qos2/x", Payload: []byte("twice?"), QoS: mqtt.QoS2})
		if !errors.Is(err, mqtt.ErrOutcomeUnknown) || !strings.Contains(err.Error(), "PUBACK for QoS 2") {
			t.Errorf("QoS 2 Publish: got %v, want ErrOutcomeUnknown naming the PUBACK", err)
		}
		m, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.QoS != mqtt.QoS1 || string(m.Payload) != "twice?" {
			t.Errorf("got %q at %v, want it at QoS 1", m.Payload, m.QoS)
		}
	})

	// The same with reconnection on, as by default: the PUBACK ends the
	// message with an error saying why (it was sent again on every
	// connection, for ever, RabbitMQ delivering a copy each time, and the
	// publishes behind it waited), and the client goes on.
	t.Run("qos2-publish-reconnecting", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		var lost atomic.Int64
		c := dialT(t, b.MQTTURL, &mqtt.DialOptions{Version: mqtt.V311, ReconnectDelay: 10 * time.Millisecond,
			OnConnectionLost: func(error) { lost.Add(1) }})
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := c.Publish(pctx, mqtt.Message{Topic: "qos2/loop", QoS: mqtt.QoS2})
		if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "QoS 1") {
			t.Errorf("QoS 2 Publish: %v after %d lost connections; want an error saying the server does not take QoS 2", err, lost.Load())
		}
		if err := c.Publish(ctx, mqtt.Message{Topic: "qos2/after", QoS: mqtt.QoS1}); err != nil {
			t.Errorf("a QoS 1 Publish after it: %v (%d lost connections)", err, lost.Load())
		}
	})
}
