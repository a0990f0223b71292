package wire

// Filter is one Topic Filter of a SUBSCRIBE with its subscription options
// (MQTT 5.0 section 3.8.3.1). The options other than QoS need MQTT 5.0.
type Filter struct {
	Topic             string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte // 0: send retained on subscribe, 1: only if new, 2: never
}

// Subscribe is the SUBSCRIBE packet (MQTT 5.0 section 3.8).
type Subscribe struct {
	PacketID   uint16
	Properties *Properties // v5 only: Subscription Identifier, User Property
	Filters    []Filter
}

// Type returns SUBSCRIBE.
func (*Subscribe) Type() Type { return SUBSCRIBE }

// Append validates s and appends its encoding for version v.
func (s *Subscribe) Append(dst []byte, v Version) ([]byte, error) {
	if !v.valid() {
		return dst, unknownVersion(SUBSCRIBE, v)
	}
	if s.PacketID == 0 {
		return dst, protocolError(SUBSCRIBE, "packet identifier is 0")
	}
	if len(s.Filters) == 0 {
		return dst, protocolError(SUBSCRIBE, "no topic filter") // MQTT-3.8.3-2
	}
	n, propLen, err := propsLen(SUBSCRIBE, v, s.Properties, subscribeProps)
	if err != nil {
		return dst, err
	}
	if s.Properties != nil && len(s.Properties.SubscriptionIDs) > 1 {
		return dst, protocolError(SUBSCRIBE, "more than one Subscription Identifier")
	}
	n += 2
	for _, f := range s.Filters {
		if err := CheckTopicFilter(f.Topic); err != nil { // MQTT-3.8.3-1
			return dst, err
		}
		switch {
		case f.QoS > 2:
			return dst, malformed(SUBSCRIBE, "filter %s asks for QoS %d", quote(f.Topic), f.QoS)
		case f.RetainHandling > 2:
			return dst, malformed(SUBSCRIBE, "filter %s has retain handling %d", quote(f.Topic), f.RetainHandling)
		case v != V5 && (f.NoLocal || f.RetainAsPublished || f.RetainHandling != 0):
			return dst, protocolError(SUBSCRIBE, "filter %s: no local, retain as published and retain handling need MQTT 5.0, not %v", quote(f.Topic), v)
		case f.NoLocal && IsShared(f.Topic):
			return dst, protocolError(SUBSCRIBE, "no local on shared subscription %s", quote(f.Topic)) // MQTT-3.8.3-4
		}
		n += 2 + len(f.Topic) + 1
	}
	if n > MaxRemainingLength {
		return dst, tooLarge(SUBSCRIBE, n+5, MaxPacketSize)
	}
	b := appendHeader(dst, byte(SUBSCRIBE)<<4|0x02, n) // MQTT-3.8.1-1
	b = appendUint16(b, s.PacketID)
	if v == V5 {
		b = s.Properties.append(b, propLen)
	}
	for _, f := range s.Filters {
		b = appendString(b, f.Topic)
		opts := f.QoS | f.RetainHandling<<4
		if f.NoLocal {
			opts |= 0x04
		}
		if f.RetainAsPublished {
			opts |= 0x08
		}
		b = append(b, opts)
	}
	return b, nil
}

func decodeSubscribe(body []byte, v Version) (*Subscribe, error) {
	d := decoder{b: body, t: SUBSCRIBE}
	s := &Subscribe{PacketID: d.packetID()}
	if v == V5 {
		s.Properties = d.properties(subscribeProps, "SUBSCRIBE")
	}
	for len(d.b) > 0 && d.err == nil {
		f := Filter{Topic: d.string("topic filter")}
		opts := d.byte("subscription options")
		if d.err != nil {
			break
		}
		f.QoS = opts & 3
		if v == V5 {
			f.NoLocal = opts&0x04 != 0
			f.RetainAsPublished = opts&0x08 != 0
			f.RetainHandling = opts >> 4 & 3
		}
		switch {
		case v == V5 && opts&0xC0 != 0:
			d.fail("filter %s has reserved subscription option bits set", quote(f.Topic)) // MQTT-3.8.3-5
		case v != V5 && opts&0xFC != 0:
			d.fail("filter %s has reserved bits set in its QoS byte", quote(f.Topic))
		case f.QoS == 3 && v != V5:
			d.fail("filter %s asks for QoS 3", quote(f.Topic))
		case f.QoS == 3:
			// MQTT 5.0 section 3.8.3.1 calls this a Protocol Error.
			d.protocol("filter %s asks for QoS 3", quote(f.Topic))
		case f.RetainHandling == 3:
			// MQTT 5.0 section 3.8.3.1 calls this a Protocol Error.
			d.protocol("filter %s has retain handling 3", quote(f.Topic))
		case f.NoLocal && IsShared(f.Topic):
			d.protocol("no local on shared subscription %s", quote(f.Topic))
		}
		if d.err == nil {
			d.err = topicFilterError(SUBSCRIBE, f.Topic)
		}
		s.Filters = append(s.Filters, f)
	}
	if d.err == nil && len(s.Filters) == 0 {
		d.protocol("no topic filter")
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return s, nil
}

// Suback is the SUBACK packet. ReasonCodes holds one code per filter of the
// SUBSCRIBE, in order: the granted QoS (0x00, 0x01, 0x02) or a failure.
type Suback struct {
	PacketID    uint16
	Properties  *Properties // v5 only
	ReasonCodes []ReasonCode
}

// Type returns SUBACK.
func (*Suback) Type() Type { return SUBACK }

// Append validates s and appends its encoding for version v.
func (s *Suback) Append(dst []byte, v Version) ([]byte, error) {
	allowed := &subackReasons
	if v != V5 {
		allowed = &subackReasonsV3
	}
	return appendCodes(dst, v, SUBACK, s.PacketID, s.Properties, s.ReasonCodes, allowed)
}

func decodeSuback(body []byte, v Version) (*Suback, error) {
	allowed := &subackReasons
	if v != V5 {
		allowed = &subackReasonsV3
	}
	id, p, codes, err := decodeCodes(SUBACK, body, v, allowed)
	if err != nil {
		return nil, err
	}
	return &Suback{PacketID: id, Properties: p, ReasonCodes: codes}, nil
}

// Unsubscribe is the UNSUBSCRIBE packet (MQTT 5.0 section 3.10).
type Unsubscribe struct {
	PacketID   uint16
	Properties *Properties // v5 only: User Property
	Topics     []string
}

// Type returns UNSUBSCRIBE.
func (*Unsubscribe) Type() Type { return UNSUBSCRIBE }

// Append validates u and appends its encoding for version v.
func (u *Unsubscribe) Append(dst []byte, v Version) ([]byte, error) {
	if !v.valid() {
		return dst, unknownVersion(UNSUBSCRIBE, v)
	}
	if u.PacketID == 0 {
		return dst, protocolError(UNSUBSCRIBE, "packet identifier is 0")
	}
	if len(u.Topics) == 0 {
		return dst, protocolError(UNSUBSCRIBE, "no topic filter") // MQTT-3.10.3-2
	}
	n, propLen, err := propsLen(UNSUBSCRIBE, v, u.Properties, unsubscribeProps)
	if err != nil {
		return dst, err
	}
	n += 2
	for _, t := range u.Topics {
		if err := topicFilterError(UNSUBSCRIBE, t); err != nil { // MQTT-3.10.3-1
			return dst, err
		}
		n += 2 + len(t)
	}
	if n > MaxRemainingLength {
		return dst, tooLarge(UNSUBSCRIBE, n+5, MaxPacketSize)
	}
	b := appendHeader(dst, byte(UNSUBSCRIBE)<<4|0x02, n) // MQTT-3.10.1-1
	b = appendUint16(b, u.PacketID)
	if v == V5 {
		b = u.Properties.append(b, propLen)
	}
	for _, t := range u.Topics {
		b = appendString(b, t)
	}
	return b, nil
}

func decodeUnsubscribe(body []byte, v Version) (*Unsubscribe, error) {
	d := decoder{b: body, t: UNSUBSCRIBE}
	u := &Unsubscribe{PacketID: d.packetID()}
	if v == V5 {
		u.Properties = d.properties(unsubscribeProps, "UNSUBSCRIBE")
	}
	for len(d.b) > 0 && d.err == nil {
		t := d.string("topic filter")
		if d.err == nil {
			d.err = topicFilterError(UNSUBSCRIBE, t)
		}
		u.Topics = append(u.Topics, t)
	}
	if d.err == nil && len(u.Topics) == 0 {
		d.protocol("no topic filter")
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return u, nil
}

// Unsuback is the UNSUBACK packet. In v5 ReasonCodes holds one code per topic
// of the UNSUBSCRIBE; MQTT 3.x UNSUBACK carries none.
type Unsuback struct {
	PacketID    uint16
	Properties  *Properties // v5 only
	ReasonCodes []ReasonCode
}

// Type returns UNSUBACK.
func (*Unsuback) Type() Type { return UNSUBACK }

// Append validates u and appends its encoding for version v.
func (u *Unsuback) Append(dst []byte, v Version) ([]byte, error) {
	if !v.valid() {
		return dst, unknownVersion(UNSUBACK, v)
	}
	if v != V5 {
		if len(u.ReasonCodes) != 0 || u.Properties != nil {
			return dst, protocolError(UNSUBACK, "reason codes and properties need MQTT 5.0, not %v", v)
		}
		if u.PacketID == 0 {
			return dst, protocolError(UNSUBACK, "packet identifier is 0")
		}
		return append(dst, byte(UNSUBACK)<<4, 2, byte(u.PacketID>>8), byte(u.PacketID)), nil
	}
	return appendCodes(dst, v, UNSUBACK, u.PacketID, u.Properties, u.ReasonCodes, &unsubackReasons)
}

func decodeUnsuback(body []byte, v Version) (*Unsuback, error) {
	if v != V5 {
		d := decoder{b: body, t: UNSUBACK}
		u := &Unsuback{PacketID: d.packetID()}
		if err := d.end(); err != nil {
			return nil, err
		}
		return u, nil
	}
	id, p, codes, err := decodeCodes(UNSUBACK, body, v, &unsubackReasons)
	if err != nil {
		return nil, err
	}
	return &Unsuback{PacketID: id, Properties: p, ReasonCodes: codes}, nil
}

// propsLen checks the properties of a packet for version v and returns the
// bytes they take (length prefix included) and their length.
func propsLen(t Type, v Version, p *Properties, allowed propSet) (n, propLen int, err error) {
	if v != V5 {
		if p != nil {
			return 0, 0, protocolError(t, "properties need MQTT 5.0, not %v", v)
		}
		return 0, 0, nil
	}
	propLen, err = p.check(t, allowed, t.String())
	return varintLen(propLen) + propLen, propLen, err
}

// appendCodes encodes SUBACK and v5 UNSUBACK: packet identifier, properties
// (v5), then one reason code per filter.
func appendCodes(dst []byte, v Version, t Type, id uint16, p *Properties, codes []ReasonCode, allowed *reasonSet) ([]byte, error) {
	if !v.valid() {
		return dst, unknownVersion(t, v)
	}
	if id == 0 {
		return dst, protocolError(t, "packet identifier is 0")
	}
	if len(codes) == 0 {
		return dst, protocolError(t, "no reason code")
	}
	for _, c := range codes {
		if !allowed.has(c) {
			return dst, protocolError(t, "reason code %#02x is not allowed in %v for MQTT %v", byte(c), t, v)
		}
	}
	n, propLen, err := propsLen(t, v, p, ackProps)
	if err != nil {
		return dst, err
	}
	n += 2 + len(codes)
	if n > MaxRemainingLength {
		return dst, tooLarge(t, n+5, MaxPacketSize)
	}
	b := appendHeader(dst, byte(t)<<4, n)
	b = appendUint16(b, id)
	if v == V5 {
		b = p.append(b, propLen)
	}
	for _, c := range codes {
		b = append(b, byte(c))
	}
	return b, nil
}

func decodeCodes(t Type, body []byte, v Version, allowed *reasonSet) (uint16, *Properties, []ReasonCode, error) {
	d := decoder{b: body, t: t}
	id := d.packetID()
	var p *Properties
	if v == V5 {
		p = d.properties(ackProps, t.String())
	}
	if d.err != nil {
		return 0, nil, nil, d.err
	}
	if len(d.b) == 0 {
		return 0, nil, nil, protocolError(t, "no reason code")
	}
	codes := make([]ReasonCode, len(d.b))
	for i, c := range d.b {
		codes[i] = ReasonCode(c)
		if !allowed.has(codes[i]) {
			return 0, nil, nil, malformed(t, "reason code %#02x is not allowed in %v for MQTT %v", c, t, v)
		}
	}
	return id, p, codes, nil
}
