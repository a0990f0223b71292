package mqtt

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/culex-mqtt/mqtt/wire"
)

// maxBuffered is how many encoded bytes may wait for the writer before
// senders that can wait (Publish) are held back.
const maxBuffered = 1 << 20

// writer owns the connection's write side. Senders encode packets into a
// buffer under a short lock; whoever finds no write in progress writes out
// what has gathered, and packets that arrive during a write leave with the
// next one. Nobody waits for the network while holding the lock.
//
// Who writes: on plain TCP (Unix), a sender on an application goroutine that
// waits for an answer (a QoS 1/2 Publish, Subscribe) writes the buffer
// itself with a non-blocking system call, sparing the hand-off to another
// goroutine that costs a wake-up per message. Whatever the socket does not take at once,
// and everything on TLS and WebSocket, is written by the writer's goroutine
// (loop), so that no caller ever blocks on the network beyond its ctx. The
// reading goroutine only queues its acknowledgements and flushes them once
// per batch of packets read. The loop starts the first time it is needed:
// on plain TCP, a short-lived connection may never need it.
//
// When a batch the reader read answers several callers at once, the writer
// is corked: the callers it wakes mostly publish again at once, and rather
// than each writing its packet alone they leave it to the loop, which
// writes them together once they have had their turn. Fewer, larger writes
// cost the client and the server less, and TCP acknowledgements ride on
// them instead of travelling alone.
type writer struct {
	// Set before the connection is installed, then read only.
	cn      *connection
	raw     *nonblockingWriter // nil: the loop writes everything
	aliases *topicAliases      // nil: topics go out in full; its state is under mu

	// Under mu, but for corked, which is atomic so that the reader may
	// look without the lock; kick and finished are made once.
	mu       sync.Mutex
	buf      []byte        // encoded packets waiting to be written
	spare    []byte        // the last buffer written, reused next round
	flushing bool          // a write is in progress; it takes what gathers meanwhile
	corked   atomic.Bool   // senders leave their packets to the loop (cork); set and cleared under mu
	started  bool          // the loop runs
	last     bool          // the final packet is queued: no more are accepted
	closed   bool          // no more packets are accepted, and the loop ends
	space    chan struct{} // closed when buf drains; made by a waiting sender
	kick     chan struct{} // wakes the loop; capacity 1
	finished chan struct{} // closed when the loop has ended
}

func newWriter(cn *connection) *writer {
	return &writer{
		cn:       cn,
		raw:      nonblocking(cn.conn),
		kick:     make(chan struct{}, 1),
		finished: make(chan struct{}),
	}
}

// writerClosedError is internal: the connection is ending.
type writerClosedError struct{}

func (writerClosedError) Error() string { return "the connection is closed" }

// waitSpace waits, bounded by ctx, while the buffer is full. Senders that
// can wait (Publish, Subscribe) call it before send, so that a slow network
// holds the application back instead of growing the buffer. It returns nil
// when the writer is closed: send then says so.
func (w *writer) waitSpace(ctx context.Context) error {
	w.mu.Lock()
	for len(w.buf) >= maxBuffered && !w.closed {
		if w.space == nil {
			w.space = make(chan struct{})
		}
		space := w.space
		w.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		}
		w.mu.Lock()
	}
	w.mu.Unlock()
	return nil
}

// send encodes p into the buffer and has it written now. It never waits for
// space. Once it returns nil the packet will be written unless the
// connection fails: it can no longer be taken back.
//
// The trace hooks see p first, before its bytes can reach the server, so
// that they never see an answer before the packet it answers (a packet the
// closing connection then refuses is reported too).
func (w *writer) send(p wire.Packet) error {
	w.cn.c.trace(true, p)
	w.mu.Lock()
	if err := w.appendLocked(p); err != nil {
		w.mu.Unlock()
		return err
	}
	w.flushUncorkedLocked()
	return nil
}

// cork has senders leave their packets to the loop, which writes them once
// the goroutines already runnable have had their turn: the reading
// goroutine calls it before it wakes several callers at once, most of which
// send again at once.
func (w *writer) cork() {
	w.mu.Lock()
	if w.raw == nil || w.closed || w.last {
		w.mu.Unlock()
		return
	}
	w.corked.Store(true)
	w.startLocked()
	w.mu.Unlock()
	w.wake()
}

// post encodes p into the buffer for the writer's goroutine to write, with
// whatever else gathers meanwhile. For streams whose sender does not wait
// for an answer (QoS 0 messages, the acknowledgements Next sends): they
// leave in batches, where writing each at once would cost a system call
// per packet.
func (w *writer) post(p wire.Packet) error { return w.leave(p, false) }

// ack encodes the acknowledgement p of a message the application took
// (Subscription.Next). While nobody reads (connection.idleTurn) it waits in
// the buffer for the next packet out, which carries it in the same write:
// in the pattern of a caller that publishes and takes its answer in turn,
// the next Publish. Whoever reads next flushes it too (a batch's end, the
// start of the reading goroutine: readerAfter at most after the turn was
// given back). Otherwise the loop writes it, as post does. Waking the loop
// for every acknowledgement costs a wake-up of another thread per message
// where GOMAXPROCS > 1: on two cores, more than the round trip's own
// system calls.
func (w *writer) ack(p wire.Packet) error { return w.leave(p, true) }

// leave encodes p into the buffer and has the loop write it, unless the
// write in progress takes it or, with whileIdle, nobody reads: then the
// next packet out or the next reader does.
func (w *writer) leave(p wire.Packet, whileIdle bool) error {
	w.cn.c.trace(true, p) // first, as in send
	w.mu.Lock()
	if err := w.appendLocked(p); err != nil {
		w.mu.Unlock()
		return err
	}
	if w.flushing || whileIdle && w.cn.idleTurn() {
		w.mu.Unlock()
		return nil
	}
	w.startLocked()
	w.mu.Unlock()
	w.wake()
	return nil
}

// queue encodes p into the buffer for the next flush: for the reading
// goroutine, which flushes once it has handled every packet it has read,
// and for resume, before the connection starts.
func (w *writer) queue(p wire.Packet) error {
	w.mu.Lock()
	err := w.appendLocked(p)
	w.mu.Unlock()
	if err == nil {
		w.cn.c.trace(true, p)
	}
	return err
}

// flush has what is buffered written: now, or by the loop when corked,
// together with what the callers woken meanwhile send.
func (w *writer) flush() {
	w.mu.Lock()
	w.flushUncorkedLocked()
}

// flushUncorkedLocked is flushLocked, unless the writer is corked: then the
// loop writes the buffer, with what the callers woken meanwhile send. It is
// called with w.mu held and releases it.
func (w *writer) flushUncorkedLocked() {
	if w.corked.Load() {
		w.mu.Unlock()
		return
	}
	w.flushLocked()
}

func (w *writer) appendLocked(p wire.Packet) error {
	if w.closed || w.last {
		return writerClosedError{}
	}
	if pub, ok := p.(*wire.Publish); ok && w.aliases != nil && pub.Topic != "" {
		b, err := w.aliases.appendPublish(w.buf, pub, w.cn.version)
		if err == nil {
			w.buf = b
			w.cn.c.stats.packetsSent.Add(1)
		}
		return err
	}
	b, err := p.Append(w.buf, w.cn.version)
	if err != nil {
		return err
	}
	w.buf = b
	w.cn.c.stats.packetsSent.Add(1)
	return nil
}

// flushLocked writes the buffer, or leaves it to the write in progress or
// to the loop. It is called with w.mu held and releases it.
func (w *writer) flushLocked() {
	if w.flushing || len(w.buf) == 0 {
		w.mu.Unlock() // the write in progress takes it
		return
	}
	if w.raw == nil {
		w.startLocked()
		w.mu.Unlock()
		w.wake()
		return
	}
	var err error
	handOver := false
	for round := 0; len(w.buf) > 0; round++ {
		if round == 4 {
			// Others keep adding: leave them to the loop rather than
			// keep this caller writing their packets.
			handOver = true
			break
		}
		out := w.takeLocked()
		w.mu.Unlock()
		w.cn.writes.Add(1)
		n, werr := w.raw.write(out)
		w.cn.lastSent.Store(time.Now().UnixNano())
		w.cn.c.stats.bytesSent.Add(uint64(n))
		w.mu.Lock()
		w.flushing = false
		if werr != nil {
			err = werr
			w.closeLocked()
			break
		}
		if n < len(out) {
			// The socket is full: the loop writes the rest, blocking,
			// before anything buffered since.
			rest := make([]byte, 0, len(out)-n+len(w.buf)+512)
			rest = append(append(rest, out[n:]...), w.buf...)
			w.spare, w.buf = w.buf[:0], rest
			handOver = true
			break
		}
		w.spare = reusable(out)
	}
	if handOver {
		w.startLocked()
	}
	handOver = handOver || w.closed // the loop ends once no write is in progress
	w.mu.Unlock()
	if err != nil {
		w.cn.fail(err)
	}
	if handOver {
		w.wake()
	}
}

// reusable returns out, just written, emptied for the next round; or nil
// when it is far larger than what it held: the burst that grew it is over,
// and a quiet connection goes back to costing little memory.
func reusable(out []byte) []byte {
	if cap(out) > 16<<10 && cap(out) > 8*len(out) {
		return nil
	}
	return out[:0]
}

// takeLocked hands the buffer to a write, giving senders an empty one.
func (w *writer) takeLocked() []byte {
	out := w.buf
	w.buf = w.spare[:0] // nil the first time
	w.spare = nil
	w.flushing = true
	w.releaseSpaceLocked()
	return out
}

// releaseSpaceLocked wakes the senders waiting for room (waitSpace).
func (w *writer) releaseSpaceLocked() {
	if w.space != nil {
		close(w.space)
		w.space = nil
	}
}

// startLocked starts the loop, unless it runs or the writer is closed. The
// connection's WaitGroup counts it from here, under w.mu and before closed
// is set, so never after the client began waiting for its goroutines.
func (w *writer) startLocked() {
	if w.started || w.closed {
		return
	}
	w.started = true
	w.cn.wg.Add(1)
	go w.loop()
}

// wake has the loop, if it runs, write what is buffered.
func (w *writer) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// sendLast queues p as the final packet, writes what is buffered and stops
// accepting packets. It gives up after a second if the network is stuck.
func (w *writer) sendLast(p wire.Packet) {
	w.cn.c.trace(true, p) // first, as in send, and never under w.mu
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.appendLocked(p)
	w.last = true
	if w.raw != nil {
		w.flushLocked() // at once when the socket takes it, as it mostly does
		w.mu.Lock()
	}
	if !w.flushing && len(w.buf) == 0 {
		w.closeLocked()
		w.mu.Unlock()
		w.wake() // a loop that runs ends
		return
	}
	w.startLocked()
	w.closeLocked()
	w.mu.Unlock()
	w.wake()
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-w.finished:
	case <-t.C:
	}
}

// close stops accepting packets; what is buffered is dropped.
func (w *writer) close() {
	w.mu.Lock()
	w.closeLocked()
	w.mu.Unlock()
	w.wake()
}

// closeLocked marks the writer closed and releases the senders waiting for
// room (waitSpace): there will be none.
func (w *writer) closeLocked() {
	w.closed = true
	w.releaseSpaceLocked()
}

// loop writes what senders leave to it until the writer is closed.
func (w *writer) loop() {
	defer w.cn.wg.Done()
	defer close(w.finished)
	for {
		<-w.kick
		w.mu.Lock()
		if w.corked.Load() {
			w.mu.Unlock()
			runtime.Gosched() // the callers just woken send first
			w.mu.Lock()
			w.corked.Store(false)
			if len(w.buf) == 0 && !w.flushing && w.cn.ackMode != nil && w.cn.c.sess.pending.Load() > 0 {
				// Nobody sent: our acknowledgement of the packets
				// read would wait for the delayed-ACK timer, and a
				// server with Nagle's algorithm on holds the answers
				// still due until it comes.
				w.mu.Unlock()
				w.cn.ackMode.ackNow()
				w.mu.Lock()
			}
		}
		for !w.flushing && len(w.buf) > 0 {
			out := w.takeLocked()
			w.mu.Unlock()
			w.cn.writes.Add(1)
			n, err := w.cn.conn.Write(out)
			w.cn.lastSent.Store(time.Now().UnixNano())
			w.cn.c.stats.bytesSent.Add(uint64(n))
			w.mu.Lock()
			w.flushing = false
			w.spare = reusable(out)
			if err != nil {
				w.closeLocked()
				w.mu.Unlock()
				w.cn.fail(err)
				return
			}
		}
		if w.closed && !w.flushing {
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
	}
}

// topicAliases assigns topic aliases to the topics of outgoing PUBLISH
// packets (v5, DialOptions.AutoTopicAlias): the first PUBLISH of a topic
// carries the topic and its new alias, later ones the alias alone. When
// every alias the server allows is taken, the oldest is given to the new
// topic. The writer applies them as it encodes, under its lock, so the
// server learns each mapping before its first use (MQTT-3.3.2-7: they hold
// for one connection).
type topicAliases struct {
	max     uint16
	byTopic map[string]uint16
	topics  []string // by alias - 1
	next    uint16   // the alias to take over when all are used
	props   wire.Properties
}

func newTopicAliases(max uint16) *topicAliases {
	return &topicAliases{max: max, byTopic: make(map[string]uint16)}
}

// appendPublish encodes p onto b with its topic alias.
func (a *topicAliases) appendPublish(b []byte, p *wire.Publish, v wire.Version) ([]byte, error) {
	alias, known := a.byTopic[p.Topic]
	if !known {
		if len(a.topics) < int(a.max) {
			a.topics = append(a.topics, p.Topic)
			alias = uint16(len(a.topics))
		} else {
			alias = a.next + 1
			delete(a.byTopic, a.topics[a.next])
			a.topics[a.next] = p.Topic
			a.next = (a.next + 1) % a.max
		}
		a.byTopic[p.Topic] = alias
	}
	topic, props := p.Topic, p.Properties
	if props != nil {
		a.props = *props
	} else {
		a.props = wire.Properties{}
	}
	a.props.TopicAlias = alias
	p.Properties = &a.props
	if known {
		p.Topic = "" // MQTT-3.3.2-8: the alias stands for it
	}
	b, err := p.Append(b, v)
	p.Topic, p.Properties = topic, props
	return b, err
}
