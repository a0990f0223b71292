package mqtt

// This file holds the publish flows of both directions, QoS 0, 1 and 2:
//
//	outgoing QoS 1:  PUBLISH ->          <- PUBACK
//	outgoing QoS 2:  PUBLISH ->          <- PUBREC
//	                 PUBREL  ->          <- PUBCOMP
//	incoming QoS 1:  <- PUBLISH          PUBACK ->  (when Next delivers it, or
//	                                                 Delivery.Accept or Refuse)
//	incoming QoS 2:  <- PUBLISH          PUBREC ->  (likewise; a refusal ends the flow)
//	                 <- PUBREL           PUBCOMP ->

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// Publish sends m and blocks until the server has acknowledged it: QoS 0
// returns once the packet is queued on the connection, QoS 1 after PUBACK,
// QoS 2 after PUBCOMP.
//
// m is checked before anything is sent: the topic must be a valid topic name
// (no wildcards, valid UTF-8, no U+0000), the QoS at most the server's
// maximum, Retain only where the server supports it, and the packet no larger
// than the server accepts and MQTT allows (ErrPacketTooLarge).
//
// A QoS 1 or 2 message is written to the Store before it is sent and removed
// when acknowledged. When ctx ends before the PUBLISH was written, the
// message is removed and the error wraps ctx.Err(): it was not sent. When ctx
// ends after, the error wraps both ErrOutcomeUnknown and ctx.Err(): the
// broker may have it, and delivery goes on in the background.
//
// A v5 server's refusal (PUBACK or PUBREC with a reason code of 0x80 or more)
// is a *ReasonError.
//
// Publish keeps no reference to m or its payload after it returns, so the
// caller may reuse them at once, at any QoS.
func (c *Client) Publish(ctx context.Context, m Message) error {
	cn := c.cn.Load() // the latest connection's limits apply while offline
	p, err := c.newPublish(cn, &m)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		putPublish(p)
		return notSent("publish", err)
	}
	if err := c.Err(); err != nil {
		putPublish(p) // closed: not even into the Store
		return notSent("publish", err)
	}
	defer putPublish(p)
	qos := p.QoS
	if qos == 0 {
		err := c.publishQoS0(ctx, p)
		if err == nil {
			c.stats.published[0].Add(1)
		}
		return err
	}

	// Flow control: at most the server's Receive Maximum in flight
	// (MQTT-3.3.4-7, MQTT-4.9.0-2).
	if err := c.acquireQuota(ctx); err != nil {
		return notSent("publish", err)
	}
	o, err := c.sess.beginPublish(p.QoS, p.Topic) // MQTT-4.3.2-1, MQTT-4.3.3-1
	if err != nil {
		c.sess.releaseQuota()
		return notSent("publish", err)
	}
	p.PacketID = o.id

	// Into the Store before the first byte is sent.
	buf := getBuf()
	enc, err := p.Append((*buf)[:0], cn.version)
	if err == nil {
		err = c.sess.store.Put(persist.Outgoing, o.id, enc)
	}
	*buf = enc[:0]
	putBuf(buf)
	if err != nil {
		c.sess.abort(o)
		return notSent("publish", wrapf(err, "storing the message"))
	}
	if err := c.transmit(ctx, o, p, "publish"); err != nil {
		return err
	}
	err = c.await(ctx, o, "publish")
	if err == nil {
		c.stats.published[qos].Add(1)
	}
	return err
}

// acquireQuota takes a unit of the session's quota, waiting while the
// server's Receive Maximum is reached until ctx or the client ends.
func (c *Client) acquireQuota(ctx context.Context) error {
	if c.sess.quota.TryAcquire(1) {
		return nil
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel) // c.ctx ends with the client
	defer stop()
	err := c.sess.quota.Acquire(qctx, 1)
	if err != nil && ctx.Err() == nil {
		<-c.done // the client ended
		return c.err
	}
	return err
}

// publishQoS0 queues a QoS 0 PUBLISH on the connection, or while the client
// is reconnecting, in the offline queue.
func (c *Client) publishQoS0(ctx context.Context, p *wire.Publish) error {
	c.keepReading() // for what the server may say about messages nobody waits for
	for {
		cn := c.current()
		if cn == nil {
			queued, err := c.queueOffline(ctx, p)
			if queued || err != nil {
				return err
			}
			continue // connected meanwhile
		}
		if err := cn.w.waitSpace(ctx); err != nil {
			return notSent("publish", err)
		}
		err := cn.w.post(p)
		if err == nil {
			return nil
		}
		if !errors.As(err, new(writerClosedError)) {
			return notSent("publish", err)
		}
		select { // the connection is failing: wait until it has
		case <-cn.dead:
		case <-ctx.Done():
			return notSent("publish", ctx.Err())
		}
	}
}

// queueOffline keeps p for the next connection. It reports false when the
// client is connected after all, and waits, bounded by ctx, while the queue
// is full.
func (c *Client) queueOffline(ctx context.Context, p *wire.Publish) (bool, error) {
	c.mu.Lock()
	if c.current() != nil {
		c.mu.Unlock()
		return false, nil
	}
	if err := c.Err(); err != nil {
		c.mu.Unlock()
		return false, notSent("publish", err)
	}
	if c.opts.OfflineQueue < 0 {
		c.mu.Unlock()
		return false, notSent("publish", ErrNotConnected)
	}
	if len(c.offline) < c.opts.OfflineQueue {
		b, err := p.Append(nil, c.cn.Load().version)
		if err == nil {
			c.offline = append(c.offline, b)
		}
		c.mu.Unlock()
		if err != nil {
			return false, notSent("publish", err)
		}
		return true, nil
	}
	up := c.up
	c.mu.Unlock()
	select {
	case <-up:
		return false, nil
	case <-ctx.Done():
		return false, notSent("publish", ctx.Err())
	case <-c.done:
		return false, notSent("publish", c.err)
	}
}

// await waits for the acknowledgement of o after its packet was queued. A
// lost connection does not end the wait: the next one sends o again.
//
// Unless the connection has a reading goroutine (connection.keepReading),
// the caller reads the answer itself when its turn comes. A second message
// in flight starts the reading goroutine: concurrent publishers are better
// served by one reader than by turns.
func (c *Client) await(ctx context.Context, o *op, what string) error {
	var cn *connection
	var turn chan struct{}
	if !c.watched.Load() {
		if c.sess.pending.Load() > 1 {
			c.keepReading()
		} else if cn = c.cn.Load(); cn != nil {
			turn = cn.turn
		}
	}
	for {
		select {
		case r := <-o.done:
			topic := o.topic
			c.sess.recycle(o) // settled and received: nobody refers to it any more
			if r.code.IsError() {
				return &ReasonError{Op: what, Topic: topic, ReasonCode: r.code, ReasonString: r.reason}
			}
			return r.err
		case <-turn:
			turn = nil
			cn.readFor(ctx, o)
		case <-ctx.Done():
			o.waited.Store(false)
			return &opError{what: fmt.Sprintf("%s of %q: sent, not yet acknowledged (delivery goes on in the background)", what, o.topic),
				err: ctx.Err(), is: []error{ErrOutcomeUnknown}}
		case <-c.done:
			o.waited.Store(false)
			// Nothing goes on now; the message stays in the Store,
			// where a client started on a durable one finds it.
			return &opError{what: fmt.Sprintf("%s of %q: sent, but the client closed before its acknowledgement came", what, o.topic),
				err: c.err, is: []error{ErrOutcomeUnknown}}
		}
	}
}

// newPublish checks m against the protocol and the server's limits and builds
// its PUBLISH. The packet comes from publishPool; on error it is returned there.
func (c *Client) newPublish(cn *connection, m *Message) (*wire.Publish, error) {
	if err := wire.CheckTopicName(m.Topic); err != nil {
		return nil, invalidf("publish", "%w", err)
	}
	switch {
	case m.QoS > QoS2:
		return nil, invalidf("publish", "QoS %d is not 0, 1 or 2", m.QoS)
	case m.MessageExpiry < 0:
		// A mistake, not "never expires": that is 0.
		return nil, invalidf("publish", "MessageExpiry %v is negative; use 0 for a message that never expires", m.MessageExpiry)
	case m.MessageExpiry > 0 && m.MessageExpiry < time.Second:
		return nil, invalidf("publish", "MessageExpiry %v is under a second, MQTT's unit: %s", m.MessageExpiry, secondsHint(m.MessageExpiry))
	case m.QoS > cn.maxQoS:
		return nil, invalidf("publish", "the server accepts at most %v, not %v", cn.maxQoS, m.QoS) // MQTT-3.2.2-11
	case m.Retain && !cn.retainAvailable:
		return nil, invalidf("publish", "the server does not support retained messages") // MQTT-3.2.2-14
	case cn.version != wire.V5 && hasProps(m):
		return nil, invalidf("publish", "message properties need MQTT 5.0; the server speaks %v", cn.version)
	}
	p := publishPool.Get().(*wire.Publish)
	*p = wire.Publish{QoS: byte(m.QoS), Retain: m.Retain, Topic: m.Topic, Payload: m.Payload}
	if cn.version == wire.V5 {
		p.Properties = messageProps(m)
	}
	// Checked against the server's limit, or the protocol's when it set
	// none (the wire package's ErrPacketTooLarge). Without the first,
	// only a payload near the second or user properties (the other
	// fields hold at most 64 KiB each) can reach it: computing the size
	// of every small message would slow a QoS 0 Publish measurably.
	if cn.maxPacketSize > 0 || len(m.Payload) > wire.MaxPacketSize/2 || len(m.UserProperties) > 0 {
		if p.QoS > 0 {
			p.PacketID = 1 // counted in the size; replaced later
		}
		size, err := p.Size(cn.version)
		p.PacketID = 0
		switch {
		case errors.Is(err, ErrPacketTooLarge):
			putPublish(p)
			return nil, invalidf("publish", "%w (MQTT's own limit); send the payload in several messages", err)
		case err != nil:
			putPublish(p)
			return nil, invalidf("publish", "%w", err)
		case cn.maxPacketSize > 0 && size > cn.maxPacketSize:
			putPublish(p)
			return nil, invalidf("publish", "%w: PUBLISH of %d bytes, the server's limit is %d (MQTT-3.2.2-15)", ErrPacketTooLarge, size, cn.maxPacketSize)
		}
	}
	return p, nil
}

func hasProps(m *Message) bool {
	return m.PayloadFormat != 0 || m.MessageExpiry != 0 || m.ContentType != "" ||
		m.ResponseTopic != "" || m.CorrelationData != nil || len(m.UserProperties) != 0
}

// messageProps returns the v5 properties of m, nil when it has none.
func messageProps(m *Message) *wire.Properties {
	if !hasProps(m) {
		return nil
	}
	p := &wire.Properties{
		PayloadFormat:   m.PayloadFormat,
		ContentType:     m.ContentType,
		ResponseTopic:   m.ResponseTopic,
		CorrelationData: m.CorrelationData,
		UserProperties:  m.UserProperties,
	}
	if m.MessageExpiry > 0 {
		secs := seconds(m.MessageExpiry, 0xFFFFFFFF)
		p.MessageExpiry = &secs
	}
	return p
}

// messageOf is the Message that p carries.
func messageOf(p *wire.Publish) Message {
	m := Message{Topic: p.Topic, Payload: p.Payload, QoS: QoS(p.QoS), Retain: p.Retain, Duplicate: p.Dup}
	if pr := p.Properties; pr != nil {
		m.PayloadFormat = pr.PayloadFormat
		if pr.MessageExpiry != nil {
			m.MessageExpiry = time.Duration(*pr.MessageExpiry) * time.Second
		}
		m.ContentType = pr.ContentType
		m.ResponseTopic = pr.ResponseTopic
		m.CorrelationData = pr.CorrelationData
		m.UserProperties = pr.UserProperties
		m.SubscriptionIDs = pr.SubscriptionIDs
	}
	return m
}

// giveUp ends a message that the server closed the connection for
// maxStrikes times in a row, the last time cn (session.strike): it is
// removed from the Store, and its Publish fails with ErrOutcomeUnknown and
// why; when no Publish waits for it any more (its ctx ended, or it was
// found in the Store), OnUndeliverable hears of it. The session goes on
// with the other messages.
func (c *Client) giveUp(o *op, cn *connection) error {
	why := fmt.Sprintf("the server closed the connection each of the %d times it was sent, with nothing sent after it acknowledged: "+
		"it will not take this message", maxStrikes)
	if o.qos == 2 && cn.version != wire.V5 {
		why += "; a 3.1.1 server that does not support QoS 2 does that (NATS before 2.10): publish at QoS 1"
	}
	err := &opError{what: fmt.Sprintf("publish of %q: given up", o.topic), err: errors.New(why), is: []error{ErrOutcomeUnknown}}
	var m *Message
	if hook := c.opts.OnUndeliverable; hook != nil && !o.waited.Load() {
		if entries, lerr := c.sess.store.Load(persist.Outgoing); lerr == nil {
			for _, e := range entries {
				if e.ID != o.id {
					continue
				}
				if p, perr := parseStored(e.Data, wire.V5); perr == nil {
					if pub, ok := p.(*wire.Publish); ok {
						mm := messageOf(pub)
						mm.Duplicate = false
						m = &mm
					}
				}
			}
		}
	}
	c.logInfo("message given up", "topic", o.topic, "id", o.id, "error", err)
	if derr := c.sess.store.Delete(persist.Outgoing, o.id); derr != nil {
		c.sess.unsettle(o)
		return &storeError{fmt.Sprintf("removing message %d, given up", o.id), derr}
	}
	c.sess.finish(o, result{err: err})
	if m != nil {
		c.opts.OnUndeliverable(*m, err)
	}
	return nil
}

// receivePubrec handles the server's PUBREC for our QoS 2 PUBLISH id, with
// its reason code and properties (nil when it has none).
func (c *Client) receivePubrec(cn *connection, id uint16, code ReasonCode, props *wire.Properties) error {
	if code.IsError() {
		// A refusal ends the flow: no PUBREL (MQTT-4.4.0-2).
		return cn.settle(id, wire.PUBREC, ackResult(code, props, nil))
	}
	o, moved, known, err := c.sess.toPubrel(id)
	if err != nil {
		return cn.settle(id, wire.PUBREC, result{}) // the other QoS flow: ends it
	}
	if moved {
		cn.acked(o)
	}
	b := &cn.batch
	b.rels = append(b.rels, wire.Pubrel{PacketID: id}) // MQTT-4.3.3-4
	rel := &b.rels[len(b.rels)-1]
	if moved {
		// Stored in place of the PUBLISH before it is sent.
		start := len(b.arena)
		enc, err := rel.Append(b.arena, cn.version)
		if err != nil {
			return err
		}
		b.arena = enc
		b.changes = append(b.changes, persist.Change{Dir: persist.Outgoing, ID: id, Data: enc[start:len(enc):len(enc)]})
	}
	if !known {
		// PUBREC for an identifier we have no QoS 2 message for: tell
		// the server, which then ends its side of the flow.
		rel.ReasonCode = wire.PacketIdentifierNotFound
		if cn.version != wire.V5 {
			rel.ReasonCode = wire.Success
		}
	}
	return nil
}

// receivePublish takes in a PUBLISH from the server. QoS 0 and 1 messages and
// new QoS 2 messages are routed to the subscriptions; they are acknowledged
// when Next hands them out. A QoS 2 message whose identifier is still waiting
// for PUBREL is a resend: it is not delivered again (MQTT-4.3.3-10).
func (c *Client) receivePublish(cn *connection, p *wire.Publish) error {
	if p.Properties != nil && p.Properties.TopicAlias != 0 {
		if err := c.router.resolveAlias(p); err != nil {
			return err
		}
	}
	var in *inbound
	if p.QoS > 0 {
		if err := cn.receiving(p.PacketID, p.Dup); err != nil {
			return err
		}
		in = &inbound{cn: cn, id: p.PacketID, qos: p.QoS}
		if p.QoS == 2 {
			state, dup := c.router.qos2Seen(p.PacketID)
			if dup {
				if state == qos2Acked {
					cn.w.queue(&wire.Pubrec{PacketID: p.PacketID}) // MQTT-4.3.3-10
				}
				return nil
			}
			if c.released.resent(p) {
				// Completed already: acknowledged again, so that the
				// server's PUBREL completes it once more, and not
				// delivered (releasedQoS2).
				c.router.qos2Acked(p.PacketID)
				cn.w.queue(&wire.Pubrec{PacketID: p.PacketID})
				return nil
			}
		}
	}
	c.router.route(p, in)
	return nil
}

// releasedQoS2 remembers the last incoming QoS 2 messages completed (PUBREL
// answered with PUBCOMP), by packet identifier and a fingerprint of topic
// and payload. A server may send one of them again after a reconnection as
// a PUBLISH with DUP, although it had sent its PUBREL already: mosquitto 2.0
// does so now and then, one or two reconnections later, when its session
// state for the client was reset (TestChaos caught it). Delivered, the
// message would arrive twice; so such a PUBLISH is acknowledged again and
// not delivered. The server may use the identifier for a new message, which
// starts without DUP and ends the memory of the old one; only a new message
// with the same identifier, topic and payload whose first send was lost
// would be taken for the old one. At most maxReleased are remembered.
type releasedQoS2 struct {
	mu       sync.Mutex
	seed     maphash.Seed
	pending  map[uint16]uint64 // fingerprints of the messages not yet released
	released map[uint16]releasedMsg
	// The last maxReleased releases, a ring, for the bound: the oldest is
	// forgotten when a new one comes, unless its identifier was released
	// again since (then seq differs).
	ring [maxReleased]releasedAt
	seq  uint64 // counts releases
}

type releasedMsg struct{ sum, seq uint64 }

type releasedAt struct {
	id  uint16
	seq uint64
}

const maxReleased = 1024

func (r *releasedQoS2) fingerprint(p *wire.Publish) uint64 {
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.WriteString(p.Topic)
	h.WriteByte(0)
	h.Write(p.Payload)
	return h.Sum64()
}

// resent records a QoS 2 PUBLISH whose identifier is not in flight, and
// reports whether it is a message released already, sent again.
func (r *releasedQoS2) resent(p *wire.Publish) bool {
	sum := r.fingerprint(p)
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.released[p.PacketID]; ok {
		if p.Dup && old.sum == sum {
			return true // still remembered: its PUBREL may come again
		}
		delete(r.released, p.PacketID) // a new message under that identifier
	}
	if r.pending == nil {
		r.pending = make(map[uint16]uint64)
	}
	r.pending[p.PacketID] = sum
	return false
}

// release records that the message id was released.
func (r *releasedQoS2) release(id uint16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sum, ok := r.pending[id]
	if !ok {
		return
	}
	delete(r.pending, id)
	if r.released == nil {
		r.released = make(map[uint16]releasedMsg)
	}
	r.seq++
	slot := &r.ring[r.seq%maxReleased]
	if old, ok := r.released[slot.id]; ok && old.seq == slot.seq {
		delete(r.released, slot.id) // the oldest, maxReleased releases ago
	}
	*slot = releasedAt{id, r.seq}
	r.released[id] = releasedMsg{sum, r.seq}
}

// forget forgets everything: the server started a new session.
func (r *releasedQoS2) forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.pending)
	clear(r.released)
}

// acknowledge sends the acknowledgement of an incoming QoS 1 or 2 message
// that the application has received (MQTT-4.3.2-4, MQTT-4.3.3-8): a success,
// or the refusal in in.code (Delivery.Refuse, MQTT 5.0). QoS 2 state is
// stored before a successful PUBREC goes out, so the message is not
// delivered twice even across a restart. A refusing PUBREC ends the flow:
// nothing is stored, and the identifier is free for a new message at once
// (MQTT-4.3.3-9).
//
// While the client is reconnecting the acknowledgement is not sent: the
// server sends the message again on the next connection, a QoS 1 message is
// delivered again, and a QoS 2 message is answered with PUBREC without
// being delivered again (unless it was refused). A message from a session
// the server has since forgotten is not acknowledged at all.
func (c *Client) acknowledge(in *inbound) {
	cn := c.current()
	code := in.code
	if cn != nil && cn.version != wire.V5 {
		code = wire.Success // 3.x has no reason codes (Refuse refuses them)
	}
	refused := code.IsError()
	if in.qos == 1 || refused {
		// Room for another (connection.receiving): on the connection
		// it came by, which will never see the answer if it is not the
		// current one, and on the one the answer goes out on, where the
		// server may have sent it again. A PUBACK, or a refusing
		// PUBREC, is the last packet of its flow. Made before the
		// answer goes out: a server that has it may send the next
		// message at once, and the reader must not count that one
		// beyond the Receive Maximum (MQTT-3.3.4-9).
		in.cn.answered(in.id)
		if cn != nil {
			cn.answered(in.id)
		}
	}
	if !c.router.current(in) {
		return
	}
	if in.qos == 1 {
		if cn != nil {
			cn.w.post(&wire.Puback{PacketID: in.id, ReasonCode: code})
		}
		return
	}
	if refused {
		c.router.qos2Released(in.id) // not received: a new message may take the identifier
		if cn != nil {
			cn.w.post(&wire.Pubrec{PacketID: in.id, ReasonCode: code})
		}
		return
	}
	if err := c.sess.store.Put(persist.Incoming, in.id, nil); err != nil {
		// Without the record, the server's next send of this message
		// would be delivered again: no PUBREC.
		c.storeFailed(&storeError{fmt.Sprintf("recording incoming QoS 2 message %d as received", in.id), err})
		return
	}
	c.router.qos2Acked(in.id)
	if cn != nil {
		cn.w.post(&wire.Pubrec{PacketID: in.id})
	}
}

// receivePubrel completes an incoming QoS 2 flow: the identifier is free
// again and PUBCOMP goes out (MQTT-4.3.3-11, MQTT-4.3.3-12). A v5 server
// that releases an identifier we hold nothing for hears so (0x92); it
// completes its side all the same.
func (c *Client) receivePubrel(cn *connection, p *wire.Pubrel) error {
	comp := &wire.Pubcomp{PacketID: p.PacketID}
	cn.answered(p.PacketID)
	c.released.release(p.PacketID)
	if c.router.qos2Released(p.PacketID) {
		cn.batch.changes = append(cn.batch.changes, persist.Change{Dir: persist.Incoming, ID: p.PacketID, Delete: true})
	} else if cn.version == wire.V5 {
		comp.ReasonCode = wire.PacketIdentifierNotFound
	}
	cn.batch.out = append(cn.batch.out, comp)
	return nil
}

// PUBLISH packets are reused: the writer encodes a packet before send
// returns and keeps no reference to it (nor may the trace hooks).
var publishPool = sync.Pool{New: func() any { return new(wire.Publish) }}

func putPublish(p *wire.Publish) {
	*p = wire.Publish{}
	publishPool.Put(p)
}

// Scratch buffers for encoding a message into the Store.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= 64<<10 {
		bufPool.Put(b)
	}
}
