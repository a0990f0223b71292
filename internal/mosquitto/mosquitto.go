// Package mosquitto starts private mosquitto brokers for tests, and runs
// the mosquitto_pub and mosquitto_sub clients against them.
//
// Every broker listens on fresh loopback ports with a configuration and
// data directory of its own under the test's temporary directory, so tests
// never touch a broker that happens to run on the machine (port 1883) and
// can run in parallel.
//
// When a binary is missing the test is skipped, unless the environment
// variable CI is set to true, in which case it fails: a CI run must never
// pass by skipping the interoperability tests.
//
// Written against mosquitto 2.0.11, whose quirks the generated
// configuration works around:
//
//   - Started as root, mosquitto 2 drops to the "mosquitto" user and can
//     then not read the test's 0700 temporary directory; the configuration
//     says "user root" when the tests run as root.
//   - It refuses to start when every listener is a websockets one
//     ("Unable to start any listening sockets"); a unix-socket listener is
//     added in that case.
//   - Anonymous clients are refused unless allow_anonymous is true, which
//     the configuration sets when Options.Users is empty.
//   - The websockets listener serves any request path and does not require
//     the "mqtt" subprotocol; its first exchange on a new connection can
//     take a couple of hundred milliseconds.
package mosquitto

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/internal/testcert"
)

// Timeouts used by Start, Restart and Stop.
const (
	// StartTimeout bounds how long Start and Restart wait for the broker
	// to accept connections on all its ports.
	StartTimeout = 10 * time.Second
	// StopTimeout bounds how long Stop waits after SIGTERM before it
	// kills the broker.
	StopTimeout = 5 * time.Second
)

// portAttempts is how many sets of ports Start tries when another process
// grabs a port between the probe and mosquitto's bind.
const portAttempts = 5

// InstallHint tells how to get the binaries Require looks for.
const InstallHint = "apt-get install mosquitto mosquitto-clients"

// extraBinDirs are searched after PATH: mosquitto itself lives in sbin,
// which is often not in a test runner's PATH.
var extraBinDirs = []string{"/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin"}

// Require returns the path of binary (for example "mosquitto",
// "mosquitto_pub", "mosquitto_sub" or "mosquitto_passwd"), looking in PATH
// and then in the usual sbin directories. If it is not found the test is
// skipped with a hint on how to install it, or fails if the environment
// variable CI is true (any value strconv.ParseBool accepts as true).
func Require(tb testing.TB, binary string) string {
	tb.Helper()
	if p, err := exec.LookPath(binary); err == nil {
		return p
	}
	for _, dir := range extraBinDirs {
		p := filepath.Join(dir, binary)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	msg := fmt.Sprintf("%s not installed: %s", binary, InstallHint)
	if inCI() {
		tb.Fatalf("%s (CI=true: failing instead of skipping)", msg)
	}
	tb.Skip(msg)
	return ""
}

func inCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// Options selects the listeners and features of a broker started by Start.
//
// All listeners bind 127.0.0.1 only. The authentication settings are global
// (per_listener_settings stays false), so Users and allow_anonymous apply
// to every listener alike.
type Options struct {
	// TCP, WebSocket, TLS and WSS select the listeners: plain MQTT, MQTT
	// over WebSocket, MQTT over TLS, and MQTT over WebSocket over TLS. If
	// all are false, a TCP listener alone is started.
	TCP, WebSocket, TLS, WSS bool

	// RequireClientCert makes the TLS and WSS listeners demand a client
	// certificate signed by the test CA (Broker.Certs.Client).
	RequireClientCert bool

	// Users, if not empty, maps user names to passwords. A password file
	// is made with mosquitto_passwd and anonymous clients are refused.
	// If empty, anonymous clients are allowed.
	Users map[string]string

	// Persistence turns on mosquitto's persistence, with the database in
	// the broker's own directory, so that sessions and retained messages
	// survive Restart. The database is written when the broker stops.
	Persistence bool

	// Extra is appended verbatim to the generated configuration, after
	// the listeners: global options work anywhere, but listener options
	// there apply to the last generated listener (in the order TCP,
	// WebSocket, TLS, WSS).
	Extra string
}

// Broker is a mosquitto process started by Start. The URL and address
// fields of listeners that were not asked for are empty. The fields do not
// change on Restart.
type Broker struct {
	// TCPURL is "mqtt://127.0.0.1:PORT".
	TCPURL string
	// WSURL is "ws://127.0.0.1:PORT/mqtt". Mosquitto serves MQTT on any
	// path; /mqtt is the customary one.
	WSURL string
	// TLSURL is "mqtts://127.0.0.1:PORT".
	TLSURL string
	// WSSURL is "wss://127.0.0.1:PORT/mqtt".
	WSSURL string

	// TCPAddr, WSAddr, TLSAddr and WSSAddr are the listeners' host:port,
	// for net.Dial.
	TCPAddr, WSAddr, TLSAddr, WSSAddr string

	// Certs is the CA, server and client certificates when the TLS or
	// WSS listener is on, else nil. The server certificate is valid for
	// 127.0.0.1, ::1 and localhost.
	Certs *testcert.Bundle
	// CertFiles are the paths of Certs' PEM files (for --cafile, --cert
	// and --key of the mosquitto clients).
	CertFiles testcert.Files

	// Dir is the broker's private directory: configuration, log,
	// password file, certificates and persistence database.
	Dir string
	// ConfigFile is the generated mosquitto.conf.
	ConfigFile string
	// LogFile is the broker's log (log_type all), appended to across
	// restarts.
	LogFile string

	// unixSocket, if set, is an extra unix-socket listener: mosquitto
	// 2.0.11 refuses to start with websockets listeners only.
	unixSocket string

	opts Options
	bin  string

	// logShown is set once a failure message has included the log, so
	// the cleanup does not print it again. Used on the test goroutine.
	logShown bool

	mu     sync.Mutex
	proc   *process
	output lockedBuffer // stdout and stderr of every run
}

// process is one run of the broker.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when Wait returns
	err    error         // Wait's result, valid once exited is closed
}

// Start runs a private mosquitto with the given options and waits until it
// accepts connections on every listener. It fails the test, with the
// broker's log, if the broker does not come up within StartTimeout; it
// skips it if mosquitto is not installed (see Require). The broker is
// stopped by a cleanup registered on tb, which also logs the broker's log
// if the test failed.
func Start(tb testing.TB, opts Options) *Broker {
	tb.Helper()
	if !opts.TCP && !opts.WebSocket && !opts.TLS && !opts.WSS {
		opts.TCP = true
	}
	b := &Broker{opts: opts, bin: Require(tb, "mosquitto"), Dir: tb.TempDir()}
	b.ConfigFile = filepath.Join(b.Dir, "mosquitto.conf")
	b.LogFile = filepath.Join(b.Dir, "mosquitto.log")

	if opts.TLS || opts.WSS {
		certs, err := testcert.New()
		if err != nil {
			tb.Fatal(err)
		}
		certDir := filepath.Join(b.Dir, "certs")
		if err := os.Mkdir(certDir, 0o700); err != nil {
			tb.Fatal(err)
		}
		if b.CertFiles, err = certs.WriteFiles(certDir); err != nil {
			tb.Fatal(err)
		}
		b.Certs = certs
	}
	if len(opts.Users) > 0 {
		if err := writePasswordFile(tb, b.passwordFile(), opts.Users); err != nil {
			tb.Fatal(err)
		}
	}
	if opts.Persistence {
		if err := os.Mkdir(b.dataDir(), 0o700); err != nil {
			tb.Fatal(err)
		}
	}
	if !opts.TCP && !opts.TLS {
		// Mosquitto 2.0.11 counts only non-websockets sockets and exits
		// with "Unable to start any listening sockets" when there are
		// none. A unix socket satisfies it without taking a port.
		b.unixSocket = filepath.Join(b.Dir, "mosquitto.sock")
		if len(b.unixSocket) > 100 { // sun_path is ~108 bytes
			dir, err := os.MkdirTemp("", "mq")
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { os.RemoveAll(dir) })
			b.unixSocket = filepath.Join(dir, "s")
		}
	}

	tb.Cleanup(func() {
		b.Stop()
		if tb.Failed() && !b.logShown {
			tb.Logf("mosquitto log (%s):\n%s", b.Dir, tail(b.Log(), 64<<10))
		}
	})

	for attempt := 1; ; attempt++ {
		ports, err := pickPorts(b.listenerCount())
		if err != nil {
			tb.Fatal(err)
		}
		b.setPorts(ports)
		if err := os.WriteFile(b.ConfigFile, []byte(b.config()), 0o600); err != nil {
			tb.Fatal(err)
		}
		err = b.run()
		if err == nil {
			return b
		}
		if errors.Is(err, errPortBusy) && attempt < portAttempts {
			tb.Logf("mosquitto: %v; retrying with new ports", err)
			continue
		}
		conf, _ := os.ReadFile(b.ConfigFile)
		b.logShown = true
		tb.Fatalf("mosquitto did not start: %v\n--- %s ---\n%s\n--- log ---\n%s",
			err, b.ConfigFile, conf, tail(b.Log(), 64<<10))
	}
}

// Stop ends the broker: SIGTERM (mosquitto then saves its persistence
// database), repeated until it exits, and SIGKILL if it has not exited
// after StopTimeout. Stop returns once the process has exited. Stopping a
// stopped broker does nothing.
func (b *Broker) Stop() {
	b.mu.Lock()
	p := b.proc
	b.proc = nil
	b.mu.Unlock()
	if p == nil {
		return
	}
	// SIGTERM is repeated: mosquitto 2.0.11 installs its handler before
	// it sets its "run" flag, so a signal landing just after startup (in
	// the "running" log line's window) is forgotten. The handler only
	// clears that flag, so repeats are harmless.
	kill := time.NewTimer(StopTimeout)
	defer kill.Stop()
	resend := time.NewTicker(200 * time.Millisecond)
	defer resend.Stop()
	for {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			_ = p.cmd.Process.Kill() // already gone, or no SIGTERM here
		}
		select {
		case <-p.exited:
			return
		case <-resend.C:
		case <-kill.C:
			fmt.Fprintf(&b.output, "--- mosquitto still running %v after SIGTERM: killed\n", StopTimeout)
			_ = p.cmd.Process.Kill()
			<-p.exited
			return
		}
	}
}

// Restart stops the broker (as Stop does) and starts it again with the
// same configuration, on the same ports and with the same persistence
// directory. It fails the test if the broker does not come back.
func (b *Broker) Restart(tb testing.TB) {
	tb.Helper()
	b.Stop()
	var err error
	for attempt := 1; attempt <= portAttempts; attempt++ {
		if err = b.run(); !errors.Is(err, errPortBusy) {
			break
		}
		// The old sockets should be gone; give the kernel a moment.
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		b.logShown = true
		tb.Fatalf("mosquitto did not restart: %v\n%s", err, tail(b.Log(), 64<<10))
	}
}

// Running reports whether the broker process is running: started and
// neither stopped nor exited on its own.
func (b *Broker) Running() bool {
	b.mu.Lock()
	p := b.proc
	b.mu.Unlock()
	if p == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Log returns the broker's log so far, across restarts, followed by
// anything mosquitto wrote to stdout or stderr (startup errors before the
// log file is open, the warning about running as root).
func (b *Broker) Log() string {
	var s strings.Builder
	if data, err := os.ReadFile(b.LogFile); err == nil {
		s.Write(data)
	}
	if out := b.output.String(); out != "" {
		s.WriteString("\n--- mosquitto stdout/stderr ---\n")
		s.WriteString(out)
	}
	return s.String()
}

// WaitForLog waits until the broker's log contains substr, and fails the
// test with the log if it does not within timeout. Useful to wait until
// the broker has seen a subscription ("Sending SUBACK to CLIENTID") or a
// disconnection.
func (b *Broker) WaitForLog(tb testing.TB, substr string, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		log := b.Log()
		if strings.Contains(log, substr) {
			return
		}
		if time.Now().After(deadline) {
			b.logShown = true
			tb.Fatalf("mosquitto log does not show %q after %v:\n%s", substr, timeout, tail(log, 64<<10))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// errPortBusy reports that mosquitto could not bind one of its ports.
var errPortBusy = errors.New("a port is already in use")

// run starts the broker process with the current configuration and waits
// until it is up.
func (b *Broker) run() error {
	logStart := fileSize(b.LogFile)
	outStart := b.output.Len()

	cmd := exec.Command(b.bin, "-c", b.ConfigFile)
	cmd.Dir = b.Dir
	cmd.Stdout = &b.output
	cmd.Stderr = &b.output
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	b.mu.Lock()
	b.proc = p
	b.mu.Unlock()

	// This run's part of the log and of the output.
	newLog := func() string {
		data, _ := readFrom(b.LogFile, logStart)
		return string(data) + "\n" + b.output.StringFrom(outStart)
	}
	deadline := time.Now().Add(StartTimeout)
	for {
		select {
		case <-p.exited:
			b.Stop() // clears b.proc
			log := newLog()
			if strings.Contains(log, "Address already in use") ||
				strings.Contains(log, "Unable to create websockets listener") {
				return fmt.Errorf("mosquitto exited (%v): %w", p.err, errPortBusy)
			}
			return fmt.Errorf("mosquitto exited early: %v", p.err)
		default:
		}
		// "mosquitto version X running" is logged once every listener
		// is bound; dialing as well proves the ports are really ours.
		if isRunning(newLog()) && b.dialAll() {
			return nil
		}
		if time.Now().After(deadline) {
			b.Stop()
			return fmt.Errorf("not accepting connections on all of %v after %v", b.addrs(), StartTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isRunning(log string) bool {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "mosquitto version") && strings.HasSuffix(strings.TrimSpace(line), " running") {
			return true
		}
	}
	return false
}

func (b *Broker) dialAll() bool {
	for _, addr := range b.addrs() {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
	}
	return true
}

// listener describes one generated listener.
type listener struct {
	on      bool
	addr    *string
	url     *string
	scheme  string
	path    string
	ws, tls bool
}

func (b *Broker) listeners() []listener {
	return []listener{
		{on: b.opts.TCP, addr: &b.TCPAddr, url: &b.TCPURL, scheme: "mqtt"},
		{on: b.opts.WebSocket, addr: &b.WSAddr, url: &b.WSURL, scheme: "ws", path: "/mqtt", ws: true},
		{on: b.opts.TLS, addr: &b.TLSAddr, url: &b.TLSURL, scheme: "mqtts", tls: true},
		{on: b.opts.WSS, addr: &b.WSSAddr, url: &b.WSSURL, scheme: "wss", path: "/mqtt", ws: true, tls: true},
	}
}

func (b *Broker) listenerCount() int {
	n := 0
	for _, l := range b.listeners() {
		if l.on {
			n++
		}
	}
	return n
}

func (b *Broker) setPorts(ports []int) {
	i := 0
	for _, l := range b.listeners() {
		if !l.on {
			continue
		}
		*l.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i]))
		*l.url = l.scheme + "://" + *l.addr + l.path
		i++
	}
}

func (b *Broker) addrs() []string {
	var a []string
	for _, l := range b.listeners() {
		if l.on {
			a = append(a, *l.addr)
		}
	}
	return a
}

func (b *Broker) passwordFile() string { return filepath.Join(b.Dir, "passwd") }
func (b *Broker) dataDir() string      { return filepath.Join(b.Dir, "data") }

// config renders mosquitto.conf for the current ports.
func (b *Broker) config() string {
	var c strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&c, format+"\n", args...) }

	line("# Generated by internal/mosquitto; private to one test.")
	if os.Geteuid() == 0 {
		// Started as root, mosquitto 2 switches to the "mosquitto" user
		// and then cannot open files in the test's 0700 temp dir.
		line("user root")
	}
	if len(b.opts.Users) > 0 {
		line("allow_anonymous false")
		line("password_file %s", b.passwordFile())
	} else {
		// Mosquitto 2 refuses anonymous clients unless told otherwise.
		line("allow_anonymous true")
	}
	if b.opts.Persistence {
		line("persistence true")
		line("persistence_location %s%c", b.dataDir(), filepath.Separator)
	} else {
		line("persistence false")
	}
	line("log_dest file %s", b.LogFile)
	line("log_type all")
	line("log_timestamp true")
	line("log_timestamp_format %%Y-%%m-%%dT%%H:%%M:%%S")
	line("connection_messages true")

	if b.unixSocket != "" {
		line("")
		line("# Only so that mosquitto 2.0.11 starts with websockets listeners alone.")
		line("listener 0 %s", b.unixSocket)
	}
	for _, l := range b.listeners() {
		if !l.on {
			continue
		}
		_, port, _ := net.SplitHostPort(*l.addr)
		line("")
		line("listener %s 127.0.0.1", port)
		if l.ws {
			line("protocol websockets")
		}
		if l.tls {
			line("certfile %s", b.CertFiles.ServerCert)
			line("keyfile %s", b.CertFiles.ServerKey)
			line("cafile %s", b.CertFiles.CA)
			if b.opts.RequireClientCert {
				line("require_certificate true")
			}
		}
	}
	if b.opts.Extra != "" {
		line("")
		line("# Options.Extra")
		line("%s", b.opts.Extra)
	}
	return c.String()
}

// writePasswordFile makes a mosquitto password file with mosquitto_passwd.
func writePasswordFile(tb testing.TB, path string, users map[string]string) error {
	tb.Helper()
	bin := Require(tb, "mosquitto_passwd")
	names := make([]string, 0, len(users))
	for name := range users {
		names = append(names, name)
	}
	sort.Strings(names)
	for i, name := range names {
		args := []string{"-b", path, name, users[name]}
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		if out, err := runBounded(clientTimeout, bin, args...); err != nil {
			return fmt.Errorf("mosquitto_passwd for user %q: %v: %s", name, err, out)
		}
	}
	return nil
}

// pickPorts returns n distinct free TCP ports on 127.0.0.1. It is a
// variable so that tests can make it hand out a busy port.
var pickPorts = freePorts

func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		// Keep each listener open until all are taken, so the ports
		// are distinct.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("mosquitto: finding a free port: %w", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func readFrom(path string, offset int64) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil || int64(len(data)) < offset {
		return nil, err
	}
	return data[offset:], nil
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "[...]\n" + s[len(s)-n:]
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Len()
}

func (l *lockedBuffer) StringFrom(offset int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if offset > l.buf.Len() {
		return ""
	}
	return string(l.buf.Bytes()[offset:])
}
