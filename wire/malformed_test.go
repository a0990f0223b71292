package wire_test

import (
	"errors"
	"io"
	"testing"

	"github.com/culex-mqtt/mqtt/wire"
)

// badInput is a packet, or the start of one, that decoding must refuse.
type badInput struct {
	name string
	v    wire.Version
	raw  []byte
	code wire.ReasonCode // the code of the *wire.Error
	typ  wire.Type       // the packet type the error names
}

// badInputs returns the table of malformed packets and protocol errors.
func badInputs() []badInput {
	const (
		v31  = wire.V31
		v311 = wire.V311
		v5   = wire.V5

		malformed = wire.MalformedPacket
		protocol  = wire.ProtocolError
		badTopic  = wire.TopicNameInvalid
		badFilter = wire.TopicFilterInvalid
	)
	// v5 CONNECT with client identifier "c" and the given flags, property
	// block and payload after the client identifier.
	connect5 := func(flags string, props string, rest ...string) []byte {
		body := cat(hx("0004 4d515454", "05", flags, "0000"), hx(props), hx("0001 63"), hx(rest...))
		return cat(hx("10"), []byte{byte(len(body))}, body)
	}
	// 3.1.1 CONNECT with the given flags and payload.
	connect311 := func(flags string, payload ...string) []byte {
		body := cat(hx("0004 4d515454", "04", flags, "0000"), hx(payload...))
		return cat(hx("10"), []byte{byte(len(body))}, body)
	}
	// v5 PUBLISH QoS 0 with topic "t", the given property block and payload "p".
	publish5 := func(props string) []byte {
		body := cat(hx("0001 74"), hx(props), hx("70"))
		return cat(hx("30"), []byte{byte(len(body))}, body)
	}
	return []badInput{
		// ------------------------------------------------ fixed header
		// MQTT-2.1.3-1, v311:MQTT-2.2.2-2: reserved flag bits.
		{"PUBREL flags 0000 MQTT-3.6.1-1 MQTT-2.1.3-1", v311, hx("60", "02", "0001"), malformed, wire.PUBREL},
		{"PUBREL flags 0011 MQTT-3.6.1-1", v5, hx("63", "02", "0001"), malformed, wire.PUBREL},
		{"SUBSCRIBE flags 0000 MQTT-3.8.1-1", v311, hx("80", "06", "0001", "0001 61", "00"), malformed, wire.SUBSCRIBE},
		{"SUBSCRIBE flags 1010 MQTT-3.8.1-1", v5, hx("8a", "07", "0001", "00", "0001 61", "00"), malformed, wire.SUBSCRIBE},
		{"UNSUBSCRIBE flags 0000 MQTT-3.10.1-1", v311, hx("a0", "05", "0001", "0001 61"), malformed, wire.UNSUBSCRIBE},
		{"UNSUBSCRIBE flags 0110 MQTT-3.10.1-1", v5, hx("a6", "06", "0001", "00", "0001 61"), malformed, wire.UNSUBSCRIBE},
		{"DISCONNECT flags 0001 MQTT-3.14.1-1", v5, hx("e1", "00"), malformed, wire.DISCONNECT},
		{"DISCONNECT flags 1000 v311:MQTT-2.2.2-2", v311, hx("e8", "00"), malformed, wire.DISCONNECT},
		{"AUTH flags 0100 MQTT-3.15.1-1", v5, hx("f4", "00"), malformed, wire.AUTH},
		{"CONNECT flags 0001 MQTT-2.1.3-1", v311, hx("11", "00"), malformed, wire.CONNECT},
		{"CONNACK flags 0010 MQTT-2.1.3-1", v311, hx("22", "02", "0000"), malformed, wire.CONNACK},
		{"PUBACK flags 0010 MQTT-2.1.3-1", v311, hx("42", "02", "0001"), malformed, wire.PUBACK},
		{"PUBREC flags 0001 MQTT-2.1.3-1", v5, hx("51", "02", "0001"), malformed, wire.PUBREC},
		{"PUBCOMP flags 0010 MQTT-2.1.3-1", v31, hx("72", "02", "0001"), malformed, wire.PUBCOMP},
		{"SUBACK flags 0010 MQTT-2.1.3-1", v311, hx("92", "03", "0001", "00"), malformed, wire.SUBACK},
		{"UNSUBACK flags 1000 MQTT-2.1.3-1", v311, hx("b8", "02", "0001"), malformed, wire.UNSUBACK},
		{"PINGREQ flags 0001 MQTT-2.1.3-1", v311, hx("c1", "00"), malformed, wire.PINGREQ},
		{"PINGRESP flags 1111 MQTT-2.1.3-1", v5, hx("df", "00"), malformed, wire.PINGRESP},
		{"packet type 0", v311, hx("00", "00"), malformed, 0},
		{"remaining length of five bytes", v311, hx("30", "ff ff ff ff 7f"), malformed, wire.PUBLISH},
		{"remaining length of four bytes, continuation set", v5, hx("c0", "80 80 80 80", "00"), malformed, wire.PINGREQ},
		{"PINGREQ with a body", v311, hx("c0", "01", "00"), malformed, wire.PINGREQ},
		{"PINGRESP with a body", v5, hx("d0", "02", "0000"), malformed, wire.PINGRESP},

		// ------------------------------------------------ PUBLISH
		{"QoS 3 MQTT-3.3.1-4", v5, hx("36", "05", "0001 74", "0001"), malformed, wire.PUBLISH},
		{"QoS 3 v311:MQTT-3.3.1-4", v311, hx("36", "05", "0001 74", "0001"), malformed, wire.PUBLISH},
		{"QoS 3 v31", v31, hx("37", "05", "0001 74", "0001"), malformed, wire.PUBLISH},
		{"DUP at QoS 0 MQTT-3.3.1-2", v311, hx("38", "03", "0001 74"), malformed, wire.PUBLISH},
		{"DUP at QoS 0 v5 MQTT-3.3.1-2", v5, hx("38", "04", "0001 74", "00"), malformed, wire.PUBLISH},
		{"packet identifier 0 at QoS 1", v311, hx("32", "05", "0001 74", "0000"), malformed, wire.PUBLISH},
		{"packet identifier 0 at QoS 2", v5, hx("34", "06", "0001 74", "0000", "00"), malformed, wire.PUBLISH},
		{"packet identifier cut short", v311, hx("32", "04", "0001 74", "00"), malformed, wire.PUBLISH},
		{"topic length cut short", v311, hx("30", "01", "00"), malformed, wire.PUBLISH},
		{"topic longer than the packet", v311, hx("30", "03", "0005 61"), malformed, wire.PUBLISH},
		{"empty body", v311, hx("30", "00"), malformed, wire.PUBLISH},
		{"topic with + MQTT-3.3.2-2 MQTT-4.7.0-1", v311, hx("30", "05", "0003 612f2b"), badTopic, wire.PUBLISH},
		{"topic with # MQTT-3.3.2-2 MQTT-4.7.0-1", v5, hx("30", "04", "0001 23", "00"), badTopic, wire.PUBLISH},
		{"topic with + inside a level MQTT-3.3.2-2", v31, hx("30", "04", "0002 612b"), badTopic, wire.PUBLISH},
		{"empty topic MQTT-4.7.3-1", v311, hx("30", "02", "0000"), badTopic, wire.PUBLISH},
		{"empty topic without alias MQTT-4.7.3-1", v5, hx("30", "03", "0000", "00"), badTopic, wire.PUBLISH},
		{"topic not UTF-8 MQTT-1.5.4-1 MQTT-3.3.2-1 v311:MQTT-1.5.3-1", v311, hx("30", "03", "0001 ff"), malformed, wire.PUBLISH},
		{"topic with a cut UTF-8 sequence MQTT-1.5.4-1", v5, hx("30", "05", "0002 61c3", "00"), malformed, wire.PUBLISH},
		{"topic with overlong encoding MQTT-1.5.4-1", v311, hx("30", "04", "0002 c0af"), malformed, wire.PUBLISH},
		{"topic with surrogate U+D800 MQTT-1.5.4-1 v311:MQTT-1.5.3-1", v311, hx("30", "05", "0003 eda080"), malformed, wire.PUBLISH},
		{"topic with surrogate U+DFFF MQTT-1.5.4-1", v5, hx("30", "06", "0003 edbfbf", "00"), malformed, wire.PUBLISH},
		{"topic with U+0000 MQTT-1.5.4-2 MQTT-4.7.3-2 v311:MQTT-1.5.3-2", v311, hx("30", "05", "0003 610062"), malformed, wire.PUBLISH},
		{"topic beyond U+10FFFF MQTT-1.5.4-1", v311, hx("30", "06", "0004 f4908080"), malformed, wire.PUBLISH},
		{"property length cut short", v5, hx("30", "04", "0001 74", "80"), malformed, wire.PUBLISH},
		{"property length beyond the packet", v5, hx("30", "05", "0001 74", "05", "01"), malformed, wire.PUBLISH},
		{"property length of five bytes", v5, hx("30", "08", "0001 74", "ffffffff7f"), malformed, wire.PUBLISH},
		{"topic alias 0 MQTT-3.3.2-8", v5, publish5("03 23 0000"), protocol, wire.PUBLISH},
		{"topic alias 0 with empty topic MQTT-3.3.2-8", v5, hx("30", "06", "0000", "03", "23 0000"), protocol, wire.PUBLISH},
		{"Session Expiry Interval in PUBLISH", v5, publish5("05 11 00000001"), malformed, wire.PUBLISH},
		{"Will Delay Interval in PUBLISH", v5, publish5("05 18 00000001"), malformed, wire.PUBLISH},
		{"Reason String in PUBLISH", v5, publish5("04 1f 0001 78"), malformed, wire.PUBLISH},
		{"unknown property 0x7f", v5, publish5("02 7f 00"), malformed, wire.PUBLISH},
		{"unknown property 0x00", v5, publish5("02 00 00"), malformed, wire.PUBLISH},
		{"unknown property 0x04", v5, publish5("02 04 00"), malformed, wire.PUBLISH},
		{"property identifier 128 in two bytes", v5, publish5("03 8001 00"), malformed, wire.PUBLISH},
		{"property identifier cut short", v5, publish5("01 80"), malformed, wire.PUBLISH},
		{"Message Expiry Interval cut short", v5, publish5("03 02 0000"), malformed, wire.PUBLISH},
		{"Topic Alias cut short", v5, publish5("02 23 00"), malformed, wire.PUBLISH},
		{"Payload Format Indicator cut short", v5, publish5("01 01"), malformed, wire.PUBLISH},
		{"Content Type cut short", v5, publish5("04 03 0005 61"), malformed, wire.PUBLISH},
		{"Correlation Data cut short", v5, publish5("03 09 0005"), malformed, wire.PUBLISH},
		{"Message Expiry Interval twice", v5, publish5("0a 02 00000001 02 00000002"), protocol, wire.PUBLISH},
		{"Payload Format Indicator twice", v5, publish5("04 01 00 01 01"), protocol, wire.PUBLISH},
		{"Content Type twice", v5, publish5("08 03 0001 61 03 0001 62"), protocol, wire.PUBLISH},
		{"Topic Alias twice", v5, publish5("06 23 0001 23 0002"), protocol, wire.PUBLISH},
		{"Payload Format Indicator 2", v5, publish5("02 01 02"), protocol, wire.PUBLISH},
		{"Response Topic with wildcard MQTT-3.3.2-14", v5, publish5("06 08 0003 612f23"), protocol, wire.PUBLISH},
		{"Response Topic empty MQTT-3.3.2-14", v5, publish5("03 08 0000"), protocol, wire.PUBLISH},
		{"Response Topic not UTF-8 MQTT-3.3.2-13", v5, publish5("04 08 0001 ff"), malformed, wire.PUBLISH},
		{"Content Type not UTF-8 MQTT-3.3.2-19", v5, publish5("04 03 0001 80"), malformed, wire.PUBLISH},
		{"Content Type with U+0000 MQTT-3.3.2-19 MQTT-1.5.4-2", v5, publish5("04 03 0001 00"), malformed, wire.PUBLISH},
		{"User Property name with U+0000 MQTT-1.5.7-1", v5, publish5("07 26 0001 00 0001 76"), malformed, wire.PUBLISH},
		{"User Property value not UTF-8 MQTT-1.5.7-1", v5, publish5("07 26 0001 6b 0001 fe"), malformed, wire.PUBLISH},
		{"User Property value with surrogate MQTT-1.5.7-1", v5, publish5("09 26 0001 6b 0003 edb080"), malformed, wire.PUBLISH},
		{"User Property value missing MQTT-1.5.7-1", v5, publish5("04 26 0001 6b"), malformed, wire.PUBLISH},
		{"Subscription Identifier 0", v5, publish5("02 0b 00"), protocol, wire.PUBLISH},
		{"Subscription Identifier of five bytes", v5, publish5("06 0b ffffffff7f"), malformed, wire.PUBLISH},

		// ------------------------------------------------ CONNECT
		{"protocol name MQTT with level 3 MQTT-3.1.2-1", v311, hx("10", "0c", "0004 4d515454", "03", "02", "0000", "0000"), wire.UnsupportedProtocolVersion, wire.CONNECT},
		{"protocol name MQIsdp with level 4 MQTT-3.1.2-1", v311, hx("10", "0e", "0006 4d5149736470", "04", "02", "0000", "0000"), wire.UnsupportedProtocolVersion, wire.CONNECT},
		{"protocol name mqtt MQTT-3.1.2-1", v5, hx("10", "0d", "0004 6d717474", "05", "02", "0000", "00", "0000"), wire.UnsupportedProtocolVersion, wire.CONNECT},
		{"protocol level 6 MQTT-3.1.2-2", v5, hx("10", "0d", "0004 4d515454", "06", "02", "0000", "00", "0000"), wire.UnsupportedProtocolVersion, wire.CONNECT},
		{"protocol level 0", v311, hx("10", "0c", "0004 4d515454", "00", "02", "0000", "0000"), wire.UnsupportedProtocolVersion, wire.CONNECT},
		{"protocol name not UTF-8", v311, hx("10", "0c", "0004 4d51ff54", "04", "02", "0000", "0000"), malformed, wire.CONNECT},
		{"protocol level missing", v311, hx("10", "06", "0004 4d515454"), malformed, wire.CONNECT},
		{"keep alive cut short", v311, hx("10", "09", "0004 4d515454", "04", "02", "00"), malformed, wire.CONNECT},
		{"reserved flag bit 0 MQTT-3.1.2-3", v311, connect311("03", "0001 63"), malformed, wire.CONNECT},
		{"reserved flag bit 0 v5 MQTT-3.1.2-3", v5, connect5("03", "00"), malformed, wire.CONNECT},
		{"will QoS 3 MQTT-3.1.2-12", v311, connect311("1e", "0001 63", "0001 74", "0000"), malformed, wire.CONNECT},
		{"will QoS 3 v5 MQTT-3.1.2-12", v5, connect5("1e", "00", "00", "0001 74", "0000"), malformed, wire.CONNECT},
		{"will QoS 1 without will flag MQTT-3.1.2-11", v311, connect311("0a", "0001 63"), malformed, wire.CONNECT},
		{"will QoS 2 without will flag v5 MQTT-3.1.2-11", v5, connect5("12", "00"), malformed, wire.CONNECT},
		{"will retain without will flag MQTT-3.1.2-13", v311, connect311("22", "0001 63"), malformed, wire.CONNECT},
		{"will retain without will flag v5 MQTT-3.1.2-13", v5, connect5("22", "00"), malformed, wire.CONNECT},
		{"will flag without will fields MQTT-3.1.2-9 v311:MQTT-3.1.2-9", v311, connect311("06", "0001 63"), malformed, wire.CONNECT},
		{"will flag without will message v311:MQTT-3.1.2-9", v311, connect311("06", "0001 63", "0001 74"), malformed, wire.CONNECT},
		{"will flag without will properties MQTT-3.1.2-9", v5, connect5("06", "00"), malformed, wire.CONNECT},
		{"will fields without will flag v311:MQTT-3.1.2-11", v311, connect311("02", "0001 63", "0001 74", "0000"), malformed, wire.CONNECT},
		{"password without user name v311:MQTT-3.1.2-22", v311, connect311("42", "0001 63", "0001 70"), malformed, wire.CONNECT},
		{"password without user name in 3.1", v31, hx("10", "12", "0006 4d5149736470", "03", "42", "0000", "0001 63", "0001 70"), malformed, wire.CONNECT},
		{"user name flag without user name MQTT-3.1.2-17", v311, connect311("82", "0001 63"), malformed, wire.CONNECT},
		{"user name without user name flag MQTT-3.1.2-16", v311, connect311("02", "0001 63", "0001 75"), malformed, wire.CONNECT},
		{"password flag without password MQTT-3.1.2-19", v5, connect5("42", "00"), malformed, wire.CONNECT},
		{"password without password flag MQTT-3.1.2-18", v5, connect5("82", "00", "0001 75", "0001 70"), malformed, wire.CONNECT},
		{"client identifier missing MQTT-3.1.3-3", v311, connect311("02"), malformed, wire.CONNECT},
		{"client identifier not UTF-8 MQTT-3.1.3-4", v311, connect311("02", "0001 ff"), malformed, wire.CONNECT},
		{"client identifier with U+0000 MQTT-3.1.3-4", v311, connect311("02", "0002 6300"), malformed, wire.CONNECT},
		{"empty client identifier without clean session v311:MQTT-3.1.3-7", v311, connect311("00", "0000"), wire.ClientIdentifierNotValid, wire.CONNECT},
		{"empty client identifier in 3.1", v31, hx("10", "0e", "0006 4d5149736470", "03", "02", "0000", "0000"), wire.ClientIdentifierNotValid, wire.CONNECT},
		{"will topic not UTF-8 MQTT-3.1.3-11", v311, connect311("06", "0001 63", "0001 ff", "0000"), malformed, wire.CONNECT},
		{"will topic with wildcard MQTT-4.7.0-1", v311, connect311("06", "0001 63", "0001 23", "0000"), protocol, wire.CONNECT},
		{"will topic empty MQTT-4.7.3-1", v5, connect5("06", "00", "00", "0000", "0000"), protocol, wire.CONNECT},
		{"user name not UTF-8 MQTT-3.1.3-12", v311, connect311("82", "0001 63", "0002 c328"), malformed, wire.CONNECT},
		{"user name with U+0000 MQTT-3.1.3-12", v5, connect5("82", "00", "0001 00"), malformed, wire.CONNECT},
		{"Topic Alias in CONNECT", v5, connect5("02", "03 23 0001"), malformed, wire.CONNECT},
		{"Will Delay Interval in CONNECT properties", v5, connect5("02", "05 18 00000001"), malformed, wire.CONNECT},
		{"Session Expiry Interval in will properties", v5, connect5("06", "00", "05 11 00000001", "0001 74", "0000"), malformed, wire.CONNECT},
		{"Topic Alias in will properties", v5, connect5("06", "00", "03 23 0001", "0001 74", "0000"), malformed, wire.CONNECT},
		{"Session Expiry Interval twice", v5, connect5("02", "0a 11 00000001 11 00000002"), protocol, wire.CONNECT},
		{"Receive Maximum 0", v5, connect5("02", "03 21 0000"), protocol, wire.CONNECT},
		{"Maximum Packet Size 0", v5, connect5("02", "05 27 00000000"), protocol, wire.CONNECT},
		{"Request Problem Information 2", v5, connect5("02", "02 17 02"), protocol, wire.CONNECT},
		{"Request Response Information 2", v5, connect5("02", "02 19 02"), protocol, wire.CONNECT},
		{"Authentication Method twice", v5, connect5("02", "08 15 0001 61 15 0001 62"), protocol, wire.CONNECT},
		{"Authentication Data without Authentication Method", v5, connect5("02", "04 16 0001 01"), protocol, wire.CONNECT},
		{"Will Delay Interval twice", v5, connect5("06", "00", "0a 18 00000001 18 00000001", "0001 74", "0000"), protocol, wire.CONNECT},
		{"will Response Topic with wildcard MQTT-3.3.2-14", v5, connect5("06", "00", "04 08 0001 2b", "0001 74", "0000"), protocol, wire.CONNECT},
		{"will Content Type not UTF-8 MQTT-3.3.2-19", v5, connect5("06", "00", "04 03 0001 ff", "0001 74", "0000"), malformed, wire.CONNECT},

		// ------------------------------------------------ CONNACK
		{"v311 return code 6", v311, hx("20", "02", "00", "06"), malformed, wire.CONNACK},
		{"v31 return code 255", v31, hx("20", "02", "00", "ff"), malformed, wire.CONNACK},
		{"v311 reserved acknowledge flag MQTT-3.2.2-1", v311, hx("20", "02", "02", "00"), malformed, wire.CONNACK},
		{"v5 reserved acknowledge flag MQTT-3.2.2-1", v5, hx("20", "03", "80", "00", "00"), malformed, wire.CONNACK},
		{"v311 session present with refusal MQTT-3.2.2-6", v311, hx("20", "02", "01", "05"), protocol, wire.CONNACK},
		{"v5 session present with refusal MQTT-3.2.2-6", v5, hx("20", "03", "01", "87", "00"), protocol, wire.CONNACK},
		{"v5 session present with 3.1.1 refusal", v5, hx("20", "02", "01", "01"), protocol, wire.CONNACK},
		{"v311 three bytes", v311, hx("20", "03", "00", "00", "00"), malformed, wire.CONNACK},
		{"v311 one byte", v311, hx("20", "01", "00"), malformed, wire.CONNACK},
		{"v5 reason code 0x10 MQTT-3.2.2-8", v5, hx("20", "03", "00", "10", "00"), malformed, wire.CONNACK},
		{"v5 reason code 0x8e MQTT-3.2.2-8", v5, hx("20", "03", "00", "8e", "00"), malformed, wire.CONNACK},
		{"v5 property length missing", v5, hx("20", "02", "00", "00"), malformed, wire.CONNACK},
		{"v5 Maximum QoS 2", v5, hx("20", "05", "00", "00", "02", "24 02"), protocol, wire.CONNACK},
		{"v5 Retain Available 2", v5, hx("20", "05", "00", "00", "02", "25 02"), protocol, wire.CONNACK},
		{"v5 Wildcard Subscription Available 2", v5, hx("20", "05", "00", "00", "02", "28 02"), protocol, wire.CONNACK},
		{"v5 Maximum QoS twice", v5, hx("20", "07", "00", "00", "04", "24 00 24 01"), protocol, wire.CONNACK},
		{"v5 Topic Alias in CONNACK", v5, hx("20", "06", "00", "00", "03", "23 0001"), malformed, wire.CONNACK},
		{"v5 Assigned Client Identifier not UTF-8", v5, hx("20", "07", "00", "00", "04", "12 0001 ff"), malformed, wire.CONNACK},
		{"v5 trailing byte after properties", v5, hx("20", "04", "00", "00", "00", "00"), malformed, wire.CONNACK},

		// ------------------------------------------------ PUBACK PUBREC PUBREL PUBCOMP
		{"PUBACK packet identifier 0", v311, hx("40", "02", "0000"), malformed, wire.PUBACK},
		{"PUBREL packet identifier 0", v5, hx("62", "02", "0000"), malformed, wire.PUBREL},
		{"PUBACK cut short", v311, hx("40", "01", "00"), malformed, wire.PUBACK},
		{"PUBACK empty", v5, hx("40", "00"), malformed, wire.PUBACK},
		{"v311 PUBACK with reason code", v311, hx("40", "03", "0001", "00"), malformed, wire.PUBACK},
		{"v31 PUBCOMP with extra byte", v31, hx("70", "03", "0001", "00"), malformed, wire.PUBCOMP},
		{"PUBACK reason code 0x92 MQTT-3.4.2-1", v5, hx("40", "03", "0001", "92"), malformed, wire.PUBACK},
		{"PUBACK reason code 0x01 MQTT-3.4.2-1", v5, hx("40", "03", "0001", "01"), malformed, wire.PUBACK},
		{"PUBREC reason code 0x92 MQTT-3.5.2-1", v5, hx("50", "03", "0001", "92"), malformed, wire.PUBREC},
		{"PUBREL reason code 0x10 MQTT-3.6.2-1", v5, hx("62", "03", "0001", "10"), malformed, wire.PUBREL},
		{"PUBREL reason code 0x80 MQTT-3.6.2-1", v5, hx("62", "03", "0001", "80"), malformed, wire.PUBREL},
		{"PUBCOMP reason code 0x80 MQTT-3.7.2-1", v5, hx("70", "03", "0001", "80"), malformed, wire.PUBCOMP},
		{"PUBACK Content Type", v5, hx("40", "08", "0001", "00", "04", "03 0001 61"), malformed, wire.PUBACK},
		{"PUBREC Reason String twice", v5, hx("50", "0c", "0001", "00", "08", "1f 0001 61 1f 0001 62"), protocol, wire.PUBREC},
		{"PUBCOMP property length beyond the packet", v5, hx("70", "04", "0001", "00", "01"), malformed, wire.PUBCOMP},

		// ------------------------------------------------ SUBSCRIBE
		{"no filter MQTT-3.8.3-2", v311, hx("82", "02", "0001"), protocol, wire.SUBSCRIBE},
		{"no filter v5 MQTT-3.8.3-2", v5, hx("82", "03", "0001", "00"), protocol, wire.SUBSCRIBE},
		{"packet identifier 0", v311, hx("82", "06", "0000", "0001 61", "00"), malformed, wire.SUBSCRIBE},
		{"options byte missing", v311, hx("82", "05", "0001", "0001 61"), malformed, wire.SUBSCRIBE},
		{"filter cut short", v311, hx("82", "04", "0001", "0002"), malformed, wire.SUBSCRIBE},
		{"QoS 3 v311", v311, hx("82", "06", "0001", "0001 61", "03"), malformed, wire.SUBSCRIBE},
		{"QoS 3 v31", v31, hx("82", "06", "0001", "0001 61", "03"), malformed, wire.SUBSCRIBE},
		{"QoS 3 v5", v5, hx("82", "07", "0001", "00", "0001 61", "03"), protocol, wire.SUBSCRIBE},
		{"reserved option bit 2 v311", v311, hx("82", "06", "0001", "0001 61", "04"), malformed, wire.SUBSCRIBE},
		{"reserved option bit 7 v311", v311, hx("82", "06", "0001", "0001 61", "80"), malformed, wire.SUBSCRIBE},
		{"reserved option bit 6 MQTT-3.8.3-5", v5, hx("82", "07", "0001", "00", "0001 61", "40"), malformed, wire.SUBSCRIBE},
		{"reserved option bit 7 MQTT-3.8.3-5", v5, hx("82", "07", "0001", "00", "0001 61", "81"), malformed, wire.SUBSCRIBE},
		{"retain handling 3", v5, hx("82", "07", "0001", "00", "0001 61", "30"), protocol, wire.SUBSCRIBE},
		{"no local on shared filter MQTT-3.8.3-4", v5, hx("82", "10", "0001", "00", "000a 247368617265 2f67 2f61", "04"), protocol, wire.SUBSCRIBE},
		{"filter not UTF-8 MQTT-3.8.3-1", v311, hx("82", "06", "0001", "0001 ff", "00"), malformed, wire.SUBSCRIBE},
		{"filter with U+0000 MQTT-3.8.3-1 MQTT-4.7.3-2", v5, hx("82", "07", "0001", "00", "0001 00", "00"), malformed, wire.SUBSCRIBE},
		{"empty filter MQTT-4.7.3-1", v311, hx("82", "05", "0001", "0000", "00"), badFilter, wire.SUBSCRIBE},
		{"filter a/#/b MQTT-4.7.1-1", v311, hx("82", "0a", "0001", "0005 612f232f62", "00"), badFilter, wire.SUBSCRIBE},
		{"filter a# MQTT-4.7.1-1", v5, hx("82", "08", "0001", "00", "0002 6123", "00"), badFilter, wire.SUBSCRIBE},
		{"filter a+ MQTT-4.7.1-2", v31, hx("82", "07", "0001", "0002 612b", "00"), badFilter, wire.SUBSCRIBE},
		{"filter $share//a MQTT-4.8.2-1", v5, hx("82", "0f", "0001", "00", "0009 2473686172652f2f61", "00"), badFilter, wire.SUBSCRIBE},
		{"filter $share/g MQTT-4.8.2-2", v5, hx("82", "0e", "0001", "00", "0008 2473686172652f67", "00"), badFilter, wire.SUBSCRIBE},
		{"filter $share/g+/a MQTT-4.8.2-2", v5, hx("82", "11", "0001", "00", "000b 2473686172652f672b2f61", "00"), badFilter, wire.SUBSCRIBE},
		{"second filter bad", v311, hx("82", "0b", "0001", "0001 61", "00", "0002 2361", "00"), badFilter, wire.SUBSCRIBE},
		{"Subscription Identifier twice", v5, hx("82", "0b", "0001", "04", "0b 01 0b 02", "0001 61", "00"), protocol, wire.SUBSCRIBE},
		{"Subscription Identifier 0", v5, hx("82", "09", "0001", "02", "0b 00", "0001 61", "00"), protocol, wire.SUBSCRIBE},
		{"Reason String in SUBSCRIBE", v5, hx("82", "0b", "0001", "04", "1f 0001 61", "0001 61", "00"), malformed, wire.SUBSCRIBE},

		// ------------------------------------------------ SUBACK
		{"v311 SUBACK reason code 0x87", v311, hx("90", "03", "0001", "87"), malformed, wire.SUBACK},
		{"v311 SUBACK reason code 0x03", v311, hx("90", "03", "0001", "03"), malformed, wire.SUBACK},
		{"v5 SUBACK reason code 0x10", v5, hx("90", "04", "0001", "00", "10"), malformed, wire.SUBACK},
		{"v311 SUBACK without reason code", v311, hx("90", "02", "0001"), protocol, wire.SUBACK},
		{"v5 SUBACK without reason code", v5, hx("90", "03", "0001", "00"), protocol, wire.SUBACK},
		{"v311 SUBACK packet identifier 0", v311, hx("90", "03", "0000", "00"), malformed, wire.SUBACK},
		{"v5 SUBACK Topic Alias", v5, hx("90", "07", "0001", "03", "23 0001", "00"), malformed, wire.SUBACK},

		// ------------------------------------------------ UNSUBSCRIBE
		{"no filter MQTT-3.10.3-2", v311, hx("a2", "02", "0001"), protocol, wire.UNSUBSCRIBE},
		{"no filter v5 MQTT-3.10.3-2", v5, hx("a2", "03", "0001", "00"), protocol, wire.UNSUBSCRIBE},
		{"packet identifier 0", v311, hx("a2", "05", "0000", "0001 61"), malformed, wire.UNSUBSCRIBE},
		{"filter not UTF-8 MQTT-3.10.3-1", v311, hx("a2", "05", "0001", "0001 c0"), malformed, wire.UNSUBSCRIBE},
		{"filter with surrogate MQTT-3.10.3-1", v5, hx("a2", "08", "0001", "00", "0003 eda0bf"), malformed, wire.UNSUBSCRIBE},
		{"filter cut short", v311, hx("a2", "05", "0001", "0003 61"), malformed, wire.UNSUBSCRIBE},
		{"filter # in the middle MQTT-4.7.1-1", v311, hx("a2", "07", "0001", "0003 232f61"), badFilter, wire.UNSUBSCRIBE},
		{"Subscription Identifier in UNSUBSCRIBE", v5, hx("a2", "08", "0001", "02", "0b 01", "0001 61"), malformed, wire.UNSUBSCRIBE},

		// ------------------------------------------------ UNSUBACK
		{"v311 UNSUBACK with reason code", v311, hx("b0", "03", "0001", "00"), malformed, wire.UNSUBACK},
		{"v311 UNSUBACK packet identifier 0", v311, hx("b0", "02", "0000"), malformed, wire.UNSUBACK},
		{"v5 UNSUBACK without reason code", v5, hx("b0", "03", "0001", "00"), protocol, wire.UNSUBACK},
		{"v5 UNSUBACK reason code 0x01", v5, hx("b0", "04", "0001", "00", "01"), malformed, wire.UNSUBACK},
		{"v5 UNSUBACK reason code 0x97", v5, hx("b0", "04", "0001", "00", "97"), malformed, wire.UNSUBACK},

		// ------------------------------------------------ DISCONNECT
		{"v311 DISCONNECT with a body", v311, hx("e0", "01", "00"), malformed, wire.DISCONNECT},
		{"v31 DISCONNECT with a body", v31, hx("e0", "02", "00", "00"), malformed, wire.DISCONNECT},
		{"v5 DISCONNECT reason code 0x01 MQTT-3.14.2-1", v5, hx("e0", "01", "01"), malformed, wire.DISCONNECT},
		{"v5 DISCONNECT reason code 0x84 MQTT-3.14.2-1", v5, hx("e0", "02", "84", "00"), malformed, wire.DISCONNECT},
		{"v5 DISCONNECT Content Type", v5, hx("e0", "06", "00", "04", "03 0001 61"), malformed, wire.DISCONNECT},
		{"v5 DISCONNECT Session Expiry Interval twice", v5, hx("e0", "0c", "00", "0a", "11 00000001 11 00000001"), protocol, wire.DISCONNECT},
		{"v5 DISCONNECT trailing byte", v5, hx("e0", "03", "00", "00", "00"), malformed, wire.DISCONNECT},

		// ------------------------------------------------ AUTH
		{"v311 AUTH", v311, hx("f0", "00"), protocol, wire.AUTH},
		{"v31 AUTH", v31, hx("f0", "00"), protocol, wire.AUTH},
		{"v5 AUTH reason code 0x01 MQTT-3.15.2-1", v5, hx("f0", "01", "01"), malformed, wire.AUTH},
		{"v5 AUTH reason code 0x87 MQTT-3.15.2-1", v5, hx("f0", "02", "87", "00"), malformed, wire.AUTH},
		{"v5 AUTH Session Expiry Interval", v5, hx("f0", "07", "18", "05", "11 00000001"), malformed, wire.AUTH},
		{"v5 AUTH Authentication Method twice", v5, hx("f0", "0a", "18", "08", "15 0001 61 15 0001 61"), protocol, wire.AUTH},
		{"v5 AUTH Authentication Method not UTF-8", v5, hx("f0", "06", "18", "04", "15 0001 ff"), malformed, wire.AUTH},
	}
}

// TestDecodeBad checks that every bad input is refused by Parse and by
// Reader.ReadPacket with an *Error of the right code and class, and that no
// packet comes back with the error.
func TestDecodeBad(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, tt := range badInputs() {
		name := tt.v.String() + "/" + tt.typ.String() + "/" + tt.name
		if seen[name] {
			t.Fatalf("two cases named %q", name)
		}
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := decodeAll(t, tt.raw, tt.v)
			checkError(t, err, tt.code, tt.typ)
		})
	}
}

// TestDecodeDirect calls Decode and Publish.Decode with headers that
// ParseHeader would never return.
func TestDecodeDirect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h    wire.FixedHeader
		body []byte
		v    wire.Version
		code wire.ReasonCode
	}{
		{"bad flags MQTT-2.1.3-1", wire.FixedHeader{Type: wire.PUBREL, Flags: 0, Remaining: 2}, hx("0001"), wire.V311, wire.MalformedPacket},
		{"body longer than the header says", wire.FixedHeader{Type: wire.PUBACK, Remaining: 2}, hx("0001 00"), wire.V311, wire.MalformedPacket},
		{"body shorter than the header says", wire.FixedHeader{Type: wire.PUBACK, Remaining: 3}, hx("0001"), wire.V5, wire.MalformedPacket},
		{"unknown version", wire.FixedHeader{Type: wire.PUBACK, Remaining: 2}, hx("0001"), 6, wire.ProtocolError},
		{"unknown type", wire.FixedHeader{Type: 16}, nil, wire.V5, wire.MalformedPacket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := wire.Decode(tt.h, tt.body, tt.v)
			if p != nil {
				t.Errorf("got packet %#v with the error", p)
			}
			checkError(t, err, tt.code, tt.h.Type)
		})
	}

	// A CONNECT names its own version: v does not matter.
	raw := goldenCases()[0].raw
	h, n, _ := wire.ParseHeader(raw)
	if p, err := wire.Decode(h, raw[n:], 0); err != nil || p.(*wire.Connect).Version != wire.V31 {
		t.Errorf("CONNECT with version 0: %v, %v", p, err)
	}

	// Publish.Decode checks the flags it is given (MQTT-3.3.1-4) and
	// overwrites the packet.
	p := &wire.Publish{Topic: "old", Payload: []byte("old")}
	checkError(t, p.Decode(0x06, hx("0001 74 0001"), wire.V311), wire.MalformedPacket, wire.PUBLISH)
	if err := p.Decode(0x01, hx("0001 74"), wire.V311); err != nil {
		t.Fatal(err)
	}
	if diff := cmpDiff(&wire.Publish{Retain: true, Topic: "t", Payload: []byte{}}, p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// errors.Is matches only the three sentinels.
	if errors.Is(&wire.Error{Code: wire.MalformedPacket}, io.EOF) {
		t.Error("errors.Is(*Error, io.EOF) = true")
	}
}

// TestZeroProperties: properties present with the value that means absent
// decode to nil properties, which is what Append writes back.
func TestZeroProperties(t *testing.T) {
	t.Parallel()
	raw := hx(
		"30",      // PUBLISH QoS 0
		"06",      // remaining length 6
		"0001 74", // topic "t"
		"02",      // property length 2
		"01 00",   // Payload Format Indicator 0: unspecified bytes, the default
	)
	p, err := decodeAll(t, raw, wire.V5)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmpDiff(&wire.Publish{Topic: "t", Payload: []byte{}}, p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
