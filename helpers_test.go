package mqtt_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// Helpers shared by more than one test file of the package: contexts and
// waiting, listeners and dialers, the scripted peers of the unit tests, and
// what the suites count messages with. A helper that only one file uses
// stays in that file; so do the chaos proxy (proxy_test.go) and the broker
// suite's runInterop (brokers_test.go), which the suites that use them are
// built around.

// Contexts and waiting.

// dialT dials url with o (which may be nil), within 10 seconds, failing t
// if it cannot; the client is closed when the test ends.
func dialT(t *testing.T, url string, o *mqtt.DialOptions) *mqtt.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := mqtt.Dial(ctx, url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testCtx is a context that ends after 10 seconds or with the test.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// async runs f in a goroutine and returns a channel with its error.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// waitFor polls cond every 5 ms until it holds or d has passed.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// Listeners and dialers.

// listenLocal listens on a free port of 127.0.0.1 until the test ends.
func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// serveConns runs handle on a goroutine for each connection ln accepts,
// and closes the connection when handle returns: a peer of a few lines.
func serveConns(ln net.Listener, handle func(net.Conn)) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c) }()
		}
	}()
}

// pipeDialer is a DialOptions.Dialer whose connections are pipes to the
// test, which plays the server; it counts the dials.
type pipeDialer struct {
	conns chan net.Conn
	n     atomic.Int32
}

// newPipeDialer returns a pipeDialer whose first 4 connections need no
// reader of conns yet.
func newPipeDialer() *pipeDialer { return &pipeDialer{conns: make(chan net.Conn, 4)} }

// dial is the DialOptions.Dialer: it hands the server's end of a new pipe
// to conns.
func (d *pipeDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.n.Add(1)
	a, b := net.Pipe()
	d.conns <- b
	return a, nil
}

// recordingDialer is a DialOptions.Dialer that records every address it is
// asked for and connects nowhere: a Dial that reaches it has made a
// connection attempt (and, with a real dialer, a DNS lookup of the host).
type recordingDialer struct {
	mu    sync.Mutex
	addrs []string
}

// dial is the DialOptions.Dialer: it records addr and fails.
func (d *recordingDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	return nil, errors.New("recordingDialer connects nowhere")
}

// dialed returns the addresses dialed so far.
func (d *recordingDialer) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

// Scripted peers: a server on the other end of a net.Pipe, packet by packet.

// peer is a scripted server on the other end of a net.Pipe: each test says
// packet by packet what the server receives and sends. It runs inside a
// synctest bubble, so "nothing more was sent" can be asserted with
// synctest.Wait instead of sleeps.
type peer struct {
	t    *testing.T
	v    wire.Version
	conn net.Conn
	r    *wire.Reader
}

// dialPeer dials a client whose network connection is a pipe to a peer that
// answers CONNECT with ack. opts may be nil.
func dialPeer(t *testing.T, v wire.Version, ack *wire.Connack, opts *mqtt.DialOptions) (*mqtt.Client, *peer) {
	t.Helper()
	var o mqtt.DialOptions
	if opts != nil {
		o = *opts
	}
	if o.Version == 0 {
		o.Version = mqtt.Version(v)
	}
	o.NoReconnect = true // one connection per peer; reconnect_test.go has more
	conns := make(chan net.Conn, 1)
	o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		a, b := net.Pipe()
		conns <- b
		return a, nil
	}
	var c *mqtt.Client
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err = mqtt.Dial(context.Background(), "mqtt://broker.test", &o)
	}()
	p := &peer{t: t, v: v, conn: <-conns}
	p.r = wire.NewReader(p.conn, 0)
	connect := p.expect(wire.CONNECT).(*wire.Connect)
	if connect.Version != v {
		t.Fatalf("CONNECT for version %v, want %v", connect.Version, v)
	}
	p.send(ack)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); p.conn.Close() })
	return c, p
}

// read reads the next packet the client sent, failing the test on error.
func (p *peer) read() wire.Packet {
	p.t.Helper()
	pkt, err := p.r.ReadPacket(p.v)
	if err != nil {
		p.t.Fatalf("peer: reading: %v", err)
	}
	return pkt
}

// expect reads the next packet the client sent and fails the test unless
// it is of type t.
func (p *peer) expect(t wire.Type) wire.Packet {
	p.t.Helper()
	pkt := p.read()
	if pkt.Type() != t {
		p.t.Fatalf("peer: got %v %+v, want %v", pkt.Type(), pkt, t)
	}
	return pkt
}

// send writes pkts to the client, in order.
func (p *peer) send(pkts ...wire.Packet) {
	p.t.Helper()
	for _, pkt := range pkts {
		b, err := pkt.Append(nil, p.v)
		if err != nil {
			p.t.Fatalf("peer: encoding %v: %v", pkt.Type(), err)
		}
		if _, err := p.conn.Write(b); err != nil {
			p.t.Fatalf("peer: writing %v: %v", pkt.Type(), err)
		}
	}
}

// subscribe has c subscribe to f, answers the SUBSCRIBE granting the QoS
// asked for, and returns the Subscription with the SUBSCRIBE the peer read.
func (p *peer) subscribe(c *mqtt.Client, f mqtt.Filter) (*mqtt.Subscription, *wire.Subscribe) {
	p.t.Helper()
	res := make(chan *mqtt.Subscription, 1)
	go func() {
		s, err := c.Subscribe(context.Background(), f)
		if err != nil {
			p.t.Error(err)
		}
		res <- s
	}()
	pkt := p.expect(wire.SUBSCRIBE).(*wire.Subscribe)
	p.send(&wire.Suback{PacketID: pkt.PacketID, ReasonCodes: []wire.ReasonCode{wire.ReasonCode(f.QoS)}})
	return <-res, pkt
}

// versions are the protocol versions a test runs over, one subtest each.
var versions = []wire.Version{wire.V31, wire.V311, wire.V5}

// peers plays the server for a client that reconnects: each connection the
// client opens becomes a new scripted peer, taken with accept.
type peers struct {
	t     *testing.T
	v     wire.Version
	conns chan net.Conn

	mu       sync.Mutex
	refuse   int      // dials to fail before accepting again
	addrs    []string // every address dialed
	lost     []error  // OnConnectionLost
	attempts []attempt
}

// attempt is one reconnection attempt as OnReconnecting reported it.
type attempt struct {
	n     int
	delay time.Duration
	err   error
}

// dialPeers dials a client that reconnects to peers, and accepts its first
// connection with a plain CONNACK. opts may be nil.
func dialPeers(t *testing.T, v wire.Version, opts *mqtt.DialOptions) (*mqtt.Client, *peers, *peer) {
	t.Helper()
	var o mqtt.DialOptions
	if opts != nil {
		o = *opts
	}
	o.Version = mqtt.Version(v)
	ps := &peers{t: t, v: v, conns: make(chan net.Conn)}
	o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		ps.mu.Lock()
		ps.addrs = append(ps.addrs, addr)
		refuse := ps.refuse > 0
		if refuse {
			ps.refuse--
		}
		ps.mu.Unlock()
		if refuse {
			return nil, errors.New("connection refused")
		}
		a, b := net.Pipe()
		select {
		case ps.conns <- b:
			return a, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	o.OnConnectionLost = func(err error) {
		ps.mu.Lock()
		ps.lost = append(ps.lost, err)
		ps.mu.Unlock()
	}
	o.OnReconnecting = func(n int, delay time.Duration, err error) {
		ps.mu.Lock()
		ps.attempts = append(ps.attempts, attempt{n, delay, err})
		ps.mu.Unlock()
	}
	var c *mqtt.Client
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err = mqtt.Dial(context.Background(), "mqtt://broker.test", &o)
	}()
	p, _ := ps.accept(&wire.Connack{})
	<-done
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, ps, p
}

// accept takes the client's next connection and answers its CONNECT with
// ack.
func (ps *peers) accept(ack *wire.Connack) (*peer, *wire.Connect) {
	ps.t.Helper()
	p := &peer{t: ps.t, v: ps.v, conn: <-ps.conns}
	ps.t.Cleanup(func() { p.conn.Close() })
	p.r = wire.NewReader(p.conn, 0)
	connect := p.expect(wire.CONNECT).(*wire.Connect)
	p.send(ack)
	return p, connect
}

// drain reads and discards what the client still writes to p.
func (p *peer) drain() {
	go func() {
		for {
			if _, err := p.r.ReadPacket(p.v); err != nil {
				return
			}
		}
	}()
}

// reconnects returns the attempts OnReconnecting reported so far.
func (ps *peers) reconnects() []attempt {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return append([]attempt(nil), ps.attempts...)
}

// expectPubrec reads the client's PUBREC for id.
func (p *peer) expectPubrec(id uint16) {
	p.t.Helper()
	if rec := p.expect(wire.PUBREC).(*wire.Pubrec); rec.PacketID != id || rec.ReasonCode.IsError() {
		p.t.Fatalf("PUBREC %d %v, want a success for %d", rec.PacketID, rec.ReasonCode, id)
	}
}

// What the client sent and delivered.

// recorder reads everything the client sends from the moment it starts, so
// that a test can assert both what has been sent by now and that nothing
// else was: sent returns what arrived by the time every goroutine of the
// bubble is blocked (synctest.Wait), without waiting for a packet that
// must not come.
type recorder struct {
	p  *peer
	ch chan wire.Packet
}

// record starts a recorder of what the client sends to p.
func (p *peer) record() *recorder {
	r := &recorder{p: p, ch: make(chan wire.Packet, 4096)}
	go func() {
		defer close(r.ch)
		for {
			pkt, err := p.r.ReadPacket(p.v)
			if err != nil {
				return // the test's end closed the pipe
			}
			r.ch <- pkt
		}
	}()
	return r
}

// next waits for the next packet the client sends.
func (r *recorder) next() wire.Packet {
	r.p.t.Helper()
	pkt, ok := <-r.ch
	if !ok {
		r.p.t.Fatal("peer: the connection ended")
	}
	return pkt
}

// sent returns, once the bubble is idle, what the client sent since the
// last call, each packet as describe writes it.
func (r *recorder) sent() []string { return r.drain(describe) }

// drain returns, once the bubble is idle, what the client sent since the
// last call, each packet as show writes it.
func (r *recorder) drain(show func(wire.Packet) string) []string {
	synctest.Wait()
	got := []string{}
	for {
		select {
		case pkt, ok := <-r.ch:
			if !ok {
				return got
			}
			got = append(got, show(pkt))
		default:
			return got
		}
	}
}

// subscribe has c subscribe to f, grants it, and returns the Subscription.
func (r *recorder) subscribe(c *mqtt.Client, f mqtt.Filter) *mqtt.Subscription {
	r.p.t.Helper()
	res := make(chan *mqtt.Subscription, 1)
	go func() {
		s, err := c.Subscribe(context.Background(), f)
		if err != nil {
			r.p.t.Error(err)
		}
		res <- s
	}()
	pkt, ok := r.next().(*wire.Subscribe)
	if !ok {
		r.p.t.Fatal("peer: expected SUBSCRIBE")
	}
	r.p.send(&wire.Suback{PacketID: pkt.PacketID, ReasonCodes: []wire.ReasonCode{wire.ReasonCode(f.QoS)}})
	return <-res
}

// describe names a packet the client sent, for the tests' messages.
func describe(pkt wire.Packet) string {
	switch p := pkt.(type) {
	case *wire.Puback:
		return fmt.Sprintf("PUBACK %d", p.PacketID)
	case *wire.Pubrec:
		return fmt.Sprintf("PUBREC %d", p.PacketID)
	case *wire.Pubcomp:
		return fmt.Sprintf("PUBCOMP %d", p.PacketID)
	case *wire.Unsubscribe:
		return fmt.Sprintf("UNSUBSCRIBE %v", p.Topics)
	case *wire.Subscribe:
		topics := make([]string, len(p.Filters))
		for i, f := range p.Filters {
			topics[i] = f.Topic
		}
		return fmt.Sprintf("SUBSCRIBE %v", topics)
	}
	return pkt.Type().String()
}

// expectNext fails unless s hands out exactly the payloads want, in order,
// and then has nothing more.
func expectNext(t *testing.T, s *mqtt.Subscription, want ...string) {
	t.Helper()
	for _, w := range want {
		m, err := s.Next(context.Background())
		if err != nil || string(m.Payload) != w {
			t.Fatalf("Next = %q, %v; want %q", m.Payload, err, w)
		}
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if m, err := s.Next(done); err == nil {
		t.Fatalf("Next = %q, want nothing more", m.Payload)
	}
}

// connects records the CONNECT packets a client sends (DialOptions.OnPacketSent).
type connects struct {
	mu   sync.Mutex
	pkts []*wire.Connect
}

// hook is the DialOptions.OnPacketSent that records CONNECT packets.
func (r *connects) hook(p wire.Packet) {
	if c, ok := p.(*wire.Connect); ok {
		r.mu.Lock()
		r.pkts = append(r.pkts, c)
		r.mu.Unlock()
	}
}

// all returns the CONNECT packets recorded so far.
func (r *connects) all() []*wire.Connect {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*wire.Connect(nil), r.pkts...)
}

// expectSoon fails the test unless s hands out a message with payload want
// within a minute of the bubble's clock: a client that does not deliver it
// fails the test rather than hanging it.
func expectSoon(t *testing.T, s *mqtt.Subscription, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v, want the message %q", err, want)
	}
	if string(m.Payload) != want {
		t.Fatalf("Next: %q, want %q", m.Payload, want)
	}
}

// expectNone fails the test if s has a message to hand out.
func expectNone(t *testing.T, s *mqtt.Subscription) {
	t.Helper()
	synctest.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if m, err := s.Next(ctx); err == nil {
		t.Fatalf("Next handed out %q, want nothing", m.Payload)
	}
}

// syncBuffer is a bytes.Buffer for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// checkOnePrefix fails when an error reads "mqtt: " more than once.
func checkOnePrefix(t *testing.T, what string, err error) {
	t.Helper()
	if n := strings.Count(err.Error(), "mqtt: "); n != 1 {
		t.Errorf("%s: %q reads \"mqtt: \" %d times, want once", what, err, n)
	}
}

// packetTypes lists the types of the packets one client exchanged with the
// broker, as the broker recorded them, prefixed "->" when the client sent it.
// With outgoing set it keeps the packets of flows the client started (its
// PUBLISH and their acknowledgements), else those the broker started.
func packetTypes(srv *mqtttest.Server, clientID string, outgoing bool) []string {
	var out []string
	for _, r := range srv.Packets() {
		if r.ClientID != clientID {
			continue
		}
		prefix := "<-"
		fromClient := r.Dir == mqtttest.FromClient
		if fromClient {
			prefix = "->"
		}
		switch r.Packet.Type() {
		case wire.PUBLISH, wire.PUBREL:
			if fromClient != outgoing {
				continue
			}
		case wire.PUBACK, wire.PUBREC, wire.PUBCOMP:
			if fromClient == outgoing {
				continue
			}
		}
		out = append(out, prefix+r.Packet.Type().String())
	}
	return out
}

// Message accounting for the suites that publish sequences of messages.

// tally counts the messages a subscriber received, by QoS and sequence
// number. Payloads are "<qos>-<seq>"; anything else is an error, except the
// payload "end", which marks the end of a run.
type tally struct {
	mu      sync.Mutex
	counts  [3]map[int]int // by QoS (1 and 2), by sequence number
	total   int
	bad     []string
	endSeen chan struct{}
	endOnce sync.Once
}

// newTally returns an empty tally.
func newTally() *tally {
	return &tally{counts: [3]map[int]int{nil, {}, {}}, endSeen: make(chan struct{})}
}

// seqPayload is the payload of message seq of a run at qos: "<qos>-<seq>".
func seqPayload(qos mqtt.QoS, seq int) []byte { return fmt.Appendf(nil, "%d-%d", qos, seq) }

// parseSeqPayload is the inverse of seqPayload.
func parseSeqPayload(b []byte) (mqtt.QoS, int, bool) {
	q, s, ok := strings.Cut(string(b), "-")
	if !ok || (q != "1" && q != "2") {
		return 0, 0, false
	}
	seq, err := strconv.Atoi(s)
	if err != nil {
		return 0, 0, false
	}
	return mqtt.QoS(q[0] - '0'), seq, true
}

// add counts m; a payload that is no sequence payload, or a message that
// arrived at another QoS than it names, is recorded as bad. The payload
// "end" closes endSeen instead.
func (t *tally) add(m mqtt.Message) {
	if string(m.Payload) == "end" {
		t.endOnce.Do(func() { close(t.endSeen) })
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	q, seq, ok := parseSeqPayload(m.Payload)
	switch {
	case !ok:
		t.bad = append(t.bad, fmt.Sprintf("unexpected payload %q on %q", m.Payload, m.Topic))
	case m.QoS != q:
		t.bad = append(t.bad, fmt.Sprintf("message %s arrived at %v", m.Payload, m.QoS))
	default:
		t.counts[q][seq]++
		t.total++
	}
}

// count returns how often message (q, seq) arrived.
func (t *tally) count(q mqtt.QoS, seq int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts[q][seq]
}

// has reports whether every message of want arrived.
func (t *tally) has(want map[msgKey]bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range want {
		if t.counts[k.qos][k.seq] == 0 {
			return false
		}
	}
	return true
}

// receive hands every message of s to t until the subscription or ctx ends.
func (t *tally) receive(ctx context.Context, s *mqtt.Subscription, wg *sync.WaitGroup) {
	wg.Go(func() {
		for {
			m, err := s.Next(ctx)
			if err != nil {
				return
			}
			t.add(m)
		}
	})
}

// check reports missing messages of want and QoS 2 duplicates. what
// describes each message of want for the report.
func (t *tally) check(tb testing.TB, want map[msgKey]bool, what func(msgKey) string) {
	tb.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range t.bad[:min(len(t.bad), 10)] {
		tb.Error(b)
	}
	var missing []msgKey
	for k := range want {
		if t.counts[k.qos][k.seq] == 0 {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		var s []string
		for _, k := range missing[:min(len(missing), 10)] {
			s = append(s, what(k))
		}
		tb.Errorf("%d of %d messages never arrived, among them:\n\t%s", len(missing), len(want), strings.Join(s, "\n\t"))
	}
	var dups []string
	for seq, n := range t.counts[2] {
		if n > 1 {
			dups = append(dups, fmt.Sprintf("QoS 2 message %d arrived %d times", seq, n))
		}
	}
	if len(dups) > 0 {
		tb.Errorf("%d QoS 2 messages arrived more than once, among them:\n\t%s", len(dups), strings.Join(dups[:min(len(dups), 10)], "\n\t"))
	}
}

// msgKey names one message of a run.
type msgKey struct {
	qos mqtt.QoS
	seq int
}

// A fake broker for the benchmarks.

// ackServer is the cheapest possible MQTT server for measuring the client's
// own cost: it acknowledges every PUBLISH at once and routes nothing.
func ackServer(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				serveAcks(conn)
			}()
		}
	}()
	return "mqtt://" + ln.Addr().String()
}

// serveAcks is ackServer's side of one connection: CONNACK, then an
// acknowledgement for every PUBLISH and PUBREL and a PINGRESP for every
// PINGREQ, until DISCONNECT.
func serveAcks(conn net.Conn) {
	r := wire.NewReader(conn, 0)
	w := bufio.NewWriterSize(conn, 64<<10)
	pkt, err := r.ReadPacket(wire.V5)
	if err != nil {
		return
	}
	v := pkt.(*wire.Connect).Version
	b, _ := (&wire.Connack{}).Append(nil, v)
	conn.Write(b)
	var out []byte
	for {
		h, body, err := r.Next()
		if err != nil {
			return
		}
		out = out[:0]
		switch h.Type {
		case wire.PUBLISH:
			// Parsed by hand: the server's own allocations would count
			// against the client in this benchmark.
			qos := h.Flags >> 1 & 3
			if qos == 0 {
				continue
			}
			n := int(body[0])<<8 | int(body[1])
			id := body[2+n : 4+n]
			first := byte(0x40) // PUBACK
			if qos == 2 {
				first = 0x50 // PUBREC
			}
			out = append(out, first, 2, id[0], id[1])
		case wire.PUBREL:
			out = append(out, 0x70, 2, body[0], body[1])
		case wire.PINGREQ:
			out = append(out, 0xd0, 0)
		case wire.DISCONNECT:
			w.Flush()
			return
		}
		w.Write(out)
		if r.Buffered() == 0 {
			w.Flush()
		}
	}
}

// servers returns a plain and a TLS fake broker, each with the options a
// client needs to reach it.
func servers(t *testing.T) map[string]func() (*mqtttest.Server, *mqtt.DialOptions) {
	return map[string]func() (*mqtttest.Server, *mqtt.DialOptions){
		"tcp": func() (*mqtttest.Server, *mqtt.DialOptions) {
			srv := mqtttest.NewServer()
			t.Cleanup(srv.Close)
			return srv, &mqtt.DialOptions{}
		},
		"tls": func() (*mqtttest.Server, *mqtt.DialOptions) {
			srv := mqtttest.NewTLSServer()
			t.Cleanup(srv.Close)
			return srv, &mqtt.DialOptions{TLSConfig: srv.ClientTLSConfig()}
		},
	}
}

// fromClient matches the packets of type typ that the client sent.
func fromClient(typ wire.Type) func(mqtttest.Record) bool {
	return func(r mqtttest.Record) bool { return r.Dir == mqtttest.FromClient && r.Packet.Type() == typ }
}
