package wire

// Publish is the PUBLISH packet (MQTT 5.0 section 3.3).
type Publish struct {
	Dup        bool
	QoS        byte
	Retain     bool
	Topic      string // may be empty in v5 when Properties.TopicAlias is set
	PacketID   uint16 // QoS 1 and 2 only
	Properties *Properties
	Payload    []byte
}

// Type returns PUBLISH.
func (*Publish) Type() Type { return PUBLISH }

// Size returns the size of p's encoding for version v, fixed header included,
// or an error when p is not valid. It lets a sender check a packet against the
// peer's Maximum Packet Size before encoding it.
func (p *Publish) Size(v Version) (int, error) {
	n, _, err := p.check(v)
	if err != nil {
		return 0, err
	}
	return 1 + varintLen(n) + n, nil
}

// check validates p and returns its remaining length and property length.
func (p *Publish) check(v Version) (n, propLen int, err error) {
	switch {
	case !v.valid():
		return 0, 0, unknownVersion(PUBLISH, v)
	case p.QoS > 2:
		return 0, 0, malformed(PUBLISH, "QoS is %d", p.QoS) // MQTT-3.3.1-4
	case p.QoS == 0 && p.Dup:
		return 0, 0, protocolError(PUBLISH, "DUP is set on a QoS 0 message") // MQTT-3.3.1-2
	case p.QoS == 0 && p.PacketID != 0:
		return 0, 0, protocolError(PUBLISH, "a QoS 0 message has packet identifier %d; it must have none", p.PacketID) // MQTT-2.2.1-2
	case p.QoS > 0 && p.PacketID == 0:
		return 0, 0, protocolError(PUBLISH, "a QoS %d message needs a non-zero packet identifier", p.QoS)
	}
	if v == V5 {
		propLen, err = p.Properties.check(PUBLISH, publishProps, "PUBLISH")
		if err != nil {
			return 0, 0, err
		}
		n = varintLen(propLen) + propLen
	} else if p.Properties != nil {
		return 0, 0, protocolError(PUBLISH, "properties need MQTT 5.0, not %v", v)
	}
	if p.Topic != "" || v != V5 || p.Properties == nil || p.Properties.TopicAlias == 0 {
		if err := CheckTopicName(p.Topic); err != nil {
			return 0, 0, err
		}
	}
	n += 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		n += 2
	}
	if n > MaxRemainingLength {
		return 0, 0, tooLarge(PUBLISH, n+5, MaxPacketSize)
	}
	return n, propLen, nil
}

// Append validates p and appends its encoding for version v.
func (p *Publish) Append(dst []byte, v Version) ([]byte, error) {
	n, propLen, err := p.check(v)
	if err != nil {
		return dst, err
	}
	first := byte(PUBLISH)<<4 | p.QoS<<1
	if p.Dup {
		first |= 0x08
	}
	if p.Retain {
		first |= 0x01
	}
	b := appendHeader(dst, first, n)
	b = appendString(b, p.Topic)
	if p.QoS > 0 {
		b = appendUint16(b, p.PacketID)
	}
	if v == V5 {
		b = p.Properties.append(b, propLen)
	}
	return append(b, p.Payload...), nil
}

// Decode decodes a PUBLISH body with the given header flags into p,
// overwriting it. It allocates the topic, the payload (a copy of the input),
// and the properties when there are any; p keeps no reference to body.
func (p *Publish) Decode(flags byte, body []byte, v Version) error {
	*p = Publish{
		Dup:    flags&0x08 != 0,
		QoS:    flags >> 1 & 3,
		Retain: flags&0x01 != 0,
	}
	if p.QoS == 3 {
		return malformed(PUBLISH, "QoS bits are 3") // MQTT-3.3.1-4
	}
	if p.QoS == 0 && p.Dup {
		return malformed(PUBLISH, "DUP is set on a QoS 0 message") // MQTT-3.3.1-2
	}
	d := decoder{b: body, t: PUBLISH}
	p.Topic = d.string("topic") // MQTT-3.3.2-1
	if p.QoS > 0 {
		p.PacketID = d.packetID()
	}
	if v == V5 {
		p.Properties = d.properties(publishProps, "PUBLISH")
	}
	if d.err != nil {
		return d.err
	}
	if p.Topic != "" || p.Properties == nil || p.Properties.TopicAlias == 0 {
		if err := CheckTopicName(p.Topic); err != nil {
			return err // MQTT-3.3.2-2
		}
	}
	p.Payload = append(make([]byte, 0, len(d.b)), d.b...)
	return nil
}

// Puback is the PUBACK packet: the answer to a QoS 1 PUBLISH.
type Puback struct {
	PacketID   uint16
	ReasonCode ReasonCode  // v5 only
	Properties *Properties // v5 only
}

// Pubrec is the PUBREC packet: the first answer to a QoS 2 PUBLISH.
type Pubrec struct {
	PacketID   uint16
	ReasonCode ReasonCode  // v5 only
	Properties *Properties // v5 only
}

// Pubrel is the PUBREL packet: the sender's release of a QoS 2 message.
type Pubrel struct {
	PacketID   uint16
	ReasonCode ReasonCode  // v5 only
	Properties *Properties // v5 only
}

// Pubcomp is the PUBCOMP packet: the last step of a QoS 2 exchange.
type Pubcomp struct {
	PacketID   uint16
	ReasonCode ReasonCode  // v5 only
	Properties *Properties // v5 only
}

// Type returns PUBACK.
func (*Puback) Type() Type { return PUBACK }

// Type returns PUBREC.
func (*Pubrec) Type() Type { return PUBREC }

// Type returns PUBREL.
func (*Pubrel) Type() Type { return PUBREL }

// Type returns PUBCOMP.
func (*Pubcomp) Type() Type { return PUBCOMP }

// Append validates p and appends its encoding for version v.
func (p *Puback) Append(dst []byte, v Version) ([]byte, error) {
	return appendAck(dst, v, PUBACK, p.PacketID, p.ReasonCode, p.Properties)
}

// Append validates p and appends its encoding for version v.
func (p *Pubrec) Append(dst []byte, v Version) ([]byte, error) {
	return appendAck(dst, v, PUBREC, p.PacketID, p.ReasonCode, p.Properties)
}

// Append validates p and appends its encoding for version v.
func (p *Pubrel) Append(dst []byte, v Version) ([]byte, error) {
	return appendAck(dst, v, PUBREL, p.PacketID, p.ReasonCode, p.Properties)
}

// Append validates p and appends its encoding for version v.
func (p *Pubcomp) Append(dst []byte, v Version) ([]byte, error) {
	return appendAck(dst, v, PUBCOMP, p.PacketID, p.ReasonCode, p.Properties)
}

// ackReasons returns the reason codes a publish acknowledgement may carry
// (MQTT-3.4.2-1, MQTT-3.5.2-1, MQTT-3.6.2-1, MQTT-3.7.2-1).
func ackReasons(t Type) *reasonSet {
	if t == PUBACK || t == PUBREC {
		return &pubackReasons
	}
	return &pubrelReasons
}

// appendAck encodes PUBACK, PUBREC, PUBREL and PUBCOMP, which share a layout:
// packet identifier, then in v5 a reason code and properties that may be left
// out when they are Success and empty (MQTT 5.0 section 3.4.2.1).
func appendAck(dst []byte, v Version, t Type, id uint16, code ReasonCode, p *Properties) ([]byte, error) {
	if !v.valid() {
		return dst, unknownVersion(t, v)
	}
	if id == 0 {
		return dst, protocolError(t, "packet identifier is 0")
	}
	first := byte(t) << 4
	if t == PUBREL {
		first |= 0x02 // MQTT-3.6.1-1
	}
	if v != V5 {
		if code != Success || p != nil {
			return dst, protocolError(t, "reason codes and properties need MQTT 5.0, not %v", v)
		}
		return append(dst, first, 2, byte(id>>8), byte(id)), nil
	}
	if !ackReasons(t).has(code) {
		return dst, protocolError(t, "reason code %#02x is not allowed in %v", byte(code), t)
	}
	propLen, err := p.check(t, ackProps, t.String())
	if err != nil {
		return dst, err
	}
	switch {
	case propLen == 0 && code == Success:
		return append(dst, first, 2, byte(id>>8), byte(id)), nil
	case propLen == 0:
		return append(dst, first, 3, byte(id>>8), byte(id), byte(code)), nil
	}
	b := appendHeader(dst, first, 3+varintLen(propLen)+propLen)
	b = append(b, byte(id>>8), byte(id), byte(code))
	return p.append(b, propLen), nil
}

// decodeAck decodes the body shared by PUBACK, PUBREC, PUBREL and PUBCOMP.
func decodeAck(t Type, body []byte, v Version) (id uint16, code ReasonCode, p *Properties, err error) {
	d := decoder{b: body, t: t}
	id = d.packetID()
	if v == V5 && len(d.b) > 0 {
		code = ReasonCode(d.byte("reason code"))
		if d.err == nil && !ackReasons(t).has(code) {
			d.fail("reason code %#02x is not allowed in %v", byte(code), t)
		}
		if len(d.b) > 0 {
			p = d.properties(ackProps, t.String())
		}
	}
	return id, code, p, d.end()
}
