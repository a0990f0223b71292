package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/culex-mqtt/mqtt"
)

// allTopic is the topic every client subscribes to besides its own: the
// fan-out message goes there.
const allTopic = "scale/all"

// topicOf is client i's own topic, where its part of the burst goes.
func topicOf(i int) string { return fmt.Sprintf("scale/c/%06d", i) }

// config is what one run does.
type config struct {
	URL        string // the broker
	Broker     string // its name, for the report
	BrokerPID  int    // for the broker's resident size; 0: unknown
	Clients    int
	Parallel   int  // dials (and subscribes, disconnects) at once
	Readers    bool // a goroutine per client calls Next; false: nobody does, and the run ends after the idle measure
	Burst      int  // messages per client in the burst
	Size       int  // bytes of each burst message's payload
	Chunk      int  // burst messages to one client back to back
	Publishers int  // clients publishing the burst
	Settle     time.Duration
	Idle       time.Duration
	Timeout    time.Duration // bounds each wait for messages: the run fails if none arrives for this long
	Profile    string        // prefix of heap and goroutine profiles; "": none
	Progress   io.Writer     // where to say what the run does; nil: nowhere
}

// Report is what a run measured. Memory fields are samples of the whole
// process; the PerClient fields are their difference from Before divided by
// the number of clients.
type Report struct {
	Date       time.Time `json:"date"`
	Go         string    `json:"go"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	Commit     string    `json:"commit,omitempty"`
	Broker     string    `json:"broker"`
	URL        string    `json:"url"`
	Clients    int       `json:"clients"`
	Parallel   int       `json:"parallel"`
	Readers    bool      `json:"readers"`
	FileLimit  uint64    `json:"fileLimit,omitempty"`

	Connect   Phase `json:"connect"`   // Dial of every client
	Subscribe Phase `json:"subscribe"` // Subscribe of every client to its topic and allTopic

	Before Mem `json:"before"` // before any client was opened

	// Idle: every client connected and subscribed, idle for Settle, nobody
	// calling Next; the library alone.
	Idle          Mem       `json:"idle"`
	IdlePerClient PerClient `json:"idlePerClient"`
	// IdleReaders: the same with a goroutine per client waiting in Next, as
	// an application would have. Zero without readers.
	IdleReaders          Mem       `json:"idleReaders"`
	IdleReadersPerClient PerClient `json:"idleReadersPerClient"`

	Burst  *Burst  `json:"burst,omitempty"`
	FanOut *FanOut `json:"fanOut,omitempty"`

	Close Close `json:"close"`

	// OnConnectionLost calls, all run long, of the measured clients and
	// of the publishers, and the error of the first.
	ConnectionsLost int64  `json:"connectionsLost"`
	PublishersLost  int64  `json:"publishersLost"`
	FirstLoss       string `json:"firstLoss,omitempty"`
}

// Phase is an operation done once per client, Parallel at a time.
type Phase struct {
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"perSecond"`
	P50ms     float64 `json:"p50ms"` // of one call
	P99ms     float64 `json:"p99ms"`
	Max       float64 `json:"maxms"`
}

// Burst is what the burst measured.
type Burst struct {
	PerClient  int     `json:"perClient"` // messages each client should receive
	Size       int     `json:"size"`
	Chunk      int     `json:"chunk"`
	Publishers int     `json:"publishers"`
	Messages   int64   `json:"messages"` // all of them
	Received   int64   `json:"received"`
	Complete   int     `json:"complete"` // clients that received all of theirs
	Seconds    float64 `json:"seconds"`  // from the first publish to the last message received
	PerSecond  float64 `json:"perSecond"`

	Peak  Mem `json:"peak"`  // the highest of the samples taken every 100 ms during the burst, field by field
	After Mem `json:"after"` // as the last message arrived, no collection forced
	// AfterIdle: Idle later, as it is (the runtime returns memory to the
	// system by itself); AfterIdleGC: then after a forced collection.
	IdleSeconds        float64   `json:"idleSeconds"`
	AfterIdle          Mem       `json:"afterIdle"`
	AfterIdleGC        Mem       `json:"afterIdleGC"`
	AfterIdlePerClient PerClient `json:"afterIdlePerClient"`
	// RSS over that of IdleReaders, both less Before: the target is at most
	// 1.5 after a few seconds idle.
	RatioAfterIdle   float64 `json:"ratioAfterIdle"`
	RatioAfterIdleGC float64 `json:"ratioAfterIdleGC"`
}

// FanOut is one message to allTopic, which every client subscribes to.
type FanOut struct {
	Received int     `json:"received"`
	P50ms    float64 `json:"p50ms"` // from Publish to a client's Next returning it
	Maxms    float64 `json:"maxms"` // to the last client's
}

// Close is the end: every client disconnected, and the goroutines counted.
type Close struct {
	Phase
	Errors           int `json:"errors"`           // Disconnect calls that failed (the client is closed anyway)
	GoroutinesBefore int `json:"goroutinesBefore"` // before any client was opened
	GoroutinesAfter  int `json:"goroutinesAfter"`  // once every client was closed (waiting up to 10 s)
	Leaked           int `json:"leaked"`
}

// run measures cfg.Clients clients against cfg.URL. It closes every client
// it opened before it returns, error or not.
func run(ctx context.Context, cfg config) (*Report, error) {
	r := &Report{
		Date:       time.Now().UTC(),
		Go:         runtime.Version(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Broker:     cfg.Broker,
		URL:        cfg.URL,
		Clients:    cfg.Clients,
		Parallel:   cfg.Parallel,
		Readers:    cfg.Readers,
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	say := func(format string, args ...any) {
		fmt.Fprintf(progress, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	}
	s := sampler{brokerPID: cfg.BrokerPID}
	n := cfg.Clients
	r.Before = s.settled()

	var loss losses
	defer func() {
		// Here, so that a run that fails reports its losses too: a lost
		// connection is the likeliest cause of lost messages.
		r.ConnectionsLost, r.PublishersLost, r.FirstLoss = loss.report()
	}()
	clients := make([]*mqtt.Client, n)
	defer func() { // on an early return; the normal end closes them itself
		closeAll(clients, cfg.Parallel)
	}()

	// Connect.
	say("dialing %d clients, %d at once", n, cfg.Parallel)
	onLost := loss.recorder(false)
	var err error
	r.Connect, err = each(n, cfg.Parallel, func(i int) error {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		c, err := mqtt.Dial(dctx, cfg.URL, &mqtt.DialOptions{
			ClientID:         fmt.Sprintf("scale-%d-%06d", os.Getpid(), i),
			OnConnectionLost: onLost,
		})
		clients[i] = c
		return err
	})
	if err != nil {
		return r, fmt.Errorf("dialing: %w", err)
	}
	say("connected %d clients in %.1fs", n, r.Connect.Seconds)

	// Subscribe: each to its own topic and to the fan-out topic, in one
	// Subscription, as a service listening to its own requests and to
	// broadcasts would.
	subs := make([]*mqtt.Subscription, n)
	r.Subscribe, err = each(n, cfg.Parallel, func(i int) error {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		var err error
		subs[i], err = clients[i].Subscribe(sctx, mqtt.Filter{Topic: topicOf(i)}, mqtt.Filter{Topic: allTopic})
		return err
	})
	if err != nil {
		return r, fmt.Errorf("subscribing: %w", err)
	}
	say("subscribed in %.1fs; idle for %v", r.Subscribe.Seconds, cfg.Settle)

	if err := sleep(ctx, cfg.Settle); err != nil {
		return r, err
	}
	r.Idle = s.settled()
	r.IdlePerClient = r.Idle.perClient(r.Before, n)
	if err := writeProfiles(cfg.Profile, "idle"); err != nil {
		return r, err
	}

	if cfg.Readers {
		// The application's goroutine per client, counting what arrives.
		rd := newReaders(n)
		rctx, stopReaders := context.WithCancel(ctx)
		defer func() {
			stopReaders()
			rd.wg.Wait()
		}()
		for i, sub := range subs {
			rd.start(rctx, i, sub)
		}
		say("readers started; idle for %v", cfg.Settle)
		if err := sleep(ctx, cfg.Settle); err != nil {
			return r, err
		}
		r.IdleReaders = s.settled()
		r.IdleReadersPerClient = r.IdleReaders.perClient(r.Before, n)
		if err := writeProfiles(cfg.Profile, "readers"); err != nil {
			return r, err
		}

		if cfg.Burst > 0 {
			r.Burst, err = burst(ctx, cfg, &loss, rd, s, r.Before, r.IdleReaders, say)
			if err != nil {
				return r, err
			}
			if err := writeProfiles(cfg.Profile, "after"); err != nil {
				return r, err
			}
		}
		r.FanOut, err = fanOut(ctx, cfg, &loss, rd, say)
		if err != nil {
			return r, err
		}
	}

	// Close. The readers end as their clients close.
	say("disconnecting")
	r.Close.GoroutinesBefore = r.Before.Goroutines
	var failed atomic.Int64
	r.Close.Phase, _ = each(n, cfg.Parallel, func(i int) error {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := clients[i].Disconnect(dctx); err != nil {
			failed.Add(1)
		}
		clients[i] = nil
		return nil
	})
	r.Close.Errors = int(failed.Load())
	// The readers' goroutines, and the in-process broker's in the test,
	// end a moment after the clients.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.Close.GoroutinesAfter = runtime.NumGoroutine()
		if r.Close.GoroutinesAfter <= r.Close.GoroutinesBefore || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Close.Leaked = max(0, r.Close.GoroutinesAfter-r.Close.GoroutinesBefore)
	if r.Close.Leaked > 0 {
		if err := writeProfiles(cfg.Profile, "leak"); err != nil {
			return r, err
		}
	}
	say("done")
	return r, nil
}

// losses counts the connections lost (OnConnectionLost) during a run.
type losses struct {
	clients, publishers atomic.Int64
	mu                  sync.Mutex
	first               string
}

// recorder returns an OnConnectionLost function that counts for the
// publishers or for the measured clients.
func (l *losses) recorder(publisher bool) func(error) {
	who, n := "a client", &l.clients
	if publisher {
		who, n = "a publisher", &l.publishers
	}
	return func(err error) {
		n.Add(1)
		l.mu.Lock()
		if l.first == "" {
			l.first = who + ": " + err.Error()
		}
		l.mu.Unlock()
	}
}

func (l *losses) report() (clients, publishers int64, first string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.clients.Load(), l.publishers.Load(), l.first
}

// readers are the application's goroutines, one per client, each calling
// Next on the client's Subscription.
type readers struct {
	wg    sync.WaitGroup
	burst []atomic.Int32 // burst messages received, by client
	total atomic.Int64   // burst messages received, all clients

	fanMu  sync.Mutex
	fanAt  []time.Time // when each client received the fan-out message
	fanGot int
}

func newReaders(n int) *readers {
	return &readers{burst: make([]atomic.Int32, n), fanAt: make([]time.Time, n)}
}

func (rd *readers) start(ctx context.Context, i int, sub *mqtt.Subscription) {
	rd.wg.Add(1)
	go func() {
		defer rd.wg.Done()
		for {
			m, err := sub.Next(ctx)
			if err != nil {
				return // the client closed, or the run ended
			}
			if m.Topic == allTopic {
				now := time.Now()
				rd.fanMu.Lock()
				if rd.fanAt[i].IsZero() {
					rd.fanAt[i] = now
					rd.fanGot++
				}
				rd.fanMu.Unlock()
				continue
			}
			rd.burst[i].Add(1)
			rd.total.Add(1)
		}
	}()
}

// burst sends every client cfg.Burst messages of cfg.Size bytes to its own
// topic, from cfg.Publishers clients of their own, and waits until all have
// arrived, sampling memory meanwhile; then it idles cfg.Idle and measures
// again.
func burst(ctx context.Context, cfg config, loss *losses, rd *readers, s sampler, before, idle Mem, say func(string, ...any)) (*Burst, error) {
	n := cfg.Clients
	b := &Burst{
		PerClient:  cfg.Burst,
		Size:       cfg.Size,
		Chunk:      cfg.Chunk,
		Publishers: cfg.Publishers,
		Messages:   int64(n) * int64(cfg.Burst),
	}
	pubs, err := dialPublishers(ctx, cfg, cfg.Publishers, loss.recorder(true))
	defer closeAll(pubs, len(pubs))
	if err != nil {
		return b, err
	}
	say("burst: %d messages of %d B to each client, %d at a time, from %d publishers", cfg.Burst, cfg.Size, cfg.Chunk, cfg.Publishers)
	payload := make([]byte, cfg.Size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	start := time.Now()
	pctx, stopPublishing := context.WithCancel(ctx)
	defer stopPublishing()
	pubErr := make(chan error, len(pubs))
	for p, pub := range pubs {
		go func() {
			// Round by round over this publisher's share of the topics, so
			// that every client has its burst at the same time and the
			// memory peak is that of all clients busy at once; cfg.Chunk
			// messages to a topic back to back in each round, as a burst
			// comes, so that a client has several to read at once.
			for sent := 0; sent < cfg.Burst; sent += cfg.Chunk {
				k := min(cfg.Chunk, cfg.Burst-sent)
				for i := p; i < n; i += len(pubs) {
					m := mqtt.Message{Topic: topicOf(i), Payload: payload}
					for range k {
						if err := pub.Publish(pctx, m); err != nil {
							pubErr <- fmt.Errorf("publishing the burst: %w", err)
							return
						}
					}
				}
			}
			pubErr <- nil
		}()
	}

	// Wait, sampling memory for the peak.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last int64
	lastMove := time.Now()
	running := len(pubs)
	for rd.total.Load() < b.Messages {
		select {
		case err := <-pubErr:
			running--
			if err != nil {
				return b, err
			}
			continue
		case <-tick.C:
		case <-ctx.Done():
			return b, ctx.Err()
		}
		b.Peak = maxMem(b.Peak, s.now())
		if got := rd.total.Load(); got != last {
			last, lastMove = got, time.Now()
		} else if time.Since(lastMove) > cfg.Timeout {
			break // lost messages: reported below
		}
	}
	b.Seconds = time.Since(start).Seconds()
	b.After = s.now()
	b.Peak = maxMem(b.Peak, b.After)
	stopPublishing()
	for ; running > 0; running-- {
		<-pubErr // done, or ended by stopPublishing
	}
	b.Received = rd.total.Load()
	b.PerSecond = float64(b.Received) / b.Seconds
	for i := range rd.burst {
		if rd.burst[i].Load() >= int32(cfg.Burst) {
			b.Complete++
		}
	}
	say("burst: %d of %d messages in %.1fs; idle for %v", b.Received, b.Messages, b.Seconds, cfg.Idle)
	// The publishers go before the idle measure: they are the test's, not
	// the subscribers' (each may hold a writer buffer of up to 1 MiB).
	closeAll(pubs, len(pubs))

	if err := sleep(ctx, cfg.Idle); err != nil {
		return b, err
	}
	b.IdleSeconds = cfg.Idle.Seconds()
	b.AfterIdle = s.now()
	b.AfterIdleGC = s.settled()
	b.AfterIdlePerClient = b.AfterIdleGC.perClient(before, n)
	idleRSS := float64(idle.RSS) - float64(before.RSS)
	if idleRSS > 0 {
		b.RatioAfterIdle = (float64(b.AfterIdle.RSS) - float64(before.RSS)) / idleRSS
		b.RatioAfterIdleGC = (float64(b.AfterIdleGC.RSS) - float64(before.RSS)) / idleRSS
	}
	if b.Received < b.Messages {
		return b, fmt.Errorf("burst: %d of %d messages received; none for %v", b.Received, b.Messages, cfg.Timeout)
	}
	return b, nil
}

// fanOut publishes one message to allTopic and waits until every client
// has received it.
func fanOut(ctx context.Context, cfg config, loss *losses, rd *readers, say func(string, ...any)) (*FanOut, error) {
	pubs, err := dialPublishers(ctx, cfg, 1, loss.recorder(true))
	defer closeAll(pubs, 1)
	if err != nil {
		return nil, err
	}
	say("fan-out: one message to %d subscribers", cfg.Clients)
	start := time.Now()
	if err := pubs[0].Publish(ctx, mqtt.Message{Topic: allTopic, Payload: []byte("all")}); err != nil {
		return nil, fmt.Errorf("publishing the fan-out message: %w", err)
	}
	deadline := start.Add(cfg.Timeout)
	f := &FanOut{}
	for {
		rd.fanMu.Lock()
		got := rd.fanGot
		rd.fanMu.Unlock()
		if got == cfg.Clients || time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return nil, err
		}
	}
	rd.fanMu.Lock()
	defer rd.fanMu.Unlock()
	f.Received = rd.fanGot
	var ds []time.Duration
	for _, at := range rd.fanAt {
		if !at.IsZero() {
			ds = append(ds, at.Sub(start))
		}
	}
	slices.Sort(ds)
	if len(ds) > 0 {
		f.P50ms = ms(ds[len(ds)/2])
		f.Maxms = ms(ds[len(ds)-1])
	}
	if f.Received < cfg.Clients {
		return f, fmt.Errorf("fan-out: %d of %d clients received the message within %v", f.Received, cfg.Clients, cfg.Timeout)
	}
	return f, nil
}

// dialPublishers opens k clients to publish with.
func dialPublishers(ctx context.Context, cfg config, k int, onLost func(error)) ([]*mqtt.Client, error) {
	pubs := make([]*mqtt.Client, k)
	for p := range pubs {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		c, err := mqtt.Dial(dctx, cfg.URL, &mqtt.DialOptions{
			ClientID:         fmt.Sprintf("scale-%d-pub-%d", os.Getpid(), p),
			OnConnectionLost: onLost,
		})
		cancel()
		if err != nil {
			return pubs[:p], fmt.Errorf("dialing a publisher: %w", err)
		}
		pubs[p] = c
	}
	return pubs, nil
}

// each calls f(i) for i in [0, n), parallel calls at a time, and times the
// calls. It stops at the first error.
func each(n, parallel int, f func(i int) error) (Phase, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var failed atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for range min(parallel, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t := time.Now()
				if err := f(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("client %d: %w", i, err)
					}
					mu.Unlock()
					failed.Store(true)
					return
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	p := Phase{Seconds: el.Seconds(), PerSecond: float64(n) / el.Seconds()}
	slices.Sort(lat)
	if n > 0 {
		p.P50ms = ms(lat[n/2])
		p.P99ms = ms(lat[n*99/100])
		p.Max = ms(lat[n-1])
	}
	return p, firstErr
}

// closeAll closes the clients that are not nil, parallel at a time.
func closeAll(cs []*mqtt.Client, parallel int) {
	each(len(cs), max(parallel, 1), func(i int) error {
		if cs[i] != nil {
			cs[i].Close()
			cs[i] = nil
		}
		return nil
	})
}

// writeProfiles writes the heap profile and the goroutines (with their
// counts by stack) to PREFIX-STAGE.heap.pprof and PREFIX-STAGE.goroutines.txt,
// if prefix is not empty.
func writeProfiles(prefix, stage string) error {
	if prefix == "" {
		return nil
	}
	runtime.GC() // the heap profile shows the state as of the last collection
	for _, p := range []struct {
		name, suffix string
		debug        int
	}{{"heap", ".heap.pprof", 0}, {"goroutine", ".goroutines.txt", 1}} {
		f, err := os.Create(prefix + "-" + stage + p.suffix)
		if err != nil {
			return err
		}
		err = pprof.Lookup(p.name).WriteTo(f, p.debug)
		if err2 := f.Close(); err == nil {
			err = err2
		}
		if err != nil {
			return fmt.Errorf("writing the %s profile: %w", p.name, err)
		}
	}
	return nil
}

// maxMem returns the larger of each field of a and b.
func maxMem(a, b Mem) Mem {
	return Mem{
		RSS:        max(a.RSS, b.RSS),
		HeapInuse:  max(a.HeapInuse, b.HeapInuse),
		StackInuse: max(a.StackInuse, b.StackInuse),
		Goroutines: max(a.Goroutines, b.Goroutines),
		BrokerRSS:  max(a.BrokerRSS, b.BrokerRSS),
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
