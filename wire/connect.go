package wire

// Connect is the CONNECT packet (MQTT 5.0 section 3.1, 3.1.1 section 3.1).
type Connect struct {
	// Version is the protocol version a decoded CONNECT asked for. Append
	// ignores it and encodes for the version it is given.
	Version    Version
	CleanStart bool // "Clean Session" in 3.x
	KeepAlive  uint16
	ClientID   string
	Will       *Will // nil: no will

	// The User Name is sent when UsernameFlag is set or Username is not
	// empty; the Password when PasswordFlag is set or Password is not nil.
	// Decoding sets the flags for the fields that were present.
	Username     string
	UsernameFlag bool
	Password     []byte
	PasswordFlag bool

	Properties *Properties // v5 only
}

// Will is the will message of a CONNECT.
type Will struct {
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
	Properties *Properties // v5 only: the will properties
}

// Type returns CONNECT.
func (*Connect) Type() Type { return CONNECT }

func protocolName(v Version) string {
	if v == V31 {
		return "MQIsdp"
	}
	return "MQTT"
}

// Append validates c and appends its encoding for version v.
func (c *Connect) Append(dst []byte, v Version) ([]byte, error) {
	if !v.valid() {
		return dst, unknownVersion(CONNECT, v)
	}
	hasUser := c.UsernameFlag || c.Username != ""
	hasPass := c.PasswordFlag || c.Password != nil
	name := protocolName(v)
	n := 2 + len(name) + 1 + 1 + 2 // protocol name, level, flags, keep alive
	var propLen, willPropLen int
	var err error
	if v == V5 {
		if propLen, err = c.Properties.check(CONNECT, connectProps, "CONNECT"); err != nil {
			return dst, err
		}
		n += varintLen(propLen) + propLen
		if c.Properties.authDataWithoutMethod() {
			return dst, protocolError(CONNECT, "Authentication Data without Authentication Method")
		}
	} else if c.Properties != nil {
		return dst, protocolError(CONNECT, "properties need MQTT 5.0, not %v", v)
	}
	if e := checkUTF8(c.ClientID); e != "" {
		return dst, malformed(CONNECT, "client identifier %s", e) // MQTT-3.1.3-4
	}
	switch {
	case v == V31 && c.ClientID == "":
		return dst, protocolError(CONNECT, "MQTT 3.1 needs a client identifier")
	case v == V311 && c.ClientID == "" && !c.CleanStart:
		return dst, protocolError(CONNECT, "an empty client identifier needs a clean session in MQTT 3.1.1")
	}
	n += 2 + len(c.ClientID)
	flags := byte(0)
	if c.CleanStart {
		flags |= 0x02
	}
	if w := c.Will; w != nil {
		if e := checkTopicName(w.Topic); e != "" {
			return dst, protocolError(CONNECT, "will topic %s", e) // MQTT-3.1.3-11
		}
		if w.QoS > 2 {
			return dst, malformed(CONNECT, "will QoS is %d", w.QoS) // MQTT-3.1.2-12
		}
		if len(w.Payload) > maxString {
			return dst, malformed(CONNECT, "will payload is longer than 65535 bytes")
		}
		if v == V5 {
			if willPropLen, err = w.Properties.check(CONNECT, willProps, "a will"); err != nil {
				return dst, err
			}
			n += varintLen(willPropLen) + willPropLen
		} else if w.Properties != nil {
			return dst, protocolError(CONNECT, "will properties need MQTT 5.0, not %v", v)
		}
		n += 2 + len(w.Topic) + 2 + len(w.Payload)
		flags |= 0x04 | w.QoS<<3 // MQTT-3.1.2-9
		if w.Retain {
			flags |= 0x20
		}
	}
	if hasUser {
		if e := checkUTF8(c.Username); e != "" {
			return dst, malformed(CONNECT, "user name %s", e) // MQTT-3.1.3-12
		}
		n += 2 + len(c.Username)
		flags |= 0x80
	}
	if hasPass {
		if v != V5 && !hasUser {
			return dst, protocolError(CONNECT, "a password needs a user name before MQTT 5.0") // v311:MQTT-3.1.2-22
		}
		if len(c.Password) > maxString {
			return dst, malformed(CONNECT, "password is longer than 65535 bytes")
		}
		n += 2 + len(c.Password)
		flags |= 0x40
	}
	if n > MaxRemainingLength {
		return dst, tooLarge(CONNECT, n, MaxRemainingLength)
	}
	b := appendHeader(dst, byte(CONNECT)<<4, n)
	b = appendString(b, name)
	b = append(b, byte(v), flags)
	b = appendUint16(b, c.KeepAlive)
	if v == V5 {
		b = c.Properties.append(b, propLen)
	}
	// Payload order: MQTT-3.1.3-1, MQTT-3.1.3-3.
	b = appendString(b, c.ClientID)
	if w := c.Will; w != nil {
		if v == V5 {
			b = w.Properties.append(b, willPropLen)
		}
		b = appendString(b, w.Topic)
		b = appendBinary(b, w.Payload)
	}
	if hasUser {
		b = appendString(b, c.Username)
	}
	if hasPass {
		b = appendBinary(b, c.Password)
	}
	return b, nil
}

// decodeConnect decodes a CONNECT body. The version comes from the packet.
func decodeConnect(body []byte) (*Connect, error) {
	d := decoder{b: body, t: CONNECT}
	name := d.string("protocol name")
	level := Version(d.byte("protocol level"))
	if d.err != nil {
		return nil, d.err
	}
	if !level.valid() || name != protocolName(level) {
		// The server answers CONNACK 0x84 (MQTT-3.1.2-2).
		return nil, &Error{Code: UnsupportedProtocolVersion, Packet: CONNECT,
			Reason: "unsupported protocol " + quote(name) + " level " + itoa(int(level))}
	}
	c := &Connect{Version: level}
	flags := d.byte("connect flags")
	c.KeepAlive = d.uint16("keep alive")
	if d.err != nil {
		return nil, d.err
	}
	if flags&0x01 != 0 {
		return nil, malformed(CONNECT, "reserved connect flag bit 0 is set") // MQTT-3.1.2-3
	}
	c.CleanStart = flags&0x02 != 0
	willFlag := flags&0x04 != 0
	willQoS := flags >> 3 & 3
	willRetain := flags&0x20 != 0
	c.PasswordFlag = flags&0x40 != 0
	c.UsernameFlag = flags&0x80 != 0
	switch {
	case willQoS == 3:
		return nil, malformed(CONNECT, "will QoS is 3") // MQTT-3.1.2-12
	case !willFlag && (willQoS != 0 || willRetain):
		return nil, malformed(CONNECT, "will QoS or will retain set without the will flag") // MQTT-3.1.2-11, MQTT-3.1.2-13
	case level != V5 && c.PasswordFlag && !c.UsernameFlag:
		return nil, malformed(CONNECT, "password flag set without the user name flag") // v311:MQTT-3.1.2-22
	}
	if level == V5 {
		c.Properties = d.properties(connectProps, "CONNECT")
		if c.Properties.authDataWithoutMethod() {
			d.protocol("Authentication Data without Authentication Method") // section 3.1.2.11.10
		}
	}
	c.ClientID = d.string("client identifier")
	if willFlag {
		w := &Will{QoS: willQoS, Retain: willRetain}
		if level == V5 {
			w.Properties = d.properties(willProps, "a will")
		}
		w.Topic = d.string("will topic")
		if e := checkTopicName(w.Topic); d.err == nil && e != "" {
			d.protocol("will topic %s", e)
		}
		w.Payload = d.bytes("will payload")
		c.Will = w
	}
	if c.UsernameFlag {
		c.Username = d.string("user name")
	}
	if c.PasswordFlag {
		c.Password = d.bytes("password")
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	// A well-formed CONNECT whose client identifier the server must refuse
	// with CONNACK return code 2 (v311:MQTT-3.1.3-8; MQTT 3.1 section
	// 3.1). The code tells the server what to answer.
	switch {
	case level == V31 && c.ClientID == "":
		return nil, &Error{Code: ClientIdentifierNotValid, Packet: CONNECT,
			Reason: "MQTT 3.1 needs a client identifier"}
	case level == V311 && c.ClientID == "" && !c.CleanStart:
		return nil, &Error{Code: ClientIdentifierNotValid, Packet: CONNECT,
			Reason: "an empty client identifier needs a clean session in MQTT 3.1.1"}
	}
	return c, nil
}

// authDataWithoutMethod reports whether p carries Authentication Data but no
// Authentication Method, a Protocol Error in CONNECT (MQTT 5.0 section
// 3.1.2.11.10).
func (p *Properties) authDataWithoutMethod() bool {
	return p != nil && p.AuthData != nil && p.AuthMethod == ""
}

// Connack is the CONNACK packet. For MQTT 3.x the return code is mapped onto
// the MQTT 5.0 reason code of the same meaning (0x01 becomes
// UnsupportedProtocolVersion, and so on).
type Connack struct {
	SessionPresent bool
	ReasonCode     ReasonCode
	Properties     *Properties // v5 only
}

// Type returns CONNACK.
func (*Connack) Type() Type { return CONNACK }

// Append validates c and appends its encoding for version v.
func (c *Connack) Append(dst []byte, v Version) ([]byte, error) {
	if !v.valid() {
		return dst, unknownVersion(CONNACK, v)
	}
	if c.SessionPresent && c.ReasonCode != Success {
		return dst, protocolError(CONNACK, "session present with a refusal") // MQTT-3.2.2-6
	}
	if v != V5 {
		code, ok := v3ReturnCode(c.ReasonCode)
		if !ok {
			return dst, protocolError(CONNACK, "reason code %#02x (%v) has no MQTT %v return code", byte(c.ReasonCode), c.ReasonCode, v)
		}
		if c.Properties != nil {
			return dst, protocolError(CONNACK, "properties need MQTT 5.0, not %v", v)
		}
		flags := byte(0)
		if c.SessionPresent && v == V311 {
			flags = 1
		}
		return append(dst, byte(CONNACK)<<4, 2, flags, code), nil
	}
	if !connackReasons.has(c.ReasonCode) {
		return dst, protocolError(CONNACK, "reason code %#02x is not allowed in CONNACK", byte(c.ReasonCode))
	}
	propLen, err := c.Properties.check(CONNACK, connackProps, "CONNACK")
	if err != nil {
		return dst, err
	}
	b := appendHeader(dst, byte(CONNACK)<<4, 2+varintLen(propLen)+propLen)
	b = append(b, boolByte(c.SessionPresent), byte(c.ReasonCode))
	return c.Properties.append(b, propLen), nil
}

func decodeConnack(body []byte, v Version) (*Connack, error) {
	d := decoder{b: body, t: CONNACK}
	flags := d.byte("acknowledge flags")
	code := d.byte("reason code")
	c := &Connack{}
	if d.err != nil {
		return nil, d.err
	}
	if v != V31 && flags&^1 != 0 {
		return nil, malformed(CONNACK, "reserved acknowledge flags are set")
	}
	c.SessionPresent = v != V31 && flags&1 != 0
	if v == V5 && len(body) == 2 && code == 1 {
		// A 3.x server refusing protocol level 5 answers in its own
		// dialect: return code 1 and no properties.
		c.ReasonCode = UnsupportedProtocolVersion
	} else if v == V5 {
		c.ReasonCode = ReasonCode(code)
		if !connackReasons.has(c.ReasonCode) {
			return nil, malformed(CONNACK, "reason code %#02x is not allowed in CONNACK", code)
		}
		c.Properties = d.properties(connackProps, "CONNACK")
	} else {
		if int(code) >= len(connackV3) {
			return nil, malformed(CONNACK, "unknown return code %d", code)
		}
		c.ReasonCode = connackV3[code]
	}
	if c.SessionPresent && c.ReasonCode != Success && d.err == nil {
		d.protocol("session present with a refusal")
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return c, nil
}
