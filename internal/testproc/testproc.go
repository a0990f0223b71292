// Package testproc holds what the packages that start private brokers for
// tests (internal/nats, internal/rabbitmq) share: finding a binary or
// skipping, free ports, children that die with the test binary, and a
// buffer for their output.
package testproc

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/wire"
)

// extraBinDirs are searched after PATH: brokers live in sbin, which is
// often not in a test runner's PATH.
var extraBinDirs = []string{"/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin"}

// Find returns the path of binary, looking in PATH and then in the usual
// sbin directories, or "" if it is not there.
func Find(binary string) string {
	if filepath.IsAbs(binary) {
		if isExecutable(binary) {
			return binary
		}
		return ""
	}
	if p, err := exec.LookPath(binary); err == nil {
		return p
	}
	for _, dir := range extraBinDirs {
		if p := filepath.Join(dir, binary); isExecutable(p) {
			return p
		}
	}
	return ""
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// Require returns the path of binary (see Find). If it is not found the
// test is skipped with hint, which says how to install it, or fails if the
// environment variable CI is true: a CI run must never pass by skipping
// the interoperability tests.
func Require(tb testing.TB, binary, hint string) string {
	tb.Helper()
	if p := Find(binary); p != "" {
		return p
	}
	Missing(tb, fmt.Sprintf("%s not installed: %s", binary, hint))
	return ""
}

// Missing skips the test with msg, or fails it under CI=true.
func Missing(tb testing.TB, msg string) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("%s (CI=true: failing instead of skipping)", msg)
	}
	tb.Skip(msg)
}

// InCI reports whether the environment variable CI is true (any value
// strconv.ParseBool accepts as true).
func InCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1. Another process
// may take one before the broker binds it: callers retry with new ports
// when the broker says so.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		// Keep each listener open until all are taken, so the ports
		// are distinct.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Addr is "127.0.0.1:port".
func Addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// Tail returns at most the last n bytes of s.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "[...]\n" + s[len(s)-n:]
}

// Buffer is a bytes.Buffer safe for concurrent use, for a child's output.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Handshake connects to the MQTT listener at addr, sends an MQTT 3.1.1
// CONNECT with a clean session and waits, at most timeout, for a CONNACK
// that accepts it; then it disconnects.
func Handshake(addr string, timeout time.Duration) error {
	timeout = max(timeout, 100*time.Millisecond)
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	pkt, err := (&wire.Connect{CleanStart: true, KeepAlive: 60, ClientID: fmt.Sprintf("culex-ready-%d", time.Now().UnixNano())}).Append(nil, wire.V311)
	if err != nil {
		return err
	}
	if _, err := conn.Write(pkt); err != nil {
		return err
	}
	p, err := wire.NewReader(conn, 512).ReadPacket(wire.V311)
	if err != nil {
		return fmt.Errorf("waiting for CONNACK: %w", err)
	}
	ack, ok := p.(*wire.Connack)
	if !ok {
		return fmt.Errorf("got %v instead of CONNACK", p.Type())
	}
	if ack.ReasonCode != wire.Success {
		return fmt.Errorf("CONNACK refuses: %v", ack.ReasonCode)
	}
	disc, _ := (&wire.Disconnect{}).Append(nil, wire.V311)
	_, _ = conn.Write(disc)
	return nil
}
