package mqtt_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
)

func ExampleDial() {
	broker := mqtttest.NewServer() // a broker for the example; use your own URL
	defer broker.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := mqtt.Dial(ctx, broker.URL, &mqtt.DialOptions{ClientID: "example"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("connected with MQTT", c.Version())
	// Output: connected with MQTT 5.0
}

func ExampleClient_Publish() {
	broker := mqtttest.NewServer()
	defer broker.Close()
	ctx := context.Background()
	c, err := mqtt.Dial(ctx, broker.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Publish returns after the broker's PUBACK.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = c.Publish(ctx, mqtt.Message{Topic: "orders/42", Payload: []byte(`{"state":"paid"}`), QoS: mqtt.QoS1})
	switch {
	case errors.Is(err, mqtt.ErrOutcomeUnknown):
		fmt.Println("sent, not yet acknowledged; delivery goes on")
	case err != nil:
		fmt.Println("not sent:", err)
	default:
		fmt.Println("the broker has it")
	}
	// Output: the broker has it
}

func ExampleClient_Subscribe() {
	broker := mqtttest.NewServer()
	defer broker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := mqtt.Dial(ctx, broker.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	sub, err := c.Subscribe(ctx, mqtt.Filter{Topic: "sensors/+/temperature", QoS: mqtt.QoS1})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Publish(ctx, mqtt.Message{Topic: "sensors/kitchen/temperature", Payload: []byte("21.5"), QoS: mqtt.QoS1}); err != nil {
		log.Fatal(err)
	}
	// Next acknowledges the QoS 1 message as it hands it out.
	m, err := sub.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s = %s\n", m.Topic, m.Payload)
	// Output: sensors/kitchen/temperature = 21.5
}

// A client reconnects by itself; calls made meanwhile wait for it.
func ExampleDialOptions_reconnect() {
	broker := mqtttest.NewServer()
	defer broker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	connected := make(chan bool, 2)
	c, err := mqtt.Dial(ctx, broker.URL, &mqtt.DialOptions{
		ClientID:       "reconnecting",
		KeepSession:    true,
		ReconnectDelay: 10 * time.Millisecond, // 1s when unset
		OnConnect:      func(sessionPresent bool) { connected <- sessionPresent },
		OnReconnecting: func(attempt int, _ time.Duration, err error) {
			fmt.Println("reconnecting, attempt", attempt)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("connected, session present:", <-connected)

	broker.CloseClientConnections() // the network fails
	fmt.Println("connected again, session present:", <-connected)
	if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("published")
	// Output:
	// connected, session present: false
	// reconnecting, attempt 1
	// connected again, session present: true
	// published
}

func ExampleClient_Request() {
	broker := mqtttest.NewServer()
	defer broker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// A service that answers on the response topic of each request, with
	// its correlation data.
	service, err := mqtt.Dial(ctx, broker.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer service.Close()
	requests, err := service.Subscribe(ctx, mqtt.Filter{Topic: "prices/lookup", QoS: mqtt.QoS1})
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			req, err := requests.Next(ctx)
			if err != nil {
				return
			}
			service.Publish(ctx, mqtt.Message{Topic: req.ResponseTopic, CorrelationData: req.CorrelationData,
				Payload: []byte(string(req.Payload) + ": 4.20"), QoS: mqtt.QoS1})
		}
	}()

	c, err := mqtt.Dial(ctx, broker.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Request(ctx, mqtt.Message{Topic: "prices/lookup", Payload: []byte("coffee"), QoS: mqtt.QoS1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", resp.Payload)
	// Output: coffee: 4.20
}
