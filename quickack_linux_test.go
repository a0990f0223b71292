package mqtt

// Suite: TCP quick acknowledgements on Linux (quickack_linux.go).

import (
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

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

// unacked reads how many bytes the server sent that the client's TCP has
// not acknowledged yet (SIOCOUTQ: the server's send queue).
func unacked(t *testing.T, server net.Conn) int {
	t.Helper()
	raw, err := server.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int32
	var errno syscall.Errno
	raw.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n)))
	})
	if errno != 0 {
		t.Fatal(errno)
	}
	return int(n)
}

// delayedACK is the shortest time Linux delays an acknowledgement
// (TCP_DELACK_MIN); an acknowledgement that comes well before it was sent
// at once.
const delayedACK = 40 * time.Millisecond

// ackedAtOnce reports whether the client acknowledged the server's last
// segment, written at sent, before the delayed-ACK timer could have: it
// waits for the acknowledgement until half the timer's shortest delay.
func ackedAtOnce(t *testing.T, server net.Conn, sent time.Time) bool {
	t.Helper()
	for unacked(t, server) != 0 {
		if time.Since(sent) > delayedACK/2 {
			return false
		}
		time.Sleep(100 * time.Microsecond)
	}
	return true
}

// quickAckOn switches the kernel to acknowledging every segment, as its
// delayed-ACK timer does on a connection that only receives.
func quickAckOn(fd uintptr) {
	syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
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

// After a batch the client acknowledges at once only while an answer is
// awaited and nothing we wrote since the read carried the acknowledgement;
// otherwise the acknowledgement waits for our next write, or the timer. The
// kernel stays in delayed-ACK mode either way, so the answer that follows
// gets no bare ACK of its own.
func TestAckAtOnceOnlyWhileAwaiting(t *testing.T) {
	q, server := quickAckPair(t)
	var writes atomic.Uint64
	q.countWrites(&writes)
	buf := make([]byte, 16)
	for i, step := range []struct {
		awaiting, wrote bool
		want            bool // acknowledged at once
	}{
		{awaiting: true, want: true},
		{awaiting: false, want: false},
		{awaiting: true, wrote: true, want: false}, // our write carried the acknowledgement
		{awaiting: true, want: true},
	} {
		// Delayed mode, as the reader leaves it; a new connection
		// would otherwise acknowledge its first segments at once.
		q.raw.Control(delayAcks)
		sent := time.Now()
		if _, err := server.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Read(buf); err != nil {
			t.Fatal(err)
		}
		if step.wrote {
			writes.Add(1)
		}
		q.afterBatch(step.awaiting, true)
		if quickAckMode(t, q) {
			t.Errorf("step %d (awaiting %v, wrote %v): the kernel acknowledges every segment now; want delayed-ACK mode", i, step.awaiting, step.wrote)
		}
		got := ackedAtOnce(t, server, sent)
		if !step.want && time.Since(sent) > delayedACK {
			t.Logf("step %d: too slow to tell an acknowledgement sent at once from the timer's", i)
			got = step.want
		}
		if got != step.want {
			t.Errorf("step %d (awaiting %v, wrote %v): acknowledged at once %v, want %v", i, step.awaiting, step.wrote, got, step.want)
		}
		for unacked(t, server) != 0 { // the timer's, before the next step
			time.Sleep(time.Millisecond)
		}
	}
}

// A corked writer whose woken callers send nothing acknowledges at once
// while answers are still due: a server with Nagle's algorithm on would
// otherwise hold them until our delayed ACK. What the callers do send while
// corked, the loop writes.
func TestCorkedWriterAcknowledges(t *testing.T) {
	q, server := quickAckPair(t)
	c := &Client{sess: newSession(persist.NewMemory())}
	cn := &connection{c: c, conn: q, version: wire.V311}
	q.countWrites(&cn.writes)
	m := &countingAckMode{quickAckConn: q}
	cn.ackMode = m
	cn.w = newWriter(cn)
	defer func() {
		cn.w.close()
		q.Close()
		cn.wg.Wait()
	}()
	c.sess.pending.Store(1) // an answer is due

	q.raw.Control(delayAcks)
	if _, err := server.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Read(make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	cn.w.cork()
	for deadline := time.Now().Add(5 * time.Second); m.acks.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the loop found nothing to write and left the acknowledgement to the delayed-ACK timer")
		}
		time.Sleep(time.Millisecond)
	}
	if n := unacked(t, server); n != 0 {
		t.Fatalf("the loop acknowledged, but the server still has %d bytes unacknowledged", n)
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

// countingAckMode counts the acknowledgements the writer's loop asks for.
type countingAckMode struct {
	*quickAckConn
	acks atomic.Int32
}

func (m *countingAckMode) ackNow() {
	m.quickAckConn.ackNow()
	m.acks.Add(1) // after: the test then finds the acknowledgement sent
}

// On a connection that only receives, the kernel leaves delayed-ACK mode by
// itself when its delayed-ACK timer fires; the reader puts it back now and
// then, or every segment of the stream would be acknowledged alone.
func TestQuickAckReassertsDelayedMode(t *testing.T) {
	q, server := quickAckPair(t)
	var writes atomic.Uint64
	q.countWrites(&writes)
	q.raw.Control(quickAckOn) // as the kernel's own timer would leave it
	buf := make([]byte, 16)
	for i := range idleReclear {
		if _, err := server.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Read(buf); err != nil {
			t.Fatal(err)
		}
		q.raw.Control(quickAckOn)
		q.afterBatch(false, true)
		if got, want := quickAckMode(t, q), i+1 < idleReclear; got != want {
			t.Fatalf("after %d batches that awaited nothing: quick-ack mode %v, want %v", i+1, got, want)
		}
	}
}
