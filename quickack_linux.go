package mqtt

import (
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
)

// withQuickAck makes a TCP connection acknowledge received data at once
// when nothing else would.
//
// Why: a broker with Nagle's algorithm on (mosquitto's default) holds its
// second small packet, say a PUBACK after the echoed PUBLISH, until our TCP
// acknowledges the first. Linux delays that acknowledgement by up to 40 ms
// when we send nothing, and we often send nothing: incoming messages are
// acknowledged only when the application takes them. TCP_QUICKACK sends the
// acknowledgement at once and removes the stall.
//
// But only when needed. In quick-ack mode the kernel acknowledges every
// segment, so the broker sends every message in a segment of its own where
// delayed acknowledgements let it gather a stream into large ones (ten times
// the client's CPU for a QoS 0 stream); and each acknowledgement sent alone
// is a packet that our next write would have carried for free. So after
// each batch of packets the reading goroutine asks (afterBatch): is an
// answer awaited, and has nothing been written since the read? Then, and
// only then, the mode is armed; once nothing has been awaited for two
// batches it is turned off (TCP_QUICKACK 0: delayed, "ping-pong" mode).
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

	// Set by countWrites before anyone reads; then used by whoever reads, one
	// at a time (connection.turn). Until then (the handshake) Read arms
	// the mode after every read: CONNACK is awaited.
	writes     *atomic.Uint64 // counts the connection's writes, each before it starts
	readWrites uint64         // writes when the last read returned
	armed      uint64         // writes when the mode was last armed
	quick      bool           // we armed the mode and nothing since has cleared it
	idle       int            // batches in a row with nothing awaited
	ackedNow   atomic.Bool    // ackNow armed the mode
}

// countWrites hands the connection's write counter to the quick-ack logic.
func (q *quickAckConn) countWrites(writes *atomic.Uint64) { q.writes = writes }

func (q *quickAckConn) rawConn() syscall.RawConn { return q.raw }

func (q *quickAckConn) Read(b []byte) (int, error) {
	n, err := q.TCPConn.Read(b)
	if q.writes == nil {
		q.raw.Control(setQuickAck)
	} else {
		q.readWrites = q.writes.Load()
	}
	return n, err
}

// ackNow has the kernel acknowledge what was received at once, from any
// goroutine: for a writer that expected to carry the acknowledgement and
// found nothing to write.
func (q *quickAckConn) ackNow() {
	q.raw.Control(setQuickAck)
	q.ackedNow.Store(true)
}

// afterBatch sets the mode after the reading goroutine has handled what it
// read; awaiting says an operation awaits an answer.
func (q *quickAckConn) afterBatch(awaiting bool) {
	if q.ackedNow.Swap(false) {
		q.quick, q.armed = true, q.writes.Load()
	}
	wrote := q.writes.Load() != q.readWrites
	if awaiting && !wrote {
		// The callers this batch woke may be about to write; their
		// data would carry the acknowledgement.
		runtime.Gosched()
		wrote = q.writes.Load() != q.readWrites
	}
	switch {
	case wrote:
		q.idle = 0 // our data carried the acknowledgement
	case awaiting:
		q.idle = 0
		// A write since we armed may have had the kernel leave the mode.
		if w := q.writes.Load(); !q.quick || w != q.armed {
			q.quick, q.armed = true, w
			q.raw.Control(setQuickAck)
		}
	default:
		q.idle++
		if q.quick && q.idle >= 2 || q.idle%idleReclear == 0 {
			// Also now and then while only receiving: the kernel leaves
			// delayed-ACK mode by itself when its delayed-ACK timer
			// fires, which happens on a connection that never sends,
			// and would then acknowledge every segment of the stream.
			q.quick = false
			q.raw.Control(clearQuickAck)
		}
	}
}

// idleReclear is how many batches in a row with nothing awaited pass
// between two reassertions of delayed-ACK mode.
const idleReclear = 64

func setQuickAck(fd uintptr) {
	syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
}

func clearQuickAck(fd uintptr) {
	syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 0)
}
