package mqtt

// This file is the outgoing publish flow, QoS 0, 1 and 2, top to bottom:
//
//	QoS 0:  PUBLISH ->                  (Publish returns once it is queued)
//	QoS 1:  PUBLISH ->   <- PUBACK      (settle)
//	QoS 2:  PUBLISH ->   <- PUBREC      (receivePubrec: the PUBREL replaces
//	        PUBREL  ->   <- PUBCOMP      the PUBLISH in the Store; settle)
//
// Publish checks the message (newPublish), takes a unit of the server's
// Receive Maximum (acquireQuota) and a packet identifier (session), stores
// the message, queues it on the connection (transmit) and waits for the
// answer (await). The reading goroutine, or the Publish that waits, reads
// the answers (connection.readBatch); their Store changes and the callers
// they release are committed once per batch (connection.commit).
// Subscribe and Unsubscribe send and wait the same way. The incoming flow
// is in receive.go.

import (
	"context"
	"errors"
	"fmt"
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
		err = c.sess.storeOutgoing(o.id, enc)
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
	r, err := c.await(ctx, o, "publish", "delivery goes on in the background")
	switch {
	case err != nil:
		return err
	case r.code.IsError():
		return &ReasonError{Op: "publish", Topic: m.Topic, ReasonCode: r.code, ReasonString: r.reason}
	case r.err != nil:
		return r.err
	}
	c.stats.published[qos].Add(1)
	return nil
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
		PayloadFormat:   byte(m.PayloadFormat),
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

// transmit queues the packet of o on the connection, waiting for one while
// the client is reconnecting. It returns nil once the packet is queued (by
// this call, or by the resume of a new connection). Otherwise o was never
// sent: transmit has removed it and says why.
//
// A packet queued on a connection that then fails is not sent again by
// transmit: the next connection's resume does that.
func (c *Client) transmit(ctx context.Context, o *op, pkt wire.Packet, what string) error {
	for {
		cn, err := c.connection(ctx)
		if err == nil {
			err = cn.w.waitSpace(ctx)
		}
		if err != nil {
			if o.giveUp() {
				c.sess.abort(o)
				return notSent(what, err)
			}
			return nil // queued after all; await reports the outcome
		}
		prev, mine := o.claim(cn.gen)
		if !mine {
			return nil // a new connection's resume sent it
		}
		if o.kind == wire.PUBLISH {
			o.sending(c.sess.sendSeq.Add(1))
		}
		if p, ok := pkt.(*wire.Publish); ok && prev != sentNever {
			p.Dup = true
			c.stats.resent.Add(1)
		}
		err = cn.w.send(pkt)
		if err == nil {
			return nil
		}
		if !errors.As(err, new(writerClosedError)) {
			o.sent.Store(sentAborted)
			c.sess.abort(o)
			return notSent(what, err)
		}
		// The connection is failing; it was not queued. Undo the claim
		// unless a resume took it, and wait for the next connection.
		if !o.sent.CompareAndSwap(cn.gen, prev) {
			return nil
		}
		select {
		case <-cn.dead:
		case <-c.done:
		}
	}
}

// await waits for the result of o, whose packet transmit queued: the one
// way Publish, Subscribe and Unsubscribe wait for their answer. A lost
// connection does not end the wait: the next one sends the packet again.
//
// When it is the only call waiting and no reading goroutine runs, it reads
// its answer itself once it has the turn (see "Who reads the connection"); a
// second call waiting starts the reading goroutine: concurrent callers are
// better served by one reader than by turns.
//
// When ctx or the client ends first, the packet may have reached the server
// or not: the error wraps ErrOutcomeUnknown and ctx's error, or the
// client's, and says what the client goes on doing (meanwhile). The result
// then goes nowhere, unless the caller has it handed to a function of its
// own (session.handOff).
func (c *Client) await(ctx context.Context, o *op, what, meanwhile string) (result, error) {
	var turn chan struct{}
	cn := c.cn.Load()
	if !cn.reading.Load() {
		if c.sess.pending.Load() > 1 {
			cn.startReader()
		} else {
			turn = cn.turn
		}
	}
	for {
		select {
		case r := <-o.done:
			c.sess.recycle(o) // settled and received: nobody refers to it any more
			return r, nil
		case <-turn:
			turn = nil
			cn.readFor(ctx, o)
		case <-ctx.Done():
			o.waited.Store(false)
			return result{}, &opError{what: fmt.Sprintf("%s of %q: sent, not yet acknowledged (%s)", what, o.topic, meanwhile),
				err: ctx.Err(), is: []error{ErrOutcomeUnknown}}
		case <-c.done:
			o.waited.Store(false)
			// Nothing goes on now; a message stays in the Store, where
			// a client started on a durable one finds it.
			return result{}, &opError{what: fmt.Sprintf("%s of %q: sent, but the client closed before its acknowledgement came", what, o.topic),
				err: c.err, is: []error{ErrOutcomeUnknown}}
		}
	}
}

// settle records the acknowledgement ack of the operation with identifier
// id. The operation is finished, and its message removed from the Store, at
// the end of the batch. An acknowledgement that cannot be right for the
// operation is a protocol error.
func (cn *connection) settle(id uint16, ack wire.Type, r result) error {
	o, err := cn.c.sess.settle(id, ack)
	if o == nil {
		return err
	}
	if err != nil {
		// An acknowledgement of the other QoS flow: the message ends
		// with the error, not as delivered, and the connection with a
		// protocol error. The server may have it; exactly once it is not.
		cn.batch.changes = append(cn.batch.changes, persist.Change{Dir: persist.Outgoing, ID: id, Delete: true})
		cn.batch.settled = append(cn.batch.settled, settled{o, result{err: &opError{
			what: fmt.Sprintf("publish of %q: a protocol error", o.topic), err: err, is: []error{ErrOutcomeUnknown}}}})
		return err
	}
	if ack == wire.SUBACK || ack == wire.UNSUBACK {
		if err := o.checkCodes(r.codes, cn.version); err != nil {
			cn.c.sess.unsettle(o) // sent again on the next connection
			return err
		}
	}
	if o.kind == wire.PUBLISH {
		cn.acked(o)
	}
	if o.kind == wire.PUBLISH || o.kind == wire.PUBREL {
		cn.batch.changes = append(cn.batch.changes, persist.Change{Dir: persist.Outgoing, ID: id, Delete: true})
	}
	cn.batch.settled = append(cn.batch.settled, settled{o, r})
	return nil
}

// acked records that the server acknowledged the PUBLISH of o on this
// connection: it went past every message sent before (session.strike).
func (cn *connection) acked(o *op) {
	if s := o.seq.Load(); s > cn.ackedSeq.Load() {
		cn.ackedSeq.Store(s) // only the one who reads stores
	}
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
	if c.opts.OnUndeliverable != nil && !o.waited.Load() {
		m = c.sess.stored(o)
	}
	c.logInfo("message given up", "topic", o.topic, "id", o.id, "error", err)
	if derr := c.sess.discard(o, result{err: err}); derr != nil {
		return derr
	}
	if m != nil {
		c.opts.OnUndeliverable(*m, err)
	}
	return nil
}

// publishQoS0 queues a QoS 0 PUBLISH on the connection, or while the client
// is reconnecting, in the offline queue.
func (c *Client) publishQoS0(ctx context.Context, p *wire.Publish) error {
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
