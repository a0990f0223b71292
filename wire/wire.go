// Package wire encodes and decodes MQTT control packets for protocol versions 3.1,
// 3.1.1 and 5.0.
//
// wire deals in bytes only: packets are appended to a []byte and decoded from a
// []byte or read from an io.Reader. It has no network connections, locks or
// goroutines; concurrency and protocol policy belong to the caller.
//
// # Encoding
//
// Every packet type has an Append method that validates the packet for the given
// protocol version and appends its encoding to a buffer. Nothing malformed is ever
// written: a packet that breaks a rule of the specification is refused with an
// *Error and the buffer is returned unchanged. Appending into a reused buffer with
// enough capacity does not allocate.
//
// # Decoding
//
// Decode turns a fixed header and its body into a Packet; Reader reads packets from
// an io.Reader. A decoded packet owns all of its memory: topics and strings are new
// strings, and payloads and binary properties are copied out of the input, so the
// input buffer may be reused at once. Decoding rejects everything the specification
// calls a Malformed Packet or a Protocol Error with an *Error that says what was
// wrong and carries the matching MQTT 5.0 reason code.
package wire

import (
	"encoding/binary"
	"strings"
	"unicode/utf8"
)

// Version is an MQTT protocol level as carried in CONNECT.
type Version byte

// The protocol versions wire speaks.
const (
	V31  Version = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 Version = 4 // MQTT 3.1.1
	V5   Version = 5 // MQTT 5.0
)

// String returns the version as people write it ("3.1.1").
func (v Version) String() string {
	switch v {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	}
	return "Version(" + itoa(int(v)) + ")"
}

func (v Version) valid() bool { return v == V31 || v == V311 || v == V5 }

// unknownVersion is the error of an Append for a version wire does not speak.
func unknownVersion(t Type, v Version) error {
	return protocolError(t, "unknown protocol version %d", v)
}

// Type is the control packet type in the high nibble of the first header byte.
type Type byte

// The MQTT control packet types (MQTT 5.0 section 2.1.2).
const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15
)

var typeNames = [...]string{
	CONNECT: "CONNECT", CONNACK: "CONNACK", PUBLISH: "PUBLISH", PUBACK: "PUBACK",
	PUBREC: "PUBREC", PUBREL: "PUBREL", PUBCOMP: "PUBCOMP", SUBSCRIBE: "SUBSCRIBE",
	SUBACK: "SUBACK", UNSUBSCRIBE: "UNSUBSCRIBE", UNSUBACK: "UNSUBACK",
	PINGREQ: "PINGREQ", PINGRESP: "PINGRESP", DISCONNECT: "DISCONNECT", AUTH: "AUTH",
}

// String returns the packet type's name, or "Type(N)" for an unknown value.
func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "Type(" + itoa(int(t)) + ")"
}

// Packet is an MQTT control packet.
type Packet interface {
	// Type returns the control packet type.
	Type() Type
	// Append validates the packet for protocol version v and appends its
	// encoding, fixed header included, to dst. On error dst is returned as it was.
	Append(dst []byte, v Version) ([]byte, error)
}

// Limits of the encoding.
const (
	// MaxRemainingLength is the largest Remaining Length a Variable Byte Integer
	// of four bytes can carry (MQTT 5.0 section 1.5.5).
	MaxRemainingLength = 268_435_455
	// MaxPacketSize is the size of the largest packet: five header bytes and the
	// largest body.
	MaxPacketSize = MaxRemainingLength + 5
	maxString     = 65_535
)

// FixedHeader is the first part of every packet: its type, the four flag bits and
// the length of the rest of the packet.
type FixedHeader struct {
	Type      Type
	Flags     byte // low nibble of the first byte
	Remaining int  // length of the body that follows the header
}

// Size returns the number of bytes of the whole packet, header included, with
// the Remaining Length in the fewest bytes, as Append writes it. A received
// header may use more (MQTT-1.5.5-1 binds only the sender); the length
// ParseHeader returns is the one it really took.
func (h FixedHeader) Size() int { return 1 + varintLen(h.Remaining) + h.Remaining }

// ParseHeader parses a fixed header at the start of b. It returns the header
// and its length in bytes. When b ends before the header does, it returns
// n == 0 and no error: read more and try again.
func ParseHeader(b []byte) (h FixedHeader, n int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	h.Type = Type(b[0] >> 4)
	h.Flags = b[0] & 0x0f
	rem, m, err := readVarint(b[1:])
	if err != nil {
		return h, 0, malformed(h.Type, "remaining length %v", err)
	}
	if m == 0 {
		return h, 0, nil
	}
	h.Remaining = rem
	if err := h.check(); err != nil {
		return h, 0, err
	}
	return h, 1 + m, nil
}

// check validates the type and flag bits (MQTT 5.0 section 2.1.3).
func (h FixedHeader) check() error {
	switch h.Type {
	case PUBLISH:
		if h.Flags>>1&3 == 3 {
			return malformed(PUBLISH, "QoS bits are 3")
		}
		return nil
	case PUBREL, SUBSCRIBE, UNSUBSCRIBE:
		if h.Flags != 2 {
			return malformed(h.Type, "reserved header flags are %04b, must be 0010", h.Flags)
		}
	case 0:
		return malformed(0, "packet type 0 is reserved")
	default:
		if h.Flags != 0 {
			return malformed(h.Type, "reserved header flags are %04b, must be 0000", h.Flags)
		}
	}
	return nil
}

// appendHeader appends a fixed header.
func appendHeader(b []byte, first byte, remaining int) []byte {
	b = append(b, first)
	return appendVarint(b, remaining)
}

// Variable Byte Integers (MQTT 5.0 section 1.5.5).

func varintLen(v int) int {
	switch {
	case v < 128:
		return 1
	case v < 16_384:
		return 2
	case v < 2_097_152:
		return 3
	}
	return 4
}

// appendVarint appends v in the fewest bytes (MQTT-1.5.5-1). v must be at most
// MaxRemainingLength.
func appendVarint(b []byte, v int) []byte {
	for v >= 128 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

type varintError string

func (e varintError) Error() string { return string(e) }

// readVarint reads a Variable Byte Integer. n == 0 with no error means b ended
// before the integer did.
func readVarint(b []byte) (v, n int, err error) {
	shift := 0
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, nil
		}
		c := b[i]
		v |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			// A longer form than needed is accepted: MQTT-1.5.5-1
			// binds the sender only.
			return v, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, varintError("is longer than four bytes")
}

// decoder reads the fields of one packet body. The first error sticks; later
// reads return zero values, so a decode function checks d.err once at the end.
type decoder struct {
	b   []byte
	t   Type
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = malformed(d.t, format, args...)
	}
}

func (d *decoder) protocol(format string, args ...any) {
	if d.err == nil {
		d.err = protocolError(d.t, format, args...)
	}
}

func (d *decoder) need(n int, what string) bool {
	if d.err != nil {
		return false
	}
	if len(d.b) < n {
		d.fail("packet ends inside the %s", what)
		return false
	}
	return true
}

func (d *decoder) byte(what string) byte {
	if !d.need(1, what) {
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uint16(what string) uint16 {
	if !d.need(2, what) {
		return 0
	}
	v := binary.BigEndian.Uint16(d.b)
	d.b = d.b[2:]
	return v
}

func (d *decoder) uint32(what string) uint32 {
	if !d.need(4, what) {
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decoder) varint(what string) int {
	if d.err != nil {
		return 0
	}
	v, n, err := readVarint(d.b)
	if err != nil {
		d.fail("%s %v", what, err)
		return 0
	}
	if n == 0 {
		d.fail("packet ends inside the %s", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// rawBinary reads two-byte-length-prefixed data without copying.
func (d *decoder) rawBinary(what string) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < 2 {
		// The message is built here only: a label made for every call
		// would cost an allocation per field.
		d.fail("packet ends inside the %s length", what)
		return nil
	}
	n := int(binary.BigEndian.Uint16(d.b))
	d.b = d.b[2:]
	if !d.need(n, what) {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// bytes reads binary data into a new slice (never nil when present).
func (d *decoder) bytes(what string) []byte {
	raw := d.rawBinary(what)
	if d.err != nil {
		return nil
	}
	return append(make([]byte, 0, len(raw)), raw...)
}

// string reads a UTF-8 string and checks it (MQTT-1.5.4-1, MQTT-1.5.4-2).
func (d *decoder) string(what string) string {
	raw := d.rawBinary(what)
	if d.err != nil {
		return ""
	}
	s := string(raw)
	if err := checkUTF8(s); err != "" {
		d.fail("%s %s", what, err)
		return ""
	}
	return s
}

func (d *decoder) packetID() uint16 {
	id := d.uint16("packet identifier")
	if id == 0 && d.err == nil {
		d.fail("packet identifier is 0")
	}
	return id
}

// end reports an error when bytes are left over.
func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d unexpected bytes at the end of the packet", len(d.b))
	}
	return d.err
}

// checkUTF8 returns why s is not a valid MQTT UTF-8 string, or "" when it is
// (MQTT-1.5.4-1, MQTT-1.5.4-2). Go's decoder rejects encoded surrogates as
// invalid UTF-8. U+FEFF is kept as it is (MQTT-1.5.4-3).
func checkUTF8(s string) string {
	if len(s) > maxString {
		return "is longer than 65535 bytes"
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "contains U+0000"
	}
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	return ""
}

// encoding helpers; callers have validated lengths.

func appendUint16(b []byte, v uint16) []byte { return append(b, byte(v>>8), byte(v)) }

func appendUint32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendString(b []byte, s string) []byte {
	b = appendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendBinary(b []byte, s []byte) []byte {
	b = appendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}
