package mqtt

// Memory after a burst, across the Subscription (subscribe.go) and the
// writer (writer.go).

import (
	"context"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/mqtttest"
)

// A burst costs memory during the burst only: once it is over, a
// Subscription's queue and the writer's buffers go back to costing little,
// as the read buffer does (wire's TestReaderShrinksAfterBurst).
func TestBuffersShrinkAfterBurst(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub, err := Dial(ctx, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	s, err := sub.Subscribe(ctx, Filter{Topic: "burst", QoS: QoS1})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := Dial(ctx, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	const n = 2000
	payload := make([]byte, 1024)
	for range n {
		if err := pub.Publish(ctx, Message{Topic: "burst", Payload: payload}); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until the burst is queued whole, so that the queue grew.
	deadline := time.Now().Add(10 * time.Second)
	grew := 0
	for grew < n && time.Now().Before(deadline) {
		s.mu.Lock()
		grew = len(s.queue) - s.head
		s.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	if grew < n {
		t.Fatalf("%d of %d messages queued", grew, n)
	}
	for range n {
		if _, err := s.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	queueCap := cap(s.queue)
	s.mu.Unlock()
	if queueCap > 8 {
		t.Errorf("the drained Subscription keeps a queue of %d entries", queueCap)
	}

	// Two quiet writes after the burst: each buffer is written once.
	for range 2 {
		if err := pub.Publish(ctx, Message{Topic: "burst", Payload: []byte("x"), QoS: QoS1}); err != nil {
			t.Fatal(err)
		}
	}
	w := pub.cn.Load().w
	w.mu.Lock()
	kept := cap(w.buf) + cap(w.spare)
	w.mu.Unlock()
	if kept > 32<<10 {
		t.Errorf("the writer keeps %d bytes of buffers after the burst", kept)
	}
}
