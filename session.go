package mqtt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// session is the one owner of the client's side of the MQTT session: packet
// identifiers, the table of operations awaiting acknowledgement, the quota of
// QoS 1/2 messages the server lets us have in flight, and the Store. It
// outlives connections: what one connection left unacknowledged, the next
// sends again (resume).
type session struct {
	store persist.Store

	// quota holds one unit per QoS 1/2 PUBLISH in flight (MQTT-4.9.0-1).
	// Its size is fixed, so the server's Receive Maximum, which may differ
	// from one connection to the next, is enforced by units the session
	// keeps for itself: reserved, and debt more that it takes back as
	// messages complete when the maximum shrank below what is in flight.
	quota    *semaphore.Weighted
	quotaMu  sync.Mutex // serializes setReceiveMax
	reserved int64
	debt     atomic.Int64

	mu      sync.Mutex
	nextID  uint16
	ops     map[uint16]*op // by packet identifier: in use until acknowledged
	pending atomic.Int32   // len(ops), for readers without the lock
	free    []*op          // settled ops for reuse
	drained chan struct{}  // closed when ops becomes empty; made by drain

	// The message a server may be closing connections for (strike): its
	// op's serial, and how many connections in a row ended right after it
	// was sent. Under mu, with serials, which number ops as they begin
	// (ops are reused, so a pointer would not tell messages apart).
	suspect uint64
	strikes int
	serials uint64

	sendSeq atomic.Uint64 // numbers PUBLISH packets as they are queued (op.seq)

	// The incoming side: the QoS 2 messages the server sent whose flow is
	// not complete, by identifier (qos2Received, then qos2Acked until
	// PUBREL), and those completed lately. Taken by the reading goroutine
	// and by the callers that acknowledge; never held while taking
	// another lock or doing I/O.
	inMu     sync.Mutex
	qos2     map[uint16]uint8 // under inMu
	released releasedQoS2     // its own lock
}

// quotaSize is the largest Receive Maximum there is.
const quotaSize = 65535

// op is one operation awaiting its acknowledgement.
type op struct {
	id    uint16
	kind  wire.Type // PUBLISH (QoS 1 or 2), PUBREL (QoS 2 after PUBREC), SUBSCRIBE, UNSUBSCRIBE
	qos   byte
	topic string // for errors
	quota bool   // holds a unit of quota
	// settling: its acknowledgement arrived and finish is due; under
	// session.mu.
	settling bool
	pkt      wire.Packet  // SUBSCRIBE and UNSUBSCRIBE: sent again on a new connection
	then     func(result) // when set, receives the result instead of done; under session.mu
	finished bool         // finish has decided that the result goes to done; under session.mu
	done     chan result  // receives exactly one result; capacity 1

	// seq numbers its PUBLISH in the order packets were queued on its
	// connection (session.sendSeq), so that the reader can tell what the
	// server acknowledged after it (connection.ackedSeq).
	seq    atomic.Uint64
	sentAt atomic.Int64 // UnixNano when it was last queued
	serial uint64       // tells this message's op from the others that reuse it; under session.mu
	// waited: Publish waits for its result; false once it returned
	// without one, or for a message found in the Store (giveUp hook).
	waited atomic.Bool

	// sent is the gen of the last connection the packet was queued on, or
	// one of the values below. Whoever moves it to a connection's gen
	// (claim) sends the packet there: the caller on the connection it
	// found, or resume on a new one; never both, never twice.
	sent atomic.Uint64
}

// Values of op.sent below any connection's gen.
const (
	sentNever   = 0 // not queued on any connection yet
	sentAborted = 1 // its caller gave up before it was sent; never send it
	sentEarlier = 2 // found in the Store: an earlier process may have sent it
	firstGen    = 3
)

// claim moves o to connection gen. It reports whether the caller should
// send o there, and where o stood before.
func (o *op) claim(gen uint64) (prev uint64, mine bool) {
	for {
		prev = o.sent.Load()
		if prev == gen || prev == sentAborted {
			return prev, false
		}
		if o.sent.CompareAndSwap(prev, gen) {
			return prev, true
		}
	}
}

// sending records that o's PUBLISH is queued now, the seq-th packet so.
func (o *op) sending(seq uint64) {
	o.seq.Store(seq)
	o.sentAt.Store(time.Now().UnixNano())
}

// giveUp marks o as never to be sent, if it has not been queued on a
// connection yet, and reports whether it did.
func (o *op) giveUp() bool { return o.sent.CompareAndSwap(sentNever, sentAborted) }

type result struct {
	code   ReasonCode
	codes  []ReasonCode
	reason string
	err    error
}

func newSession(store persist.Store) *session {
	return &session{
		store:  store,
		quota:  semaphore.NewWeighted(quotaSize),
		nextID: 1,
		ops:    make(map[uint16]*op),
		qos2:   make(map[uint16]uint8),
	}
}

// setReceiveMax sizes the quota to a new connection's Receive Maximum.
func (s *session) setReceiveMax(n int) {
	s.quotaMu.Lock()
	defer s.quotaMu.Unlock()
	want := int64(quotaSize - n)
	held := s.reserved - s.debt.Swap(0) // units the session holds now
	if want <= held {
		s.quota.Release(held - want)
		s.reserved = want
		return
	}
	if need := want - held; !s.quota.TryAcquire(need) {
		// Messages in flight hold the units: take what is free now and
		// the rest as they complete.
		for need > 0 && s.quota.TryAcquire(1) {
			need--
		}
		s.debt.Add(need)
	}
	s.reserved = want
}

// releaseQuota gives back a unit of quota, or keeps it to pay the debt.
func (s *session) releaseQuota() {
	for {
		d := s.debt.Load()
		if d <= 0 {
			s.quota.Release(1)
			return
		}
		if s.debt.CompareAndSwap(d, d-1) {
			return
		}
	}
}

// errNoPacketID means all 65535 identifiers are in use.
var errNoPacketID = errors.New("mqtt: all 65535 packet identifiers are in use; wait for acknowledgements")

// beginPublish registers a QoS 1 or 2 PUBLISH under a free packet
// identifier; the caller holds a unit of quota for it.
func (s *session) beginPublish(qos byte, topic string) (*op, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.newOpLocked()
	if err != nil {
		return nil, err
	}
	o.kind, o.qos, o.topic, o.quota = wire.PUBLISH, qos, topic, true
	return o, nil
}

// beginRequest registers a SUBSCRIBE or UNSUBSCRIBE, setting its packet
// identifier. A new connection sends pkt again while it is unanswered.
// then, when set, receives the result instead of the op's channel.
func (s *session) beginRequest(pkt wire.Packet, topic string, then func(result)) (*op, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.newOpLocked()
	if err != nil {
		return nil, err
	}
	switch p := pkt.(type) {
	case *wire.Subscribe:
		p.PacketID = o.id
	case *wire.Unsubscribe:
		p.PacketID = o.id
	}
	o.kind, o.topic, o.pkt, o.then = pkt.Type(), topic, pkt, then
	return o, nil
}

// newOpLocked takes a free packet identifier, never 0, never one in use
// (MQTT-2.2.1-3), wrapping after 65535, and registers an op under it.
func (s *session) newOpLocked() (*op, error) {
	if len(s.ops) >= 65535 {
		return nil, errNoPacketID
	}
	id := s.nextID
	for s.ops[id] != nil {
		id++
		if id == 0 {
			id = 1
		}
	}
	s.nextID = id + 1
	if s.nextID == 0 {
		s.nextID = 1
	}
	var o *op
	if n := len(s.free); n > 0 {
		o, s.free = s.free[n-1], s.free[:n-1]
	} else {
		o = &op{done: make(chan result, 1)}
	}
	s.serials++
	o.id, o.qos, o.quota, o.pkt, o.then, o.settling, o.finished, o.serial = id, 0, false, nil, nil, false, false, s.serials
	o.sent.Store(sentNever)
	o.waited.Store(true)
	s.ops[id] = o
	s.pending.Store(int32(len(s.ops)))
	return o, nil
}

// recycle keeps a settled op whose result was received for reuse, with its
// channel, so that a publish costs no allocation for its bookkeeping. An op
// whose waiter gave up is never recycled: its result may still arrive. Nor
// are the ops of Subscribe and Unsubscribe, which are rare: a client that
// only subscribes keeps none (an op with its channel is about 300 bytes).
func (s *session) recycle(o *op) {
	if o.kind == wire.SUBSCRIBE || o.kind == wire.UNSUBSCRIBE {
		return
	}
	o.topic, o.pkt = "", nil // nothing kept alive by a free op
	s.mu.Lock()
	if len(s.free) < 1024 {
		s.free = append(s.free, o)
	}
	s.mu.Unlock()
}

// abort forgets an operation whose packet was never sent.
func (s *session) abort(o *op) {
	s.mu.Lock()
	if s.ops[o.id] == o {
		s.removeLocked(o.id)
	}
	s.mu.Unlock()
	if o.kind == wire.PUBLISH {
		s.store.Delete(persist.Outgoing, o.id)
	}
	if o.quota {
		s.releaseQuota()
	}
}

func (s *session) removeLocked(id uint16) {
	delete(s.ops, id)
	s.pending.Store(int32(len(s.ops)))
	if len(s.ops) == 0 && s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
}

// Acknowledgements complete operations in two steps, so that the reading
// goroutine can remove the messages of a whole batch of acknowledgements
// from the Store at once (connection.commit): settle takes the operation
// out of play as its acknowledgement arrives, finish completes it once the
// Store no longer holds it.

// settle claims the operation with identifier id for its acknowledgement
// ack (PUBACK, a refusing PUBREC, PUBCOMP, SUBACK or UNSUBACK), which
// arrived. It returns nil when there is none: an acknowledgement for
// something not in flight, a duplicate after a resend, is harmless and
// ignored. One of the other QoS flow is not (checkFlow): the operation is
// returned, claimed, with the error, for the caller to end it with that
// error, since sending it again would only be answered the same way (a
// server without QoS 2 answers PUBACK to every QoS 2 PUBLISH).
func (s *session) settle(id uint16, ack wire.Type) (*op, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.ops[id]
	if o == nil || o.settling {
		return nil, nil
	}
	if err := o.checkFlow(ack); err != nil {
		o.settling = true
		return o, err
	}
	if o.kind != answered[ack] {
		return nil, nil
	}
	o.settling = true
	return o, nil
}

// answered is the kind of operation each acknowledgement settles.
var answered = [...]wire.Type{
	wire.PUBACK:   wire.PUBLISH,
	wire.PUBREC:   wire.PUBLISH,
	wire.PUBCOMP:  wire.PUBREL,
	wire.SUBACK:   wire.SUBSCRIBE,
	wire.UNSUBACK: wire.UNSUBSCRIBE,
}

// checkFlow refuses an acknowledgement of the other QoS flow, which a
// server that follows the protocol never sends: taking a PUBACK for a QoS 2
// message as success would remove it from the Store with no PUBREC, PUBREL
// and PUBCOMP (MQTT-4.3.3-1), and nobody would know whether it arrived.
func (o *op) checkFlow(ack wire.Type) error {
	switch {
	case ack == wire.PUBACK && o.qos == 2 && (o.kind == wire.PUBLISH || o.kind == wire.PUBREL):
		return &wire.Error{Code: wire.ProtocolError, Packet: ack,
			Reason: fmt.Sprintf("PUBACK for QoS 2 message %d, which needs PUBREC, PUBREL and PUBCOMP: "+
				"a server without QoS 2 answers so (RabbitMQ before 3.13 takes the message at QoS 1); publish at QoS 1 to it", o.id)}
	case ack == wire.PUBREC && o.qos == 1 && o.kind == wire.PUBLISH:
		return &wire.Error{Code: wire.ProtocolError, Packet: ack,
			Reason: fmt.Sprintf("PUBREC for QoS 1 message %d, which needs PUBACK", o.id)}
	}
	return nil
}

// checkCodes refuses a SUBACK or UNSUBACK whose reason codes do not answer
// the request: one for each filter, in order (MQTT-3.8.4-6, MQTT-3.9.3-1,
// MQTT-3.11.3-1; a 3.x UNSUBACK has none), and no QoS above the one asked
// for (MQTT-3.8.4-7 binds the server). Filters() would otherwise report a
// grant that never happened.
func (o *op) checkCodes(codes []ReasonCode, v wire.Version) error {
	switch p := o.pkt.(type) {
	case *wire.Subscribe:
		if len(codes) != len(p.Filters) {
			return &wire.Error{Code: wire.ProtocolError, Packet: wire.SUBACK,
				Reason: fmt.Sprintf("%d reason codes for the %d filters of SUBSCRIBE %d", len(codes), len(p.Filters), o.id)}
		}
		for i, code := range codes {
			if !code.IsError() && byte(code) > p.Filters[i].QoS {
				return &wire.Error{Code: wire.ProtocolError, Packet: wire.SUBACK,
					Reason: fmt.Sprintf("QoS %d granted for filter %q, which asked for %d", code, p.Filters[i].Topic, p.Filters[i].QoS)}
			}
		}
	case *wire.Unsubscribe:
		if v == wire.V5 && len(codes) != len(p.Topics) {
			return &wire.Error{Code: wire.ProtocolError, Packet: wire.UNSUBACK,
				Reason: fmt.Sprintf("%d reason codes for the %d filters of UNSUBSCRIBE %d", len(codes), len(p.Topics), o.id)}
		}
	}
	return nil
}

// unsettle puts back an operation whose Store change failed: a new
// connection sends it again.
func (s *session) unsettle(o *op) {
	s.mu.Lock()
	o.settling = false
	s.mu.Unlock()
}

// finish completes a settled operation: it frees the identifier and the
// quota and hands r to the caller, if it still waits. The identifier is
// freed only now, after the Store change, so that a new message can never
// take it while the old entry is still to be deleted.
func (s *session) finish(o *op, r result) {
	s.mu.Lock()
	if s.ops[o.id] == o {
		s.removeLocked(o.id)
	}
	quota, then := o.quota, o.then
	o.finished = then == nil
	s.mu.Unlock()
	if quota {
		s.releaseQuota()
	}
	if then != nil {
		then(r)
		return
	}
	// Last, and outside the lock, which the caller it wakes takes at
	// once: it may reuse o as soon as it has r (recycle). Capacity 1:
	// never blocks.
	o.done <- r
}

// handOff has f receive the result of o, which its caller no longer waits
// for (await). When the result has arrived already, handOff returns it
// instead (ok), for the caller to hand to f.
func (s *session) handOff(o *op, f func(result)) (r result, ok bool) {
	s.mu.Lock()
	if o.finished {
		s.mu.Unlock()
		return <-o.done, true // sent, or about to be
	}
	o.then = f
	s.mu.Unlock()
	return result{}, false
}

// complete settles, removes from the Store and finishes in one go, for
// acknowledgements outside the reading goroutine's batches.
func (s *session) complete(id uint16, ack wire.Type, r result) error {
	o, err := s.settle(id, ack)
	if o == nil {
		return err
	}
	if o.kind == wire.PUBLISH || o.kind == wire.PUBREL {
		if err := s.store.Delete(persist.Outgoing, id); err != nil {
			s.unsettle(o)
			return &storeError{fmt.Sprintf("removing message %d", id), err}
		}
	}
	s.finish(o, r)
	return nil
}

// toPubrel moves a QoS 2 publish to its second stage after a successful
// PUBREC (MQTT-4.3.3-6: the PUBLISH is never sent again); the caller
// stores the PUBREL in place of the PUBLISH before sending it
// (MQTT-4.3.3-4). moved reports that id was a QoS 2 PUBLISH in flight,
// known that it had moved before (a PUBREC sent again); o is the operation
// when known; err, a PUBREC for a QoS 1 message.
func (s *session) toPubrel(id uint16) (o *op, moved, known bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o = s.ops[id]
	if o == nil || o.settling {
		return nil, false, false, nil
	}
	if err := o.checkFlow(wire.PUBREC); err != nil {
		return nil, false, false, err
	}
	if o.kind == wire.PUBREL {
		return o, false, true, nil
	}
	if o.kind != wire.PUBLISH || o.qos != 2 {
		return nil, false, false, nil
	}
	o.kind = wire.PUBREL
	return o, true, true, nil
}

// drain waits until no operation is in flight, ctx ends, or the client ends.
func (s *session) drain(ctx context.Context, done <-chan struct{}) error {
	s.mu.Lock()
	if len(s.ops) == 0 {
		s.mu.Unlock()
		return nil
	}
	if s.drained == nil {
		s.drained = make(chan struct{})
	}
	ch := s.drained
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// load adopts the messages an earlier process left in the Store, before the
// first connection; resume then sends them like this process's own.
func (s *session) load() error {
	// Identifiers stored by an earlier connection of this session are
	// still waiting for PUBREL.
	in, err := s.store.Load(persist.Incoming)
	if err != nil {
		return fmt.Errorf("mqtt: loading incoming QoS 2 messages from the store: %w", err)
	}
	for _, e := range in {
		s.qos2[e.ID] = qos2Acked
	}
	entries, err := s.store.Load(persist.Outgoing)
	if err != nil {
		return fmt.Errorf("mqtt: loading unacknowledged messages from the store: %w", err)
	}
	for _, e := range entries {
		pkt, err := parseStored(e.Data, wire.V5)
		if err != nil {
			return fmt.Errorf("mqtt: message %d in the store: %w", e.ID, err)
		}
		switch p := pkt.(type) {
		case *wire.Publish:
			s.adopt(e.ID, wire.PUBLISH, p.QoS, p.Topic)
		case *wire.Pubrel:
			s.adopt(e.ID, wire.PUBREL, 2, "")
		default:
			return fmt.Errorf("mqtt: message %d in the store is a %v, not a PUBLISH or PUBREL", e.ID, pkt.Type())
		}
	}
	return nil
}

// resume sends on a new connection what earlier connections left
// unacknowledged, before any new call can use it: first SUBSCRIBE and
// UNSUBSCRIBE packets still waiting for their acknowledgement, then the
// QoS 1/2 messages of the Store in their original order.
//
// When the server kept the session, each message is sent again as it stood:
// a PUBLISH with DUP set, or the PUBREL of a QoS 2 flow past PUBREC, with
// its original identifier (MQTT-4.4.0-1, MQTT-4.6.0-1, MQTT-3.3.1-1). When
// it did not, each PUBLISH is sent afresh, and a QoS 2 flow past PUBREC is
// complete: the server that acknowledged it with PUBREC had the message,
// and has forgotten the flow.
func (c *Client) resume(cn *connection, sessionPresent bool) error {
	s := c.sess
	s.mu.Lock()
	if len(s.ops) == 0 {
		// Every message in the Store has its operation (adopted by load,
		// or begun by Publish before its Put): nothing to send again.
		s.mu.Unlock()
		return nil
	}
	var pending []*op
	for _, o := range s.ops {
		if o.pkt != nil {
			pending = append(pending, o)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(pending, func(a, b *op) int { return int(a.id) - int(b.id) })
	for _, o := range pending {
		if _, mine := o.claim(cn.gen); mine {
			cn.w.queue(o.pkt)
		}
	}

	entries, err := s.store.Load(persist.Outgoing)
	if err != nil {
		return &storeError{"loading unacknowledged messages", err}
	}
	for _, e := range entries {
		s.mu.Lock()
		o := s.ops[e.ID]
		if o == nil || (o.kind != wire.PUBLISH && o.kind != wire.PUBREL) {
			s.mu.Unlock() // being removed
			continue
		}
		kind := o.kind
		if kind == wire.PUBREL && !sessionPresent {
			s.mu.Unlock()
			if err := s.complete(e.ID, wire.PUBCOMP, result{}); err != nil {
				return err
			}
			continue
		}
		prev, mine := o.claim(cn.gen)
		if mine && kind == wire.PUBLISH {
			o.sending(s.sendSeq.Add(1))
		}
		if mine && !o.quota {
			// Resent messages count against the server's quota; they
			// may exceed it only when it shrank since they were sent.
			o.quota = s.quota.TryAcquire(1)
		}
		s.mu.Unlock()
		if !mine {
			continue
		}
		var pkt wire.Packet = &wire.Pubrel{PacketID: e.ID}
		if kind == wire.PUBLISH {
			p, err := parseStored(e.Data, cn.version)
			if err != nil {
				return fmt.Errorf("mqtt: message %d in the store: %w", e.ID, err)
			}
			pub, ok := p.(*wire.Publish)
			if !ok {
				return fmt.Errorf("mqtt: message %d in the store is a %v, not a PUBLISH", e.ID, p.Type())
			}
			pub.PacketID = e.ID
			pub.Dup = sessionPresent && prev != sentNever
			pkt = pub
		}
		if kind == wire.PUBREL || prev != sentNever {
			c.stats.resent.Add(1)
		}
		if err := cn.w.queue(pkt); err != nil {
			return err
		}
	}
	return nil
}

// parseStored decodes a stored packet, which an earlier connection may have
// encoded for another protocol version.
func parseStored(b []byte, v wire.Version) (wire.Packet, error) {
	pkt, _, err := wire.Parse(b, v)
	for _, other := range []wire.Version{wire.V5, wire.V311} {
		if err == nil || other == v {
			continue
		}
		pkt, _, err = wire.Parse(b, other)
	}
	if err != nil {
		return nil, err
	}
	if p, ok := pkt.(*wire.Publish); ok && v != wire.V5 {
		p.Properties = nil // properties do not survive a move to 3.x
	}
	if p, ok := pkt.(*wire.Pubrel); ok && v != wire.V5 {
		p.ReasonCode, p.Properties = 0, nil
	}
	return pkt, nil
}

// maxStrikes is how many connections in a row may end right after a
// message was sent, with nothing sent after it acknowledged, before the
// client takes the message for one the server will never accept.
const maxStrikes = 5

// strike is called when connection gen was lost, with ackedSeq the seq of
// the last message sent on it that the server acknowledged (PUBACK or
// PUBREC), and prompt, which tells whether the loss came as soon after a
// send as a server's answer would. The suspect is the first message sent
// on it that is still unacknowledged, if nothing sent after it was
// acknowledged and the loss came promptly: a server takes packets in
// order, so it closed the connection at that message or before the next. A suspect of maxStrikes losses in a row is returned,
// settling, for the caller to give up (NATS 2.9 closes the connection on
// every QoS 2 PUBLISH; a message the server's policy refuses that way would
// otherwise block the session for good).
func (s *session) strike(gen, ackedSeq uint64, prompt func(sentAt int64) bool) *op {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first *op
	for _, o := range s.ops {
		if o.kind != wire.PUBLISH || o.settling || o.sent.Load() != gen {
			continue
		}
		if first == nil || o.seq.Load() < first.seq.Load() {
			first = o
		}
	}
	if first == nil || first.seq.Load() < ackedSeq {
		s.suspect, s.strikes = 0, 0 // the server went past every message
		return nil
	}
	if !prompt(first.sentAt.Load()) {
		s.suspect, s.strikes = 0, 0 // lost a while after it was sent: the network, more likely
		return nil
	}
	if first.serial != s.suspect {
		s.suspect, s.strikes = first.serial, 0
	}
	s.strikes++
	if s.strikes < maxStrikes {
		return nil
	}
	s.suspect, s.strikes = 0, 0
	first.settling = true
	return first
}

// adopt registers an operation found in the Store; nobody waits for it.
func (s *session) adopt(id uint16, kind wire.Type, qos byte, topic string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serials++
	o := &op{id: id, kind: kind, qos: qos, topic: topic, done: make(chan result, 1), serial: s.serials}
	o.sent.Store(sentEarlier)
	o.seq.Store(s.sendSeq.Add(1))
	s.ops[id] = o
	s.pending.Store(int32(len(s.ops)))
	if id >= s.nextID {
		s.nextID = id + 1
		if s.nextID == 0 {
			s.nextID = 1
		}
	}
}

// qos2 states of an incoming identifier.
const (
	qos2Received = 1 // routed, not yet handed out
	qos2Acked    = 2 // PUBREC sent, waiting for PUBREL
)

// qos2Seen records an incoming QoS 2 identifier; dup reports that it is
// already known, with its state.
func (s *session) qos2Seen(id uint16) (state uint8, dup bool) {
	s.inMu.Lock()
	defer s.inMu.Unlock()
	if st, ok := s.qos2[id]; ok {
		return st, true
	}
	s.qos2[id] = qos2Received
	return 0, false
}

// qos2Acked records that the PUBREC of an incoming QoS 2 identifier went
// out (or is about to): a resend of its PUBLISH is not delivered again.
func (s *session) qos2Acked(id uint16) {
	s.inMu.Lock()
	if _, ok := s.qos2[id]; ok {
		s.qos2[id] = qos2Acked
	}
	s.inMu.Unlock()
}

// qos2Released forgets an incoming QoS 2 identifier the server released,
// and reports whether it was known.
func (s *session) qos2Released(id uint16) bool {
	s.inMu.Lock()
	defer s.inMu.Unlock()
	_, known := s.qos2[id]
	delete(s.qos2, id)
	return known
}

// newServerSession forgets the incoming side of a session the server no
// longer has (it answered CONNACK without Session Present): the QoS 2
// identifiers waiting for PUBREL, in memory and in the Store, mean nothing
// any more.
func (s *session) newServerSession() error {
	if err := s.store.Reset(persist.Incoming); err != nil {
		return &storeError{"forgetting the incoming messages of the last session", err}
	}
	s.inMu.Lock()
	clear(s.qos2)
	s.inMu.Unlock()
	s.released.forget()
	return nil
}

// recordReceived records in the Store that the incoming QoS 2 message id
// reached the application, before its PUBREC goes out: the server's resend
// of it is then not delivered again, even by a new process.
func (s *session) recordReceived(id uint16) *storeError {
	if err := s.store.Put(persist.Incoming, id, nil); err != nil {
		return &storeError{fmt.Sprintf("recording incoming QoS 2 message %d as received", id), err}
	}
	return nil
}

// forgetReceived undoes recordReceived for a message refused after all.
func (s *session) forgetReceived(id uint16) *storeError {
	if err := s.store.Delete(persist.Incoming, id); err != nil {
		return &storeError{fmt.Sprintf("forgetting incoming QoS 2 message %d, refused", id), err}
	}
	return nil
}

// store writes the encoding of an outgoing QoS 1/2 message, before it is
// sent.
func (s *session) storeOutgoing(id uint16, enc []byte) error {
	return s.store.Put(persist.Outgoing, id, enc)
}

// apply makes the Store changes of a batch of packets read (connection.commit).
func (s *session) apply(changes []persist.Change) error {
	return persist.Apply(s.store, changes)
}

// stored returns the message o as the Store holds it, nil when it cannot
// be read.
func (s *session) stored(o *op) *Message {
	entries, err := s.store.Load(persist.Outgoing)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		if e.ID != o.id {
			continue
		}
		if p, err := parseStored(e.Data, wire.V5); err == nil {
			if pub, ok := p.(*wire.Publish); ok {
				m := messageOf(pub)
				m.Duplicate = false
				return &m
			}
		}
	}
	return nil
}

// discard ends o, settling, with r and removes its message from the Store
// (Client.giveUp).
func (s *session) discard(o *op, r result) error {
	if err := s.store.Delete(persist.Outgoing, o.id); err != nil {
		s.unsettle(o)
		return &storeError{fmt.Sprintf("removing message %d, given up", o.id), err}
	}
	s.finish(o, r)
	return nil
}
