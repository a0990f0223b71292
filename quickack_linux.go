package mqtt

import (
	"net"
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
}

// rawConn lets the writer write without blocking (writer_unix.go).
func (q *quickAckConn) rawConn() syscall.RawConn { return q.raw }

func (q *quickAckConn) Read(b []byte) (int, error) {
	n, err := q.TCPConn.Read(b)
	q.raw.Control(setQuickAck)
	return n, err
}

func setQuickAck(fd uintptr) {
	syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
}
