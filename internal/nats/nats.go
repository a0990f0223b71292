// Package nats starts private nats-server processes with MQTT for tests:
// a single node, or a cluster of nodes on one machine whose MQTT sessions,
// retained messages and QoS 1 messages live in JetStream streams
// replicated to every node.
//
// Every node listens on fresh loopback ports (client, cluster, MQTT and
// monitoring) with a configuration and JetStream store of its own under
// the test's temporary directory, so tests never touch the nats-server
// that may run on the machine (port 4222) and can run in parallel.
//
// When nats-server is missing the test is skipped, unless the environment
// variable CI is true, in which case it fails.
//
// Written against nats-server 2.9.10, whose MQTT support is 3.1.1 only:
//
//   - MQTT needs server_name and JetStream; the streams that hold MQTT
//     state ($MQTT_sess, $MQTT_msgs, $MQTT_rmsgs) are made when the first
//     MQTT client connects, which takes a second or two in a cluster. A
//     node is ready once an MQTT CONNECT gets its CONNACK (Start waits for
//     that), not when its ports are open.
//   - JetStream in a cluster of three needs two nodes up to make progress:
//     with one node killed the others go on, with two they stop.
//   - A subscription made on one node reaches the others through the
//     cluster's routes a moment later: publish probes until one arrives,
//     never sleep.
package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/internal/testproc"
)

// Timeouts used by Start, StartCluster and Node.Restart.
const (
	// StartTimeout bounds how long a node (or a cluster) may take to
	// answer an MQTT CONNECT after it was started.
	StartTimeout = 30 * time.Second
	// StopTimeout bounds how long Stop waits after SIGTERM before it
	// kills the node.
	StopTimeout = 5 * time.Second
)

// InstallHint tells how to get nats-server.
const InstallHint = "apt-get install nats-server"

// portAttempts is how many sets of ports Start and StartCluster try when
// another process grabs a port between the probe and the bind.
const portAttempts = 5

// Require returns the path of nats-server, or skips the test (fails it
// under CI=true) if it is not installed.
func Require(tb testing.TB) string {
	tb.Helper()
	return testproc.Require(tb, "nats-server", InstallHint)
}

// Options configures the nodes started by Start and StartCluster.
type Options struct {
	// Extra is appended verbatim to each node's configuration, at the top
	// level (for example "max_payload: 65536").
	Extra string
	// MQTTExtra is added inside each node's mqtt block (for example
	// "ack_wait: \"5s\"" or "max_ack_pending: 100").
	MQTTExtra string
}

// Node is one nats-server process. Its addresses do not change on Restart.
type Node struct {
	// Name is the node's server_name: "n1", "n2", ...
	Name string
	// MQTTURL is "mqtt://127.0.0.1:PORT"; MQTTAddr is its host:port.
	MQTTURL, MQTTAddr string
	// ClientAddr is the NATS client listener, ClusterAddr the route
	// listener (empty for a single node), MonitorAddr the HTTP
	// monitoring listener (/varz, /healthz, /jsz).
	ClientAddr, ClusterAddr, MonitorAddr string

	// Dir holds the configuration, log and JetStream store.
	Dir, ConfigFile, LogFile, StoreDir string

	bin    string
	routes []string // the cluster's route URLs, every node's
	opts   Options

	logShown bool

	mu     sync.Mutex
	proc   *process
	output testproc.Buffer // stdout and stderr of every run
}

type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // Wait's result, valid once exited is closed
}

// Cluster is a set of nodes started by StartCluster, routed to each other,
// with MQTT streams replicated on all of them.
type Cluster struct {
	Nodes []*Node
}

// Start runs one private nats-server with JetStream and MQTT, and waits
// until it answers an MQTT CONNECT. The node is stopped by a cleanup
// registered on tb, which also logs its log if the test failed.
func Start(tb testing.TB, opts Options) *Node {
	tb.Helper()
	c := start(tb, 1, opts)
	return c.Nodes[0]
}

// StartCluster runs n private nats-servers (n >= 3 for JetStream to
// survive the loss of one) routed into one cluster, with MQTT streams
// replicated n times, and waits until every node answers an MQTT CONNECT.
func StartCluster(tb testing.TB, n int, opts Options) *Cluster {
	tb.Helper()
	if n < 2 {
		tb.Fatalf("nats.StartCluster: %d nodes; use Start for one", n)
	}
	return start(tb, n, opts)
}

func start(tb testing.TB, n int, opts Options) *Cluster {
	tb.Helper()
	bin := Require(tb)
	c := &Cluster{}
	for i := range n {
		nd := &Node{Name: fmt.Sprintf("n%d", i+1), bin: bin, opts: opts, Dir: tb.TempDir()}
		nd.ConfigFile = filepath.Join(nd.Dir, "nats.conf")
		nd.LogFile = filepath.Join(nd.Dir, "nats.log")
		nd.StoreDir = filepath.Join(nd.Dir, "jetstream")
		c.Nodes = append(c.Nodes, nd)
	}
	tb.Cleanup(func() {
		var wg sync.WaitGroup
		for _, nd := range c.Nodes {
			wg.Go(nd.Stop)
		}
		wg.Wait()
		if tb.Failed() {
			for _, nd := range c.Nodes {
				if !nd.logShown {
					tb.Logf("nats-server %s log (%s):\n%s", nd.Name, nd.Dir, testproc.Tail(compact(nd.Log()), 32<<10))
				}
			}
		}
	})

	for attempt := 1; ; attempt++ {
		ports, err := testproc.FreePorts(4 * n)
		if err != nil {
			tb.Fatal(err)
		}
		var routes []string
		for i, nd := range c.Nodes {
			p := ports[4*i:]
			nd.ClientAddr, nd.MQTTAddr, nd.MonitorAddr = testproc.Addr(p[0]), testproc.Addr(p[1]), testproc.Addr(p[2])
			nd.MQTTURL = "mqtt://" + nd.MQTTAddr
			if n > 1 {
				nd.ClusterAddr = testproc.Addr(p[3])
				routes = append(routes, "nats-route://"+nd.ClusterAddr)
			}
		}
		for _, nd := range c.Nodes {
			nd.routes = routes
			if err := os.WriteFile(nd.ConfigFile, []byte(nd.config(n)), 0o600); err != nil {
				tb.Fatal(err)
			}
		}
		err = c.run()
		if err == nil {
			return c
		}
		for _, nd := range c.Nodes {
			nd.Stop()
		}
		if errors.Is(err, errPortBusy) && attempt < portAttempts {
			tb.Logf("nats-server: %v; retrying with new ports", err)
			continue
		}
		for _, nd := range c.Nodes {
			nd.logShown = true
			tb.Logf("nats-server %s log:\n%s", nd.Name, testproc.Tail(nd.Log(), 32<<10))
		}
		tb.Fatalf("nats-server did not start: %v", err)
	}
}

// run starts every node, then waits until each answers MQTT.
func (c *Cluster) run() error {
	for _, nd := range c.Nodes {
		if err := nd.spawn(); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(StartTimeout)
	for _, nd := range c.Nodes {
		if err := nd.waitReady(deadline); err != nil {
			return err
		}
	}
	return nil
}

// URLs returns the MQTT URLs of the nodes, in order.
func (c *Cluster) URLs() []string {
	var urls []string
	for _, nd := range c.Nodes {
		urls = append(urls, nd.MQTTURL)
	}
	return urls
}

// ByURL returns the node whose MQTTURL or MQTTAddr is s, or nil.
func (c *Cluster) ByURL(s string) *Node {
	for _, nd := range c.Nodes {
		if s == nd.MQTTURL || s == nd.MQTTAddr {
			return nd
		}
	}
	return nil
}

// config renders the node's configuration for a cluster of n nodes.
func (nd *Node) config(n int) string {
	var c strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&c, format+"\n", args...) }
	host, port, _ := net.SplitHostPort(nd.ClientAddr)
	line("# Generated by internal/nats; private to one test.")
	line("server_name: %s", nd.Name)
	line("host: %s", host)
	line("port: %s", port)
	line("http: %q", nd.MonitorAddr)
	line("jetstream {")
	line("  store_dir: %q", nd.StoreDir)
	line("}")
	line("mqtt {")
	line("  listen: %q", nd.MQTTAddr)
	if n > 1 {
		line("  stream_replicas: %d", n)
	}
	if nd.opts.MQTTExtra != "" {
		line("  %s", nd.opts.MQTTExtra)
	}
	line("}")
	if n > 1 {
		line("cluster {")
		line("  name: culex")
		line("  listen: %q", nd.ClusterAddr)
		line("  routes: [")
		for _, r := range nd.routes {
			line("    %q", r)
		}
		line("  ]")
		line("}")
	}
	if nd.opts.Extra != "" {
		line("# Options.Extra")
		line("%s", nd.opts.Extra)
	}
	return c.String()
}

// errPortBusy reports that a node could not bind one of its ports.
var errPortBusy = errors.New("a port is already in use")

// spawn starts the node's process without waiting for it.
func (nd *Node) spawn() error {
	fmt.Fprintf(&nd.output, "--- %s: starting %s -c %s\n", time.Now().Format(time.TimeOnly), nd.bin, nd.ConfigFile)
	cmd := exec.Command(nd.bin, "-c", nd.ConfigFile, "-l", nd.LogFile)
	cmd.Dir = nd.Dir
	cmd.Stdout = &nd.output
	cmd.Stderr = &nd.output
	testproc.SetProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	nd.mu.Lock()
	nd.proc = p
	nd.mu.Unlock()
	return nil
}

// waitReady waits until the node answers an MQTT CONNECT with a CONNACK
// that accepts it, or until deadline.
func (nd *Node) waitReady(deadline time.Time) error {
	nd.mu.Lock()
	p := nd.proc
	nd.mu.Unlock()
	if p == nil {
		return fmt.Errorf("nats-server %s is not running", nd.Name)
	}
	var last error
	for {
		select {
		case <-p.exited:
			log := nd.Log()
			if strings.Contains(log, "address already in use") {
				return fmt.Errorf("nats-server %s exited (%v): %w", nd.Name, p.err, errPortBusy)
			}
			return fmt.Errorf("nats-server %s exited early: %v", nd.Name, p.err)
		default:
		}
		last = testproc.Handshake(nd.MQTTAddr, time.Until(deadline))
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats-server %s answers no MQTT CONNECT on %s: %v", nd.Name, nd.MQTTAddr, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends the node with SIGKILL, as a crash or a power cut would: no
// goodbye to clients or to the other nodes, nothing flushed. It returns
// once the process has exited. Killing a stopped node does nothing.
func (nd *Node) Kill() {
	nd.mu.Lock()
	p := nd.proc
	nd.proc = nil
	nd.mu.Unlock()
	if p == nil {
		return
	}
	fmt.Fprintf(&nd.output, "--- %s: SIGKILL\n", time.Now().Format(time.TimeOnly))
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Stop ends the node with SIGTERM, and SIGKILL if it has not exited after
// StopTimeout. Stopping a stopped node does nothing.
func (nd *Node) Stop() {
	nd.mu.Lock()
	p := nd.proc
	nd.proc = nil
	nd.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(StopTimeout):
		fmt.Fprintf(&nd.output, "--- still running %v after SIGTERM: killed\n", StopTimeout)
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// Restart starts a stopped or killed node again, with the same
// configuration, ports and JetStream store, and waits until it answers an
// MQTT CONNECT. It fails the test if it does not within StartTimeout.
func (nd *Node) Restart(tb testing.TB) {
	tb.Helper()
	nd.Stop()
	deadline := time.Now().Add(StartTimeout)
	var err error
	for {
		if err = nd.spawn(); err == nil {
			if err = nd.waitReady(deadline); err == nil {
				return
			}
		}
		nd.Stop()
		// A killed node's ports are free at once, but another test may
		// have taken one: that cannot be repaired, the others know this
		// node by its ports.
		if !errors.Is(err, errPortBusy) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	nd.logShown = true
	tb.Fatalf("nats-server %s did not restart: %v\n%s", nd.Name, err, testproc.Tail(nd.Log(), 32<<10))
}

// Running reports whether the node's process is running.
func (nd *Node) Running() bool {
	nd.mu.Lock()
	p := nd.proc
	nd.mu.Unlock()
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

// Log returns the node's log so far, across restarts, followed by what
// nats-server wrote to stdout and stderr.
func (nd *Node) Log() string {
	var s strings.Builder
	if data, err := os.ReadFile(nd.LogFile); err == nil {
		s.Write(data)
	}
	if out := nd.output.String(); out != "" {
		s.WriteString("\n--- nats-server stdout/stderr ---\n")
		s.WriteString(out)
	}
	return s.String()
}

// monitorClient keeps no idle connections: their goroutines would outlive
// the test and trip its leak check.
var monitorClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// Health asks the node's monitoring endpoint /healthz whether JetStream is
// up, in touch with its meta leader, and has every stream and consumer it
// holds current. It returns nil if so, else what /healthz says is wrong.
func (nd *Node) Health(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+nd.MonitorAddr+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := monitorClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var h struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&h); err != nil {
		return fmt.Errorf("/healthz: %s: %w", resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK || h.Status != "ok" {
		return fmt.Errorf("/healthz: %s: %s", h.Status, h.Error)
	}
	return nil
}

// idleRetainedConsumer matches what /healthz of nats-server 2.9.10 says
// forever, after a restart, about the consumers that feed each node's
// retained messages when no retained message is published: that they are
// not current (/healthz was repaired later, nats-server pull request 4116).
var idleRetainedConsumer = regexp.MustCompile(`^/healthz: \S+: JetStream consumer '[^']* > \$MQTT_rmsgs > \$MQTT_rmsgs_[^']*' is not current$`)

// WaitCurrent waits until the node is back in its cluster after Restart:
// until /healthz says its streams and consumers have caught up with the
// others, so that another node may fail without JetStream losing its
// majority. It accepts the complaint of nats-server 2.9.10 about idle
// retained-message consumers, which never ends, when /healthz has said
// nothing else for a second. It returns the last complaint if ctx ends
// first.
func (nd *Node) WaitCurrent(ctx context.Context) error {
	var quietSince time.Time
	for {
		err := nd.Health(ctx)
		switch {
		case err == nil:
			return nil
		case idleRetainedConsumer.MatchString(err.Error()):
			if quietSince.IsZero() {
				quietSince = time.Now()
			} else if time.Since(quietSince) >= time.Second {
				return nil
			}
		default:
			quietSince = time.Time{}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nats-server %s: %w (last: %v)", nd.Name, ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// compact drops from a log the warnings that WaitCurrent's polling of
// /healthz makes nats-server write, but for the last of each run of them.
func compact(log string) string {
	var b strings.Builder
	lines := strings.Split(log, "\n")
	dropped := 0
	for i, l := range lines {
		if strings.Contains(l, "Healthcheck failed") && i+1 < len(lines) && strings.Contains(lines[i+1], "Healthcheck failed") {
			dropped++
			continue
		}
		if dropped > 0 {
			fmt.Fprintf(&b, "[%d more Healthcheck failed lines]\n", dropped)
			dropped = 0
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}
