package mqtt

// Memory after a burst, across the Subscription (subscribe.go) and the
// writer (writer.go); memory of an idle client.

import (
	"context"
	"testing"
	"time"
	"unsafe"

	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
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

// An idle client costs what its connection needs, no more: ten thousand of
// them are measured by bench/cmd/scale. What this test can pin down: the
// structures every client has stay within the allocation size classes they
// were fitted to (on 64-bit platforms), and a client that subscribed keeps
// no operation for reuse; one that publishes keeps the one it reuses.
func TestIdleClientKeepsLittle(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) == 8 {
		if n := unsafe.Sizeof(Client{}); n > 896 {
			t.Errorf("a Client is %d bytes: over the 896-byte size class, it takes 1,024", n)
		}
		if n := unsafe.Sizeof(wire.Reader{}); n > 352 {
			t.Errorf("a wire.Reader is %d bytes: over the 352-byte size class", n)
		}
	}
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	free := func() int {
		c.sess.mu.Lock()
		defer c.sess.mu.Unlock()
		return len(c.sess.free)
	}
	if _, err := c.Subscribe(ctx, Filter{Topic: "t", QoS: QoS1}); err != nil {
		t.Fatal(err)
	}
	if err := c.Unsubscribe(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if n := free(); n != 0 {
		t.Errorf("after Subscribe and Unsubscribe the session keeps %d operations for reuse, want none", n)
	}
	for range 3 {
		if err := c.Publish(ctx, Message{Topic: "t", QoS: QoS1}); err != nil {
			t.Fatal(err)
		}
	}
	if n := free(); n != 1 {
		t.Errorf("after three publishes one at a time the session keeps %d operations for reuse, want the 1 they shared", n)
	}
}
