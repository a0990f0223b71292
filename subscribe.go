package mqtt

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/culex-mqtt/mqtt/wire"
)

// Filter is a topic filter to subscribe to, with its subscription options.
// NoLocal, RetainAsPublished and RetainHandling need MQTT 5.0.
type Filter struct {
	Topic             string
	QoS               QoS
	NoLocal           bool           // v5: do not receive our own publications
	RetainAsPublished bool           // v5: keep the retain flag as published
	RetainHandling    RetainHandling // v5: when the server sends the retained messages that match
}

// RetainHandling says when the server sends a subscription the retained
// messages that match its filter (MQTT 5.0).
type RetainHandling byte

// The retain handling options. Over MQTT 3.x the server always sends them.
const (
	SendRetained      RetainHandling = 0 // at every subscribe: the default
	SendRetainedIfNew RetainHandling = 1 // only when the subscription did not exist yet
	NoRetained        RetainHandling = 2 // never
)

// maxQueuedQoS0 bounds how many QoS 0 messages wait in one Subscription, as
// DialOptions.MaxQueuedBytes bounds their bytes. QoS 0 has no flow control,
// and the reading goroutine never waits for the application, so a QoS 0
// message that does not fit is dropped: the newest, never one already
// queued. QoS 1 and 2 messages are never dropped: the client's Receive
// Maximum bounds them.
const maxQueuedQoS0 = 1 << 16

// defaultMaxQueuedBytes is DialOptions.MaxQueuedBytes's default: 16 MiB per
// Subscription, which a small service can afford for each of a few.
const defaultMaxQueuedBytes = 16 << 20

// Subscription receives the messages matching its filters. Next hands them
// out in the order they arrived. It is safe for concurrent use.
type Subscription struct {
	// Set by Subscribe, then read only.
	c     *Client
	id    int            // v5 subscription identifier, 0 when not used
	props []UserProperty // v5: the SUBSCRIBE's user properties (SubscribeWith)

	// Guarded by the router's mu.
	asked   []Filter // as subscribed, for subscribing again; Unsubscribe removes filters
	filters []Filter // with the granted QoS
	granted bool     // SUBACK arrived
	// abandoned: its Subscribe failed after sending SUBSCRIBE; registered
	// until release has the server forget it.
	abandoned bool

	// Under mu: the messages the reading goroutine queued for Next.
	mu      sync.Mutex
	queue   []queued
	head    int
	qos0    int           // QoS 0 messages in queue
	bytes   int           // their size (queued.size)
	dropped int           // QoS 0 messages dropped because the queue was full
	notify  chan struct{} // capacity 1: something was queued
	closed  bool
}

type queued struct {
	msg   Message
	in    *inbound // nil for QoS 0, and once acknowledged (acked)
	acked bool     // a QoS 1/2 message acknowledged before Next took it (remove)
	alone bool     // queued in one Subscription only
	size  int      // msg's weight in the bounds of queued messages (sizeOf)
}

// sizeOf is what a message weighs in the bounds of queued messages
// (DialOptions.MaxQueuedBytes): the bytes of its topic, payload and
// properties, which is what it keeps in memory.
func sizeOf(m *Message) int {
	n := len(m.Topic) + len(m.Payload) + len(m.ContentType) + len(m.ResponseTopic) + len(m.CorrelationData)
	for _, p := range m.UserProperties {
		n += len(p.Key) + len(p.Value)
	}
	return n
}

// Subscribe subscribes to filters and blocks until the server's SUBACK. The
// returned Subscription receives every message that matches one of them. A
// filter the server refuses makes the whole call fail with a *ReasonError
// naming it; filters granted in the same call are unsubscribed again.
//
// When ctx ends after the SUBSCRIBE was sent, the error matches
// ErrOutcomeUnknown: the server subscribes all the same, and the client
// unsubscribes again once the SUBACK arrives, dropping until then the
// messages only that subscription matched (Client.Dropped).
func (c *Client) Subscribe(ctx context.Context, filters ...Filter) (*Subscription, error) {
	return c.SubscribeWith(ctx, nil, filters...)
}

// SubscribeOptions are the MQTT 5.0 properties of a SUBSCRIBE, for
// SubscribeWith. The subscription identifier is the client's (see
// Subscription.ID).
type SubscribeOptions struct {
	// UserProperties go with the SUBSCRIBE, and with the one that
	// subscribes again after a reconnection to a server that kept no
	// session.
	UserProperties []UserProperty
}

// SubscribeWith is Subscribe with the properties of opts (MQTT 5.0); nil
// opts is Subscribe. Over MQTT 3.x, properties are refused before anything
// is sent (ErrInvalid), not dropped.
func (c *Client) SubscribeWith(ctx context.Context, opts *SubscribeOptions, filters ...Filter) (*Subscription, error) {
	if len(filters) == 0 {
		return nil, invalidf("subscribe", "it needs at least one filter") // MQTT-3.8.3-2
	}
	cn := c.cn.Load() // the latest connection's limits apply while offline
	for _, f := range filters {
		if err := wire.CheckTopicFilter(f.Topic); err != nil {
			return nil, invalidf("subscribe", "%w", err)
		}
		switch {
		case f.QoS > QoS2:
			return nil, invalidf("subscribe", "filter %q asks for QoS %d", f.Topic, f.QoS)
		case !cn.wildcards && strings.ContainsAny(f.Topic, "+#"):
			return nil, invalidf("subscribe", "the server does not support wildcard subscriptions like %q", f.Topic)
		case !cn.shared && wire.IsShared(f.Topic):
			return nil, invalidf("subscribe", "the server does not support shared subscriptions like %q", f.Topic)
		case f.NoLocal && wire.IsShared(f.Topic):
			return nil, invalidf("subscribe", "no local is not allowed on shared subscription %q", f.Topic) // MQTT-3.8.3-4
		}
	}
	s := &Subscription{c: c, asked: slices.Clone(filters), filters: slices.Clone(filters), notify: make(chan struct{}, 1)}
	if opts != nil && len(opts.UserProperties) > 0 {
		if cn.version != wire.V5 {
			return nil, invalidf("subscribe", "user properties need MQTT 5.0; the server speaks %v", cn.version)
		}
		s.props = slices.Clone(opts.UserProperties)
	}
	if cn.subIDs {
		s.id = c.router.newSubID()
	}
	pkt := s.subscribePacket(cn.version, cn.subIDs)
	if s.props != nil {
		if err := checkSize(cn, pkt); err != nil {
			return nil, invalidf("subscribe", "%w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, notSent("subscribe", err)
	}
	// Registered before SUBACK, since retained messages may arrive first,
	// and before the SUBSCRIBE has its packet identifier, so that release
	// sees s before it unsubscribes a filter of s (releaseMu).
	c.router.releaseMu.Lock()
	c.router.add(s)
	c.router.releaseMu.Unlock()
	o, err := c.sess.beginRequest(pkt, filters[0].Topic, nil)
	if err != nil {
		c.router.withdraw(s, false)
		return nil, notSent("subscribe", err)
	}
	if err := c.transmit(ctx, o, pkt, "subscribe"); err != nil {
		c.router.withdraw(s, false) // not sent
		return nil, err
	}
	r, err := c.await(ctx, o, "subscribe", "the client unsubscribes once the SUBACK comes")
	if err != nil {
		if c.Err() != nil {
			c.router.remove(s)
			return nil, err
		}
		// The SUBSCRIBE is on its way: the server will have the
		// subscription, and nobody to read what it brings. Withdrawn
		// before release can see the SUBACK.
		c.router.withdraw(s, true)
		release := func(r result) { c.release(s, filters, r) }
		if r, arrived := c.sess.handOff(o, release); arrived {
			release(r)
		}
		return nil, err
	}
	var first *ReasonError
	withGranted := slices.Clone(filters)
	for i, code := range r.codes {
		switch {
		case i >= len(filters):
		case code.IsError() && first == nil:
			first = &ReasonError{Op: "subscribe", Topic: filters[i].Topic, ReasonCode: code, ReasonString: r.reason}
		case !code.IsError():
			withGranted[i].QoS = QoS(code)
		}
	}
	c.router.grant(s, withGranted, first == nil)
	if first != nil {
		c.router.withdraw(s, true)
		c.release(s, filters, r)
		return nil, first
	}
	return s, nil
}

// release unsubscribes from the filters the server granted to a Subscribe
// that failed (its ctx ended before the SUBACK, or the server refused one of
// its filters), once its SUBACK has arrived: nobody will ever read what they
// bring. It leaves out a filter that another Subscription has too (the
// server holds one subscription per filter, which they share) or that the
// application has unsubscribed meanwhile. Nobody waits for the UNSUBACK;
// until it arrives, s, withdrawn, stays registered so that route drops what
// only s matches. release runs on the goroutine that read the SUBACK, or in
// Subscribe, and starts none.
func (c *Client) release(s *Subscription, asked []Filter, res result) {
	r := &c.router
	r.releaseMu.RLock() // until the UNSUBSCRIBE is queued
	defer r.releaseMu.RUnlock()
	r.mu.Lock()
	var topics []string
	for i, code := range res.codes {
		if i >= len(asked) || code.IsError() {
			continue
		}
		t := asked[i].Topic
		if !slices.Contains(topics, t) && hasFilter(s, t) && !r.sharedLocked(s, t) {
			topics = append(topics, t)
		}
	}
	r.mu.Unlock()
	if len(topics) == 0 {
		r.unregister(s)
		return
	}
	pkt := &wire.Unsubscribe{Topics: topics}
	o, err := c.sess.beginRequest(pkt, topics[0], func(result) { r.unregister(s) })
	if err != nil {
		// The server keeps the subscriptions; what they bring is held
		// for a later Subscribe, within the held messages' bound.
		c.logInfo("unsubscribing after a failed subscribe", "filter", topics[0], "error", err)
		r.unregister(s)
		return
	}
	// Sent now if connected, else by the next connection (resume).
	if cn := c.current(); cn != nil {
		if _, mine := o.claim(cn.gen); mine {
			cn.w.post(pkt)
		}
	}
}

// unsubscribeLater unsubscribes s without waiting for the UNSUBACK, for a
// caller that cannot wait (Responder.Serve, whose ctx ended). s is
// withdrawn: what it had queued and nobody took goes back to the held
// messages, for the next Subscribe that matches, and until the UNSUBACK
// what matches s alone is dropped (release).
func (c *Client) unsubscribeLater(s *Subscription) {
	filters := s.Filters()
	c.router.withdraw(s, true)
	c.release(s, filters, result{codes: make([]ReasonCode, len(filters))})
}

func hasFilter(s *Subscription, topic string) bool {
	return slices.ContainsFunc(s.filters, func(f Filter) bool { return f.Topic == topic })
}

// subscribePacket is the SUBSCRIBE for s's filters as asked, for protocol
// version v, with its subscription identifier where the server has them
// and its user properties. Once s is registered, it is called with the
// router's mu held.
func (s *Subscription) subscribePacket(v wire.Version, subIDs bool) *wire.Subscribe {
	pkt := &wire.Subscribe{Filters: make([]wire.Filter, len(s.asked))}
	for i, f := range s.asked {
		pkt.Filters[i] = wire.Filter{Topic: f.Topic, QoS: byte(f.QoS), NoLocal: f.NoLocal,
			RetainAsPublished: f.RetainAsPublished, RetainHandling: byte(f.RetainHandling)}
	}
	if v != wire.V5 {
		return pkt
	}
	if subIDs && s.id != 0 {
		pkt.Properties = &wire.Properties{SubscriptionIDs: []int{s.id}}
	}
	if s.props != nil {
		if pkt.Properties == nil {
			pkt.Properties = &wire.Properties{}
		}
		pkt.Properties.UserProperties = s.props
	}
	return pkt
}

// checkSize checks that pkt, which carries user properties, can be encoded
// and fits the server's Maximum Packet Size (MQTT-3.2.2-15).
func checkSize(cn *connection, pkt wire.Packet) error {
	// A packet identifier is counted in the size; it is set later.
	switch p := pkt.(type) {
	case *wire.Subscribe:
		p.PacketID = 1
		defer func() { p.PacketID = 0 }()
	case *wire.Unsubscribe:
		p.PacketID = 1
		defer func() { p.PacketID = 0 }()
	}
	b, err := pkt.Append(nil, cn.version)
	if err != nil {
		return err
	}
	if cn.maxPacketSize > 0 && len(b) > cn.maxPacketSize {
		return fmt.Errorf("%w: %v of %d bytes, the server's limit is %d (MQTT-3.2.2-15)", ErrPacketTooLarge, pkt.Type(), len(b), cn.maxPacketSize)
	}
	return nil
}

// Unsubscribe removes the subscriptions to topics (exactly as they were
// subscribed) and blocks until the server's UNSUBACK. Subscriptions whose
// filters are all gone stop receiving, whatever the outcome: also when ctx
// ends after the UNSUBSCRIBE was sent (the error matches ErrOutcomeUnknown).
func (c *Client) Unsubscribe(ctx context.Context, topics ...string) error {
	return c.UnsubscribeWith(ctx, nil, topics...)
}

// UnsubscribeOptions are the MQTT 5.0 properties of an UNSUBSCRIBE, for
// UnsubscribeWith.
type UnsubscribeOptions struct {
	// UserProperties go with the UNSUBSCRIBE.
	UserProperties []UserProperty
}

// UnsubscribeWith is Unsubscribe with the properties of opts (MQTT 5.0);
// nil opts is Unsubscribe. Over MQTT 3.x, properties are refused before
// anything is sent (ErrInvalid), not dropped.
func (c *Client) UnsubscribeWith(ctx context.Context, opts *UnsubscribeOptions, topics ...string) error {
	if len(topics) == 0 {
		return invalidf("unsubscribe", "it needs at least one topic filter") // MQTT-3.10.3-2
	}
	for _, t := range topics {
		if err := wire.CheckTopicFilter(t); err != nil {
			return invalidf("unsubscribe", "%w", err)
		}
	}
	pkt := &wire.Unsubscribe{Topics: topics}
	if opts != nil && len(opts.UserProperties) > 0 {
		cn := c.cn.Load()
		if cn.version != wire.V5 {
			return invalidf("unsubscribe", "user properties need MQTT 5.0; the server speaks %v", cn.version)
		}
		pkt.Properties = &wire.Properties{UserProperties: slices.Clone(opts.UserProperties)}
		if err := checkSize(cn, pkt); err != nil {
			return invalidf("unsubscribe", "%w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return notSent("unsubscribe", err)
	}
	o, err := c.sess.beginRequest(pkt, topics[0], nil)
	if err != nil {
		return notSent("unsubscribe", err)
	}
	if err := c.transmit(ctx, o, pkt, "unsubscribe"); err != nil {
		return err
	}
	r, err := c.await(ctx, o, "unsubscribe", "the filters deliver no more messages")
	c.router.dropFilters(topics)
	if err != nil {
		return err
	}
	for i, code := range r.codes {
		if code.IsError() && i < len(topics) {
			return &ReasonError{Op: "unsubscribe", Topic: topics[i], ReasonCode: code, ReasonString: r.reason}
		}
	}
	return nil
}

// ID returns the subscription identifier of s (MQTT 5.0): the number that
// the client sent in s's SUBSCRIBE and the server puts in the
// SubscriptionIDs of every message that matched it. 0: none, over MQTT 3.x
// and with a server that has no subscription identifiers.
func (s *Subscription) ID() int { return s.id }

// Filters returns the subscription's filters, each with the QoS the server
// granted.
func (s *Subscription) Filters() []Filter {
	s.c.router.mu.Lock()
	defer s.c.router.mu.Unlock()
	return slices.Clone(s.filters)
}

// Next blocks until a message arrives and returns it. A QoS 1 or 2 message is
// acknowledged to the server when Next returns it, not when it arrived: if
// the process dies before, the server sends it again. NextDelivery leaves
// the acknowledgement to the application instead.
//
// Next returns ErrClosed once the Subscription was unsubscribed (after its
// queued messages were handed out), the client's error once the client has
// ended, or ctx's error.
func (s *Subscription) Next(ctx context.Context) (Message, error) {
	d, err := s.take(ctx)
	if err != nil {
		return Message{}, err
	}
	if d.in != nil {
		s.c.router.delivered(d.in)
	}
	return d.msg, nil
}

// NextDelivery is Next without the acknowledgement (MQTT.js
// customHandleAcks): it blocks until a message arrives and returns it
// unacknowledged, for the application to Accept once it has dealt with it,
// or to Refuse with an MQTT 5.0 reason code. It returns the errors Next
// returns. A Subscription may use both: each message is acknowledged by the
// call that took it.
//
// Acknowledgements still leave in the order the messages arrived
// (MQTT-4.6.0-2, MQTT-4.6.0-3), whatever their Subscription: one settled
// early waits for those before it, and a message not yet settled holds back
// the acknowledgements of every message that arrived after it. So that it
// cannot hold them back for ever, a message not settled within
// DialOptions.AckTimeout (one minute by default) is settled by the client:
// refused with 0x80, unspecified error (MQTT 5.0), or acknowledged
// (MQTT 3.x); a later Accept or Refuse reports it. Unacknowledged messages
// count against the client's Receive Maximum (DialOptions.ReceiveMaximum):
// while that many are, the server sends no more QoS 1 and 2 messages.
//
// A message that matched several Subscriptions is acknowledged once, when
// each of them has handed it out with Next or settled it: refused if any
// refused it (with the first refusal's code), else accepted.
func (s *Subscription) NextDelivery(ctx context.Context) (*Delivery, error) {
	d, err := s.take(ctx)
	if err != nil {
		return nil, err
	}
	dv := &Delivery{Message: d.msg, c: s.c, in: d.in, acked: d.acked}
	if d.in != nil && s.c.router.early(d.in) {
		// Acknowledged while s waited for its SUBACK (router.dueLocked):
		// handed out as it is.
		s.c.router.delivered(d.in)
		dv.in, dv.acked = nil, true
	}
	if dv.in != nil {
		dv.timer = time.AfterFunc(s.c.opts.AckTimeout, dv.expire)
	}
	return dv, nil
}

// take waits for the next queued message and takes it off the queue; the
// caller sees to its acknowledgement.
func (s *Subscription) take(ctx context.Context) (queued, error) {
	for {
		s.mu.Lock()
		if s.head < len(s.queue) {
			d := s.queue[s.head]
			s.queue[s.head] = queued{}
			s.head++
			if s.head == len(s.queue) {
				s.queue, s.head = s.queue[:0], 0
				if cap(s.queue) > 8 {
					s.queue = nil // the backlog that grew it is gone: so goes its memory
				}
			}
			if d.in == nil && !d.acked {
				s.qos0--
				s.bytes -= d.size
			}
			s.mu.Unlock()
			s.c.stats.delivered[d.msg.QoS%3].Add(1)
			return d, nil
		}
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return queued{}, ErrClosed
		}
		s.c.needReader()
		select {
		case <-s.notify:
		case <-ctx.Done():
			return queued{}, ctx.Err()
		case <-s.c.done:
			return queued{}, s.c.err
		}
	}
}

// Delivery is a message taken with Subscription.NextDelivery, whose
// acknowledgement the application gives once it has dealt with it: Accept,
// or Refuse. Its methods may be called from any goroutine; the first call
// settles the message, later ones report that it is settled.
type Delivery struct {
	Message

	c     *Client
	in    *inbound // nil: nothing to acknowledge
	acked bool     // a QoS 1/2 message acknowledged before it was taken
	timer *time.Timer
	state atomic.Int32 // unsettled, settledByApp or expired
}

// States of a Delivery.
const (
	unsettled    = iota
	settledByApp // by Accept or Refuse
	expired      // by the client, after DialOptions.AckTimeout
)

// Accept acknowledges the message: PUBACK for QoS 1, PUBREC for QoS 2 (the
// client then completes the flow when the server releases it, storing the
// identifier first, so that a resend is not delivered twice). Accept does
// not wait: the acknowledgement leaves once those of the messages that
// arrived before it have. A QoS 0 message has no acknowledgement; Accept
// does nothing.
//
// Accept returns an error if the message was settled already, by Accept,
// Refuse, or the client after DialOptions.AckTimeout, or if the client has
// ended: then nothing is sent, and a server that keeps the session sends
// the message again to the next client with its ClientID.
func (d *Delivery) Accept() error { return d.settle("accepting", wire.Success) }

// Refuse acknowledges the message with a reason code of 0x80 or above
// (MQTT 5.0): wire.UnspecifiedError (0x80),
// wire.ImplementationSpecificError (0x83), wire.NotAuthorized (0x87),
// wire.TopicNameInvalid (0x90), wire.PacketIdentifierInUse (0x91),
// wire.QuotaExceeded (0x97) or wire.PayloadFormatInvalid (0x99): the codes
// PUBACK and PUBREC may carry (MQTT-3.4.2-1, MQTT-3.5.2-1). Like Accept it
// does not wait, and the refusal leaves in its turn.
//
// A refusal does not have the server send the message again: it tells the
// server the message was not processed. For QoS 2 it ends the flow: the
// message is not recorded as received, and the server's next message with
// the same packet identifier is a new one (MQTT-4.3.3-9).
//
// MQTT 3.x has no refusals: on a message that arrived over 3.x, Refuse
// returns an error matching ErrInvalid and leaves the message unsettled, to
// Accept. So it does for a code that is no refusal. A QoS 0 message has no
// acknowledgement to refuse: Refuse does nothing. A QoS 1 or 2 message
// acknowledged before NextDelivery took it cannot be refused any more:
// Refuse says so. Such are those that had to wait without holding back the
// acknowledgements of later messages: held for a Subscribe (see
// Client.Dropped), arrived before their Subscribe's SUBACK, or queued in a
// Subscription that was unsubscribed. Otherwise Refuse returns the errors
// of Accept.
func (d *Delivery) Refuse(code ReasonCode) error {
	if !refusals[code] {
		return invalidf("refusal", "reason code %#02x (%v) does not refuse a message; PUBACK and PUBREC refuse with "+
			"0x80, 0x83, 0x87, 0x90, 0x91, 0x97 or 0x99 (MQTT-3.4.2-1)", byte(code), code)
	}
	if d.in != nil && d.in.cn.version != wire.V5 {
		return invalidf("refusal", "MQTT %v has no refusals, only acknowledgements: Accept the message, or use MQTT 5.0", d.in.cn.version)
	}
	return d.settle("refusing", code)
}

// refusals are the reason codes of PUBACK and PUBREC of 0x80 and above
// (MQTT 5.0 sections 3.4.2.1, 3.5.2.1).
var refusals = map[ReasonCode]bool{
	wire.UnspecifiedError: true, wire.ImplementationSpecificError: true, wire.NotAuthorized: true,
	wire.TopicNameInvalid: true, wire.PacketIdentifierInUse: true, wire.QuotaExceeded: true,
	wire.PayloadFormatInvalid: true,
}

// settle settles the message with code, once.
func (d *Delivery) settle(verb string, code ReasonCode) error {
	if !d.state.CompareAndSwap(unsettled, settledByApp) {
		if d.state.Load() == expired {
			how := "refused it (0x80)"
			if d.in.cn.version != wire.V5 {
				how = "acknowledged it"
			}
			return fmt.Errorf("mqtt: %s the message on %q: too late: the client %s after DialOptions.AckTimeout (%v)",
				verb, d.Topic, how, d.c.opts.AckTimeout)
		}
		return fmt.Errorf("mqtt: %s the message on %q: it was accepted or refused before", verb, d.Topic)
	}
	if d.in == nil {
		if d.acked && code.IsError() {
			return fmt.Errorf("mqtt: refusing the message on %q: it was acknowledged before NextDelivery took it "+
				"(held for a Subscribe, arrived before the SUBACK, or queued when its Subscription was unsubscribed)", d.Topic)
		}
		return nil
	}
	d.timer.Stop()
	d.c.router.settled(d.in, code)
	if err := d.c.Err(); err != nil {
		return wrapf(err, "%s the message on %q: not acknowledged", verb, d.Topic)
	}
	return nil
}

// expire settles a message the application did not settle within
// DialOptions.AckTimeout, so that the acknowledgements behind it can leave.
func (d *Delivery) expire() {
	if !d.state.CompareAndSwap(unsettled, expired) {
		return
	}
	code := wire.Success
	if d.in.cn.version == wire.V5 {
		code = wire.UnspecifiedError
	}
	if d.c.Err() == nil {
		d.c.logInfo("a message taken with NextDelivery was not settled within AckTimeout", "topic", d.Topic,
			"timeout", d.c.opts.AckTimeout, "reason", code.String())
	}
	d.c.router.settled(d.in, code)
}

// Dropped returns how many QoS 0 messages this Subscription dropped because
// the application did not call Next fast enough: those that arrived while
// its queue was full (DialOptions.MaxQueuedBytes, or 65,536 messages). The
// newest are dropped; what was queued stays, in order.
func (s *Subscription) Dropped() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Dropped returns how many messages the client dropped that no open
// Subscription accounts for:
//
//   - those that matched only the subscription of a Subscribe that failed
//     after sending SUBSCRIBE (its ctx ended first, or the server refused
//     another of its filters), until the client, once the SUBACK has
//     arrived, has unsubscribed again;
//   - those that matched no Subscription and found no room among the
//     messages held for the first Subscribe that will match (a resumed
//     session's, before the application subscribes again), which are
//     bounded like a Subscription's QoS 0 queue, by
//     DialOptions.MaxQueuedBytes and 65,536 messages.
//
// A QoS 1 or 2 message dropped is acknowledged, so that the server does not
// send it again. A Subscription's own drops are counted in its Dropped.
func (c *Client) Dropped() int {
	c.router.mu.Lock()
	defer c.router.mu.Unlock()
	return c.router.dropped
}

// Unsubscribe unsubscribes from every filter of s and blocks until UNSUBACK.
// Next then hands out what s had already received, then returns ErrClosed;
// those QoS 1 and 2 messages are acknowledged at once, since the server
// must not wait for an application that may never take them.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	filters := s.Filters()
	if len(filters) == 0 {
		s.c.router.remove(s) // unsubscribed before: nothing to send
		return nil
	}
	topics := make([]string, len(filters))
	for i, f := range filters {
		topics[i] = f.Topic
	}
	err := s.c.Unsubscribe(ctx, topics...)
	s.c.router.remove(s)
	return err
}

// push queues a delivery without blocking.
func (s *Subscription) push(d queued) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	if d.in == nil && !d.acked {
		if s.qos0 >= maxQueuedQoS0 || (s.bytes > 0 && s.bytes+d.size > s.c.opts.MaxQueuedBytes) {
			s.dropped++ // the newest: Next hands out in order what it has
			s.c.stats.dropped.Add(1)
			s.mu.Unlock()
			return true
		}
		s.qos0++
		s.bytes += d.size
	}
	s.queue = append(s.queue, d)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return true
}

// matches reports whether topic matches one of s's filters.
func (s *Subscription) matches(topic string) bool {
	for _, f := range s.filters {
		if matchFilter(f.Topic, topic) {
			return true
		}
	}
	return false
}

func matchFilter(filter, topic string) bool {
	if wire.IsShared(filter) {
		_, rest, _ := strings.Cut(filter[len("$share/"):], "/")
		filter = rest
	}
	return wire.MatchTopic(filter, topic)
}

// router sends incoming messages to the subscriptions and keeps the order of
// their acknowledgements.
type router struct {
	c *Client

	// ackMu keeps the acknowledgements in arrival order from the moment
	// delivered takes them off acks until they are queued for writing,
	// when several goroutines call Next at once (MQTT-4.6.0-2). Taken
	// before mu. The reading goroutine takes it only for a message that
	// nobody can take, which it acknowledges at once (route).
	ackMu sync.Mutex

	// releaseMu orders the UNSUBSCRIBE of release before the SUBSCRIBE of
	// a Subscription registered after release looked for others with the
	// same filter: release holds it for reading from that look until the
	// packet is queued, Subscribe for writing while it registers.
	releaseMu sync.RWMutex

	// Under mu. Written by the reading goroutine (route, the aliases),
	// by Subscribe and Unsubscribe, and by the callers of Next and of
	// Delivery's methods (the order of acknowledgements).
	mu      sync.Mutex
	session int // counts the sessions the server started for us
	subs    []*Subscription
	nextSub int
	held    []queued          // messages that matched no subscription yet
	heldLen int               // their size (queued.size)
	dropped int               // messages no Subscription accounts for (Client.Dropped)
	acks    []*inbound        // in arrival order
	aliases map[uint16]string // topic aliases the server set (v5)
}

func (r *router) init(c *Client) {
	r.c = c
}

// newSession forgets what belonged to a session the server no longer has:
// incoming QoS 2 identifiers, and the acknowledgements still due for
// messages of that session (see acknowledge).
func (r *router) newSession() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.session++
}

// newConnection forgets the topic aliases of the last connection: they
// hold for one connection only (MQTT-3.3.2-7).
func (r *router) newConnection() {
	r.mu.Lock()
	r.aliases = nil
	r.mu.Unlock()
}

// current reports whether in belongs to the server's current session.
func (r *router) current(in *inbound) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return in.session == r.session
}

// resubscriptions returns a SUBSCRIBE for each subscription whose SUBACK
// has arrived, for a server that has forgotten them.
func (r *router) resubscriptions(v wire.Version, subIDs bool) []*wire.Subscribe {
	r.mu.Lock()
	defer r.mu.Unlock()
	var pkts []*wire.Subscribe
	for _, s := range r.subs {
		if s.granted && len(s.asked) > 0 {
			pkts = append(pkts, s.subscribePacket(v, subIDs))
		}
	}
	return pkts
}

// active reports whether a Subscription is registered: messages may come
// for it (connection.start).
func (r *router) active() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.subs) > 0
}

func (r *router) newSubID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextSub++
	return r.nextSub
}

// add registers s and hands it the held messages it matches.
func (r *router) add(s *Subscription) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subs = append(r.subs, s)
	kept := r.held[:0]
	for _, d := range r.held {
		if !s.matches(d.msg.Topic) {
			kept = append(kept, d)
			continue
		}
		r.heldLen -= d.size
		if in := d.in; in != nil {
			in.held = false
			if in.early {
				// Acknowledged while held: handed out as it is,
				// with nothing more to acknowledge.
				d.in, d.acked = nil, true
			}
		}
		d.alone = true
		s.push(d)
	}
	clear(r.held[len(kept):])
	r.held = kept
}

// remove stops routing to s and closes it. What it had queued Next still
// hands out, but its QoS 1/2 messages are acknowledged now: the server must
// not keep them in flight for an application that unsubscribed and may
// never take them.
func (r *router) remove(s *Subscription) {
	r.mu.Lock()
	r.subs = slices.DeleteFunc(r.subs, func(x *Subscription) bool { return x == s })
	r.mu.Unlock()
	s.mu.Lock()
	s.closed = true
	var due []*inbound
	for i := s.head; i < len(s.queue); i++ {
		if in := s.queue[i].in; in != nil {
			due = append(due, in)
			s.queue[i].in, s.queue[i].acked = nil, true
		}
	}
	s.mu.Unlock()
	for _, in := range due {
		r.delivered(in)
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// withdraw takes back s, whose Subscribe failed, or which unsubscribeLater
// stops. What s received and nobody took (held messages add gave it,
// retained messages sent before the SUBACK) goes back to the held messages
// for the next Subscribe that matches, unless another Subscription has it
// too. With
// abandoned, the server has the subscription, or will have it (the
// SUBSCRIBE was sent): s stays registered until release has the server
// forget it, so that what matches s alone is dropped rather than held for
// nobody. Otherwise s goes now.
func (r *router) withdraw(s *Subscription, abandoned bool) {
	r.ackMu.Lock()
	defer r.ackMu.Unlock()
	r.mu.Lock()
	if abandoned {
		s.abandoned = true
	} else {
		r.subs = slices.DeleteFunc(r.subs, func(x *Subscription) bool { return x == s })
	}
	s.mu.Lock()
	s.closed = true
	queue := s.queue[s.head:]
	s.queue, s.head, s.qos0, s.bytes = nil, 0, 0, 0
	s.mu.Unlock()
	ready := false
	for _, d := range queue {
		if d.alone {
			if r.holdLocked(d) {
				continue
			}
			r.dropped++
			r.c.stats.dropped.Add(1)
		}
		if in := d.in; in != nil {
			in.pending--
			if in.pending == 0 {
				in.ready, ready = true, true
			}
		}
	}
	var due []*inbound
	if ready {
		due = r.dueLocked(false)
	}
	r.mu.Unlock()
	for _, a := range due {
		r.c.acknowledge(a)
	}
}

// unregister stops routing to s, which withdraw has closed.
func (r *router) unregister(s *Subscription) {
	r.mu.Lock()
	r.subs = slices.DeleteFunc(r.subs, func(x *Subscription) bool { return x == s })
	r.mu.Unlock()
}

// sharedLocked reports whether a Subscription other than s, and not
// withdrawn, has the filter topic, granted or asked for.
func (r *router) sharedLocked(s *Subscription, topic string) bool {
	for _, x := range r.subs {
		if x != s && !x.abandoned && hasFilter(x, topic) {
			return true
		}
	}
	return false
}

// dropFilters removes unsubscribed filters from the subscriptions that have
// them; a subscription left without filters is closed.
func (r *router) dropFilters(topics []string) {
	r.mu.Lock()
	var empty []*Subscription
	gone := func(f Filter) bool { return slices.Contains(topics, f.Topic) }
	for _, s := range r.subs {
		s.filters = slices.DeleteFunc(slices.Clone(s.filters), gone)
		s.asked = slices.DeleteFunc(slices.Clone(s.asked), gone) // not subscribed again
		if len(s.filters) == 0 {
			empty = append(empty, s)
		}
	}
	r.mu.Unlock()
	for _, s := range empty {
		r.remove(s)
	}
}

// route hands a message to every subscription it matches; in is nil for
// QoS 0. A message that matches none is held for the first that will
// (holdLocked). One that matches only withdrawn subscriptions, or finds the
// held messages at their bound, is dropped: acknowledged at once if QoS 1
// or 2 (MQTT-4.5.0-2), in its turn, and counted in Client.Dropped.
func (r *router) route(p *wire.Publish, in *inbound) {
	m := messageOf(p)
	r.mu.Lock()
	if in != nil {
		in.session = r.session
		r.acks = append(r.acks, in)
	}
	var buf [4]*Subscription
	to := buf[:0]
	abandoned := false // matches a Subscribe that failed
	for _, s := range r.subs {
		if r.wants(s, &m) {
			if s.abandoned {
				abandoned = true
			} else {
				to = append(to, s)
			}
		}
	}
	d := queued{msg: m, in: in, size: sizeOf(&m), alone: len(to) == 1}
	if in != nil && len(to) > 0 && !slices.ContainsFunc(to, func(s *Subscription) bool { return s.granted }) {
		in.waiting = true // unset when the SUBACK comes (grant)
	}
	matched := false
	for _, s := range to {
		if in != nil {
			in.pending++
		}
		if s.push(d) {
			matched = true
		} else if in != nil {
			in.pending--
		}
	}
	if matched || (!abandoned && r.holdLocked(d)) {
		r.mu.Unlock()
		return
	}
	// Nobody can ever read it: it matches only the subscription of a
	// Subscribe that failed, or finds no room among the held messages.
	r.dropped++
	r.c.stats.dropped.Add(1)
	if in == nil {
		r.mu.Unlock()
		return
	}
	in.pending = 1
	r.mu.Unlock()
	r.delivered(in)
}

// holdLocked keeps d, which matched no Subscription, for the first one that
// matches (a resumed session, before the application subscribes again). It
// reports false when d does not fit: the held messages, whatever their QoS,
// are bounded like a Subscription's QoS 0 messages, by maxQueuedQoS0 and
// DialOptions.MaxQueuedBytes (one larger than that fits alone).
func (r *router) holdLocked(d queued) bool {
	if len(r.held) >= maxQueuedQoS0 || (r.heldLen > 0 && r.heldLen+d.size > r.c.opts.MaxQueuedBytes) {
		return false
	}
	if d.in != nil {
		d.in.pending, d.in.held = 1, true
	}
	r.held = append(r.held, d)
	r.heldLen += d.size
	return true
}

// wants reports whether s should receive m: by subscription identifier
// when the server sent any, else by matching its filters.
func (r *router) wants(s *Subscription, m *Message) bool {
	if len(m.SubscriptionIDs) > 0 && s.id != 0 {
		return slices.Contains(m.SubscriptionIDs, s.id)
	}
	return s.matches(m.Topic)
}

// early reports whether in was acknowledged before anybody could take it
// (dueLocked).
func (r *router) early(in *inbound) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return in.early
}

// delivered records that one delivery of in was handed out by Next.
func (r *router) delivered(in *inbound) { r.settled(in, wire.Success) }

// settled records that one delivery of in was handed out (Next) or settled
// (Delivery) with code, and sends the acknowledgements that are now due, in
// arrival order. A refusal is kept for the acknowledgement: the first, when
// several Subscriptions had the message.
func (r *router) settled(in *inbound, code ReasonCode) {
	if in.qos == 2 && !code.IsError() && !in.recorded.Load() && r.current(in) {
		// Recorded before the order of acknowledgements is taken: a
		// durable Store's write must hold up neither the other callers
		// nor the reading goroutine, which take ackMu too.
		if err := r.c.sess.recordReceived(in.id); err != nil {
			r.c.storeFailed(err)
			return
		}
		in.recorded.Store(true)
	}
	r.ackMu.Lock()
	defer r.ackMu.Unlock()
	r.mu.Lock()
	if code.IsError() && !in.code.IsError() {
		in.code = code
	}
	in.pending--
	if in.pending > 0 {
		r.mu.Unlock()
		return
	}
	in.ready = true
	due := r.dueLocked(false)
	r.mu.Unlock()
	for _, a := range due {
		r.c.acknowledge(a)
	}
}

// grant records the SUBACK of s: the filters as granted and, when none was
// refused, that the application can take what s received from now on.
func (r *router) grant(s *Subscription, filters []Filter, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.filters, s.granted = filters, ok
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.queue[s.head:] {
		if d.in != nil {
			d.in.waiting = false
		}
	}
}

// ackHeld acknowledges the held messages at the head of the arrival order
// (and those handed out among them). The reader calls it before it stops
// reading a full connection (connection.waitRoom): messages that wait for
// a Subscribe, which the application may be making now, must not hold the
// server back, and the SUBACK with it.
func (r *router) ackHeld() {
	r.ackMu.Lock()
	defer r.ackMu.Unlock()
	r.mu.Lock()
	due := r.dueLocked(true)
	r.mu.Unlock()
	for _, a := range due {
		r.c.acknowledge(a)
	}
}

// dueLocked takes off acks the acknowledgements now due, in arrival order:
// those of the messages handed out, up to the first one that is not.
//
// A held message (one that matched no Subscription yet) does not stop them:
// it may wait for a Subscribe that never comes (a resumed session's filter
// the application no longer uses), and would hold back every later
// acknowledgement for good. So when an acknowledgement behind it is due, a
// held QoS 1 or 2 message is acknowledged too, and stays held: the first
// Subscribe that matches still receives it, once, as it would a QoS 0
// message. The price: the server now considers it delivered, and a crash
// before that Subscribe loses it where it would otherwise have been sent
// again.
//
// With heldToo, the held messages at the head are due as they are, even
// with nothing handed out behind them (ackHeld).
func (r *router) dueLocked(heldToo bool) []*inbound {
	n := 0
	for i, a := range r.acks {
		if a.ready || (heldToo && a.parked()) {
			n = i + 1
		} else if !a.parked() {
			break
		}
	}
	if n == 0 {
		return nil
	}
	due := slices.Clone(r.acks[:n])
	for _, a := range due {
		if !a.ready {
			a.early = true // parked: handed out later without acknowledgement
		}
	}
	clear(r.acks[:n])
	r.acks = r.acks[n:]
	return due
}

// resolveAlias applies a topic alias the server set (MQTT-3.3.2-10). One
// above the maximum we announced is a protocol error that closes the
// connection with DISCONNECT 0x94.
func (r *router) resolveAlias(p *wire.Publish) error {
	alias := p.Properties.TopicAlias
	if alias > r.c.opts.TopicAliasMaximum {
		return &wire.Error{Code: wire.TopicAliasInvalid, Packet: wire.PUBLISH,
			Reason: fmt.Sprintf("topic alias %d is above the maximum of %d the client announced", alias, r.c.opts.TopicAliasMaximum)}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.aliases == nil {
		r.aliases = make(map[uint16]string)
	}
	if p.Topic != "" {
		r.aliases[alias] = p.Topic
		return nil
	}
	t, ok := r.aliases[alias]
	if !ok {
		return &wire.Error{Code: wire.ProtocolError, Packet: wire.PUBLISH,
			Reason: fmt.Sprintf("the server used topic alias %d before setting it", alias)}
	}
	p.Topic = t
	return nil
}
