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
// acknowledged only when the application takes them.
//
// But only when needed, and only once. The kernel stays in delayed-ACK
// ("ping-pong") mode, where it lets a stream gather into large segments
// and our next write carry the acknowledgement for free; acknowledging
// every segment would cost the broker a segment per message (ten times the
// client's CPU for a QoS 0 stream) and us a bare ACK for every answer. So
// after each batch of packets the reader asks (afterBatch): is an answer
// awaited, and has nothing been written since the read? Then, and only
// then, the acknowledgement goes out at once: TCP_QUICKACK set to 2 sends
// the pending ACK and puts the kernel back into delayed mode (an odd value
// would leave it acknowledging every segment: the answer that follows
// would get a bare ACK of its own, a segment more per round trip).
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

	// Set by countWrites before anyone reads; then used by whoever reads,
	// one at a time (connection.turn). Until then (the handshake) nothing
	// is done: what we write next, CONNECT's successor, carries the ACK.
	writes     *atomic.Uint64 // counts the connection's writes, each before it starts
	readWrites uint64         // writes when the last read returned
	idle       int            // batches in a row with nothing awaited
}

// countWrites hands the connection's write counter to the quick-ack logic.
func (q *quickAckConn) countWrites(writes *atomic.Uint64) { q.writes = writes }

func (q *quickAckConn) rawConn() syscall.RawConn { return q.raw }

func (q *quickAckConn) Read(b []byte) (int, error) {
	n, err := q.TCPConn.Read(b)
	if q.writes != nil {
		q.readWrites = q.writes.Load()
	}
	return n, err
}

// ackNow has the kernel acknowledge what was received at once, from any
// goroutine: for a writer that expected to carry the acknowledgement and
// found nothing to write.
func (q *quickAckConn) ackNow() { q.raw.Control(ackOnce) }

// afterBatch acknowledges at once, after the reader has handled what it
// read, when an answer is awaited (awaiting) and nothing written since the
// read carried the acknowledgement. With yield, the callers the batch
// woke run first: the reading goroutine yields to them, who may be about
// to write; a caller reading for its own answer has nobody to yield to
// that matters more than its answer.
func (q *quickAckConn) afterBatch(awaiting, yield bool) {
	wrote := q.writes.Load() != q.readWrites
	if awaiting && yield && !wrote {
		runtime.Gosched()
		wrote = q.writes.Load() != q.readWrites
	}
	switch {
	case wrote:
		q.idle = 0 // our data carried the acknowledgement
	case awaiting:
		q.idle = 0
		q.raw.Control(ackOnce)
	default:
		q.idle++
		if q.idle%idleReclear == 0 {
			// The kernel leaves delayed-ACK mode by itself when its
			// delayed-ACK timer fires, which happens on a connection
			// that only receives, and would then acknowledge every
			// segment of the stream: put it back now and then.
			q.raw.Control(delayAcks)
		}
	}
}

// idleReclear is how many batches in a row with nothing awaited pass
// between two reassertions of delayed-ACK mode.
const idleReclear = 64

// ackOnce sends the pending acknowledgement now and leaves the kernel in
// delayed-ACK mode (TCP_QUICKACK 2: even, so delayed afterwards). With no
// acknowledgement pending it only leaves ping-pong mode, which still delays
// acknowledgements once the kernel's few quick ones of a new connection are
// spent; afterBatch puts ping-pong mode back now and then.
func ackOnce(fd uintptr) {
	syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 2)
}

// delayAcks puts the kernel in delayed-ACK ("ping-pong") mode.
func delayAcks(fd uintptr) {
	syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 0)
}
