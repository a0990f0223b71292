package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// connection is one network connection to a server: its socket, read by
// one goroutine at a time (see "Who reads the connection"), its writer, its
// keep alive, and what the server's CONNACK allowed on it. A Client
// outlives its connections; when one fails, the client's supervisor dials
// the next (reconnect.go).
type connection struct {
	// Set before the connection is installed (connect, accepted), then
	// read only.
	c       *Client
	gen     uint64 // numbers the client's connections; see op.sent
	target  *target
	server  string // the URL that accepted it, without user info (target.raw)
	version wire.Version
	conn    net.Conn
	w       *writer
	limits
	rtt     time.Duration // from CONNECT to CONNACK
	ackMode ackModer      // TCP quick-ack control (quickack_linux.go); nil elsewhere
	kaTimer *time.Timer   // keepAliveTick; nil without keep alive
	idle    *time.Timer   // idleTick: starts the reading goroutine once the turn was left unused for readerAfter
	onFail  func()        // starts the supervisor (Client.superviseOnLoss); set before the connection is installed

	// afterUnanswered: an attempt before this connection sent CONNECT and
	// lost its connection before the CONNACK (Client.unanswered). A
	// takeover of the session may be that CONNECT, read late (final).
	afterUnanswered bool

	// Belong to whoever holds the turn: the reading goroutine, or the
	// caller reading for its answer (readFor).
	reader   *wire.Reader
	batch    batch
	ackedSeq atomic.Uint64 // the highest op.seq the server acknowledged here (acked); read by the supervisor

	// Who reads. The turn is a token, in the channel while nobody
	// reads; whoever takes it may read.
	turn        chan struct{}
	readerOnce  sync.Once     // starts the reading goroutine, or rules it out once the connection failed
	reading     atomic.Bool   // the reading goroutine was started; it reads until the connection ends
	interrupt   func()        // interruptRead, made once
	interrupted chan struct{} // interruptRead has run

	// Atomic, written by whoever reads or writes, read by the keep alive.
	lastSent, lastRecv atomic.Int64  // UnixNano
	pingSent           atomic.Int64  // UnixNano of an unanswered PINGREQ, 0 if none
	writes             atomic.Uint64 // counts writes, each before it starts (quickack_linux.go)

	// inFlight holds the identifiers of the QoS 1 and 2 messages the
	// server sent on this connection that are not answered yet (PUBACK
	// sent, or PUBCOMP): never more than the client's Receive Maximum
	// (receiving). Written by whoever reads and by the callers that
	// acknowledge.
	inMu     sync.Mutex
	inFlight map[uint16]struct{} // under inMu
	room     chan struct{}       // under inMu: closed when inFlight drops below the maximum; made by waitRoom
	inCount  atomic.Int32        // len(inFlight), for full to read without the lock
	paused   atomic.Bool         // the reader waits for room (waitRoom)

	// The end: fail runs once, sets these, then closes dead.
	failOnce sync.Once
	failed   atomic.Bool    // set by fail, before dead is closed
	failedAt atomic.Int64   // UnixNano, set by fail
	cause    error          // why it failed; read only after dead is closed
	dead     chan struct{}  // closed when the connection has failed or was closed
	wg       sync.WaitGroup // the reading goroutine (or fail, when none started) and the writer's loop

	authMu sync.Mutex
	auth   chan *wire.Auth // under authMu: the server's AUTH packets, while Reauthenticate runs
}

// limits is what a server allows on a connection, from its CONNACK.
type limits struct {
	keepAlive       time.Duration
	maxQoS          QoS
	retainAvailable bool
	maxPacketSize   int  // 0: no limit but the protocol's
	subIDs          bool // subscription identifiers available
	wildcards       bool // wildcard subscriptions available
	shared          bool // shared subscriptions available
	receiveMax      int
	responseInfo    string
	topicAliasMax   uint16 // how many topic aliases we may set (v5)
}

// readLimits takes in what CONNACK says; keepAlive is what we asked for.
func readLimits(v wire.Version, keepAlive time.Duration, p *wire.Properties) limits {
	l := limits{
		keepAlive:       keepAlive,
		maxQoS:          QoS2,
		retainAvailable: true,
		subIDs:          v == wire.V5,
		wildcards:       true,
		shared:          true,
		receiveMax:      65535,
	}
	if p == nil {
		return l
	}
	if p.ServerKeepAlive != nil {
		l.keepAlive = time.Duration(*p.ServerKeepAlive) * time.Second // MQTT-3.1.2-21
	}
	if p.MaximumQoS != nil {
		l.maxQoS = QoS(*p.MaximumQoS)
	}
	if p.RetainAvailable != nil {
		l.retainAvailable = *p.RetainAvailable
	}
	if p.MaximumPacketSize != 0 {
		l.maxPacketSize = int(p.MaximumPacketSize)
	}
	if p.SubIDAvailable != nil {
		l.subIDs = *p.SubIDAvailable
	}
	if p.WildcardSubAvailable != nil {
		l.wildcards = *p.WildcardSubAvailable
	}
	if p.SharedSubAvailable != nil {
		l.shared = *p.SharedSubAvailable
	}
	if p.ReceiveMaximum != 0 {
		l.receiveMax = int(p.ReceiveMaximum)
	}
	l.responseInfo = p.ResponseInfo
	l.topicAliasMax = p.TopicAliasMaximum
	return l
}

// accepted prepares a connection the server accepted, before anyone else
// can see it: fail may run from then on.
func (cn *connection) accepted() {
	cn.wg.Add(1) // the reading goroutine, or fail when none started
	if cn.keepAlive > 0 {
		cn.kaTimer = time.AfterFunc(math.MaxInt64, cn.keepAliveTick) // set going by start
	}
	cn.idle = time.AfterFunc(math.MaxInt64, cn.idleTick) // likewise
	if cn.c.opts.AutoTopicAlias && cn.topicAliasMax > 0 {
		cn.w.aliases = newTopicAliases(cn.topicAliasMax)
	}
	if q, ok := cn.conn.(ackModer); ok {
		q.countWrites(&cn.writes)
		cn.ackMode = q
	}
}

// start sets the keep alive going, opens the turn to read (see "Who reads
// the connection"), and writes what resume and the offline queue left.
func (cn *connection) start() {
	now := time.Now().UnixNano()
	cn.lastSent.Store(now)
	cn.lastRecv.Store(now)
	if cn.kaTimer != nil {
		cn.kaTimer.Reset(cn.keepAlive * 3 / 4)
	}
	switch {
	case !interruptible(cn.conn), cn.c.sess.pending.Load() > 0, cn.c.router.active():
		// A read that cannot be interrupted cannot be a caller's;
		// resumed messages and resubscriptions may have nobody
		// waiting for their answers; and messages come for the
		// Subscriptions. The reader waits for the turn.
		cn.startReader()
	}
	cn.turn <- struct{}{}
	if !cn.reading.Load() {
		cn.idle.Reset(readerAfter)
	}
	cn.w.flush()
}

// Who reads the connection.
//
// Its reading goroutine (readLoop), as soon as anything may arrive that no
// call is reading for; until then, the one call that waits for its answer.
// A client that only publishes at QoS 1 or 2, one message at a time (a
// short-lived job, a request handler), has the Publish that waits read its
// PUBACK or PUBCOMP itself (readFor), as a plain socket would: no goroutine
// to start, no hand-off from one goroutine to another for every answer.
//
// The reading goroutine starts when:
//   - the connection starts with Subscriptions open, or with messages or
//     requests in flight from an earlier connection (start), or on a
//     transport whose reads cannot be interrupted (interruptible);
//   - a second call waits for an answer while one reads (await), or a
//     call waiting for its answer gives up (readFor), or Reauthenticate
//     waits for AUTH;
//   - Subscription.Next finds nothing to hand out (Client.needReader);
//   - the reader must stop at the Receive Maximum (readBatch): a caller's
//     ctx could not end that wait;
//   - otherwise, once the turn was left unused for readerAfter (idleTick),
//     whatever the client does: so that a connection the server closes, or
//     a DISCONNECT it sends, is seen within that time, and Connected, State,
//     Done and the callbacks tell the truth whatever the client did before.
//
// Once started it reads until the connection ends. Whoever reads handles
// every packet alike (readBatch): the mode changes who waits in read, not
// what is done with what arrives.
const readerAfter = 10 * time.Millisecond

// startReader starts the connection's reading goroutine, if it has none.
func (cn *connection) startReader() { cn.launchReader(false) }

// launchReader starts the reading goroutine unless one was started or the
// connection failed, and reports whether it did. With haveTurn the caller
// holds the turn and hands it to the goroutine.
func (cn *connection) launchReader(haveTurn bool) (started bool) {
	cn.readerOnce.Do(func() {
		started = true
		cn.reading.Store(true)
		go cn.readLoop(haveTurn)
	})
	return started
}

// idleTick starts the reading goroutine with the turn, when nobody holds
// it: the turn was left unused for readerAfter. A caller that holds it
// arms the timer again when it gives it back (readFor).
func (cn *connection) idleTick() {
	select {
	case <-cn.turn:
	default:
		return
	}
	if !cn.launchReader(true) {
		cn.turn <- struct{}{} // a reader runs, or the connection failed
	}
}

// needReader starts the current connection's reading goroutine: the caller
// waits for what only reading brings (Subscription.Next).
func (c *Client) needReader() {
	if cn := c.current(); cn != nil && !cn.reading.Load() {
		cn.startReader()
	}
}

// interruptible reports whether a read of conn may be interrupted by a read
// deadline and then go on, losing nothing.
func interruptible(conn net.Conn) bool {
	switch c := conn.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	case ackModer: // quickAckConn (Linux), a *net.TCPConn underneath
		return true
	case *tls.Conn:
		return interruptible(c.NetConn())
	}
	return false
}

// fail ends the connection with cause, once. Its goroutines end soon after;
// the supervisor waits for them before it dials again.
func (cn *connection) fail(cause error) {
	cn.failOnce.Do(func() {
		cn.failedAt.Store(time.Now().UnixNano())
		cn.cause = cause
		cn.failed.Store(true)
		close(cn.dead)
		cn.w.close()
		cn.conn.Close() // MQTT-3.14.4-2
		if cn.kaTimer != nil {
			cn.kaTimer.Stop()
		}
		cn.readerOnce.Do(cn.wg.Done) // no reading goroutine to wait for
		cn.idle.Stop()
		if cn.onFail != nil {
			cn.onFail()
		}
	})
}

// alive reports whether the connection has not failed yet.
func (cn *connection) alive() bool { return !cn.failed.Load() }

// readLoop reads packets until the connection ends. It never blocks on the
// application: deliveries are queued for Subscription.Next.
func (cn *connection) readLoop(haveTurn bool) {
	defer cn.wg.Done()
	if !haveTurn {
		select {
		case <-cn.turn:
		case <-cn.dead:
			return
		}
	}
	cn.w.flush() // acknowledgements made while nobody read (writer.ack)
	for cn.readBatch(false) {
	}
}

// idleTurn reports whether nobody reads: no reading goroutine, and the turn
// is free. The next to read, or the idle timer, takes it.
func (cn *connection) idleTurn() bool { return !cn.reading.Load() && len(cn.turn) > 0 }

// readFor reads the connection, for the caller of Publish that waits for o,
// until o is answered, ctx ends (the read is interrupted by a read deadline)
// or the connection fails. The caller holds the turn; readFor gives it back.
func (cn *connection) readFor(ctx context.Context, o *op) {
	defer func() {
		cn.turn <- struct{}{}
		if !cn.reading.Load() {
			cn.idle.Reset(readerAfter)
		}
	}()
	stop := neverStop
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, cn.interrupt)
	}
	for len(o.done) == 0 && cn.readBatch(true) {
	}
	if !stop() {
		<-cn.interrupted
		cn.conn.SetReadDeadline(time.Time{})
		// The caller gives up on its message; its answer, when it comes,
		// is read by the reading goroutine.
		cn.startReader()
	}
}

// neverStop stands for the stop function of a context that never ends.
func neverStop() bool { return true }

// interruptRead makes a read in progress, or the next one, return at once.
// (cn.interrupt holds it as a func value, made once.)
func (cn *connection) interruptRead() {
	cn.conn.SetReadDeadline(time.Unix(1, 0))
	cn.interrupted <- struct{}{}
}

// readBatch reads and handles packets until it has handled all that have
// arrived, then commits them (their Store changes in one go, then the waiting
// callers and the packets they call for, in one write) before the next read
// blocks. It reports false when the connection has ended or, with
// mayInterrupt, a read was interrupted (readFor).
func (cn *connection) readBatch(mayInterrupt bool) bool {
	for {
		if cn.full() {
			// Hold the server back: no more reading until the
			// application takes messages. What was read counts
			// first, and messages that wait for a Subscribe are
			// acknowledged (router.ackHeld).
			if err := cn.commit(); err != nil {
				cn.fail(err)
				return false
			}
			cn.c.router.ackHeld()
			cn.w.flush()
			if cn.full() {
				if mayInterrupt {
					// The reading goroutine waits, not a caller
					// of Publish, whose ctx could not end the wait.
					cn.startReader()
					return false
				}
				if !cn.waitRoom() {
					return false
				}
			}
		}
		h, body, err := cn.reader.Next()
		if err != nil {
			if mayInterrupt && errors.Is(err, os.ErrDeadlineExceeded) {
				// Reads block only with the batch committed: nothing
				// is left undone.
				return false
			}
			cn.commit() // what arrived before the end still counts
			if errors.As(err, new(*wire.Error)) {
				// A fixed header that breaks the rules, or a packet
				// over our Maximum Packet Size: the server is told
				// why (0x81, 0x95) before the connection closes.
				cn.protocolViolation(err)
				return false
			}
			cn.fail(&lossError{cn.server, err})
			return false
		}
		cn.lastRecv.Store(time.Now().UnixNano())
		cn.c.stats.packetsReceived.Add(1)
		cn.c.stats.bytesReceived.Add(uint64(h.Size()))
		if err := cn.handle(h, body); err != nil {
			cn.commit()
			cn.protocolViolation(err)
			return false
		}
		if !cn.reader.Ready() || len(cn.batch.settled)+len(cn.batch.out) >= maxBatch {
			if err := cn.commit(); err != nil {
				cn.fail(err)
				return false
			}
			cn.w.flush()
			if cn.ackMode != nil {
				// A corked writer writes soon, its packets carrying
				// the acknowledgement, or else acknowledges at once
				// (writer.loop).
				cn.ackMode.afterBatch(cn.c.sess.pending.Load() > 0 && !cn.w.corked.Load(), !mayInterrupt)
			}
			return true
		}
	}
}

// receiving counts an incoming QoS 1 or 2 PUBLISH as in flight until it is
// answered. Beyond the client's Receive Maximum a new message is a
// protocol error in v5 (MQTT-3.3.4-9: DISCONNECT 0x93). A 3.x server knows
// no such limit; there the reader stops reading at the maximum instead
// (full), and TCP holds the server back. So it does for a v5 server that
// sends its backlog again at once when a session resumes, each with DUP
// set, beyond the maximum (mosquitto after a restart): disconnecting would
// only have it send the same backlog again, for ever. Either way, what a
// server sends beyond the maximum cannot pile up in memory.
func (cn *connection) receiving(id uint16, dup bool) error {
	cn.inMu.Lock()
	defer cn.inMu.Unlock()
	if cn.inFlight == nil {
		cn.inFlight = make(map[uint16]struct{})
	}
	cn.inFlight[id] = struct{}{}
	cn.inCount.Store(int32(len(cn.inFlight)))
	if max := int(cn.c.opts.ReceiveMaximum); cn.version == wire.V5 && !dup && len(cn.inFlight) > max {
		return &wire.Error{Code: wire.ReceiveMaximumExceeded, Packet: wire.PUBLISH,
			Reason: fmt.Sprintf("%d QoS 1 and 2 messages unacknowledged, above the Receive Maximum of %d the client announced", len(cn.inFlight), max)}
	}
	return nil
}

// answered records that the incoming message id was answered: PUBACK, or
// for QoS 2 PUBCOMP.
func (cn *connection) answered(id uint16) {
	cn.inMu.Lock()
	delete(cn.inFlight, id)
	cn.inCount.Store(int32(len(cn.inFlight)))
	if cn.room != nil && len(cn.inFlight) < cn.roomAt() {
		close(cn.room)
		cn.room = nil
	}
	cn.inMu.Unlock()
}

// full reports whether the reader must stop reading (receiving): on a 3.x
// connection, the client's Receive Maximum of messages is unanswered; on a
// v5 one, more than that, resent.
func (cn *connection) full() bool {
	return int(cn.inCount.Load()) >= cn.roomAt()
}

// roomAt is how many messages unanswered stop the reader (full). A v5
// server that keeps to the Receive Maximum sends no more until one is
// answered: the reader goes on, for the acknowledgements of our own
// messages and PINGRESP.
func (cn *connection) roomAt() int {
	if cn.version == wire.V5 {
		return int(cn.c.opts.ReceiveMaximum) + 1
	}
	return int(cn.c.opts.ReceiveMaximum)
}

// waitRoom waits until the application has taken messages and room is made
// (answered), or the connection ends (false).
func (cn *connection) waitRoom() bool {
	cn.paused.Store(true)
	defer cn.paused.Store(false)
	for {
		cn.inMu.Lock()
		if len(cn.inFlight) < cn.roomAt() {
			cn.inMu.Unlock()
			return true
		}
		if cn.room == nil {
			cn.room = make(chan struct{})
		}
		room := cn.room
		cn.inMu.Unlock()
		select {
		case <-room:
		case <-cn.dead:
			return false
		}
	}
}

// ackModer acknowledges received data at once when an answer is awaited
// and nothing we write would carry the acknowledgement (quickack_linux.go).
type ackModer interface {
	countWrites(writes *atomic.Uint64)
	afterBatch(awaiting, yield bool)
	ackNow()
}

// maxBatch bounds how many acknowledgements the reading goroutine gathers
// before it commits them, when packets keep arriving.
const maxBatch = 256

// batch is what the reading goroutine defers to the end of a batch of
// packets: the Store changes their acknowledgements call for, the
// operations they settle, and the packets to send once the changes are
// stored. One Store Apply then serves the whole batch: with a durable store,
// one sync instead of one per acknowledgement.
type batch struct {
	changes []persist.Change
	settled []settled
	out     []wire.Packet
	rels    []wire.Pubrel // PUBRELs to send, before out; kept as values, not allocated one by one
	arena   []byte        // encodings that changes refer to
}

type settled struct {
	o *op
	r result
}

func ackResult(code ReasonCode, props *wire.Properties, codes []ReasonCode) result {
	r := result{code: code, codes: codes}
	if props != nil {
		r.reason = props.ReasonString
	}
	return r
}

// promptLoss reports whether the connection was lost as soon after sentAt
// as a server that closed it on reading what was sent then would have it
// lost: within two round trips (as CONNECT and CONNACK took) and 10 ms. A
// network that cuts connections at random rarely does, the same message
// three times in a row (session.strike).
func (cn *connection) promptLoss(sentAt int64) bool {
	return cn.failedAt.Load()-sentAt <= int64(2*cn.rtt+10*time.Millisecond)
}

// commit ends a batch: it makes its Store changes, then finishes its
// operations and queues its packets.
func (cn *connection) commit() error {
	b := &cn.batch
	defer func() {
		clear(b.changes)
		clear(b.settled)
		clear(b.out)
		b.changes, b.settled, b.out = b.changes[:0], b.settled[:0], b.out[:0]
		b.rels, b.arena = b.rels[:0], b.arena[:0] // the Store keeps no reference (persist.Batcher)
	}()
	if len(b.changes) > 0 {
		if err := cn.c.sess.apply(b.changes); err != nil {
			for _, s := range b.settled {
				cn.c.sess.unsettle(s.o)
			}
			return &storeError{"recording acknowledgements", err}
		}
	}
	if len(b.settled) >= 2 {
		cn.w.cork()
	}
	for _, s := range b.settled {
		cn.c.sess.finish(s.o, s.r)
	}
	for i := range b.rels {
		cn.w.queue(&b.rels[i])
	}
	for _, p := range b.out {
		cn.w.queue(p)
	}
	return nil
}

// protocolViolation closes the connection after a bad packet from the server
// (v311:MQTT-4.8.0-1), telling a v5 server why first.
func (cn *connection) protocolViolation(err error) {
	if cn.version == wire.V5 {
		code := wire.ProtocolError
		var we *wire.Error
		if errors.As(err, &we) {
			code = we.Code
			if code == wire.TopicNameInvalid || code == wire.TopicFilterInvalid {
				code = wire.ProtocolError
			}
		}
		cn.w.sendLast(&wire.Disconnect{ReasonCode: code})
	}
	cn.fail(err)
}

// handle acts on one packet from the server.
func (cn *connection) handle(h wire.FixedHeader, body []byte) error {
	c := cn.c
	if h.Type == wire.PUBLISH {
		p := new(wire.Publish)
		if err := p.Decode(h.Flags, body, cn.version); err != nil {
			return err
		}
		c.trace(false, p)
		return c.receivePublish(cn, p)
	}
	if len(body) == 2 && c.opts.OnPacketReceived == nil && c.opts.Logger == nil {
		// The common acknowledgement: an identifier and nothing else.
		// Handled without decoding into a new packet.
		id := uint16(body[0])<<8 | uint16(body[1])
		if id != 0 {
			switch h.Type {
			case wire.PUBACK, wire.PUBCOMP:
				return cn.settle(id, h.Type, result{})
			case wire.PUBREC:
				return c.receivePubrec(cn, id, wire.Success, nil)
			}
		}
	}
	pkt, err := wire.Decode(h, body, cn.version)
	if err != nil {
		return err
	}
	c.trace(false, pkt)
	switch p := pkt.(type) {
	case *wire.Puback:
		return cn.settle(p.PacketID, wire.PUBACK, ackResult(p.ReasonCode, p.Properties, nil))
	case *wire.Pubrec:
		return c.receivePubrec(cn, p.PacketID, p.ReasonCode, p.Properties)
	case *wire.Pubcomp:
		// The server accepted the message with PUBREC; PUBCOMP can only
		// add 0x92 (identifier not found), which a PUBREL resent after a
		// lost connection gets when the server completed the flow before.
		// Either way the message is delivered.
		if p.ReasonCode.IsError() {
			c.logInfo("PUBCOMP with a reason code", "id", p.PacketID, "reason", p.ReasonCode.String())
		}
		return cn.settle(p.PacketID, wire.PUBCOMP, result{})
	case *wire.Pubrel:
		return c.receivePubrel(cn, p)
	case *wire.Suback:
		return cn.settle(p.PacketID, wire.SUBACK, ackResult(0, p.Properties, p.ReasonCodes))
	case *wire.Unsuback:
		return cn.settle(p.PacketID, wire.UNSUBACK, ackResult(0, p.Properties, p.ReasonCodes))
	case *wire.Pingresp:
		cn.pingSent.Store(0)
		return nil
	case *wire.Auth:
		return cn.receiveAuth(p)
	case *wire.Disconnect:
		de := &DisconnectError{ReasonCode: p.ReasonCode}
		if p.Properties != nil {
			de.ReasonString = p.Properties.ReasonString
			de.ServerReference = p.Properties.ServerReference
		}
		cn.fail(de)
		return nil
	}
	return fmt.Errorf("the server sent an unexpected %v", pkt.Type())
}

// keepAliveTick sends PINGREQ when the connection has been quiet and fails the
// connection when the server stays silent (MQTT-3.1.2-20). It runs on a
// timer rather than a goroutine of its own: most connections are short.
//
// A ping goes out after three quarters of the keep alive without a packet
// in either direction, and the server has half the keep alive to answer,
// so a connection whose peer went silent (half-open: no RST, no FIN) is
// found dead within 1.25 keep alive of the last packet received, well
// inside the 1.5 the server allows itself (MQTT-3.1.2-24).
func (cn *connection) keepAliveTick() {
	if !cn.alive() {
		return
	}
	ka := cn.limits.keepAlive
	now := time.Now().UnixNano()
	var next int64
	if ps := cn.pingSent.Load(); ps != 0 {
		deadline := ps + int64(ka/2)
		switch {
		case now < deadline:
			next = deadline
		case cn.paused.Load():
			// The reader holds the server back on purpose (waitRoom):
			// its PINGRESP waits unread behind its messages. Ping on,
			// so that the server hears from us; TCP's keep alive
			// finds a peer that is gone.
			cn.pingSent.Store(0)
			next = now + int64(ka/4)
		default:
			cn.fail(fmt.Errorf("no PINGRESP within %v of PINGREQ: the server or the network is gone", ka/2))
			return
		}
	} else {
		due := min(cn.lastSent.Load(), cn.lastRecv.Load()) + int64(ka*3/4)
		if now >= due {
			cn.pingSent.Store(now)
			cn.w.send(&wire.Pingreq{})
			due = now + int64(ka/2)
		}
		next = due
	}
	cn.kaTimer.Reset(time.Duration(next - now))
}

// lossError is why a connection ended, naming the server. It is formatted
// only when read: a connection closed on purpose ends with a read error
// nobody looks at.
type lossError struct {
	server string
	err    error
}

func (e *lossError) Error() string {
	if errors.Is(e.err, io.EOF) {
		return e.server + " closed the connection"
	}
	return "reading from " + e.server + ": " + e.err.Error()
}

func (e *lossError) Unwrap() error { return e.err }
