package wire

import (
	"errors"
	"fmt"
)

// Sentinel errors, one for each class of *Error. Test with errors.Is.
var (
	// ErrMalformed matches every *Error with code MalformedPacket.
	ErrMalformed = errors.New("malformed MQTT packet")
	// ErrProtocol matches every *Error with code ProtocolError,
	// TopicNameInvalid or TopicFilterInvalid.
	ErrProtocol = errors.New("MQTT protocol error")
	// ErrPacketTooLarge matches every *Error with code PacketTooLarge.
	ErrPacketTooLarge = errors.New("MQTT packet too large")
)

// Error is a packet that could not be encoded or decoded. Code is the MQTT 5.0
// reason code that a peer would send for it: MalformedPacket, ProtocolError,
// PacketTooLarge, or TopicNameInvalid and TopicFilterInvalid for a topic that
// breaks the rules of section 4.7. A decoded CONNECT that a server must refuse
// with a CONNACK has the code of that CONNACK: UnsupportedProtocolVersion for
// an unknown protocol name or level, ClientIdentifierNotValid for a client
// identifier the version does not allow.
type Error struct {
	Code   ReasonCode
	Packet Type   // the packet type involved, 0 when not yet known
	Reason string // what is wrong, in words
}

// Error reads like "malformed PUBLISH packet: topic contains U+0000".
func (e *Error) Error() string {
	what := "packet"
	if e.Packet != 0 {
		what = e.Packet.String() + " packet"
	}
	switch e.Code {
	case MalformedPacket:
		return "malformed " + what + ": " + e.Reason
	case PacketTooLarge:
		return what + " too large: " + e.Reason
	case TopicNameInvalid, TopicFilterInvalid:
		return e.Reason
	}
	return "protocol error in " + what + ": " + e.Reason
}

// Is makes errors.Is(err, ErrMalformed) and its siblings match by code.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrMalformed:
		return e.Code == MalformedPacket
	case ErrProtocol:
		return e.Code == ProtocolError || e.Code == TopicNameInvalid || e.Code == TopicFilterInvalid
	case ErrPacketTooLarge:
		return e.Code == PacketTooLarge
	}
	return false
}

func malformed(t Type, format string, args ...any) error {
	return &Error{Code: MalformedPacket, Packet: t, Reason: fmt.Sprintf(format, args...)}
}

func protocolError(t Type, format string, args ...any) error {
	return &Error{Code: ProtocolError, Packet: t, Reason: fmt.Sprintf(format, args...)}
}

func tooLarge(t Type, size, limit int) error {
	return &Error{Code: PacketTooLarge, Packet: t,
		Reason: fmt.Sprintf("%d bytes is over the limit of %d bytes", size, limit)}
}
