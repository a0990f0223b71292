// Package rabbitmq starts private RabbitMQ nodes with the MQTT plugin for
// tests.
//
// A node started by Start is a RabbitMQ of its own: its own node name,
// Erlang cookie (HOME is its directory), database, logs, enabled-plugins
// file and configuration, with AMQP, MQTT and Erlang distribution on fresh
// loopback ports. It never touches the RabbitMQ that may run on the
// machine as a service (rabbit@localhost, AMQP 5672), whose MQTT plugin
// would otherwise take port 1883; only epmd, Erlang's port mapper on 4369,
// is shared (the node starts one if none runs).
//
// When RabbitMQ is missing the test is skipped, unless the environment
// variable CI is true, in which case it fails.
//
// Written against RabbitMQ 3.10.8 on Erlang/OTP 25 (Debian 12):
//
//   - Debian's /usr/sbin/rabbitmq-server runs the server as the rabbitmq
//     user with the system's directories; Start runs the script behind it,
//     /usr/lib/rabbitmq/bin/rabbitmq-server, as the test's user instead.
//     RABBITMQ_ALLOW_INPUT makes that script exec the Erlang VM rather
//     than wait for it, so that the process Start holds is the broker
//     (SIGKILL ends it, and it dies with the test binary).
//   - It takes 6 to 15 seconds to start: start one per test and share it
//     between subtests.
//   - The MQTT plugin of 3.10 speaks MQTT 3.1 and 3.1.1 only and closes
//     the connection on a 5.0 CONNECT.
package rabbitmq

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/internal/testproc"
)

const (
	// StartTimeout bounds how long Start waits for the node to answer an
	// MQTT CONNECT.
	StartTimeout = 60 * time.Second
	// StopTimeout bounds how long Stop waits after SIGTERM before it
	// kills the node.
	StopTimeout = 15 * time.Second
)

// InstallHint tells how to get RabbitMQ.
const InstallHint = "apt-get install rabbitmq-server"

// scripts are where the server script is looked for, in order: Debian's
// (behind the /usr/sbin wrapper), then PATH, for installs whose
// rabbitmq-server is the script itself.
var scripts = []string{"/usr/lib/rabbitmq/bin/rabbitmq-server", "rabbitmq-server"}

// portAttempts is how many sets of ports Start tries.
const portAttempts = 3

// Require returns the path of the rabbitmq-server script, or skips the
// test (fails it under CI=true) if RabbitMQ is not installed.
func Require(tb testing.TB) string {
	tb.Helper()
	if _, err := exec.LookPath("erl"); err != nil {
		testproc.Missing(tb, "erl (Erlang) not in PATH: "+InstallHint)
	}
	for _, s := range scripts {
		if p := testproc.Find(s); p != "" {
			return p
		}
	}
	testproc.Missing(tb, "rabbitmq-server not installed: "+InstallHint)
	return ""
}

// Options configures a node.
type Options struct {
	// Config is appended to the generated rabbitmq.conf (new-style
	// sysctl format, for example "mqtt.prefetch = 10").
	Config string
}

// Broker is a private RabbitMQ node with the MQTT plugin.
type Broker struct {
	// MQTTURL is "mqtt://127.0.0.1:PORT"; MQTTAddr is its host:port.
	MQTTURL, MQTTAddr string
	// AMQPAddr is the AMQP 0-9-1 listener.
	AMQPAddr string
	// Node is the Erlang node name, "culex-PID-N@localhost".
	Node string

	// Dir holds the configuration, the database, the logs and the
	// Erlang cookie.
	Dir, ConfigFile, LogDir string

	bin      string
	distPort int
	logShown bool

	mu     sync.Mutex
	proc   *process
	output testproc.Buffer
}

type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

var nodeSeq atomic.Int64

// Start runs a private RabbitMQ node with the MQTT plugin enabled, anonymous
// MQTT clients allowed (as the guest user, from loopback), and waits until
// it answers an MQTT CONNECT. It is stopped by a cleanup registered on tb,
// which also logs the node's log if the test failed.
func Start(tb testing.TB, opts Options) *Broker {
	tb.Helper()
	b := &Broker{bin: Require(tb), Dir: tb.TempDir()}
	b.Node = fmt.Sprintf("culex-%d-%d@localhost", os.Getpid(), nodeSeq.Add(1))
	b.ConfigFile = filepath.Join(b.Dir, "rabbitmq.conf")
	b.LogDir = filepath.Join(b.Dir, "log")
	if err := os.WriteFile(filepath.Join(b.Dir, "enabled_plugins"), []byte("[rabbitmq_mqtt].\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	// An empty environment file, so that the machine's
	// /etc/rabbitmq/rabbitmq-env.conf (NODENAME=rabbit@localhost) is not
	// read.
	if err := os.WriteFile(filepath.Join(b.Dir, "rabbitmq-env.conf"), nil, 0o600); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		b.Stop()
		if tb.Failed() && !b.logShown {
			tb.Logf("rabbitmq %s log (%s):\n%s", b.Node, b.Dir, testproc.Tail(b.Log(), 32<<10))
		}
	})
	for attempt := 1; ; attempt++ {
		ports, err := testproc.FreePorts(3)
		if err != nil {
			tb.Fatal(err)
		}
		b.AMQPAddr, b.MQTTAddr, b.distPort = testproc.Addr(ports[0]), testproc.Addr(ports[1]), ports[2]
		b.MQTTURL = "mqtt://" + b.MQTTAddr
		if err := os.WriteFile(b.ConfigFile, []byte(b.config(opts)), 0o600); err != nil {
			tb.Fatal(err)
		}
		err = b.run()
		if err == nil {
			return b
		}
		b.Stop()
		if errors.Is(err, errPortBusy) && attempt < portAttempts {
			tb.Logf("rabbitmq: %v; retrying with new ports", err)
			continue
		}
		b.logShown = true
		tb.Fatalf("rabbitmq did not start: %v\n%s", err, testproc.Tail(b.Log(), 32<<10))
	}
}

func (b *Broker) config(opts Options) string {
	var c strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&c, format+"\n", args...) }
	line("# Generated by internal/rabbitmq; private to one test.")
	line("listeners.tcp.default = %s", b.AMQPAddr)
	line("mqtt.listeners.tcp.default = %s", b.MQTTAddr)
	line("mqtt.allow_anonymous = true")
	// A test machine's disk may be nearly full: never block publishers
	// for it (the default limit is 50 MB).
	line("disk_free_limit.absolute = 1MB")
	line("log.file.level = info")
	line("log.console = false")
	if opts.Config != "" {
		line("# Options.Config")
		line("%s", opts.Config)
	}
	return c.String()
}

var errPortBusy = errors.New("a port is already in use")

func (b *Broker) run() error {
	cmd := exec.Command(b.bin)
	cmd.Dir = b.Dir
	cmd.Env = append(os.Environ(),
		"HOME="+b.Dir,
		"RABBITMQ_ALLOW_INPUT=true",
		"RABBITMQ_SERVER_START_ARGS=-noinput",
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(b.Dir, "rabbitmq-env.conf"),
		"RABBITMQ_NODENAME="+b.Node,
		fmt.Sprintf("RABBITMQ_DIST_PORT=%d", b.distPort),
		"RABBITMQ_CONFIG_FILE="+b.ConfigFile,
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(b.Dir, "advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(b.Dir, "enabled_plugins"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(b.Dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+b.LogDir,
		"RABBITMQ_PLUGINS_EXPAND_DIR="+filepath.Join(b.Dir, "plugins-expand"),
		"RABBITMQ_PID_FILE="+filepath.Join(b.Dir, "rabbitmq.pid"),
		"ERL_EPMD_ADDRESS=127.0.0.1",
	)
	cmd.Stdin = nil
	cmd.Stdout = &b.output
	cmd.Stderr = &b.output
	testproc.SetProcAttr(cmd)
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

	deadline := time.Now().Add(StartTimeout)
	var last error
	for {
		select {
		case <-p.exited:
			if strings.Contains(b.Log(), "eaddrinuse") {
				return fmt.Errorf("rabbitmq exited (%v): %w", p.err, errPortBusy)
			}
			return fmt.Errorf("rabbitmq exited early: %v", p.err)
		default:
		}
		if strings.Contains(b.Log(), "Server startup complete") {
			if last = testproc.Handshake(b.MQTTAddr, 5*time.Second); last == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no MQTT CONNACK on %s after %v: %v", b.MQTTAddr, StartTimeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop ends the node with SIGTERM, and SIGKILL after StopTimeout. It
// returns once the process has exited; stopping a stopped node does
// nothing.
func (b *Broker) Stop() {
	b.mu.Lock()
	p := b.proc
	b.proc = nil
	b.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(StopTimeout):
		fmt.Fprintf(&b.output, "--- still running %v after SIGTERM: killed\n", StopTimeout)
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// Log returns the node's log followed by what it wrote to stdout and
// stderr.
func (b *Broker) Log() string {
	var s strings.Builder
	if data, err := os.ReadFile(filepath.Join(b.LogDir, b.Node+".log")); err == nil {
		s.Write(data)
	}
	if out := b.output.String(); out != "" {
		s.WriteString("\n--- rabbitmq stdout/stderr ---\n")
		s.WriteString(out)
	}
	return s.String()
}
