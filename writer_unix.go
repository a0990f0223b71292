//go:build unix

package mqtt

import (
	"net"
	"syscall"
)

// nonblocking returns a writer for non-blocking writes to c, or nil when c
// is not a plain socket: TLS, WebSocket, or a custom dialer's connection,
// whose Write may do more than write.
func nonblocking(c net.Conn) *nonblockingWriter {
	if raw := rawConn(c); raw != nil {
		return newNonblockingWriter(raw)
	}
	return nil
}

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

// nonblockingWriter writes what the socket takes at once and returns how
// much that was; it never waits for the socket to drain. It is made once
// per connection, so that a write costs no allocation for its closure; only
// the one goroutine flushing the writer uses it at a time.
type nonblockingWriter struct {
	raw syscall.RawConn
	b   []byte
	n   int
	err error
	f   func(fd uintptr) bool
}

func newNonblockingWriter(raw syscall.RawConn) *nonblockingWriter {
	w := &nonblockingWriter{raw: raw}
	w.f = func(fd uintptr) bool {
		for {
			w.n, w.err = syscall.Write(int(fd), w.b)
			if w.err != syscall.EINTR {
				return true // done, whatever happened: never wait here
			}
		}
	}
	return w
}

func (w *nonblockingWriter) write(b []byte) (int, error) {
	w.b = b
	err := w.raw.Write(w.f)
	n, werr := max(w.n, 0), w.err
	w.b, w.n, w.err = nil, 0, nil
	switch {
	case err != nil:
		return 0, err
	case werr == syscall.EAGAIN:
		return n, nil
	case werr != nil:
		return 0, werr
	}
	return n, nil
}
