package wire

// Pingreq is the PINGREQ packet.
type Pingreq struct{}

// Pingresp is the PINGRESP packet.
type Pingresp struct{}

// Type returns PINGREQ.
func (*Pingreq) Type() Type { return PINGREQ }

// Type returns PINGRESP.
func (*Pingresp) Type() Type { return PINGRESP }

// Append appends the two bytes of a PINGREQ.
func (*Pingreq) Append(dst []byte, _ Version) ([]byte, error) {
	return append(dst, byte(PINGREQ)<<4, 0), nil
}

// Append appends the two bytes of a PINGRESP.
func (*Pingresp) Append(dst []byte, _ Version) ([]byte, error) {
	return append(dst, byte(PINGRESP)<<4, 0), nil
}

// Disconnect is the DISCONNECT packet. Its reason code and properties need
// MQTT 5.0; in 3.x DISCONNECT is sent by the client only and carries nothing.
type Disconnect struct {
	ReasonCode ReasonCode
	Properties *Properties
}

// Type returns DISCONNECT.
func (*Disconnect) Type() Type { return DISCONNECT }

// Append validates p and appends its encoding for version v.
func (p *Disconnect) Append(dst []byte, v Version) ([]byte, error) {
	return appendReasoned(dst, v, DISCONNECT, p.ReasonCode, p.Properties, &disconnectReasons, disconnectProps)
}

// Auth is the AUTH packet of MQTT 5.0 enhanced authentication (section 3.15).
type Auth struct {
	ReasonCode ReasonCode
	Properties *Properties
}

// Type returns AUTH.
func (*Auth) Type() Type { return AUTH }

// Append validates p and appends its encoding; AUTH exists only in MQTT 5.0.
func (p *Auth) Append(dst []byte, v Version) ([]byte, error) {
	if v != V5 {
		return dst, protocolError(AUTH, "AUTH needs MQTT 5.0, not %v", v)
	}
	return appendReasoned(dst, v, AUTH, p.ReasonCode, p.Properties, &authReasons, authProps)
}

// appendReasoned encodes DISCONNECT and AUTH: a reason code and properties,
// both left out when they are Success and empty.
func appendReasoned(dst []byte, v Version, t Type, code ReasonCode, p *Properties, reasons *reasonSet, allowed propSet) ([]byte, error) {
	if !v.valid() {
		return dst, unknownVersion(t, v)
	}
	if v != V5 {
		if code != Success || p != nil {
			return dst, protocolError(t, "reason codes and properties need MQTT 5.0, not %v", v)
		}
		return append(dst, byte(t)<<4, 0), nil
	}
	if !reasons.has(code) {
		return dst, protocolError(t, "reason code %#02x is not allowed in %v", byte(code), t) // MQTT-3.14.2-1, MQTT-3.15.2-1
	}
	propLen, err := p.check(t, allowed, t.String())
	if err != nil {
		return dst, err
	}
	if propLen == 0 && code == Success {
		return append(dst, byte(t)<<4, 0), nil
	}
	b := appendHeader(dst, byte(t)<<4, 1+varintLen(propLen)+propLen)
	b = append(b, byte(code))
	return p.append(b, propLen), nil
}

func decodeReasoned(t Type, body []byte, v Version, reasons *reasonSet, allowed propSet) (ReasonCode, *Properties, error) {
	d := decoder{b: body, t: t}
	if v != V5 {
		return 0, nil, d.end()
	}
	var code ReasonCode
	var p *Properties
	if len(d.b) > 0 {
		code = ReasonCode(d.byte("reason code"))
		if !reasons.has(code) {
			d.fail("reason code %#02x is not allowed in %v", byte(code), t)
		}
		if len(d.b) > 0 {
			p = d.properties(allowed, t.String())
		}
	}
	return code, p, d.end()
}
