package mqtt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// responder answers every request on topic with its payload in upper case,
// on the request's response topic and with its correlation data, until ctx
// ends.
func responder(ctx context.Context, t *testing.T, url, topic string) {
	t.Helper()
	c := dialT(t, url, &mqtt.DialOptions{ClientID: "responder"})
	s, err := c.Subscribe(ctx, mqtt.Filter{Topic: topic, QoS: mqtt.QoS1})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			m, err := s.Next(ctx)
			if err != nil {
				return
			}
			if m.ResponseTopic == "" {
				t.Errorf("request without a response topic: %+v", m)
				continue
			}
			c.Publish(ctx, mqtt.Message{Topic: m.ResponseTopic, QoS: mqtt.QoS1,
				Payload: bytes.ToUpper(m.Payload), CorrelationData: m.CorrelationData})
		}
	}()
}

// Request publishes with a response topic and correlation data of its own
// (MQTT 5.0 section 4.10) and returns the response that carries the same
// correlation data; concurrent requests each get their own.
func TestRequest(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx := testCtx(t)
	responder(ctx, t, srv.URL, "svc/upper")
	c := dialT(t, srv.URL, &mqtt.DialOptions{ClientID: "requester"})

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			payload := fmt.Sprintf("request %d", i)
			resp, err := c.Request(ctx, mqtt.Message{Topic: "svc/upper", QoS: mqtt.QoS1, Payload: []byte(payload)})
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			if want := strings.ToUpper(payload); string(resp.Payload) != want {
				t.Errorf("request %d: response %q, want %q", i, resp.Payload, want)
			}
		})
	}
	wg.Wait()

	// Correlation data of the caller's own is kept, and must be unique
	// among the requests waiting.
	resp, err := c.Request(ctx, mqtt.Message{Topic: "svc/upper", Payload: []byte("mine"), CorrelationData: []byte("id-1")})
	if err != nil || string(resp.CorrelationData) != "id-1" || string(resp.Payload) != "MINE" {
		t.Fatalf("request with correlation data: %+v, %v", resp, err)
	}
}

// A request nobody answers fails with ctx's error; a later one goes through.
// Two requests waiting with the same correlation data are refused.
func TestRequestUnanswered(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx := testCtx(t)
	c := dialT(t, srv.URL, &mqtt.DialOptions{ClientID: "requester"})

	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if _, err := c.Request(short, mqtt.Message{Topic: "svc/nobody", Payload: []byte("?")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered request: %v, want context.DeadlineExceeded", err)
	}

	waiting := async(func() error {
		_, err := c.Request(ctx, mqtt.Message{Topic: "svc/nobody", CorrelationData: []byte("same")})
		return err
	})
	// Registered before it publishes: once the server has the PUBLISH, a
	// second request with the same correlation data is refused.
	if _, err := srv.WaitPacket(ctx, func(r mqtttest.Record) bool {
		p, ok := r.Packet.(*wire.Publish)
		return ok && r.Dir == mqtttest.FromClient && string(p.Properties.CorrelationData) == "same"
	}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Request(ctx, mqtt.Message{Topic: "svc/nobody", CorrelationData: []byte("same")})
	if err == nil || !strings.Contains(err.Error(), "same correlation data") {
		t.Fatalf("second request with the same correlation data: %v, want it refused", err)
	}
	c.Close()
	if err := <-waiting; !errors.Is(err, mqtt.ErrClosed) {
		t.Fatalf("request waiting when the client closed: %v, want ErrClosed", err)
	}
}

// Request needs MQTT 5.0: response topic and correlation data are its
// properties.
func TestRequestNeedsV5(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx := testCtx(t)
	c := dialT(t, srv.URL, &mqtt.DialOptions{Version: mqtt.V311})
	if _, err := c.Request(ctx, mqtt.Message{Topic: "svc"}); err == nil || !strings.Contains(err.Error(), "5.0") {
		t.Fatalf("request over 3.1.1: %v, want an error saying it needs 5.0", err)
	}
}

// A first Request racing Close ends either way, and leaves no goroutine
// behind (the leak check after the tests would say).
func TestRequestRacingClose(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx := testCtx(t)
	for range 20 {
		c := dialT(t, srv.URL, nil)
		done := async(func() error {
			_, err := c.Request(ctx, mqtt.Message{Topic: "svc/nobody"})
			return err
		})
		c.Close()
		if err := <-done; !errors.Is(err, mqtt.ErrClosed) {
			t.Fatalf("request racing Close: %v, want ErrClosed", err)
		}
	}
}
