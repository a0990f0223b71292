// Command hello connects to the MQTT broker at $MQTT_URL, subscribes to
// "presence", publishes "Hello mqtt" at QoS 2, prints what it receives and
// exits. Without $MQTT_URL it starts an in-process broker (mqtttest) and
// talks to that.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	url := os.Getenv("MQTT_URL")
	if url == "" {
		srv := mqtttest.NewServer()
		defer srv.Close()
		url = srv.URL
	}

	c, err := mqtt.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	defer c.Close()

	sub, err := c.Subscribe(ctx, mqtt.Filter{Topic: "presence", QoS: mqtt.QoS2})
	if err != nil {
		return err
	}
	// Publish returns once the broker has confirmed with PUBCOMP.
	if err := c.Publish(ctx, mqtt.Message{Topic: "presence", Payload: []byte("Hello mqtt"), QoS: mqtt.QoS2}); err != nil {
		return err
	}
	m, err := sub.Next(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s\n", m.Topic, m.Payload)
	return c.Disconnect(ctx)
}
