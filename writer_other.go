//go:build !unix

package mqtt

import "net"

// nonblocking returns nil: without non-blocking writes, the writer's
// goroutine writes everything.
func nonblocking(net.Conn) *nonblockingWriter { return nil }

type nonblockingWriter struct{}

func (*nonblockingWriter) write([]byte) (int, error) { return 0, nil }
