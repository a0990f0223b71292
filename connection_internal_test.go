package mqtt

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
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

// An acknowledgement Next makes while nobody reads waits in the writer's
// buffer for the next packet out, without waking the writer's goroutine;
// while somebody reads (the turn taken, or a reading goroutine), the
// goroutine writes it. The next reader flushes what waits (readLoop).
func TestAckWaitsForTheNextPacketWhileNobodyReads(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	c := &Client{sess: newSession(persist.NewMemory())}
	cn := &connection{c: c, conn: client, version: wire.V311, turn: make(chan struct{}, 1)}
	cn.w = newWriter(cn)
	defer func() {
		cn.w.close()
		client.Close()
		cn.wg.Wait()
	}()
	started := func() bool {
		cn.w.mu.Lock()
		defer cn.w.mu.Unlock()
		return cn.w.started
	}

	cn.turn <- struct{}{} // nobody reads
	if err := cn.w.ack(&wire.Puback{PacketID: 1}); err != nil {
		t.Fatal(err)
	}
	if started() {
		t.Fatal("the writer's goroutine was started for an acknowledgement nobody waits for")
	}
	cn.w.mu.Lock()
	held := len(cn.w.buf)
	cn.w.mu.Unlock()
	if held != 4 {
		t.Fatalf("%d bytes wait in the writer, want the PUBACK's 4", held)
	}

	<-cn.turn // somebody reads
	go cn.w.ack(&wire.Puback{PacketID: 2})
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 8)
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatalf("the writer's goroutine wrote nothing: %v", err)
	}
	if want := []byte{0x40, 2, 0, 1, 0x40, 2, 0, 2}; !bytes.Equal(got, want) {
		t.Fatalf("the server read % x, want both PUBACKs in order (% x)", got, want)
	}
}
