package mqtt

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sync/semaphore"

	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// session is the one owner of the client's side of the MQTT session: packet
// identifiers, the table of operations awaiting acknowledgement, the quota of
// QoS 1/2 messages the server lets us have in flight, and the Store.
type session struct {
	store persist.Store
	quota *semaphore.Weighted // the server's Receive Maximum (MQTT-4.9.0-1)

	mu      sync.Mutex
	nextID  uint16
	ops     map[uint16]*op // by packet identifier: in use until acknowledged
	free    []*op          // settled ops for reuse
	drained chan struct{}  // closed when ops becomes empty; made by drain
}

// op is one operation awaiting its acknowledgement.
type op struct {
	id    uint16
	kind  wire.Type // PUBLISH (QoS 1 or 2), PUBREL (QoS 2 after PUBREC), SUBSCRIBE, UNSUBSCRIBE
	qos   byte
	topic string      // for errors
	quota bool        // holds a unit of quota
	done  chan result // receives exactly one result; capacity 1
}

type result struct {
	code   ReasonCode
	codes  []ReasonCode
	reason string
	err    error
}

func newSession(store persist.Store, receiveMax int) *session {
	return &session{
		store:  store,
		quota:  semaphore.NewWeighted(int64(receiveMax)),
		nextID: 1,
		ops:    make(map[uint16]*op),
	}
}

// errNoPacketID means all 65535 identifiers are in use.
var errNoPacketID = errors.New("mqtt: all 65535 packet identifiers are in use; wait for acknowledgements")

// begin registers a new operation under a free packet identifier: never 0,
// never one in use (MQTT-2.2.1-3), wrapping after 65535.
func (s *session) begin(kind wire.Type, qos byte, topic string) (*op, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
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
	o.id, o.kind, o.qos, o.topic, o.quota = id, kind, qos, topic, false
	s.ops[id] = o
	return o, nil
}

// recycle keeps a settled op whose result was received for reuse, with its
// channel, so that a publish costs no allocation for its bookkeeping. An op
// whose waiter gave up is never recycled: its result may still arrive.
func (s *session) recycle(o *op) {
	o.topic = ""
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
		s.quota.Release(1)
	}
}

func (s *session) removeLocked(id uint16) {
	delete(s.ops, id)
	if len(s.ops) == 0 && s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
}

// complete settles the operation with identifier id after its
// acknowledgement arrived. want is the kind of operation the acknowledgement
// answers. It frees the identifier, the quota and the Store entry and wakes
// the caller, if it is still waiting.
func (s *session) complete(id uint16, want wire.Type, code ReasonCode, props *wire.Properties, codes []ReasonCode) error {
	s.mu.Lock()
	o := s.ops[id]
	if o == nil || o.kind != want {
		s.mu.Unlock()
		// An acknowledgement for something not in flight: a duplicate
		// after a resend. Harmless; ignore it.
		return nil
	}
	s.removeLocked(id)
	s.mu.Unlock()
	if o.kind == wire.PUBLISH || o.kind == wire.PUBREL {
		if err := s.store.Delete(persist.Outgoing, id); err != nil {
			return fmt.Errorf("mqtt: removing message %d from the store: %w", id, err)
		}
	}
	if o.quota {
		s.quota.Release(1)
	}
	r := result{code: code, codes: codes}
	if props != nil {
		r.reason = props.ReasonString
	}
	o.done <- r
	return nil
}

// toPubrel moves a QoS 2 publish to its second stage after a successful
// PUBREC: the Store entry becomes the PUBREL (MQTT-4.3.3-4). It reports
// false when id is not a QoS 2 publish in flight.
func (s *session) toPubrel(id uint16, pubrel []byte) (bool, error) {
	s.mu.Lock()
	o := s.ops[id]
	if o == nil || o.kind != wire.PUBLISH || o.qos != 2 {
		known := o != nil && o.kind == wire.PUBREL
		s.mu.Unlock()
		return known, nil
	}
	o.kind = wire.PUBREL // MQTT-4.3.3-6: the PUBLISH is never sent again
	s.mu.Unlock()
	if err := s.store.Put(persist.Outgoing, id, pubrel); err != nil {
		return false, fmt.Errorf("mqtt: storing PUBREL %d: %w", id, err)
	}
	return true, nil
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

// resume takes up the messages an earlier connection left in the Store
// (this process's or, with a durable Store, an earlier one's). When the
// server kept the session, each is sent again as it stood: a PUBLISH with
// DUP set, or the PUBREL of a QoS 2 flow past PUBREC, in their original
// order and with their original identifiers (MQTT-4.4.0-1, MQTT-4.6.0-1,
// MQTT-3.3.1-1). When it did not, each PUBLISH is sent afresh and PUBRELs
// are dropped: the server that acknowledged them with PUBREC has forgotten
// them, and the message has reached it.
func (c *Client) resume(sessionPresent bool) error {
	s := c.sess
	entries, err := s.store.Load(persist.Outgoing)
	if err != nil {
		return fmt.Errorf("mqtt: loading unacknowledged messages from the store: %w", err)
	}
	for _, e := range entries {
		pkt, err := parseStored(e.Data, c.version)
		if err != nil {
			return fmt.Errorf("mqtt: message %d in the store: %w", e.ID, err)
		}
		var o *op
		switch p := pkt.(type) {
		case *wire.Publish:
			p.PacketID = e.ID
			p.Dup = sessionPresent
			o = s.adopt(e.ID, wire.PUBLISH, p.QoS, p.Topic)
		case *wire.Pubrel:
			if !sessionPresent {
				if err := s.store.Delete(persist.Outgoing, e.ID); err != nil {
					return err
				}
				continue
			}
			o = s.adopt(e.ID, wire.PUBREL, 2, "")
		default:
			return fmt.Errorf("mqtt: message %d in the store is a %v, not a PUBLISH or PUBREL", e.ID, pkt.Type())
		}
		// Resent messages count against the server's quota; they may
		// exceed it only when the quota shrank since they were sent.
		o.quota = s.quota.TryAcquire(1)
		if err := c.w.sendNow(pkt); err != nil {
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

// adopt registers an operation found in the Store; nobody waits for it.
func (s *session) adopt(id uint16, kind wire.Type, qos byte, topic string) *op {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &op{id: id, kind: kind, qos: qos, topic: topic, done: make(chan result, 1)}
	s.ops[id] = o
	if id >= s.nextID {
		s.nextID = id + 1
		if s.nextID == 0 {
			s.nextID = 1
		}
	}
	return o
}
