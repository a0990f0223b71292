package mqtttest

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/culex-mqtt/mqtt/wire"
)

// A message is an application message held by the server.
type message struct {
	topic     string
	payload   []byte
	qos       byte
	retain    bool
	props     *wire.Properties // publish properties to forward, nil if none
	expires   bool
	expiresAt time.Time
	from      string // client ID of the publisher, "" for Server.Publish
}

// newMessage makes the message a PUBLISH carries. The properties that
// belong to one hop (Topic Alias, Subscription Identifiers) are left out;
// the Message Expiry Interval becomes a deadline.
func newMessage(p *wire.Publish, topic, from string, now time.Time) *message {
	m := &message{topic: topic, payload: p.Payload, qos: p.QoS, retain: p.Retain, from: from}
	m.setProps(p.Properties, now)
	return m
}

func (m *message) setProps(p *wire.Properties, now time.Time) {
	if p == nil {
		return
	}
	q := *p
	q.TopicAlias, q.SubscriptionIDs, q.WillDelay = 0, nil, 0
	if q.MessageExpiry != nil {
		m.expires = true
		m.expiresAt = now.Add(time.Duration(*q.MessageExpiry) * time.Second)
		q.MessageExpiry = nil
	}
	if q.PayloadFormat != 0 || q.ContentType != "" || q.ResponseTopic != "" ||
		q.CorrelationData != nil || len(q.UserProperties) != 0 {
		m.props = &q
	}
}

// expired reports whether the message's expiry interval has passed
// (MQTT-3.3.2-5).
func (m *message) expired(now time.Time) bool {
	return m.expires && !now.Before(m.expiresAt)
}

// willMessage makes the message of a will.
func willMessage(w *wire.Will, from string, now time.Time) *message {
	m := &message{topic: w.Topic, payload: w.Payload, qos: w.QoS, retain: w.Retain, from: from}
	m.setProps(w.Properties, now)
	return m
}

// A session is the state the server keeps for one client ID. Its fields
// are guarded by Server.mu.
type session struct {
	id   string
	conn *Conn // nil while the client is not connected
	// subs holds the session's subscriptions by filter as subscribed. Only
	// Server.subscribe and Server.unsubscribe change it, and they keep
	// Server.topics, which routes by the same subscriptions, in step.
	subs         map[string]*subscription
	expiry       uint32 // Session Expiry Interval, seconds; MaxUint32: never
	offlineSince time.Time
	ended        bool

	// Outgoing QoS>0 messages sent and not acknowledged, by packet ID,
	// and in the order they were sent (with finished ones still in
	// until they reach the front).
	inflight map[uint16]*delivery
	order    []*delivery
	nextID   uint16
	// Messages waiting for the connection or for send quota.
	pending []*delivery
	head    int
	// Incoming QoS 2 packet IDs received and not yet released.
	incoming map[uint16]struct{}

	will      *message // a will waiting for its delay
	willTimer *time.Timer
	willGen   int

	// Server.targets' mark: the call that last met the session
	// (Server.routeGen) and the session's index among that call's
	// targets.
	routeGen uint64
	routeAt  int
}

// A delivery is one message on its way to one session.
type delivery struct {
	msg      *message
	qos      byte
	retain   bool
	subIDs   []int
	id       uint16
	sent     bool // queued for writing at least once
	released bool // QoS 2: PUBREC received, PUBREL sent
	done     bool
}

func newSession(id string) *session {
	return &session{
		id:       id,
		subs:     map[string]*subscription{},
		inflight: map[uint16]*delivery{},
		incoming: map[uint16]struct{}{},
	}
}

// expiredAt reports whether an offline session has outlived its expiry
// interval (MQTT-4.1.0-2).
func (sess *session) expiredAt(now time.Time) bool {
	if sess.conn != nil || sess.expiry == math.MaxUint32 {
		return false
	}
	return !now.Before(sess.offlineSince.Add(time.Duration(sess.expiry) * time.Second))
}

// A subscription is one topic filter of one session.
type subscription struct {
	sess   *session
	filter string // as subscribed, "$share/group/..." included
	match  string // the filter topics are matched against
	group  string // share name, "" when not shared
	opts   wire.Filter
	qos    byte // granted
	id     int  // subscription identifier, 0 for none

	node *topicNode // where it is in Server.topics
	seq  uint64     // when it was made, in the order of Server.topics
}

// A shareGroup is the subscriptions of one shared filter and share name;
// each message goes to one of them, in turn. It lives on the node of its
// filter in Server.topics.
type shareGroup struct {
	name    string
	seq     uint64          // when it was made, in the order of Server.topics
	members []*subscription // by seq
	next    int
}

// pick chooses the member for the next message, round-robin, preferring
// connected clients.
func (g *shareGroup) pick() *subscription {
	n := len(g.members)
	for i := range n {
		j := (g.next + i) % n
		if g.members[j].sess.conn != nil {
			g.next = (j + 1) % n
			return g.members[j]
		}
	}
	j := g.next % n
	g.next = (j + 1) % n
	return g.members[j]
}

// target is where route sends one copy of a message.
type target struct {
	sess   *session
	qos    byte
	retain bool
	subIDs []int
}

// publish stores a retained message and routes the message. It reports
// whether any subscription matched. The caller holds s.mu.
func (s *Server) publish(m *message) bool {
	if m.retain {
		if len(m.payload) == 0 {
			delete(s.retained, m.topic) // MQTT-3.3.1-6, -7
		} else {
			s.retained[m.topic] = m // MQTT-3.3.1-5
		}
	}
	return s.route(m)
}

// route delivers m to every session with a matching subscription (see
// targets) and reports whether there was any. The caller holds s.mu.
func (s *Server) route(m *message) bool {
	// Not scratch space kept in s: a delivery can end a connection
	// (a fault), and its will is routed at once.
	var buf [4]target
	ts := s.targets(m, buf[:0])
	now := time.Now()
	for _, t := range ts {
		t.sess.deliver(&delivery{msg: m, qos: t.qos, retain: t.retain, subIDs: t.subIDs}, now)
	}
	return len(ts) > 0
}

// targets appends to ts where m goes and returns the result: one copy per
// session for its non-shared subscriptions, at the highest QoS they grant
// and with all their subscription identifiers (MQTT-3.3.4-2, -3, -4), and
// one copy per matching share group (MQTT-3.3.4-5). The sessions come in
// the order of their oldest matching subscription, then the share groups
// in the order they were made, so that the records of a test are the same
// on every run. The caller holds s.mu.
func (s *Server) targets(m *message, ts []target) []target {
	nodes := s.topics.match(m.topic)
	if len(nodes) == 0 {
		return ts
	}
	// The subscriptions and share groups that match, oldest first. Each
	// node keeps its own in that order, so one node's are used as they
	// are; only several nodes need a copy and a sort.
	var subs []*subscription
	var groups []*shareGroup
	var subNodes, groupNodes int
	for _, n := range nodes {
		if len(n.subs) > 0 {
			subs = gather(subs, n.subs, subNodes)
			subNodes++
		}
		if len(n.groups) > 0 {
			groups = gather(groups, n.groups, groupNodes)
			groupNodes++
		}
	}
	clear(nodes) // hold no pruned node until the next match
	if subNodes > 1 {
		slices.SortFunc(subs, func(a, b *subscription) int { return cmp.Compare(a.seq, b.seq) })
	}
	if groupNodes > 1 {
		slices.SortFunc(groups, func(a, b *shareGroup) int { return cmp.Compare(a.seq, b.seq) })
	}
	ts = slices.Grow(ts, len(subs)+len(groups))

	// Each session's target is found through its mark, not by a search
	// of ts: with thousands of matching sessions a search would make the
	// fan-out quadratic. The marks are only read here, where nothing is
	// delivered, so a route started by a delivery cannot disturb them.
	s.routeGen++
	gen := s.routeGen
	for _, sub := range subs {
		sess := sub.sess
		if sub.opts.NoLocal && sess.id == m.from {
			continue // MQTT-3.8.3-3
		}
		if sess.routeGen != gen {
			sess.routeGen, sess.routeAt = gen, len(ts)
			ts = append(ts, target{sess: sess})
		}
		t := &ts[sess.routeAt]
		t.qos = max(t.qos, min(m.qos, sub.qos)) // MQTT-3.8.4-8
		if sub.id != 0 {
			t.subIDs = append(t.subIDs, sub.id)
		}
		if sub.opts.RetainAsPublished && m.retain {
			t.retain = true // MQTT-3.3.1-12, -13
		}
	}
	for _, g := range groups {
		sub := g.pick()
		t := target{sess: sub.sess, qos: min(m.qos, sub.qos), retain: sub.opts.RetainAsPublished && m.retain}
		if sub.id != 0 {
			t.subIDs = []int{sub.id}
		}
		ts = append(ts, t)
	}
	return ts
}

// gather adds the items of one more node to those of the k nodes before
// it: the first node's slice is used as it is, the second's is added to a
// copy, never written into the first node's slice.
func gather[T any](all, more []T, k int) []T {
	switch k {
	case 0:
		return more
	case 1:
		return append(slices.Clip(all), more...)
	}
	return append(all, more...)
}

// deliver queues a message for the session, and sends it if it can. QoS 0
// messages for a disconnected client are dropped; QoS 1 and 2 ones wait
// for it (MQTT-3.1.2-5 in 3.1.1). The caller holds s.mu.
func (sess *session) deliver(d *delivery, now time.Time) {
	if sess.ended || (sess.conn == nil && (d.qos == 0 || sess.expiredAt(now))) {
		return
	}
	sess.pending = append(sess.pending, d)
	sess.pump(now)
}

// pump sends pending messages while the client's Receive Maximum allows
// (MQTT-3.3.4-9). The caller holds s.mu.
func (sess *session) pump(now time.Time) {
	c := sess.conn
	if c == nil || !c.ready {
		return
	}
	for sess.head < len(sess.pending) {
		d := sess.pending[sess.head]
		if d.qos > 0 && len(sess.inflight) >= c.sendQuota {
			break
		}
		sess.pending[sess.head] = nil
		sess.head++
		p := c.publishPacket(d, now)
		if p == nil {
			continue
		}
		if d.qos > 0 {
			d.id = sess.newID()
			p.PacketID = d.id
			sess.inflight[d.id] = d
			sess.order = append(sess.order, d)
		}
		d.sent = true
		c.enqueue(outItem{p: p})
	}
	if sess.head == len(sess.pending) {
		sess.pending, sess.head = sess.pending[:0], 0
	}
}

// newID returns a packet identifier not in use (MQTT-2.2.1-4).
func (sess *session) newID() uint16 {
	for {
		sess.nextID++
		if sess.nextID == 0 {
			sess.nextID = 1
		}
		if _, used := sess.inflight[sess.nextID]; !used {
			return sess.nextID
		}
	}
}

// finish forgets an acknowledged outgoing message.
func (sess *session) finish(d *delivery) {
	delete(sess.inflight, d.id)
	d.done = true
	i := 0
	for i < len(sess.order) && sess.order[i].done {
		sess.order[i] = nil
		i++
	}
	if i > 0 {
		sess.order = append(sess.order[:0], sess.order[i:]...)
	}
}

// resend sends the unacknowledged messages again, in their order, on a
// resumed session: PUBLISH with DUP for those not yet received, PUBREL for
// those received (MQTT-4.4.0-1, v311:MQTT-4.4.0-1). The caller holds s.mu.
func (sess *session) resend(c *Conn, now time.Time) {
	for _, d := range slices.Clone(sess.order) {
		if d.done {
			continue
		}
		if d.released {
			c.enqueue(outItem{p: &wire.Pubrel{PacketID: d.id}})
			continue
		}
		p := c.publishPacket(d, now)
		if p == nil {
			sess.finish(d) // too large for the new connection: as if delivered
			continue
		}
		p.PacketID, p.Dup = d.id, true // MQTT-3.3.1-1
		c.enqueue(outItem{p: p})
	}
}

// publishPacket makes the PUBLISH for a delivery, or returns nil when the
// message has expired before it could be sent (MQTT-3.3.2-5) or is larger
// than the client's Maximum Packet Size (MQTT-3.1.2-25). The packet ID is
// left for the caller. The caller holds s.mu.
func (c *Conn) publishPacket(d *delivery, now time.Time) *wire.Publish {
	m := d.msg
	p := &wire.Publish{Topic: m.topic, Payload: m.payload, QoS: d.qos, Retain: d.retain}
	if c.version != wire.V5 {
		return p
	}
	if m.props != nil || d.subIDs != nil || m.expires {
		var q wire.Properties
		if m.props != nil {
			q = *m.props
		}
		q.SubscriptionIDs = d.subIDs
		if m.expires {
			left := m.expiresAt.Sub(now)
			if left <= 0 && !d.sent {
				return nil
			}
			secs := uint32(math.Ceil(max(left, 0).Seconds())) // MQTT-3.3.2-6
			q.MessageExpiry = &secs
		}
		p.Properties = &q
	}
	if c.maxOut != 0 {
		if d.qos > 0 {
			p.PacketID = 1 // for the size; the caller sets the real one
		}
		if n, err := p.Size(wire.V5); err != nil || n > int(c.maxOut) {
			return nil
		}
	}
	return p
}

// subscribe adds or replaces a subscription of sess (MQTT-3.8.4-3) and
// reports whether it is new. The caller holds s.mu.
func (s *Server) subscribe(sess *session, f wire.Filter, group, match string, qos byte, id int) (*subscription, bool) {
	if sub := sess.subs[f.Topic]; sub != nil {
		sub.opts, sub.qos, sub.id = f, qos, id
		return sub, false
	}
	sub := &subscription{sess: sess, filter: f.Topic, match: match, group: group, opts: f, qos: qos, id: id}
	sess.subs[f.Topic] = sub
	s.topics.add(sub)
	return sub, true
}

// unsubscribe removes a subscription. The caller holds s.mu.
func (s *Server) unsubscribe(sub *subscription) {
	delete(sub.sess.subs, sub.filter)
	s.topics.remove(sub)
}

// sendRetained sends the retained messages matching a new subscription, in
// topic order, with RETAIN set (MQTT-3.3.1-9, -10). The caller holds s.mu.
func (s *Server) sendRetained(sub *subscription, now time.Time) {
	var topics []string
	for t, m := range s.retained {
		if m.expired(now) {
			delete(s.retained, t)
			continue
		}
		if wire.MatchTopic(sub.match, t) {
			topics = append(topics, t)
		}
	}
	slices.Sort(topics)
	for _, t := range topics {
		m := s.retained[t]
		d := &delivery{msg: m, qos: min(m.qos, sub.qos), retain: true}
		if sub.id != 0 {
			d.subIDs = []int{sub.id}
		}
		sub.sess.deliver(d, now)
	}
}

// scheduleWill publishes a will now, or after its Will Delay Interval if
// the session outlives the connection (MQTT-3.1.2-8, MQTT-3.1.3-9). The
// caller holds s.mu.
func (s *Server) scheduleWill(sess *session, w *wire.Will, now time.Time) {
	m := willMessage(w, sess.id, now)
	var delay uint32
	if w.Properties != nil {
		delay = w.Properties.WillDelay
	}
	if delay == 0 || sess.expiry == 0 {
		s.publish(m)
		return
	}
	if sess.expiry != math.MaxUint32 {
		delay = min(delay, sess.expiry) // the session ends first
	}
	sess.will = m
	sess.willGen++
	gen := sess.willGen
	sess.willTimer = time.AfterFunc(time.Duration(delay)*time.Second, func() { s.willDue(sess, gen) })
}

// willDue publishes a delayed will, and ends the session if it has
// expired too.
func (s *Server) willDue(sess *session, gen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || sess.willGen != gen || sess.will == nil {
		return
	}
	m := sess.will
	sess.will = nil
	s.publish(m)
	if now := time.Now(); sess.expiredAt(now) {
		s.endSession(sess)
	}
}

// cancelWill forgets a delayed will, because the session was resumed in
// time (MQTT-3.1.3-9). The caller holds s.mu.
func (s *Server) cancelWill(sess *session) {
	if sess.will != nil {
		sess.will = nil
		sess.willGen++
		sess.willTimer.Stop()
	}
}

// endSession discards a session, publishing its delayed will if it has one.
// The caller holds s.mu.
func (s *Server) endSession(sess *session) {
	if m := sess.will; m != nil {
		s.cancelWill(sess)
		s.publish(m)
	}
	for _, sub := range sess.subs {
		s.unsubscribe(sub)
	}
	if s.sessions[sess.id] == sess {
		delete(s.sessions, sess.id)
	}
	sess.ended = true
}

// assignID returns a client identifier that no session uses
// (MQTT-3.1.3-6, MQTT-3.2.2-16). The caller holds s.mu.
func (s *Server) assignID() string {
	for {
		s.assigned++
		id := "auto-" + strconv.Itoa(s.assigned)
		if s.sessions[id] == nil && s.byID[id] == nil {
			return id
		}
	}
}
