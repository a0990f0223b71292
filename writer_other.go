//go:build !unix

package mqtt

import (
	"net"
	"syscall"
)

// rawConn returns nil: without non-blocking writes, the writer's goroutine
// writes everything.
func rawConn(net.Conn) syscall.RawConn { return nil }

func writeNonblocking(syscall.RawConn, []byte) (int, error) { return 0, nil }
