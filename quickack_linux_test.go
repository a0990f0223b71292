package mqtt

import (
	"net"
	"sync/atomic"
	"syscall"
	"testing"
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

// Quick-ack mode is on while an answer is awaited and off otherwise, so
// that a stream we only receive keeps delayed acknowledgements.
func TestQuickAckOnlyWhileAwaiting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	q, ok := withQuickAck(client).(*quickAckConn)
	if !ok {
		t.Fatal("withQuickAck did not wrap a TCP connection")
	}
	var writes atomic.Uint64
	var awaiting atomic.Int32
	q.watch(&writes, &awaiting)
	buf := make([]byte, 16)
	read := func() {
		t.Helper()
		if _, err := server.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	for i, step := range []struct {
		awaiting int32
		write    bool
		want     bool
	}{
		{awaiting: 1, write: true, want: true},
		{awaiting: 0, want: false}, // the answer came: delay again
		{awaiting: 0, want: false},
		{awaiting: 2, write: true, want: true},
		{awaiting: 0, write: true, want: false},
	} {
		awaiting.Store(step.awaiting)
		if step.write {
			writes.Add(1)
		}
		read()
		if got := quickAckMode(t, q); got != step.want {
			t.Errorf("step %d (awaiting %d): quick-ack mode %v, want %v", i, step.awaiting, got, step.want)
		}
	}
}
