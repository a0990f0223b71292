package mqtt

import (
	"net"
	"sync/atomic"
	"syscall"
)

// withQuickAck makes a TCP connection acknowledge received data at once.
//
// Why: a broker with Nagle's algorithm on (mosquitto's default) holds its
// second small packet, say a PUBACK after the echoed PUBLISH, until our TCP
// acknowledges the first. Linux delays that acknowledgement by up to 40 ms
// when we have nothing to send, and we often have nothing: incoming messages
// are acknowledged only when the application takes them. Re-arming
// TCP_QUICKACK after every read (the kernel clears it) removes the stall.
func withQuickAck(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &quickAckConn{TCPConn: tc, raw: raw}
}

type quickAckConn struct {
	*net.TCPConn
	raw syscall.RawConn

	// The kernel leaves quick-ack mode when we send soon after receiving
	// (it takes the exchange for interactive), so the mode needs re-arming
	// only after we wrote: a stream we merely receive, say QoS 0
	// messages, costs no system call per read. writes counts the
	// connection's writes, each counted before it starts (nil before the
	// connection starts: re-arm always); armed is the count when we last
	// re-armed.
	writes *atomic.Uint64
	armed  uint64
}

// watchWrites has Read re-arm quick-ack mode only after a write, as writes
// counts them. It is called before the reading goroutine starts.
func (q *quickAckConn) watchWrites(writes *atomic.Uint64) { q.writes = writes }

// rawConn lets the writer write without blocking (writer_unix.go).
func (q *quickAckConn) rawConn() syscall.RawConn { return q.raw }

func (q *quickAckConn) Read(b []byte) (int, error) {
	n, err := q.TCPConn.Read(b)
	if q.writes == nil {
		q.raw.Control(setQuickAck)
	} else if w := q.writes.Load(); w != q.armed {
		q.armed = w
		q.raw.Control(setQuickAck)
	}
	return n, err
}

func setQuickAck(fd uintptr) {
	syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
}
