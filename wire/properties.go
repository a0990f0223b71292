package wire

import "slices"

// Property identifiers (MQTT 5.0 section 2.2.2.2).
const (
	propPayloadFormat        = 0x01
	propMessageExpiry        = 0x02
	propContentType          = 0x03
	propResponseTopic        = 0x08
	propCorrelationData      = 0x09
	propSubscriptionID       = 0x0B
	propSessionExpiry        = 0x11
	propAssignedClientID     = 0x12
	propServerKeepAlive      = 0x13
	propAuthMethod           = 0x15
	propAuthData             = 0x16
	propRequestProblemInfo   = 0x17
	propWillDelay            = 0x18
	propRequestResponseInfo  = 0x19
	propResponseInfo         = 0x1A
	propServerReference      = 0x1C
	propReasonString         = 0x1F
	propReceiveMaximum       = 0x21
	propTopicAliasMaximum    = 0x22
	propTopicAlias           = 0x23
	propMaximumQoS           = 0x24
	propRetainAvailable      = 0x25
	propUserProperty         = 0x26
	propMaximumPacketSize    = 0x27
	propWildcardSubAvailable = 0x28
	propSubIDAvailable       = 0x29
	propSharedSubAvailable   = 0x2A
)

// UserProperty is one name/value pair of a User Property (MQTT 5.0 section
// 3.1.2.11.8). The same name may appear more than once; order is kept.
type UserProperty struct {
	Key, Value string
}

// Properties holds the MQTT 5.0 properties of a packet. Each packet type may
// carry only some of them (section 2.2.2.2); Append refuses a packet with a
// property its type may not carry, and decoding reports it as malformed.
//
// A field at its zero value is absent and not encoded. Where zero is a
// meaningful value that differs from absence, the field is a pointer and nil
// means absent.
type Properties struct {
	// PUBLISH and will properties.
	PayloadFormat   byte    // 0x01: 1 = payload is UTF-8
	MessageExpiry   *uint32 // 0x02: lifetime in seconds
	ContentType     string  // 0x03
	ResponseTopic   string  // 0x08
	CorrelationData []byte  // 0x09: nil = absent
	TopicAlias      uint16  // 0x23: PUBLISH only
	WillDelay       uint32  // 0x18: will properties only, seconds

	// SubscriptionIDs (0x0B) holds the subscription identifiers of a PUBLISH
	// sent by a server, or the one identifier of a SUBSCRIBE.
	SubscriptionIDs []int

	// CONNECT, CONNACK and DISCONNECT.
	SessionExpiry       *uint32 // 0x11: seconds
	AuthMethod          string  // 0x15
	AuthData            []byte  // 0x16: nil = absent
	RequestProblemInfo  *bool   // 0x17: CONNECT; absent means true
	RequestResponseInfo bool    // 0x19: CONNECT
	ReceiveMaximum      uint16  // 0x21: absent means 65535
	TopicAliasMaximum   uint16  // 0x22
	MaximumPacketSize   uint32  // 0x27: absent means no limit

	// CONNACK only.
	AssignedClientID     string  // 0x12
	ServerKeepAlive      *uint16 // 0x13: seconds
	ResponseInfo         string  // 0x1A
	MaximumQoS           *byte   // 0x24: absent means 2
	RetainAvailable      *bool   // 0x25: absent means true
	WildcardSubAvailable *bool   // 0x28: absent means true
	SubIDAvailable       *bool   // 0x29: absent means true
	SharedSubAvailable   *bool   // 0x2A: absent means true

	ServerReference string         // 0x1C: CONNACK, DISCONNECT
	ReasonString    string         // 0x1F: acknowledgements, DISCONNECT, AUTH
	UserProperties  []UserProperty // 0x26: every packet with properties
}

// propSet is a set of property identifiers.
type propSet uint64

func props(ids ...byte) (s propSet) {
	for _, id := range ids {
		s |= 1 << id
	}
	return s
}

func (s propSet) has(id byte) bool { return id < 64 && s&(1<<id) != 0 }

// Where each property may appear (MQTT 5.0 section 2.2.2.2).
var (
	connectProps = props(propSessionExpiry, propAuthMethod, propAuthData,
		propRequestProblemInfo, propRequestResponseInfo, propReceiveMaximum,
		propTopicAliasMaximum, propUserProperty, propMaximumPacketSize)
	connackProps = props(propSessionExpiry, propAssignedClientID, propServerKeepAlive,
		propAuthMethod, propAuthData, propResponseInfo, propServerReference,
		propReasonString, propReceiveMaximum, propTopicAliasMaximum, propMaximumQoS,
		propRetainAvailable, propUserProperty, propMaximumPacketSize,
		propWildcardSubAvailable, propSubIDAvailable, propSharedSubAvailable)
	publishProps = props(propPayloadFormat, propMessageExpiry, propContentType,
		propResponseTopic, propCorrelationData, propSubscriptionID, propTopicAlias,
		propUserProperty)
	willProps = props(propPayloadFormat, propMessageExpiry, propContentType,
		propResponseTopic, propCorrelationData, propWillDelay, propUserProperty)
	ackProps         = props(propReasonString, propUserProperty)
	subscribeProps   = props(propSubscriptionID, propUserProperty)
	unsubscribeProps = props(propUserProperty)
	disconnectProps  = props(propSessionExpiry, propServerReference, propReasonString,
		propUserProperty)
	authProps = props(propAuthMethod, propAuthData, propReasonString, propUserProperty)
)

// present returns the set of properties p carries.
func (p *Properties) present() (s propSet) {
	if p == nil {
		return 0
	}
	set := func(ok bool, id byte) {
		if ok {
			s |= 1 << id
		}
	}
	set(p.PayloadFormat != 0, propPayloadFormat)
	set(p.MessageExpiry != nil, propMessageExpiry)
	set(p.ContentType != "", propContentType)
	set(p.ResponseTopic != "", propResponseTopic)
	set(p.CorrelationData != nil, propCorrelationData)
	set(p.TopicAlias != 0, propTopicAlias)
	set(p.WillDelay != 0, propWillDelay)
	set(len(p.SubscriptionIDs) != 0, propSubscriptionID)
	set(p.SessionExpiry != nil, propSessionExpiry)
	set(p.AuthMethod != "", propAuthMethod)
	set(p.AuthData != nil, propAuthData)
	set(p.RequestProblemInfo != nil, propRequestProblemInfo)
	set(p.RequestResponseInfo, propRequestResponseInfo)
	set(p.ReceiveMaximum != 0, propReceiveMaximum)
	set(p.TopicAliasMaximum != 0, propTopicAliasMaximum)
	set(p.MaximumPacketSize != 0, propMaximumPacketSize)
	set(p.AssignedClientID != "", propAssignedClientID)
	set(p.ServerKeepAlive != nil, propServerKeepAlive)
	set(p.ResponseInfo != "", propResponseInfo)
	set(p.MaximumQoS != nil, propMaximumQoS)
	set(p.RetainAvailable != nil, propRetainAvailable)
	set(p.WildcardSubAvailable != nil, propWildcardSubAvailable)
	set(p.SubIDAvailable != nil, propSubIDAvailable)
	set(p.SharedSubAvailable != nil, propSharedSubAvailable)
	set(p.ServerReference != "", propServerReference)
	set(p.ReasonString != "", propReasonString)
	set(len(p.UserProperties) != 0, propUserProperty)
	return s
}

var propNames = map[byte]string{
	propPayloadFormat: "Payload Format Indicator", propMessageExpiry: "Message Expiry Interval",
	propContentType: "Content Type", propResponseTopic: "Response Topic",
	propCorrelationData: "Correlation Data", propSubscriptionID: "Subscription Identifier",
	propSessionExpiry: "Session Expiry Interval", propAssignedClientID: "Assigned Client Identifier",
	propServerKeepAlive: "Server Keep Alive", propAuthMethod: "Authentication Method",
	propAuthData: "Authentication Data", propRequestProblemInfo: "Request Problem Information",
	propWillDelay: "Will Delay Interval", propRequestResponseInfo: "Request Response Information",
	propResponseInfo: "Response Information", propServerReference: "Server Reference",
	propReasonString: "Reason String", propReceiveMaximum: "Receive Maximum",
	propTopicAliasMaximum: "Topic Alias Maximum", propTopicAlias: "Topic Alias",
	propMaximumQoS: "Maximum QoS", propRetainAvailable: "Retain Available",
	propUserProperty: "User Property", propMaximumPacketSize: "Maximum Packet Size",
	propWildcardSubAvailable: "Wildcard Subscription Available",
	propSubIDAvailable:       "Subscription Identifier Available",
	propSharedSubAvailable:   "Shared Subscription Available",
}

func propName(id byte) string {
	if n, ok := propNames[id]; ok {
		return n
	}
	return "property 0x" + hex2(id)
}

// check validates p for a packet of type t that may carry the properties in
// allowed, and returns the length of its encoding without the length prefix.
func (p *Properties) check(t Type, allowed propSet, what string) (int, error) {
	if p == nil {
		return 0, nil
	}
	if extra := p.present() &^ allowed; extra != 0 {
		for id := byte(0); id < 64; id++ {
			if extra.has(id) {
				return 0, protocolError(t, "%s may not carry the %s property", what, propName(id))
			}
		}
	}
	n := 0
	str := func(id byte, s string) error {
		if s == "" {
			return nil
		}
		if e := checkUTF8(s); e != "" {
			return malformed(t, "%s %s", propName(id), e)
		}
		n += 3 + len(s)
		return nil
	}
	bin := func(id byte, b []byte) error {
		if b == nil {
			return nil
		}
		if len(b) > maxString {
			return malformed(t, "%s is longer than 65535 bytes", propName(id))
		}
		n += 3 + len(b)
		return nil
	}
	if p.PayloadFormat > 1 {
		return 0, protocolError(t, "Payload Format Indicator is %d, must be 0 or 1", p.PayloadFormat)
	}
	if p.PayloadFormat != 0 {
		n += 2
	}
	if p.MessageExpiry != nil {
		n += 5
	}
	if p.TopicAlias != 0 {
		n += 3
	}
	if p.WillDelay != 0 {
		n += 5
	}
	for _, id := range p.SubscriptionIDs {
		if id <= 0 || id > MaxRemainingLength {
			return 0, protocolError(t, "Subscription Identifier %d is outside 1..268435455", id)
		}
		n += 1 + varintLen(id)
	}
	if p.SessionExpiry != nil {
		n += 5
	}
	if p.RequestProblemInfo != nil {
		n += 2
	}
	if p.RequestResponseInfo {
		n += 2
	}
	if p.ReceiveMaximum != 0 {
		n += 3
	}
	if p.TopicAliasMaximum != 0 {
		n += 3
	}
	if p.MaximumPacketSize != 0 {
		n += 5
	}
	if p.ServerKeepAlive != nil {
		n += 3
	}
	if p.MaximumQoS != nil {
		if *p.MaximumQoS > 1 {
			return 0, protocolError(t, "Maximum QoS is %d, must be 0 or 1 when present", *p.MaximumQoS)
		}
		n += 2
	}
	for _, b := range []*bool{p.RetainAvailable, p.WildcardSubAvailable, p.SubIDAvailable, p.SharedSubAvailable} {
		if b != nil {
			n += 2
		}
	}
	for _, s := range [...]struct {
		id byte
		s  string
	}{
		{propContentType, p.ContentType}, {propResponseTopic, p.ResponseTopic},
		{propAuthMethod, p.AuthMethod}, {propAssignedClientID, p.AssignedClientID},
		{propResponseInfo, p.ResponseInfo}, {propServerReference, p.ServerReference},
		{propReasonString, p.ReasonString},
	} {
		if err := str(s.id, s.s); err != nil {
			return 0, err
		}
	}
	if p.ResponseTopic != "" {
		if err := checkTopicName(p.ResponseTopic); err != "" {
			return 0, protocolError(t, "Response Topic %s", err) // MQTT-3.3.2-14
		}
	}
	if err := bin(propCorrelationData, p.CorrelationData); err != nil {
		return 0, err
	}
	if err := bin(propAuthData, p.AuthData); err != nil {
		return 0, err
	}
	for _, u := range p.UserProperties {
		if e := checkUTF8(u.Key); e != "" {
			return 0, malformed(t, "User Property name %s", e)
		}
		if e := checkUTF8(u.Value); e != "" {
			return 0, malformed(t, "User Property value %s", e)
		}
		n += 5 + len(u.Key) + len(u.Value)
	}
	if n > MaxRemainingLength {
		return 0, tooLarge(t, n, MaxRemainingLength)
	}
	return n, nil
}

// appendProps appends the property length n (from check) and the properties.
// Properties are written in identifier order.
func (p *Properties) append(b []byte, n int) []byte {
	b = appendVarint(b, n)
	if p == nil || n == 0 {
		return b
	}
	if p.PayloadFormat != 0 {
		b = append(b, propPayloadFormat, p.PayloadFormat)
	}
	if p.MessageExpiry != nil {
		b = appendUint32(append(b, propMessageExpiry), *p.MessageExpiry)
	}
	if p.ContentType != "" {
		b = appendString(append(b, propContentType), p.ContentType)
	}
	if p.ResponseTopic != "" {
		b = appendString(append(b, propResponseTopic), p.ResponseTopic)
	}
	if p.CorrelationData != nil {
		b = appendBinary(append(b, propCorrelationData), p.CorrelationData)
	}
	for _, id := range p.SubscriptionIDs {
		b = appendVarint(append(b, propSubscriptionID), id)
	}
	if p.SessionExpiry != nil {
		b = appendUint32(append(b, propSessionExpiry), *p.SessionExpiry)
	}
	if p.AssignedClientID != "" {
		b = appendString(append(b, propAssignedClientID), p.AssignedClientID)
	}
	if p.ServerKeepAlive != nil {
		b = appendUint16(append(b, propServerKeepAlive), *p.ServerKeepAlive)
	}
	if p.AuthMethod != "" {
		b = appendString(append(b, propAuthMethod), p.AuthMethod)
	}
	if p.AuthData != nil {
		b = appendBinary(append(b, propAuthData), p.AuthData)
	}
	if p.RequestProblemInfo != nil {
		b = append(b, propRequestProblemInfo, boolByte(*p.RequestProblemInfo))
	}
	if p.WillDelay != 0 {
		b = appendUint32(append(b, propWillDelay), p.WillDelay)
	}
	if p.RequestResponseInfo {
		b = append(b, propRequestResponseInfo, 1)
	}
	if p.ResponseInfo != "" {
		b = appendString(append(b, propResponseInfo), p.ResponseInfo)
	}
	if p.ServerReference != "" {
		b = appendString(append(b, propServerReference), p.ServerReference)
	}
	if p.ReasonString != "" {
		b = appendString(append(b, propReasonString), p.ReasonString)
	}
	if p.ReceiveMaximum != 0 {
		b = appendUint16(append(b, propReceiveMaximum), p.ReceiveMaximum)
	}
	if p.TopicAliasMaximum != 0 {
		b = appendUint16(append(b, propTopicAliasMaximum), p.TopicAliasMaximum)
	}
	if p.TopicAlias != 0 {
		b = appendUint16(append(b, propTopicAlias), p.TopicAlias)
	}
	if p.MaximumQoS != nil {
		b = append(b, propMaximumQoS, *p.MaximumQoS)
	}
	if p.RetainAvailable != nil {
		b = append(b, propRetainAvailable, boolByte(*p.RetainAvailable))
	}
	for _, u := range p.UserProperties {
		b = appendString(append(b, propUserProperty), u.Key)
		b = appendString(b, u.Value)
	}
	if p.MaximumPacketSize != 0 {
		b = appendUint32(append(b, propMaximumPacketSize), p.MaximumPacketSize)
	}
	if p.WildcardSubAvailable != nil {
		b = append(b, propWildcardSubAvailable, boolByte(*p.WildcardSubAvailable))
	}
	if p.SubIDAvailable != nil {
		b = append(b, propSubIDAvailable, boolByte(*p.SubIDAvailable))
	}
	if p.SharedSubAvailable != nil {
		b = append(b, propSharedSubAvailable, boolByte(*p.SharedSubAvailable))
	}
	return b
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// properties decodes a property block for a packet that may carry allowed.
// It returns nil when the block is empty or carries only zero values.
func (d *decoder) properties(allowed propSet, what string) *Properties {
	n := d.varint("property length")
	if !d.need(n, "properties") {
		return nil
	}
	if n == 0 {
		return nil
	}
	pd := decoder{b: d.b[:n], t: d.t}
	d.b = d.b[n:]
	p := new(Properties)
	var seen propSet
	for len(pd.b) > 0 && pd.err == nil {
		id := pd.varint("property identifier")
		if pd.err != nil {
			break
		}
		if id >= 64 || propNames[byte(id)] == "" {
			pd.fail("unknown property identifier 0x%X", id)
			break
		}
		pid := byte(id)
		if !allowed.has(pid) {
			pd.fail("%s may not carry the %s property", what, propName(pid))
			break
		}
		repeatable := pid == propUserProperty || (pid == propSubscriptionID && d.t == PUBLISH)
		if seen.has(pid) && !repeatable {
			pd.protocol("the %s property appears more than once", propName(pid))
			break
		}
		seen |= 1 << pid
		name := propName(pid)
		switch pid {
		case propPayloadFormat:
			p.PayloadFormat = pd.byte(name)
			if p.PayloadFormat > 1 {
				pd.protocol("Payload Format Indicator is %d, must be 0 or 1", p.PayloadFormat)
			}
		case propMessageExpiry:
			p.MessageExpiry = new(pd.uint32(name))
		case propContentType:
			p.ContentType = pd.string(name)
		case propResponseTopic:
			p.ResponseTopic = pd.string(name)
			if e := checkTopicName(p.ResponseTopic); pd.err == nil && e != "" {
				pd.protocol("Response Topic %s", e)
			}
		case propCorrelationData:
			p.CorrelationData = pd.bytes(name)
		case propSubscriptionID:
			v := pd.varint(name)
			if v == 0 && pd.err == nil {
				pd.protocol("Subscription Identifier is 0")
			}
			p.SubscriptionIDs = append(p.SubscriptionIDs, v)
		case propSessionExpiry:
			p.SessionExpiry = new(pd.uint32(name))
		case propAssignedClientID:
			p.AssignedClientID = pd.string(name)
		case propServerKeepAlive:
			p.ServerKeepAlive = new(pd.uint16(name))
		case propAuthMethod:
			p.AuthMethod = pd.string(name)
		case propAuthData:
			p.AuthData = pd.bytes(name)
		case propRequestProblemInfo:
			p.RequestProblemInfo = new(pd.bool(name))
		case propWillDelay:
			p.WillDelay = pd.uint32(name)
		case propRequestResponseInfo:
			p.RequestResponseInfo = pd.bool(name)
		case propResponseInfo:
			p.ResponseInfo = pd.string(name)
		case propServerReference:
			p.ServerReference = pd.string(name)
		case propReasonString:
			p.ReasonString = pd.string(name)
		case propReceiveMaximum:
			p.ReceiveMaximum = pd.uint16(name)
			if p.ReceiveMaximum == 0 && pd.err == nil {
				pd.protocol("Receive Maximum is 0")
			}
		case propTopicAliasMaximum:
			p.TopicAliasMaximum = pd.uint16(name)
		case propTopicAlias:
			p.TopicAlias = pd.uint16(name)
			if p.TopicAlias == 0 && pd.err == nil {
				pd.protocol("Topic Alias is 0") // MQTT-3.3.2-8
			}
		case propMaximumQoS:
			q := pd.byte(name)
			if q > 1 {
				pd.protocol("Maximum QoS is %d, must be 0 or 1", q)
			}
			p.MaximumQoS = &q
		case propRetainAvailable:
			p.RetainAvailable = new(pd.bool(name))
		case propUserProperty:
			k := pd.string("User Property name")
			v := pd.string("User Property value")
			p.UserProperties = append(p.UserProperties, UserProperty{k, v})
		case propMaximumPacketSize:
			p.MaximumPacketSize = pd.uint32(name)
			if p.MaximumPacketSize == 0 && pd.err == nil {
				pd.protocol("Maximum Packet Size is 0")
			}
		case propWildcardSubAvailable:
			p.WildcardSubAvailable = new(pd.bool(name))
		case propSubIDAvailable:
			p.SubIDAvailable = new(pd.bool(name))
		case propSharedSubAvailable:
			p.SharedSubAvailable = new(pd.bool(name))
		}
	}
	if pd.err != nil {
		d.err = pd.err
		return nil
	}
	if p.present() == 0 {
		return nil
	}
	return p
}

// bool reads a byte that must be 0 or 1.
func (d *decoder) bool(what string) bool {
	v := d.byte(what)
	if v > 1 {
		d.protocol("%s is %d, must be 0 or 1", what, v)
	}
	return v == 1
}

// Clone returns a deep copy of p; nil stays nil.
func (p *Properties) Clone() *Properties {
	if p == nil {
		return nil
	}
	c := *p
	clonePtr := func(v *uint32) *uint32 {
		if v == nil {
			return nil
		}
		return new(*v)
	}
	cloneBool := func(v *bool) *bool {
		if v == nil {
			return nil
		}
		return new(*v)
	}
	c.MessageExpiry = clonePtr(p.MessageExpiry)
	c.SessionExpiry = clonePtr(p.SessionExpiry)
	if p.ServerKeepAlive != nil {
		c.ServerKeepAlive = new(*p.ServerKeepAlive)
	}
	if p.MaximumQoS != nil {
		c.MaximumQoS = new(*p.MaximumQoS)
	}
	c.RequestProblemInfo = cloneBool(p.RequestProblemInfo)
	c.RetainAvailable = cloneBool(p.RetainAvailable)
	c.WildcardSubAvailable = cloneBool(p.WildcardSubAvailable)
	c.SubIDAvailable = cloneBool(p.SubIDAvailable)
	c.SharedSubAvailable = cloneBool(p.SharedSubAvailable)
	c.CorrelationData = slices.Clone(p.CorrelationData)
	c.AuthData = slices.Clone(p.AuthData)
	c.SubscriptionIDs = slices.Clone(p.SubscriptionIDs)
	c.UserProperties = slices.Clone(p.UserProperties)
	return &c
}
