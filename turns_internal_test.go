package mqtt

import (
	"context"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/mqtttest"
)

// A client that only publishes at QoS 1 and 2, one message at a time, never
// starts a reading goroutine (the path turns_test.go exercises); a
// subscription starts one.
func TestPublisherHasNoReadingGoroutine(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for q := QoS1; q <= QoS2; q++ {
		if err := c.Publish(ctx, Message{Topic: "t", QoS: q}); err != nil {
			t.Fatal(err)
		}
	}
	if c.watched.Load() {
		t.Fatal("a reading goroutine was started for sequential publishes")
	}
	if _, err := c.Subscribe(ctx, Filter{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	if !c.watched.Load() {
		t.Fatal("no reading goroutine after Subscribe")
	}
}
