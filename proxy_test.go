package mqtt_test

// Suite support: the chaos proxy of the durability suite (durability_test.go, nats_test.go).

import (
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faultProxy is a TCP proxy between a client and a broker that breaks the
// connections it carries, the way networks do:
//
//   - chaos: each connection is cut after a random 10-100 ms (minCut to
//     maxCut). The cut falls inside the traffic: the next chunk read in
//     either direction is forwarded only in part (a random number of its
//     bytes, so mostly in the middle of a packet), then both sides are
//     closed, half the time with a reset (linger 0) instead of a FIN. A
//     connection that stays idle after its time is up is closed anyway.
//   - freeze: the connections open at that moment stop forwarding in both
//     directions without being closed: no FIN, no RST, no data; what either
//     side sends is swallowed, and a side that closes is not told to the
//     other. It is a half-open connection, as after a silent network
//     failure. Connections accepted later are forwarded normally.
//
// Close closes every connection and waits for the proxy's goroutines.
type faultProxy struct {
	// URL is "mqtt://127.0.0.1:PORT", the proxy's address for Dial.
	URL string

	target         string // broker host:port
	ln             net.Listener
	minCut, maxCut time.Duration

	chaos atomic.Bool

	accepted atomic.Int64 // connections accepted
	cuts     atomic.Int64 // connections cut by chaos
	partial  atomic.Int64 // cuts that forwarded part of a chunk (mostly mid-packet)

	mu     sync.Mutex
	closed bool
	pairs  map[*proxyPair]struct{}
	wg     sync.WaitGroup
}

// proxyPair is one proxied connection.
type proxyPair struct {
	p              *faultProxy
	client, server net.Conn
	cutDue         atomic.Bool // chaos: cut at the next chunk
	frozen         atomic.Bool
	done           chan struct{} // closed by close
	once           sync.Once
	timers         []*time.Timer // guarded by p.mu
}

// newFaultProxy starts a proxy to the broker at url ("mqtt://host:port"),
// with chaos on or off. It is closed by a cleanup of t.
func newFaultProxy(t testing.TB, url string, chaos bool) *faultProxy {
	t.Helper()
	target, ok := strings.CutPrefix(url, "mqtt://")
	if !ok {
		t.Fatalf("faultProxy: %q is not an mqtt:// URL", url)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{
		URL:    "mqtt://" + ln.Addr().String(),
		target: target,
		ln:     ln,
		minCut: 10 * time.Millisecond,
		maxCut: 100 * time.Millisecond,
		pairs:  map[*proxyPair]struct{}{},
	}
	p.chaos.Store(chaos)
	p.wg.Add(1)
	go p.acceptLoop()
	t.Cleanup(p.Close)
	return p
}

// SetChaos turns cutting on or off, for the open connections too.
func (p *faultProxy) SetChaos(on bool) { p.chaos.Store(on) }

// Freeze makes every open connection half-open (see faultProxy) and
// returns how many it froze.
func (p *faultProxy) Freeze() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for pp := range p.pairs {
		pp.frozen.Store(true)
		n++
	}
	return n
}

// Close stops the proxy, closes every connection and waits for its
// goroutines. It may be called more than once.
func (p *faultProxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return
	}
	p.closed = true
	pairs := make([]*proxyPair, 0, len(p.pairs))
	for pp := range p.pairs {
		pairs = append(pairs, pp)
	}
	p.mu.Unlock()
	p.ln.Close()
	for _, pp := range pairs {
		pp.close(false)
	}
	p.wg.Wait()
}

func (p *faultProxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		pp := &proxyPair{p: p, client: c, server: s, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.pairs[pp] = struct{}{}
		life := p.minCut + rand.N(p.maxCut-p.minCut+1)
		pp.timers = append(pp.timers, time.AfterFunc(life, pp.timeUp))
		p.wg.Add(2)
		p.mu.Unlock()
		go pp.pump(c, s)
		go pp.pump(s, c)
	}
}

// timeUp runs when a connection's chaos lifetime ends: the next chunk is
// cut, or, if none comes soon, the idle connection is closed.
func (pp *proxyPair) timeUp() {
	if !pp.p.chaos.Load() || pp.frozen.Load() {
		return
	}
	pp.cutDue.Store(true)
	pp.p.mu.Lock()
	defer pp.p.mu.Unlock()
	select {
	case <-pp.done:
		return
	default:
	}
	pp.timers = append(pp.timers, time.AfterFunc(10*time.Millisecond, func() {
		if pp.p.chaos.Load() && !pp.frozen.Load() && pp.close(rand.N(2) == 0) {
			pp.p.cuts.Add(1)
		}
	}))
}

// pump copies src to dst until the pair is closed, cutting or freezing as
// the proxy says.
func (pp *proxyPair) pump(src, dst net.Conn) {
	defer pp.p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if pp.frozen.Load() {
			// Swallow everything, tell nobody anything, until Close.
			<-pp.done
			return
		}
		if n > 0 {
			if pp.cutDue.Load() && pp.p.chaos.Load() {
				k := rand.N(n) // strictly less than the chunk
				if k > 0 {
					dst.Write(buf[:k])
				}
				if pp.close(rand.N(2) == 0) {
					pp.p.cuts.Add(1)
					if k > 0 {
						pp.p.partial.Add(1)
					}
				}
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				pp.close(false)
				return
			}
		}
		if err != nil {
			pp.close(false)
			return
		}
	}
}

// close closes both sides, with a reset when rst is set; it reports whether
// this call closed the pair.
func (pp *proxyPair) close(rst bool) bool {
	first := false
	pp.once.Do(func() {
		first = true
		p := pp.p
		p.mu.Lock()
		close(pp.done)
		delete(p.pairs, pp)
		for _, t := range pp.timers {
			t.Stop()
		}
		p.mu.Unlock()
		if rst {
			for _, c := range []net.Conn{pp.client, pp.server} {
				if tc, ok := c.(*net.TCPConn); ok {
					tc.SetLinger(0)
				}
			}
		}
		pp.client.Close()
		pp.server.Close()
	})
	return first
}
