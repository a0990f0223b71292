package wire

// Reason codes of MQTT 5.0 section 2.4.

// ReasonCode is an MQTT 5.0 reason code (section 2.4). Codes below 0x80 report
// success; 0x80 and above report failure. MQTT 3.x CONNACK return codes and
// SUBACK return codes are mapped onto the same values when decoded.
type ReasonCode byte

// The MQTT 5.0 reason codes.
const (
	Success                             ReasonCode = 0x00
	NormalDisconnection                 ReasonCode = 0x00 // DISCONNECT's name for 0x00
	GrantedQoS0                         ReasonCode = 0x00 // SUBACK's name for 0x00
	GrantedQoS1                         ReasonCode = 0x01
	GrantedQoS2                         ReasonCode = 0x02
	DisconnectWithWill                  ReasonCode = 0x04
	NoMatchingSubscribers               ReasonCode = 0x10
	NoSubscriptionExisted               ReasonCode = 0x11
	ContinueAuthentication              ReasonCode = 0x18
	ReAuthenticate                      ReasonCode = 0x19
	UnspecifiedError                    ReasonCode = 0x80
	MalformedPacket                     ReasonCode = 0x81
	ProtocolError                       ReasonCode = 0x82
	ImplementationSpecificError         ReasonCode = 0x83
	UnsupportedProtocolVersion          ReasonCode = 0x84
	ClientIdentifierNotValid            ReasonCode = 0x85
	BadUsernameOrPassword               ReasonCode = 0x86
	NotAuthorized                       ReasonCode = 0x87
	ServerUnavailable                   ReasonCode = 0x88
	ServerBusy                          ReasonCode = 0x89
	Banned                              ReasonCode = 0x8A
	ServerShuttingDown                  ReasonCode = 0x8B
	BadAuthenticationMethod             ReasonCode = 0x8C
	KeepAliveTimeout                    ReasonCode = 0x8D
	SessionTakenOver                    ReasonCode = 0x8E
	TopicFilterInvalid                  ReasonCode = 0x8F
	TopicNameInvalid                    ReasonCode = 0x90
	PacketIdentifierInUse               ReasonCode = 0x91
	PacketIdentifierNotFound            ReasonCode = 0x92
	ReceiveMaximumExceeded              ReasonCode = 0x93
	TopicAliasInvalid                   ReasonCode = 0x94
	PacketTooLarge                      ReasonCode = 0x95
	MessageRateTooHigh                  ReasonCode = 0x96
	QuotaExceeded                       ReasonCode = 0x97
	AdministrativeAction                ReasonCode = 0x98
	PayloadFormatInvalid                ReasonCode = 0x99
	RetainNotSupported                  ReasonCode = 0x9A
	QoSNotSupported                     ReasonCode = 0x9B
	UseAnotherServer                    ReasonCode = 0x9C
	ServerMoved                         ReasonCode = 0x9D
	SharedSubscriptionsNotSupported     ReasonCode = 0x9E
	ConnectionRateExceeded              ReasonCode = 0x9F
	MaximumConnectTime                  ReasonCode = 0xA0
	SubscriptionIdentifiersNotSupported ReasonCode = 0xA1
	WildcardSubscriptionsNotSupported   ReasonCode = 0xA2
)

var reasonNames = map[ReasonCode]string{
	Success:                             "success",
	GrantedQoS1:                         "granted QoS 1",
	GrantedQoS2:                         "granted QoS 2",
	DisconnectWithWill:                  "disconnect with will message",
	NoMatchingSubscribers:               "no matching subscribers",
	NoSubscriptionExisted:               "no subscription existed",
	ContinueAuthentication:              "continue authentication",
	ReAuthenticate:                      "re-authenticate",
	UnspecifiedError:                    "unspecified error",
	MalformedPacket:                     "malformed packet",
	ProtocolError:                       "protocol error",
	ImplementationSpecificError:         "implementation specific error",
	UnsupportedProtocolVersion:          "unsupported protocol version",
	ClientIdentifierNotValid:            "client identifier not valid",
	BadUsernameOrPassword:               "bad user name or password",
	NotAuthorized:                       "not authorized",
	ServerUnavailable:                   "server unavailable",
	ServerBusy:                          "server busy",
	Banned:                              "banned",
	ServerShuttingDown:                  "server shutting down",
	BadAuthenticationMethod:             "bad authentication method",
	KeepAliveTimeout:                    "keep alive timeout",
	SessionTakenOver:                    "session taken over",
	TopicFilterInvalid:                  "topic filter invalid",
	TopicNameInvalid:                    "topic name invalid",
	PacketIdentifierInUse:               "packet identifier in use",
	PacketIdentifierNotFound:            "packet identifier not found",
	ReceiveMaximumExceeded:              "receive maximum exceeded",
	TopicAliasInvalid:                   "topic alias invalid",
	PacketTooLarge:                      "packet too large",
	MessageRateTooHigh:                  "message rate too high",
	QuotaExceeded:                       "quota exceeded",
	AdministrativeAction:                "administrative action",
	PayloadFormatInvalid:                "payload format invalid",
	RetainNotSupported:                  "retain not supported",
	QoSNotSupported:                     "QoS not supported",
	UseAnotherServer:                    "use another server",
	ServerMoved:                         "server moved",
	SharedSubscriptionsNotSupported:     "shared subscriptions not supported",
	ConnectionRateExceeded:              "connection rate exceeded",
	MaximumConnectTime:                  "maximum connect time",
	SubscriptionIdentifiersNotSupported: "subscription identifiers not supported",
	WildcardSubscriptionsNotSupported:   "wildcard subscriptions not supported",
}

// String returns the code's name in words, such as "not authorized", or
// "reason code 0xNN" for a code the specification does not define.
func (c ReasonCode) String() string {
	if s, ok := reasonNames[c]; ok {
		return s
	}
	return "reason code 0x" + hex2(byte(c))
}

// IsError reports whether c reports a failure (0x80 or above).
func (c ReasonCode) IsError() bool { return c >= 0x80 }

func hex2(b byte) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[b>>4], digits[b&15]})
}

// reasonSet is a set of reason codes allowed in one packet type.
type reasonSet [4]uint64

func (s *reasonSet) has(c ReasonCode) bool { return s[c>>6]&(1<<(c&63)) != 0 }

func newReasonSet(codes ...ReasonCode) (s reasonSet) {
	for _, c := range codes {
		s[c>>6] |= 1 << (c & 63)
	}
	return s
}

// The reason codes each packet type may carry (MQTT 5.0 sections 3.2.2.2,
// 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1, 3.15.2.1).
var (
	connackReasons = newReasonSet(Success, UnspecifiedError, MalformedPacket, ProtocolError,
		ImplementationSpecificError, UnsupportedProtocolVersion, ClientIdentifierNotValid,
		BadUsernameOrPassword, NotAuthorized, ServerUnavailable, ServerBusy, Banned,
		BadAuthenticationMethod, TopicNameInvalid, PacketTooLarge, QuotaExceeded,
		PayloadFormatInvalid, RetainNotSupported, QoSNotSupported, UseAnotherServer,
		ServerMoved, ConnectionRateExceeded)
	pubackReasons = newReasonSet(Success, NoMatchingSubscribers, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicNameInvalid, PacketIdentifierInUse,
		QuotaExceeded, PayloadFormatInvalid)
	pubrelReasons = newReasonSet(Success, PacketIdentifierNotFound)
	subackReasons = newReasonSet(GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse,
		QuotaExceeded, SharedSubscriptionsNotSupported, SubscriptionIdentifiersNotSupported,
		WildcardSubscriptionsNotSupported)
	unsubackReasons = newReasonSet(Success, NoSubscriptionExisted, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse)
	disconnectReasons = newReasonSet(NormalDisconnection, DisconnectWithWill, UnspecifiedError,
		MalformedPacket, ProtocolError, ImplementationSpecificError, NotAuthorized, ServerBusy,
		ServerShuttingDown, KeepAliveTimeout, SessionTakenOver, TopicFilterInvalid,
		TopicNameInvalid, ReceiveMaximumExceeded, TopicAliasInvalid, PacketTooLarge,
		MessageRateTooHigh, QuotaExceeded, AdministrativeAction, PayloadFormatInvalid,
		RetainNotSupported, QoSNotSupported, UseAnotherServer, ServerMoved,
		SharedSubscriptionsNotSupported, ConnectionRateExceeded, MaximumConnectTime,
		SubscriptionIdentifiersNotSupported, WildcardSubscriptionsNotSupported)
	authReasons = newReasonSet(Success, ContinueAuthentication, ReAuthenticate)
	// MQTT 3.1.1 SUBACK return codes (section 3.9.3).
	subackReasonsV3 = newReasonSet(GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError)
)

// MQTT 3.x CONNACK return codes (3.1.1 section 3.2.2.3) and their MQTT 5.0
// equivalents.
var connackV3 = [...]ReasonCode{
	0: Success,
	1: UnsupportedProtocolVersion,
	2: ClientIdentifierNotValid,
	3: ServerUnavailable,
	4: BadUsernameOrPassword,
	5: NotAuthorized,
}

// v3ReturnCode maps a reason code onto a 3.x CONNACK return code.
func v3ReturnCode(c ReasonCode) (byte, bool) {
	for i, r := range connackV3 {
		if r == c {
			return byte(i), true
		}
	}
	return 0, false
}
