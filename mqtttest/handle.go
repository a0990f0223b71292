package mqtttest

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/culex-mqtt/mqtt/wire"
)

// handle processes one packet from the client. Hooks (Authenticate,
// EnhancedAuth) run without s.mu held; everything else runs under it.
func (c *Conn) handle(p wire.Packet) {
	switch p := p.(type) {
	case *wire.Connect:
		c.onConnect(p)
		return
	case *wire.Auth:
		c.onAuth(p)
		return
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.state != stateOpen {
		return // MQTT-3.1.4-6: nothing more is processed after a refusal
	}
	if !c.ready {
		if d, ok := p.(*wire.Disconnect); ok {
			c.onDisconnect(d)
			return
		}
		c.fail(wire.ProtocolError, fmt.Sprintf("%v before CONNACK", p.Type())) // MQTT-3.1.2-30
		return
	}
	now := time.Now()
	sess := c.sess
	switch p := p.(type) {
	case *wire.Publish:
		c.onPublish(p, now)
	case *wire.Puback:
		if d := sess.inflight[p.PacketID]; d != nil && d.qos == 1 {
			sess.finish(d)
			sess.pump(now)
		}
	case *wire.Pubrec:
		d := sess.inflight[p.PacketID]
		switch {
		case d == nil || d.qos != 2:
			rel := &wire.Pubrel{PacketID: p.PacketID}
			if c.version == wire.V5 {
				rel.ReasonCode = wire.PacketIdentifierNotFound
			}
			c.enqueue(outItem{p: rel})
		case p.ReasonCode.IsError():
			sess.finish(d) // MQTT-4.4.0-2
			sess.pump(now)
		default:
			d.released = true
			c.enqueue(outItem{p: &wire.Pubrel{PacketID: p.PacketID}}) // MQTT-4.3.3-4
		}
	case *wire.Pubrel:
		comp := &wire.Pubcomp{PacketID: p.PacketID} // MQTT-4.3.3-11
		if _, ok := sess.incoming[p.PacketID]; ok {
			delete(sess.incoming, p.PacketID)
		} else if c.version == wire.V5 {
			comp.ReasonCode = wire.PacketIdentifierNotFound
		}
		it := outItem{p: comp}
		if _, ok := c.unacked[p.PacketID]; ok {
			it.ackID = p.PacketID
		}
		c.enqueue(it)
	case *wire.Pubcomp:
		if d := sess.inflight[p.PacketID]; d != nil && d.released {
			sess.finish(d)
			sess.pump(now)
		}
	case *wire.Subscribe:
		c.onSubscribe(p, now)
	case *wire.Unsubscribe:
		c.onUnsubscribe(p)
	case *wire.Pingreq:
		c.enqueue(outItem{p: &wire.Pingresp{}}) // MQTT-3.12.4-1
	case *wire.Disconnect:
		c.onDisconnect(p)
	default:
		c.fail(wire.ProtocolError, fmt.Sprintf("a client may not send %v", p.Type()))
	}
}

// onConnect handles CONNECT: it validates it, authenticates the client and
// accepts or refuses it.
func (c *Conn) onConnect(p *wire.Connect) {
	s := c.s
	s.mu.Lock()
	if c.state != stateOpen {
		s.mu.Unlock()
		return
	}
	if c.connect != nil {
		c.fail(wire.ProtocolError, "a second CONNECT") // MQTT-3.1.0-2
		s.mu.Unlock()
		return
	}
	c.connect = p
	c.version = p.Version
	if !s.opts.versions[p.Version] {
		err := fmt.Errorf("mqtttest: protocol version %v not accepted", p.Version)
		if s.opts.closeOnVersion {
			c.shutdown(err, false, false)
			s.mu.Unlock()
			return
		}
		c.refuse(wire.UnsupportedProtocolVersion, err)
		s.mu.Unlock()
		return
	}
	code, why := c.checkConnect(p)
	s.mu.Unlock()

	if code == wire.Success && s.opts.authenticate != nil {
		if code = s.opts.authenticate(p); code.IsError() {
			why = "refused by Authenticate"
		}
	}
	if code.IsError() {
		s.mu.Lock()
		c.refuse(code, errors.New("mqtttest: CONNECT refused: "+why))
		s.mu.Unlock()
		return
	}
	if p.Version == wire.V5 && p.Properties != nil && p.Properties.AuthMethod != "" {
		s.mu.Lock()
		c.auth = &authState{}
		s.mu.Unlock()
		c.authStep(p.Properties.AuthData)
		return
	}
	s.mu.Lock()
	c.accept(nil)
	s.mu.Unlock()
}

// checkConnect applies the server's rules and limits to a CONNECT. The
// caller holds s.mu.
func (c *Conn) checkConnect(p *wire.Connect) (wire.ReasonCode, string) {
	o := &c.s.opts
	switch {
	case p.ClientID == "" && p.Version == wire.V31:
		return wire.ClientIdentifierNotValid, "MQTT 3.1 needs a client identifier"
	case p.ClientID == "" && p.Version == wire.V311 && !p.CleanStart:
		return wire.ClientIdentifierNotValid, "an empty client identifier needs a clean session" // v311:MQTT-3.1.3-8
	case p.Will != nil && p.Will.QoS > o.maxQoS:
		return wire.QoSNotSupported, "will QoS above the maximum QoS" // MQTT-3.2.2-12
	case p.Will != nil && p.Will.Retain && !o.retain:
		return wire.RetainNotSupported, "retained will without retain support" // MQTT-3.2.2-13
	case p.Version == wire.V5 && p.Properties != nil && p.Properties.AuthMethod != "" && o.enhancedAuth == nil:
		return wire.BadAuthenticationMethod, "no enhanced authentication" // MQTT-4.12.0-1
	case p.Version == wire.V5 && p.Properties != nil && p.Properties.AuthMethod == "" && p.Properties.AuthData != nil:
		return wire.ProtocolError, "authentication data without a method"
	}
	return wire.Success, ""
}

// authStep runs one step of enhanced authentication with data from the
// client (MQTT-4.12.0-2, -4, -5).
func (c *Conn) authStep(data []byte) {
	s := c.s
	s.mu.Lock()
	st, p := c.auth, c.connect
	s.mu.Unlock()
	if st == nil {
		return
	}
	out, code := s.opts.enhancedAuth(p, st.step, data)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.state != stateOpen || c.auth != st {
		return
	}
	st.step++
	method := p.Properties.AuthMethod
	switch {
	case code == wire.ContinueAuthentication:
		c.enqueue(outItem{p: &wire.Auth{ReasonCode: wire.ContinueAuthentication,
			Properties: &wire.Properties{AuthMethod: method, AuthData: out}}})
	case !code.IsError():
		c.auth = nil
		if !c.ready {
			c.accept(&wire.Properties{AuthMethod: method, AuthData: out})
			return
		}
		c.enqueue(outItem{p: &wire.Auth{ReasonCode: wire.Success,
			Properties: &wire.Properties{AuthMethod: method, AuthData: out}}})
	case !c.ready:
		c.refuse(code, fmt.Errorf("mqtttest: enhanced authentication refused with %v", code))
	default:
		c.fail(code, fmt.Sprintf("re-authentication failed: %v", code)) // MQTT-4.12.1-2
	}
}

// onAuth handles AUTH: a step of the exchange before CONNACK, or a
// re-authentication after it (MQTT 5.0 section 4.12.1).
func (c *Conn) onAuth(p *wire.Auth) {
	s := c.s
	s.mu.Lock()
	if c.state != stateOpen {
		s.mu.Unlock()
		return
	}
	var method string
	if c.connect.Properties != nil {
		method = c.connect.Properties.AuthMethod
	}
	var why string
	switch {
	case method == "":
		why = "AUTH without an authentication method in CONNECT"
	case p.Properties == nil || p.Properties.AuthMethod != method:
		why = "AUTH with another authentication method than CONNECT's" // MQTT-4.12.0-5
	case !c.ready && (c.auth == nil || p.ReasonCode != wire.ContinueAuthentication):
		why = fmt.Sprintf("AUTH %v before CONNACK", p.ReasonCode)
	case c.ready && c.auth == nil && p.ReasonCode != wire.ReAuthenticate:
		why = fmt.Sprintf("AUTH %v to start re-authentication", p.ReasonCode)
	case c.ready && c.auth != nil && p.ReasonCode != wire.ContinueAuthentication:
		why = fmt.Sprintf("AUTH %v during re-authentication", p.ReasonCode)
	}
	if why != "" {
		c.fail(wire.ProtocolError, why)
		s.mu.Unlock()
		return
	}
	if c.auth == nil {
		c.auth = &authState{}
	}
	s.mu.Unlock()
	c.authStep(p.Properties.AuthData)
}

// accept accepts the connection: it takes over or starts the session and
// sends CONNACK (MQTT-3.1.4-4), then what the resumed session has
// unacknowledged or waiting. auth holds the enhanced authentication
// properties for CONNACK, if any. The caller holds s.mu.
func (c *Conn) accept(auth *wire.Properties) {
	s := c.s
	if c.state != stateOpen || s.closed {
		return
	}
	p := c.connect
	v := p.Version
	now := time.Now()
	id, assigned := p.ClientID, ""
	if id == "" {
		id = s.assignID() // MQTT-3.1.3-6
		if v == wire.V5 {
			assigned = id // MQTT-3.1.3-7
		}
	}
	c.clientID = id
	if old := s.byID[id]; old != nil && old != c {
		old.takeOver()
	}
	sess := s.sessions[id]
	if sess != nil && sess.expiredAt(now) {
		s.endSession(sess)
		sess = nil
	}
	present := false
	if sess != nil && !p.CleanStart {
		present = true // MQTT-3.1.2-5, MQTT-3.2.2-3
		s.cancelWill(sess)
	} else {
		if sess != nil {
			s.endSession(sess) // MQTT-3.1.2-4
		}
		sess = newSession(id) // MQTT-3.1.2-6
		s.sessions[id] = sess
	}
	sess.conn, c.sess = c, sess
	props := p.Properties
	switch {
	case v == wire.V5 && props != nil && props.SessionExpiry != nil:
		sess.expiry = *props.SessionExpiry
	case v == wire.V5 || p.CleanStart:
		sess.expiry = 0
	default:
		sess.expiry = math.MaxUint32
	}
	c.connectExpiry = sess.expiry
	c.will = p.Will
	c.keepAlive = time.Duration(p.KeepAlive) * time.Second
	var serverKeepAlive *uint16
	if v == wire.V5 && s.opts.serverKeepAlive >= 0 {
		secs := uint16(min(s.opts.serverKeepAlive/time.Second, math.MaxUint16))
		serverKeepAlive = &secs
		c.keepAlive = time.Duration(secs) * time.Second
	}
	if v == wire.V5 && props != nil {
		if props.ReceiveMaximum != 0 {
			c.sendQuota = int(props.ReceiveMaximum)
		}
		c.maxOut = props.MaximumPacketSize
		if props.RequestProblemInfo != nil {
			c.problemInfo = *props.RequestProblemInfo
		}
	}
	if s.opts.receiveMaximum != 0 {
		c.unacked = map[uint16]struct{}{}
	}

	ack := &wire.Connack{SessionPresent: present && v != wire.V31}
	if v == wire.V5 {
		q := wire.Properties{AssignedClientID: assigned, ServerKeepAlive: serverKeepAlive}
		o := &s.opts
		if o.receiveMaximum != 0 && o.receiveMaximum != math.MaxUint16 {
			q.ReceiveMaximum = o.receiveMaximum
		}
		q.MaximumPacketSize = o.maximumPacketSize
		q.TopicAliasMaximum = o.topicAliasMaximum
		if o.maxQoS < 2 {
			q.MaximumQoS = new(o.maxQoS)
		}
		if !o.retain {
			q.RetainAvailable = new(false)
		}
		if !o.wildcards {
			q.WildcardSubAvailable = new(false)
		}
		if !o.subIDs {
			q.SubIDAvailable = new(false)
		}
		if !o.shared {
			q.SharedSubAvailable = new(false)
		}
		if props != nil && props.RequestResponseInfo && o.responseInfo != "" {
			q.ResponseInfo = o.responseInfo + id // MQTT-3.1.2-28
		}
		if auth != nil {
			q.AuthMethod, q.AuthData = auth.AuthMethod, auth.AuthData
		}
		if q.AssignedClientID != "" || q.ServerKeepAlive != nil || q.ReceiveMaximum != 0 ||
			q.MaximumPacketSize != 0 || q.TopicAliasMaximum != 0 || q.MaximumQoS != nil ||
			q.RetainAvailable != nil || q.WildcardSubAvailable != nil || q.SubIDAvailable != nil ||
			q.SharedSubAvailable != nil || q.ResponseInfo != "" || q.AuthMethod != "" {
			ack.Properties = &q
		}
	}
	c.enqueue(outItem{p: ack})
	c.ready = true
	s.byID[id] = c
	s.notifyLocked(s.connWaiters)
	if c.keepAlive > 0 {
		c.last.Store(now.UnixNano())
		c.timer = time.AfterFunc(c.keepAlive*3/2, c.keepAliveCheck)
	}
	if present {
		sess.resend(c, now)
	}
	sess.pump(now)
}

// takeOver ends a connection whose client ID a new connection uses
// (MQTT-3.1.4-3): v5 clients get DISCONNECT 0x8E. The caller holds s.mu.
func (c *Conn) takeOver() {
	if c.version == wire.V5 {
		c.enqueue(outItem{p: &wire.Disconnect{ReasonCode: wire.SessionTakenOver}})
		c.shutdown(errTakenOver, true, true)
		return
	}
	c.shutdown(errTakenOver, false, true)
}

// detach separates the connection from its session when it ends,
// publishing or scheduling the will if withWill is set, and ending the
// session if its expiry interval is 0. The caller holds s.mu.
func (c *Conn) detach(withWill bool) {
	s := c.s
	if s.byID[c.clientID] == c {
		delete(s.byID, c.clientID)
	}
	c.ready = false
	sess := c.sess
	if sess == nil || sess.conn != c {
		return
	}
	sess.conn = nil
	now := time.Now()
	sess.offlineSince = now
	w := c.will
	c.will = nil
	if withWill && w != nil && !s.closed {
		s.scheduleWill(sess, w, now)
	}
	if sess.expiry == 0 {
		s.endSession(sess) // MQTT-3.1.2-6 in 3.1.1
	}
}

// onDisconnect handles the client's DISCONNECT and closes the connection.
// The will is discarded by a 3.x DISCONNECT and by a v5 one with code 0x00
// (MQTT-3.14.4-3); any other v5 code, 0x04 "disconnect with will" or an
// error, leaves it to be published (MQTT 5.0 section 3.1.2.5). The caller
// holds s.mu.
func (c *Conn) onDisconnect(p *wire.Disconnect) {
	if c.version == wire.V5 && p.Properties != nil && p.Properties.SessionExpiry != nil && c.sess != nil {
		if c.connectExpiry == 0 && *p.Properties.SessionExpiry != 0 {
			c.fail(wire.ProtocolError, "DISCONNECT sets a session expiry interval after CONNECT had 0")
			return
		}
		c.sess.expiry = *p.Properties.SessionExpiry
	}
	c.shutdown(errClientDisconnect, false, c.version == wire.V5 && p.ReasonCode != wire.NormalDisconnection)
}

// onPublish handles a PUBLISH from the client. The caller holds s.mu.
func (c *Conn) onPublish(p *wire.Publish, now time.Time) {
	s := c.s
	sess := c.sess
	if p.QoS > s.opts.maxQoS {
		c.fail(wire.QoSNotSupported, fmt.Sprintf("PUBLISH at QoS %d, above the maximum QoS %d", p.QoS, s.opts.maxQoS))
		return
	}
	if p.Retain && !s.opts.retain {
		c.fail(wire.RetainNotSupported, "PUBLISH with RETAIN but retain is not available")
		return
	}
	topic := p.Topic
	if props := p.Properties; props != nil {
		if len(props.SubscriptionIDs) > 0 {
			c.fail(wire.ProtocolError, "PUBLISH from a client with a Subscription Identifier") // MQTT 5.0 section 3.3.4
			return
		}
		if a := props.TopicAlias; a != 0 {
			if a > s.opts.topicAliasMaximum {
				c.fail(wire.TopicAliasInvalid, fmt.Sprintf("topic alias %d above the maximum %d", a, s.opts.topicAliasMaximum)) // MQTT-3.3.2-12
				return
			}
			if topic == "" {
				if topic = c.aliases[a]; topic == "" {
					c.fail(wire.ProtocolError, fmt.Sprintf("unknown topic alias %d", a))
					return
				}
			} else {
				if c.aliases == nil {
					c.aliases = map[uint16]string{}
				}
				c.aliases[a] = topic
			}
		}
	}
	id := p.PacketID
	if p.QoS == 2 {
		if _, dup := sess.incoming[id]; dup {
			// MQTT-4.3.3-10: acknowledged again, not delivered twice.
			c.enqueue(outItem{p: &wire.Pubrec{PacketID: id}})
			return
		}
	}
	if p.QoS > 0 && c.unacked != nil {
		if _, ok := c.unacked[id]; !ok {
			if len(c.unacked) >= int(s.opts.receiveMaximum) {
				c.fail(wire.ReceiveMaximumExceeded, fmt.Sprintf("more than %d QoS 1 and 2 messages unacknowledged", s.opts.receiveMaximum)) // MQTT-3.3.4-9
				return
			}
			c.unacked[id] = struct{}{}
		}
	}
	matched := s.publish(newMessage(p, topic, c.clientID, now))
	code := wire.Success
	if !matched && c.version == wire.V5 {
		code = wire.NoMatchingSubscribers
	}
	switch p.QoS {
	case 1:
		it := outItem{p: &wire.Puback{PacketID: id, ReasonCode: code}} // MQTT-4.3.2-4
		if c.unacked != nil {
			it.ackID = id
		}
		c.enqueue(it)
	case 2:
		sess.incoming[id] = struct{}{}
		c.enqueue(outItem{p: &wire.Pubrec{PacketID: id, ReasonCode: code}}) // MQTT-4.3.3-8
	}
}

// onSubscribe handles SUBSCRIBE: one SUBACK code per filter, in order
// (MQTT-3.8.4-1, -2, -5, -6, -7, MQTT-3.9.3-1), then the retained messages
// (MQTT-3.3.1-9, -10, -11). The caller holds s.mu.
func (c *Conn) onSubscribe(p *wire.Subscribe, now time.Time) {
	s := c.s
	o := &s.opts
	id := 0
	if p.Properties != nil && len(p.Properties.SubscriptionIDs) > 0 {
		if !o.subIDs {
			c.fail(wire.SubscriptionIdentifiersNotSupported, "SUBSCRIBE with a Subscription Identifier")
			return
		}
		id = p.Properties.SubscriptionIDs[0]
	}
	codes := make([]wire.ReasonCode, len(p.Filters))
	type added struct {
		sub   *subscription
		isNew bool
	}
	var subs []added
	var refused []string
	for i, f := range p.Filters {
		group, match := "", f.Topic
		if wire.IsShared(f.Topic) {
			group, match, _ = strings.Cut(f.Topic[len("$share/"):], "/")
		}
		switch {
		case group != "" && !o.shared:
			codes[i] = wire.SharedSubscriptionsNotSupported
			refused = append(refused, f.Topic+": shared subscriptions not available")
		case strings.ContainsAny(match, "+#") && !o.wildcards:
			codes[i] = wire.WildcardSubscriptionsNotSupported // v311:MQTT-3.8.3-2
			refused = append(refused, f.Topic+": wildcards not available")
		default:
			q := min(f.QoS, o.maxQoS)
			codes[i] = wire.ReasonCode(q)
			sub, isNew := s.subscribe(c.sess, f, group, match, q, id)
			if group == "" {
				subs = append(subs, added{sub, isNew})
			}
		}
	}
	ack := &wire.Suback{PacketID: p.PacketID, ReasonCodes: codes}
	if c.version != wire.V5 {
		for i, code := range codes {
			if code.IsError() {
				codes[i] = wire.UnspecifiedError // v311:MQTT-3.9.3-2
			}
		}
	} else if len(refused) > 0 {
		ack.Properties = &wire.Properties{ReasonString: strings.Join(refused, "; ")}
		c.fitProps(ack)
	}
	c.enqueue(outItem{p: ack})
	for _, a := range subs {
		switch a.sub.opts.RetainHandling {
		case 0:
		case 1:
			if !a.isNew {
				continue
			}
		default:
			continue
		}
		s.sendRetained(a.sub, now)
	}
}

// onUnsubscribe handles UNSUBSCRIBE (MQTT-3.10.4-1, -4, -5, -6,
// MQTT-3.11.3-1). The caller holds s.mu.
func (c *Conn) onUnsubscribe(p *wire.Unsubscribe) {
	s := c.s
	ack := &wire.Unsuback{PacketID: p.PacketID}
	for _, t := range p.Topics {
		code := wire.Success
		if sub := c.sess.subs[t]; sub != nil {
			s.unsubscribe(sub)
		} else {
			code = wire.NoSubscriptionExisted
		}
		if c.version == wire.V5 {
			ack.ReasonCodes = append(ack.ReasonCodes, code)
		}
	}
	c.enqueue(outItem{p: ack})
}
