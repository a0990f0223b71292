//go:build unix

package mqtt

import (
	"net"
	"syscall"
)

// rawConn returns the system connection under c for non-blocking writes,
// or nil when c is not a plain socket: TLS, WebSocket, or a custom dialer's
// connection, whose Write may do more than write.
func rawConn(c net.Conn) syscall.RawConn {
	var raw syscall.RawConn
	var err error
	switch c := c.(type) {
	case interface{ rawConn() syscall.RawConn }: // quickAckConn
		return c.rawConn()
	case *net.TCPConn:
		raw, err = c.SyscallConn()
	case *net.UnixConn:
		raw, err = c.SyscallConn()
	}
	if err != nil {
		return nil
	}
	return raw
}

// writeNonblocking writes what the socket takes at once and returns how
// much that was; it never waits for the socket to drain.
func writeNonblocking(raw syscall.RawConn, b []byte) (int, error) {
	var n int
	var werr error
	err := raw.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), b)
			if werr != syscall.EINTR {
				return true // done, whatever happened: never wait here
			}
		}
	})
	if err != nil {
		return 0, err
	}
	if werr == syscall.EAGAIN {
		return max(n, 0), nil
	}
	if werr != nil {
		return 0, werr
	}
	return n, nil
}
