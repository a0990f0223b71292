package mqtt

// This file is the incoming publish flow, QoS 0, 1 and 2, top to bottom:
//
//	QoS 0:  <- PUBLISH          (receivePublish: routed to the Subscriptions)
//	QoS 1:  <- PUBLISH          PUBACK ->   (acknowledge: when Next hands it
//	                                         out, or Delivery.Accept or Refuse)
//	QoS 2:  <- PUBLISH          PUBREC ->   (likewise; a refusal ends the flow)
//	        <- PUBREL           PUBCOMP ->  (receivePubrel)
//
// The session holds the state (the identifiers awaiting PUBREL, the
// messages released lately, the Store); the router (subscribe.go) keeps
// the acknowledgements in the order the messages arrived.

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

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
			state, dup := c.sess.qos2Seen(p.PacketID)
			if dup {
				if state == qos2Acked {
					cn.w.queue(&wire.Pubrec{PacketID: p.PacketID}) // MQTT-4.3.3-10
				}
				return nil
			}
			if c.sess.released.resent(p) {
				// Completed already: acknowledged again, so that the
				// server's PUBREL completes it once more, and not
				// delivered (releasedQoS2).
				c.sess.qos2Acked(p.PacketID)
				cn.w.queue(&wire.Pubrec{PacketID: p.PacketID})
				return nil
			}
		}
	}
	c.router.route(p, in)
	return nil
}

// inbound is an incoming QoS 1 or 2 message awaiting its acknowledgement.
// Acknowledgements leave in the order the messages arrived (MQTT-4.6.0-2,
// MQTT-4.6.0-3), once every Subscription it went to has handed it out.
type inbound struct {
	cn      *connection // the connection it arrived on
	id      uint16
	qos     byte
	session int  // the router's session count when it arrived
	pending int  // deliveries not yet handed out
	ready   bool // every delivery handed out
	held    bool // held for a future Subscription (router.held)
	// waiting: every Subscription it went to waits for its SUBACK, so
	// that nobody can take it before Subscribe returns. Like a held
	// message, it does not hold back the acknowledgements behind it, nor
	// the reader (router.ackHeld). Under the router's mu.
	waiting bool
	early   bool // acknowledged while held or waiting (router.dueLocked)
	// code is the acknowledgement's reason code: Success, or the first
	// refusal (Delivery.Refuse, MQTT 5.0 only).
	code ReasonCode
	// recorded: a QoS 2 message recorded in the Store as received
	// (session.recordReceived), by the call that handed it out.
	recorded atomic.Bool
}

// parked reports whether a is a message nobody can take for now: held for
// a Subscribe to come, or queued for one that waits for its SUBACK.
func (a *inbound) parked() bool { return a.held || a.waiting }

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
			cn.w.ack(&wire.Puback{PacketID: in.id, ReasonCode: code})
		}
		return
	}
	if refused {
		c.sess.qos2Released(in.id) // not received: a new message may take the identifier
		if in.recorded.Load() {
			// Another Subscription accepted it first (router.settled).
			if err := c.sess.forgetReceived(in.id); err != nil {
				c.storeFailed(err)
				return
			}
		}
		if cn != nil {
			cn.w.ack(&wire.Pubrec{PacketID: in.id, ReasonCode: code})
		}
		return
	}
	if !in.recorded.Load() { // acknowledged before anybody took it (router.dueLocked)
		if err := c.sess.recordReceived(in.id); err != nil {
			// Without the record, the server's next send of this
			// message would be delivered again: no PUBREC.
			c.storeFailed(err)
			return
		}
	}
	c.sess.qos2Acked(in.id)
	if cn != nil {
		cn.w.ack(&wire.Pubrec{PacketID: in.id})
	}
}

// receivePubrel completes an incoming QoS 2 flow: the identifier is free
// again and PUBCOMP goes out (MQTT-4.3.3-11, MQTT-4.3.3-12). A v5 server
// that releases an identifier we hold nothing for hears so (0x92); it
// completes its side all the same.
func (c *Client) receivePubrel(cn *connection, p *wire.Pubrel) error {
	comp := &wire.Pubcomp{PacketID: p.PacketID}
	cn.answered(p.PacketID)
	c.sess.released.release(p.PacketID)
	if c.sess.qos2Released(p.PacketID) {
		cn.batch.changes = append(cn.batch.changes, persist.Change{Dir: persist.Incoming, ID: p.PacketID, Delete: true})
	} else if cn.version == wire.V5 {
		comp.ReasonCode = wire.PacketIdentifierNotFound
	}
	cn.batch.out = append(cn.batch.out, comp)
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
	// It grows to maxReleased entries: a client that receives no QoS 2
	// message pays nothing for it.
	ring []releasedAt
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
	if len(r.ring) < maxReleased {
		r.ring = append(r.ring, releasedAt{id, r.seq}) // at r.seq-1
	} else {
		slot := &r.ring[(r.seq-1)%maxReleased]
		if old, ok := r.released[slot.id]; ok && old.seq == slot.seq {
			delete(r.released, slot.id) // the oldest, maxReleased releases ago
		}
		*slot = releasedAt{id, r.seq}
	}
	r.released[id] = releasedMsg{sum, r.seq}
}

// forget forgets everything: the server started a new session.
func (r *releasedQoS2) forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.pending)
	clear(r.released)
}

// messageOf is the Message that p carries.
func messageOf(p *wire.Publish) Message {
	m := Message{Topic: p.Topic, Payload: p.Payload, QoS: QoS(p.QoS), Retain: p.Retain, Duplicate: p.Dup}
	if pr := p.Properties; pr != nil {
		m.PayloadFormat = PayloadFormat(pr.PayloadFormat)
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
