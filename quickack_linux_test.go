package mqtt

// Suite: TCP quick acknowledgements on Linux (quickack_linux.go).

import (
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// quickAckMode reads the kernel's quick-ack mode of c: true when it
// acknowledges at once, false when it delays ("ping-pong").
func quickAckMode(t *testing.T, c *quickAckConn) bool {
	t.Helper()
	var v int
	var err error
	c.raw.Control(func(fd uintptr) {
		v, err = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK)
	})
	if err != nil {
		t.Fatal(err)
	}
	return v != 0
}

// quickAckPair returns a client TCP connection wrapped by withQuickAck and
// the server's end, both closed at the end of the test.
func quickAckPair(t *testing.T) (*quickAckConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	q, ok := withQuickAck(client).(*quickAckConn)
	if !ok {
		t.Fatal("withQuickAck did not wrap a TCP connection")
	}
	return q, server
}

// Quick-ack mode is armed after a batch only while an answer is awaited and
// nothing we wrote since the read carried the acknowledgement; it is turned
// off after two batches with nothing awaited, so that a stream we only
// receive keeps delayed acknowledgements.
func TestQuickAckOnlyWhileAwaiting(t *testing.T) {
	q, server := quickAckPair(t)
	var writes atomic.Uint64
	q.countWrites(&writes)
	buf := make([]byte, 16)
	for i, step := range []struct {
		awaiting, wrote bool
		want            bool
	}{
		{awaiting: true, want: true},
		{awaiting: false, want: true}, // one idle batch: kept
		{awaiting: false, want: false},
		{awaiting: true, wrote: true, want: false}, // our write carried the acknowledgement
		{awaiting: true, want: true},
	} {
		if _, err := server.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Read(buf); err != nil {
			t.Fatal(err)
		}
		if step.wrote {
			writes.Add(1)
		}
		q.afterBatch(step.awaiting)
		if got := quickAckMode(t, q); got != step.want {
			t.Errorf("step %d (awaiting %v, wrote %v): quick-ack mode %v, want %v", i, step.awaiting, step.wrote, got, step.want)
		}
	}
}

// A corked writer whose woken callers send nothing has the kernel
// acknowledge at once while answers are still due: a server with Nagle's
// algorithm on would otherwise hold them until our delayed ACK. What the
// callers do send while corked, the loop writes.
func TestCorkedWriterAcknowledges(t *testing.T) {
	q, server := quickAckPair(t)
	c := &Client{sess: newSession(persist.NewMemory())}
	cn := &connection{c: c, conn: q, version: wire.V311}
	q.countWrites(&cn.writes)
	cn.ackMode = q
	cn.w = newWriter(cn)
	defer func() {
		cn.w.close()
		q.Close()
		cn.wg.Wait()
	}()
	c.sess.pending.Store(1) // an answer is due

	if _, err := server.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Read(make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	q.raw.Control(clearQuickAck)
	if quickAckMode(t, q) {
		t.Fatal("quick-ack mode still on after clearing it")
	}
	cn.w.cork()
	for deadline := time.Now().Add(5 * time.Second); !quickAckMode(t, q); {
		if time.Now().After(deadline) {
			t.Fatal("the loop found nothing to write and left the acknowledgement to the delayed-ACK timer")
		}
		time.Sleep(time.Millisecond)
	}

	cn.w.cork()
	if err := cn.w.send(&wire.Pingreq{}); err != nil {
		t.Fatal(err)
	}
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 2)
	if _, err := io.ReadFull(server, got); err != nil || got[0] != 0xc0 || got[1] != 0 {
		t.Fatalf("the server read % x, %v; want the PINGREQ sent while corked", got, err)
	}
}

// On a connection that only receives, the kernel leaves delayed-ACK mode by
// itself when its delayed-ACK timer fires; the reader puts it back now and
// then, or every segment of the stream would be acknowledged alone.
func TestQuickAckReassertsDelayedMode(t *testing.T) {
	q, server := quickAckPair(t)
	var writes atomic.Uint64
	q.countWrites(&writes)
	q.raw.Control(setQuickAck) // as the kernel's own timer would leave it
	buf := make([]byte, 16)
	for i := range idleReclear {
		if _, err := server.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Read(buf); err != nil {
			t.Fatal(err)
		}
		q.raw.Control(setQuickAck)
		q.afterBatch(false)
		if got, want := quickAckMode(t, q), i+1 < idleReclear; got != want {
			t.Fatalf("after %d batches that awaited nothing: quick-ack mode %v, want %v", i+1, got, want)
		}
	}
}
