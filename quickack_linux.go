package mqtt

import (
	"net"
	"sync/atomic"
	"syscall"
)

// withQuickAck makes a TCP connection acknowledge received data at once
// while the client waits for an answer.
//
// Why: a broker with Nagle's algorithm on (mosquitto's default) holds its
// second small packet, say a PUBACK after the echoed PUBLISH, until our TCP
// acknowledges the first. Linux delays that acknowledgement by up to 40 ms
// when we have nothing to send, and we often have nothing: incoming messages
// are acknowledged only when the application takes them. Re-arming
// TCP_QUICKACK after a read (the kernel leaves the mode when we write)
// removes the stall.
//
// But not always: acknowledging every segment at once has the broker send
// every message in a segment of its own, where delayed acknowledgements let
// it gather a stream of QoS 0 messages into large ones; the client then
// wakes once per message instead of once per many, at ten times the CPU.
// Worse, once quick-ack mode has been set the kernel takes the connection
// for a bulk transfer and never delays again until we write. So the mode is
// armed only while an answer is awaited (an operation is in flight), again
// after each write, and turned off (TCP_QUICKACK 0: delayed, "ping-pong"
// mode) once nothing is awaited.
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
	// re-armed. awaiting counts the operations awaiting an answer.
	writes   *atomic.Uint64
	armed    uint64
	awaiting *atomic.Int32
	quick    bool // we set the mode last, rather than cleared it
}

// watch has Read re-arm quick-ack mode only while operations await an
// answer and after a write. It is called before the reading goroutine
// starts.
func (q *quickAckConn) watch(writes *atomic.Uint64, awaiting *atomic.Int32) {
	q.writes, q.awaiting = writes, awaiting
}

// rawConn lets the writer write without blocking (writer_unix.go).
func (q *quickAckConn) rawConn() syscall.RawConn { return q.raw }

func (q *quickAckConn) Read(b []byte) (int, error) {
	n, err := q.TCPConn.Read(b)
	switch {
	case q.writes == nil: // the handshake: CONNACK is awaited
		q.quick = true
		q.raw.Control(setQuickAck)
	case q.awaiting.Load() > 0:
		if w := q.writes.Load(); w != q.armed || !q.quick {
			q.armed, q.quick = w, true
			q.raw.Control(setQuickAck)
		}
	case q.quick:
		q.quick = false
		q.raw.Control(clearQuickAck)
	}
	return n, err
}

func setQuickAck(fd uintptr) {
	syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
}

func clearQuickAck(fd uintptr) {
	syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 0)
}
