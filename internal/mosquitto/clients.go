package mosquitto

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// clientTimeout bounds a run of mosquitto_pub or mosquitto_passwd.
const clientTimeout = 10 * time.Second

// TCPArgs returns the mosquitto_pub/mosquitto_sub arguments that connect
// to the broker's TCP listener: -h 127.0.0.1 -p PORT. Add -u and -P when
// the broker has Users.
func (b *Broker) TCPArgs() []string {
	return hostPortArgs(b.TCPAddr)
}

// TLSArgs returns the mosquitto_pub/mosquitto_sub arguments that connect
// to the broker's TLS listener and verify it against the test CA:
// -h 127.0.0.1 -p PORT --cafile CA, plus --cert and --key of the client
// certificate if withClientCert is true.
func (b *Broker) TLSArgs(withClientCert bool) []string {
	args := append(hostPortArgs(b.TLSAddr), "--cafile", b.CertFiles.CA)
	if withClientCert {
		args = append(args, "--cert", b.CertFiles.ClientCert, "--key", b.CertFiles.ClientKey)
	}
	return args
}

func hostPortArgs(addr string) []string {
	host, port, _ := net.SplitHostPort(addr)
	return []string{"-h", host, "-p", port}
}

// Pub runs mosquitto_pub with args (for example
// append(b.TCPArgs(), "-t", "a/b", "-m", "hello")) and waits for it to exit,
// killing it after 10 seconds. The error, if any, includes its output. The
// test is skipped if mosquitto_pub is not installed (see Require).
func Pub(tb testing.TB, args ...string) error {
	tb.Helper()
	bin := Require(tb, "mosquitto_pub")
	if out, err := runBounded(clientTimeout, bin, args...); err != nil {
		return fmt.Errorf("mosquitto_pub %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out))
	}
	return nil
}

// runBounded runs a command to completion within timeout and returns its
// combined output.
func runBounded(timeout time.Duration, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = time.Second
	setProcAttr(cmd)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("killed after %v: %w", timeout, err)
	}
	return string(out), err
}

// SubProcess is a running mosquitto_sub, started by Sub, whose standard
// output is read line by line.
type SubProcess struct {
	cmd      *exec.Cmd
	lines    chan string
	stopping chan struct{} // closed by Stop: drop unread lines
	exited   chan struct{} // closed once the process has exited
	err      error         // Wait's result, valid once exited is closed
	stderr   lockedBuffer
	stopOnce sync.Once
}

// Sub starts mosquitto_sub with args (for example
// append(b.TLSArgs(true), "-i", "sub1", "-t", "a/#", "-v")). Each line it
// prints is delivered by Next and Lines. It is stopped by a cleanup
// registered on tb, if not before. The test fails if mosquitto_sub cannot
// be started, and is skipped if it is not installed (see Require).
//
// mosquitto_sub subscribes asynchronously: to be sure a message published
// next is seen, give it a client id with -i and wait for the broker to
// acknowledge the subscription, with
// b.WaitForLog(tb, "Sending SUBACK to "+id, timeout).
func Sub(tb testing.TB, args ...string) *SubProcess {
	tb.Helper()
	bin := Require(tb, "mosquitto_sub")
	s := &SubProcess{
		lines:    make(chan string, 64),
		stopping: make(chan struct{}),
		exited:   make(chan struct{}),
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stderr = &s.stderr
	setProcAttr(s.cmd)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("starting mosquitto_sub: %v", err)
	}
	tb.Cleanup(s.Stop)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
	scan:
		for sc.Scan() {
			select {
			case s.lines <- sc.Text():
			case <-s.stopping:
				break scan
			}
		}
		close(s.lines)
		// Keep draining so mosquitto_sub never blocks writing, then reap it.
		_, _ = io.Copy(io.Discard, stdout)
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	return s
}

// Lines returns the channel of output lines. It is closed when
// mosquitto_sub exits (for example after -C COUNT messages) or is stopped.
func (s *SubProcess) Lines() <-chan string { return s.lines }

// Next returns the next output line, waiting at most timeout. It returns
// an error if none arrives in time or if mosquitto_sub has exited; the
// error then includes its exit status and standard error.
func (s *SubProcess) Next(timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.NextContext(ctx)
}

// NextContext is Next with a context instead of a timeout.
func (s *SubProcess) NextContext(ctx context.Context) (string, error) {
	select {
	case line, ok := <-s.lines:
		if ok {
			return line, nil
		}
		<-s.exited
		return "", fmt.Errorf("mosquitto_sub exited (%v): %s", s.err, strings.TrimSpace(s.stderr.String()))
	case <-ctx.Done():
		return "", fmt.Errorf("no line from mosquitto_sub: %w (stderr: %q)", ctx.Err(), strings.TrimSpace(s.stderr.String()))
	}
}

// Stderr returns what mosquitto_sub has written to standard error so far.
func (s *SubProcess) Stderr() string { return s.stderr.String() }

// Stop kills mosquitto_sub (SIGKILL, so the broker sees the connection
// drop without a DISCONNECT) and waits for it to exit. Lines not yet read
// may be lost. It is idempotent and returns at once if mosquitto_sub has
// already exited. For a clean disconnection let mosquitto_sub exit by
// itself, with -C COUNT or -W SECONDS, and wait for Lines to close.
//
// SIGTERM is not used: mosquitto_sub 2.0.11 handles it by disconnecting,
// and when it arrived while mosquitto_sub was already finishing (just
// after its -C message) it was seen to hang until killed.
func (s *SubProcess) Stop() {
	s.stopOnce.Do(func() {
		close(s.stopping)
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Kill()
		}
	})
	<-s.exited
}
