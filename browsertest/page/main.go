//go:build js && wasm

// Command page is the client side of browsertest: built for GOOS=js
// GOARCH=wasm and loaded by index.html in the browser, it runs culex over
// the browser's WebSocket and leaves what it saw in window.culexReport, as
// JSON, for the test to read. The page's query gives the broker's
// WebSocket URL (ws), one where nothing listens (closed) and a topic
// prefix of the test's own (prefix).
//
// Along the way it sets window.culexState: "subscribed" once it is
// subscribed (the test then publishes from outside the browser), and
// "waiting for the loss" after the first round (the test then restarts
// the broker).
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall/js"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/persist"
)

// report is what the page tells the test; browsertest has the same type.
type report struct {
	Version  string            // of the connection
	Received []received        // in the order Next returned them
	Lost     string            // what OnConnectionLost was told when the broker restarted
	Refused  map[string]string // what Dial (or persist.Open) refused, by case
	Error    string            // what stopped the page early, if anything
}

type received struct {
	Topic   string
	Payload string
	QoS     int
}

func main() {
	var r report
	if err := run(&r); err != nil {
		r.Error = err.Error()
	}
	b, _ := json.Marshal(r)
	js.Global().Set("culexReport", string(b))
}

func setState(s string) {
	js.Global().Set("culexState", s)
	println("page:", s)
}

func run(r *report) error {
	q, err := url.ParseQuery(strings.TrimPrefix(js.Global().Get("location").Get("search").String(), "?"))
	if err != nil {
		return err
	}
	wsURL, prefix := q.Get("ws"), q.Get("prefix")
	if wsURL == "" || prefix == "" {
		return errors.New("the page's query lacks ws or prefix")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	r.Refused = refusals(ctx, wsURL, q.Get("closed"))

	lost := make(chan error, 1)
	c, err := mqtt.Dial(ctx, wsURL, &mqtt.DialOptions{
		ReconnectDelay:   50 * time.Millisecond,
		OnConnectionLost: func(err error) { lost <- err },
	})
	if err != nil {
		return err
	}
	defer c.Close()
	r.Version = c.Version().String()
	sub, err := c.Subscribe(ctx, mqtt.Filter{Topic: prefix + "/#", QoS: mqtt.QoS2})
	if err != nil {
		return fmt.Errorf("subscribing: %w", err)
	}
	setState("subscribed")
	for q := mqtt.QoS0; q <= mqtt.QoS2; q++ {
		m := mqtt.Message{Topic: fmt.Sprintf("%s/qos%d", prefix, q), Payload: []byte("from the browser at " + q.String()), QoS: q}
		if err := c.Publish(ctx, m); err != nil {
			return fmt.Errorf("publishing at %v: %w", q, err)
		}
	}
	// One larger than the client's first read buffer (4 KiB): the client
	// reads the browser's message in pieces. (Not much larger: mosquitto
	// 2.0.11's WebSocket listener takes about 25 ms per KB of a message.)
	big := bytes.Repeat([]byte("culex "), 3500)
	if err := c.Publish(ctx, mqtt.Message{Topic: prefix + "/big", Payload: big, QoS: mqtt.QoS1}); err != nil {
		return fmt.Errorf("publishing %d bytes: %w", len(big), err)
	}
	next := func(n int) error {
		for range n {
			m, err := sub.Next(ctx)
			if err != nil {
				return fmt.Errorf("receiving after %d messages: %w", len(r.Received), err)
			}
			got := received{Topic: strings.TrimPrefix(m.Topic, prefix), Payload: string(m.Payload), QoS: int(m.QoS)}
			if got.Topic == "/big" {
				got.Payload = fmt.Sprintf("%d bytes, intact: %v", len(m.Payload), bytes.Equal(m.Payload, big))
			}
			r.Received = append(r.Received, got)
		}
		return nil
	}
	if err := next(5); err != nil { // ours and the test's
		return err
	}

	setState("waiting for the loss")
	select {
	case err := <-lost:
		r.Lost = err.Error()
	case <-ctx.Done():
		return errors.New("the connection was not lost")
	}
	// Publish waits for the client to connect again; the client
	// subscribes again, as the broker kept no session.
	m := mqtt.Message{Topic: prefix + "/again", Payload: []byte("after the broker restarted"), QoS: mqtt.QoS1}
	if err := c.Publish(ctx, m); err != nil {
		return fmt.Errorf("publishing after the loss: %w", err)
	}
	if err := next(1); err != nil {
		return err
	}
	return c.Disconnect(ctx)
}

// refusals tries what a browser cannot do, and a WebSocket URL where
// nothing listens (closedURL), and returns the errors, by case.
func refusals(ctx context.Context, wsURL, closedURL string) map[string]string {
	out := map[string]string{}
	try := func(name string, url string, o *mqtt.DialOptions) {
		c, err := mqtt.Dial(ctx, url, o)
		if err == nil {
			c.Close()
			out[name] = "(accepted)"
			return
		}
		out[name] = err.Error()
	}
	try("tcp", "mqtt://127.0.0.1:1883", nil)
	try("TLSConfig", strings.Replace(wsURL, "ws://", "wss://", 1), &mqtt.DialOptions{TLSConfig: &tls.Config{}})
	try("Dialer", wsURL, &mqtt.DialOptions{Dialer: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("never called")
	}})
	try("nothing listens", closedURL, &mqtt.DialOptions{NoReconnect: true})
	if st, err := persist.Open("culex-session"); err != nil {
		out["persist.Open"] = err.Error()
	} else {
		st.Close()
		out["persist.Open"] = "(accepted)"
	}
	return out
}
