package mqtt

import (
	"context"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/mqtttest"
)

// A client that only publishes at QoS 1 and 2, one message at a time, has
// no reading goroutine while it keeps publishing (the path turns_test.go
// exercises); the turn left unused for readerAfter starts one, and so does
// a Subscription's Next with nothing to hand out.
func TestPublisherHasNoReadingGoroutine(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The idle timer starts at Dial: a run where a gap of readerAfter
	// could have passed between Dial and the last answer tells nothing,
	// and is run again.
	var c *Client
	for attempt := 0; ; attempt++ {
		began := time.Now()
		var err error
		if c, err = Dial(ctx, srv.URL, nil); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for q := QoS1; q <= QoS2; q++ {
			if err := c.Publish(ctx, Message{Topic: "t", QoS: q}); err != nil {
				t.Fatal(err)
			}
		}
		reading := c.cn.Load().reading.Load()
		if time.Since(began) < readerAfter {
			if reading {
				t.Fatal("a reading goroutine was started for sequential publishes")
			}
			break
		}
		if attempt == 20 {
			t.Fatalf("Dial and two publishes never took less than %v: too slow a machine to tell", readerAfter)
		}
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for !c.cn.Load().reading.Load() {
		if time.Now().After(deadline) {
			t.Fatal("no reading goroutine 5 s after the last publish")
		}
		time.Sleep(time.Millisecond)
	}

	// Next starts one at once, whatever the timer.
	c2, err := Dial(ctx, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	sub, err := c2.Subscribe(ctx, Filter{Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	c2.cn.Load().idle.Stop() // only Next may start it now
	nctx, ncancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer ncancel()
	if _, err := sub.Next(nctx); err == nil {
		t.Fatal("Next: a message nobody sent")
	}
	if !c2.cn.Load().reading.Load() {
		t.Fatal("no reading goroutine after Next waited")
	}
}
