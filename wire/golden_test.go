package wire_test

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt/wire"
)

// golden is one packet and its encoding for one protocol version, written by
// hand from the specification, one field per line.
type golden struct {
	name string
	v    wire.Version
	pkt  wire.Packet // what Append is given and what decoding must return
	raw  []byte

	// in, when set, is what Append is given instead of pkt: a packet whose
	// encoding decodes to something equal but not identical (nil instead of
	// empty properties, a field the version cannot carry).
	in wire.Packet
	// decodeOnly marks a form that wire accepts but never writes, such as a
	// reason code that could have been left out.
	decodeOnly bool
}

// goldenCases returns the golden table. Conformance IDs are cited where a
// case fails when the behaviour named by the ID breaks.
func goldenCases() []golden {
	const (
		v31  = wire.V31
		v311 = wire.V311
		v5   = wire.V5
	)
	return []golden{
		// ---------------------------------------------------------------- CONNECT
		{
			name: "v31 clean session",
			v:    v31,
			pkt:  &wire.Connect{Version: v31, CleanStart: true, KeepAlive: 60, ClientID: "c1"},
			raw: hx(
				"10",                // CONNECT, flags 0000
				"10",                // remaining length 16
				"0006 4d5149736470", // protocol name "MQIsdp"
				"03",                // protocol level 3
				"02",                // connect flags: clean session
				"003c",              // keep alive 60 s
				"0002 6331",         // client identifier "c1"
			),
		},
		{
			name: "v31 will, user name and password",
			v:    v31,
			pkt: &wire.Connect{
				Version: v31, KeepAlive: 10, ClientID: "cli",
				Will:     &wire.Will{Topic: "w/t", Payload: []byte("bye"), QoS: 1, Retain: true},
				Username: "u", UsernameFlag: true, Password: []byte("p"), PasswordFlag: true,
			},
			raw: hx(
				"10",                // CONNECT
				"21",                // remaining length 33
				"0006 4d5149736470", // "MQIsdp"
				"03",                // level 3
				"ec",                // flags: user name 80, password 40, will retain 20, will QoS 1 08, will 04
				"000a",              // keep alive 10 s
				"0003 636c69",       // client identifier "cli"
				"0003 772f74",       // will topic "w/t"
				"0003 627965",       // will message "bye"
				"0001 75",           // user name "u"
				"0001 70",           // password "p"
			),
		},
		{
			// MQTT-3.1.2-1, MQTT-3.1.3-3, v311:MQTT-3.1.3-7: an empty
			// client identifier is written, with clean session set.
			name: "v311 empty client identifier MQTT-3.1.3-3",
			v:    v311,
			pkt:  &wire.Connect{Version: v311, CleanStart: true},
			raw: hx(
				"10",            // CONNECT
				"0c",            // remaining length 12
				"0004 4d515454", // protocol name "MQTT"
				"04",            // protocol level 4
				"02",            // flags: clean session
				"0000",          // keep alive 0 (off)
				"0000",          // client identifier "" (present, empty)
			),
		},
		{
			// v311:MQTT-3.1.2-9, MQTT-3.1.2-17, MQTT-3.1.2-18,
			// v311:MQTT-3.1.3-1: will topic and message follow the
			// client identifier, then the user name; no password.
			name: "v311 will QoS 2 and user name",
			v:    v311,
			pkt: &wire.Connect{
				Version: v311, KeepAlive: 65535, ClientID: "id",
				Will:     &wire.Will{Topic: "a", Payload: []byte{}, QoS: 2},
				Username: "user", UsernameFlag: true,
			},
			raw: hx(
				"10",            // CONNECT
				"19",            // remaining length 25
				"0004 4d515454", // "MQTT"
				"04",            // level 4
				"94",            // flags: user name 80, will QoS 2 10, will 04
				"ffff",          // keep alive 65535 s
				"0002 6964",     // client identifier "id"
				"0001 61",       // will topic "a"
				"0000",          // will message, empty
				"0004 75736572", // user name "user"
			),
		},
		{
			// MQTT-3.1.2-19, MQTT-3.1.3-12: binary password after the
			// user name.
			name: "v311 user name and binary password",
			v:    v311,
			pkt: &wire.Connect{
				Version: v311, CleanStart: true, KeepAlive: 30, ClientID: "x",
				Username: "u1", UsernameFlag: true, Password: []byte{0x00, 0xff}, PasswordFlag: true,
			},
			raw: hx(
				"10",            // CONNECT
				"15",            // remaining length 21
				"0004 4d515454", // "MQTT"
				"04",            // level 4
				"c2",            // flags: user name 80, password 40, clean session 02
				"001e",          // keep alive 30 s
				"0001 78",       // client identifier "x"
				"0002 7531",     // user name "u1"
				"0002 00ff",     // password 00 ff
			),
		},
		{
			name: "v311 will QoS 1 retained",
			v:    v311,
			pkt: &wire.Connect{
				Version: v311, CleanStart: true, KeepAlive: 5, ClientID: "c",
				Will: &wire.Will{Topic: "t/1", Payload: []byte("m"), QoS: 1, Retain: true},
			},
			raw: hx(
				"10",            // CONNECT
				"15",            // remaining length 21
				"0004 4d515454", // "MQTT"
				"04",            // level 4
				"2e",            // flags: will retain 20, will QoS 1 08, will 04, clean session 02
				"0005",          // keep alive 5 s
				"0001 63",       // client identifier "c"
				"0003 742f31",   // will topic "t/1"
				"0001 6d",       // will message "m"
			),
		},
		{
			// The flags alone decide what is sent: an empty user name and
			// an empty password are still written.
			name: "v311 empty user name and password",
			v:    v311,
			pkt: &wire.Connect{
				Version: v311, CleanStart: true, ClientID: "c",
				UsernameFlag: true, Password: []byte{}, PasswordFlag: true,
			},
			raw: hx(
				"10",            // CONNECT
				"11",            // remaining length 17
				"0004 4d515454", // "MQTT"
				"04",            // level 4
				"c2",            // flags: user name, password, clean session
				"0000",          // keep alive 0
				"0001 63",       // client identifier "c"
				"0000",          // user name ""
				"0000",          // password, empty
			),
		},
		{
			// MQTT-2.2.2-1: no properties, still a property length of 0.
			name: "v5 no properties MQTT-2.2.2-1",
			v:    v5,
			pkt:  &wire.Connect{Version: v5, CleanStart: true, KeepAlive: 60, ClientID: "c"},
			raw: hx(
				"10",            // CONNECT
				"0e",            // remaining length 14
				"0004 4d515454", // "MQTT"
				"05",            // level 5
				"02",            // flags: clean start
				"003c",          // keep alive 60 s
				"00",            // property length 0
				"0001 63",       // client identifier "c"
			),
		},
		{
			// MQTT-3.1.2-9, MQTT-3.1.3-1: will properties, will topic and
			// will payload follow the client identifier, then user name
			// and password. Properties of every data type: byte,
			// two-byte and four-byte integer, UTF-8 string, string pair,
			// binary data.
			name: "v5 will, user name, password and every property MQTT-3.1.2-9 MQTT-3.1.3-1",
			v:    v5,
			pkt: &wire.Connect{
				Version: v5, CleanStart: true, KeepAlive: 60, ClientID: "cid",
				Will: &wire.Will{
					Topic: "w", Payload: []byte("x"), QoS: 1,
					Properties: &wire.Properties{
						PayloadFormat:   1,
						MessageExpiry:   new(uint32(60)),
						ContentType:     "json",
						ResponseTopic:   "r",
						CorrelationData: []byte{0xab, 0xcd},
						WillDelay:       5,
						UserProperties:  []wire.UserProperty{{Key: "a", Value: "b"}},
					},
				},
				Username: "u", UsernameFlag: true, Password: []byte("p"), PasswordFlag: true,
				Properties: &wire.Properties{
					SessionExpiry:       new(uint32(3600)),
					AuthMethod:          "m1",
					AuthData:            []byte{1, 2},
					RequestProblemInfo:  new(false),
					RequestResponseInfo: true,
					ReceiveMaximum:      20,
					TopicAliasMaximum:   10,
					UserProperties:      []wire.UserProperty{{Key: "k", Value: "v"}},
					MaximumPacketSize:   1 << 20,
				},
			},
			raw: hx(
				"10",                 // CONNECT
				"65",                 // remaining length 101
				"0004 4d515454",      // "MQTT"
				"05",                 // level 5
				"ce",                 // flags: user name 80, password 40, will QoS 1 08, will 04, clean start 02
				"003c",               // keep alive 60 s
				"25",                 // property length 37
				"11 00000e10",        // Session Expiry Interval 3600 (four-byte integer)
				"15 0002 6d31",       // Authentication Method "m1" (UTF-8 string)
				"16 0002 0102",       // Authentication Data 01 02 (binary data)
				"17 00",              // Request Problem Information 0 (byte)
				"19 01",              // Request Response Information 1 (byte)
				"21 0014",            // Receive Maximum 20 (two-byte integer)
				"22 000a",            // Topic Alias Maximum 10
				"26 0001 6b 0001 76", // User Property "k" = "v" (string pair)
				"27 00100000",        // Maximum Packet Size 1048576
				"0003 636964",        // client identifier "cid"
				"23",                 // will property length 35
				"01 01",              // Payload Format Indicator 1
				"02 0000003c",        // Message Expiry Interval 60
				"03 0004 6a736f6e",   // Content Type "json"
				"08 0001 72",         // Response Topic "r"
				"09 0002 abcd",       // Correlation Data ab cd
				"18 00000005",        // Will Delay Interval 5
				"26 0001 61 0001 62", // User Property "a" = "b"
				"0001 77",            // will topic "w"
				"0001 78",            // will payload "x"
				"0001 75",            // user name "u"
				"0001 70",            // password "p"
			),
		},
		{
			// MQTT-3.1.2-19: 5.0 allows a password without a user name.
			name: "v5 password without user name MQTT-3.1.2-19",
			v:    v5,
			pkt:  &wire.Connect{Version: v5, CleanStart: true, ClientID: "c", Password: []byte("pw"), PasswordFlag: true},
			raw: hx(
				"10",            // CONNECT
				"12",            // remaining length 18
				"0004 4d515454", // "MQTT"
				"05",            // level 5
				"42",            // flags: password 40, clean start 02
				"0000",          // keep alive 0
				"00",            // property length 0
				"0001 63",       // client identifier "c"
				"0002 7077",     // password "pw"
			),
		},

		// ---------------------------------------------------------------- CONNACK
		// MQTT 3.x return codes 0 to 5 and their 5.0 reason codes.
		{name: "v31 return code 0 accepted", v: v31, pkt: &wire.Connack{ReasonCode: wire.Success},
			raw: hx("20", "02", "00" /* reserved */, "00" /* return code 0 */)},
		{name: "v31 return code 1 unacceptable protocol version", v: v31, pkt: &wire.Connack{ReasonCode: wire.UnsupportedProtocolVersion},
			raw: hx("20", "02", "00", "01")},
		{name: "v31 return code 2 identifier rejected", v: v31, pkt: &wire.Connack{ReasonCode: wire.ClientIdentifierNotValid},
			raw: hx("20", "02", "00", "02")},
		{name: "v31 return code 3 server unavailable", v: v31, pkt: &wire.Connack{ReasonCode: wire.ServerUnavailable},
			raw: hx("20", "02", "00", "03")},
		{name: "v31 return code 4 bad user name or password", v: v31, pkt: &wire.Connack{ReasonCode: wire.BadUsernameOrPassword},
			raw: hx("20", "02", "00", "04")},
		{name: "v31 return code 5 not authorized", v: v31, pkt: &wire.Connack{ReasonCode: wire.NotAuthorized},
			raw: hx("20", "02", "00", "05")},
		{
			// 3.1 has no Session Present flag: the byte is reserved,
			// written as 0 and ignored when read.
			name: "v31 no session present",
			v:    v31,
			in:   &wire.Connack{SessionPresent: true},
			pkt:  &wire.Connack{},
			raw:  hx("20", "02", "00" /* reserved, not session present */, "00"),
		},
		{name: "v31 reserved byte ignored", v: v31, pkt: &wire.Connack{}, decodeOnly: true,
			raw: hx("20", "02", "01" /* reserved, ignored */, "00")},
		{name: "v311 return code 0 accepted", v: v311, pkt: &wire.Connack{ReasonCode: wire.Success},
			raw: hx("20", "02", "00" /* acknowledge flags */, "00" /* return code */)},
		{name: "v311 return code 0 session present", v: v311, pkt: &wire.Connack{SessionPresent: true},
			raw: hx("20", "02", "01" /* session present */, "00")},
		{name: "v311 return code 1 unacceptable protocol version", v: v311, pkt: &wire.Connack{ReasonCode: wire.UnsupportedProtocolVersion},
			raw: hx("20", "02", "00", "01")},
		{name: "v311 return code 2 identifier rejected", v: v311, pkt: &wire.Connack{ReasonCode: wire.ClientIdentifierNotValid},
			raw: hx("20", "02", "00", "02")},
		{name: "v311 return code 3 server unavailable", v: v311, pkt: &wire.Connack{ReasonCode: wire.ServerUnavailable},
			raw: hx("20", "02", "00", "03")},
		{name: "v311 return code 4 bad user name or password", v: v311, pkt: &wire.Connack{ReasonCode: wire.BadUsernameOrPassword},
			raw: hx("20", "02", "00", "04")},
		{name: "v311 return code 5 not authorized", v: v311, pkt: &wire.Connack{ReasonCode: wire.NotAuthorized},
			raw: hx("20", "02", "00", "05")},
		{name: "v5 success", v: v5, pkt: &wire.Connack{},
			raw: hx("20", "03", "00" /* flags */, "00" /* reason code */, "00" /* property length */)},
		{name: "v5 session present", v: v5, pkt: &wire.Connack{SessionPresent: true},
			raw: hx("20", "03", "01" /* session present */, "00", "00")},
		{name: "v5 not authorized", v: v5, pkt: &wire.Connack{ReasonCode: wire.NotAuthorized},
			raw: hx("20", "03", "00", "87" /* not authorized */, "00")},
		{
			// v311:MQTT-3.1.2-2, MQTT-3.1.2-2: a 3.1.1 server refuses
			// level 5 in its own dialect; the client sees 0x84.
			name:       "v5 refusal by a 3.1.1 server v311:MQTT-3.1.2-2",
			v:          v5,
			pkt:        &wire.Connack{ReasonCode: wire.UnsupportedProtocolVersion},
			raw:        hx("20", "02", "00", "01" /* 3.1.1 return code 1 */),
			decodeOnly: true,
		},
		{
			name: "v5 every property",
			v:    v5,
			pkt: &wire.Connack{Properties: &wire.Properties{
				SessionExpiry:        new(uint32(120)),
				AssignedClientID:     "abc",
				ServerKeepAlive:      new(uint16(30)),
				AuthMethod:           "m",
				AuthData:             []byte{0xff},
				ResponseInfo:         "ri",
				ServerReference:      "s2",
				ReasonString:         "ok",
				ReceiveMaximum:       10,
				TopicAliasMaximum:    5,
				MaximumQoS:           new(byte(1)),
				RetainAvailable:      new(false),
				UserProperties:       []wire.UserProperty{{Key: "k", Value: "v"}},
				MaximumPacketSize:    65535,
				WildcardSubAvailable: new(false),
				SubIDAvailable:       new(true),
				SharedSubAvailable:   new(false),
			}},
			raw: hx(
				"20",                 // CONNACK
				"44",                 // remaining length 68
				"00",                 // acknowledge flags
				"00",                 // reason code success
				"41",                 // property length 65
				"11 00000078",        // Session Expiry Interval 120
				"12 0003 616263",     // Assigned Client Identifier "abc"
				"13 001e",            // Server Keep Alive 30
				"15 0001 6d",         // Authentication Method "m"
				"16 0001 ff",         // Authentication Data ff
				"1a 0002 7269",       // Response Information "ri"
				"1c 0002 7332",       // Server Reference "s2"
				"1f 0002 6f6b",       // Reason String "ok"
				"21 000a",            // Receive Maximum 10
				"22 0005",            // Topic Alias Maximum 5
				"24 01",              // Maximum QoS 1
				"25 00",              // Retain Available 0
				"26 0001 6b 0001 76", // User Property "k" = "v"
				"27 0000ffff",        // Maximum Packet Size 65535
				"28 00",              // Wildcard Subscription Available 0
				"29 01",              // Subscription Identifiers Available 1
				"2a 00",              // Shared Subscription Available 0
			),
		},

		// ---------------------------------------------------------------- PUBLISH
		{
			// MQTT-2.2.1-2: no packet identifier at QoS 0;
			// MQTT-3.3.2-1: the topic is the first field.
			name: "v311 QoS 0 MQTT-2.2.1-2 MQTT-3.3.2-1",
			v:    v311,
			pkt:  &wire.Publish{Topic: "a/b", Payload: []byte("hi")},
			raw: hx(
				"30",          // PUBLISH, DUP 0, QoS 0, RETAIN 0
				"07",          // remaining length 7
				"0003 612f62", // topic "a/b"
				"6869",        // payload "hi"
			),
		},
		{
			name: "v311 QoS 1 DUP RETAIN",
			v:    v311,
			pkt:  &wire.Publish{Dup: true, QoS: 1, Retain: true, Topic: "t", PacketID: 10, Payload: []byte("x")},
			raw: hx(
				"3b",      // PUBLISH, DUP 08, QoS 1 02, RETAIN 01
				"06",      // remaining length 6
				"0001 74", // topic "t"
				"000a",    // packet identifier 10
				"78",      // payload "x"
			),
		},
		{
			name: "v311 QoS 2 empty payload",
			v:    v311,
			pkt:  &wire.Publish{QoS: 2, Topic: "t", PacketID: 0x1234, Payload: []byte{}},
			raw: hx(
				"34",      // PUBLISH, QoS 2 04
				"05",      // remaining length 5
				"0001 74", // topic "t"
				"1234",    // packet identifier 0x1234
			),
		},
		{
			// MQTT-1.5.4-3: U+FEFF is kept, not stripped.
			name: "v311 topic starting with U+FEFF MQTT-1.5.4-3",
			v:    v311,
			pkt:  &wire.Publish{Topic: "\uFEFFa", Payload: []byte{}},
			raw: hx(
				"30",            // PUBLISH QoS 0
				"06",            // remaining length 6
				"0004 efbbbf61", // topic U+FEFF "a"
			),
		},
		{
			name: "v311 multi-byte UTF-8 topic",
			v:    v311,
			pkt:  &wire.Publish{Topic: "é/€/𝄞", Payload: []byte{0}},
			raw: hx(
				"30",                              // PUBLISH QoS 0
				"0e",                              // remaining length 14
				"000b c3a9 2f e282ac 2f f09d849e", // topic "é/€/𝄞": 2 + 1 + 3 + 1 + 4 bytes
				"00",                              // payload 00
			),
		},
		{
			name: "v31 QoS 1",
			v:    v31,
			pkt:  &wire.Publish{QoS: 1, Topic: "t", PacketID: 1, Payload: []byte("x")},
			raw: hx(
				"32",      // PUBLISH QoS 1
				"06",      // remaining length 6
				"0001 74", // topic "t"
				"0001",    // packet identifier 1
				"78",      // payload "x"
			),
		},
		{
			name: "v31 QoS 0 retained",
			v:    v31,
			pkt:  &wire.Publish{Retain: true, Topic: "t", Payload: []byte{}},
			raw: hx(
				"31",      // PUBLISH QoS 0, RETAIN
				"03",      // remaining length 3
				"0001 74", // topic "t"
			),
		},
		{
			name: "v5 QoS 0 MQTT-2.2.2-1",
			v:    v5,
			pkt:  &wire.Publish{Topic: "t", Payload: []byte("p")},
			raw: hx(
				"30",      // PUBLISH QoS 0
				"05",      // remaining length 5
				"0001 74", // topic "t"
				"00",      // property length 0
				"70",      // payload "p"
			),
		},
		{
			name: "v5 QoS 2 DUP",
			v:    v5,
			pkt:  &wire.Publish{Dup: true, QoS: 2, Topic: "t", PacketID: 0xffff, Payload: []byte{0x00, 0xff}},
			raw: hx(
				"3c",      // PUBLISH, DUP 08, QoS 2 04
				"08",      // remaining length 8
				"0001 74", // topic "t"
				"ffff",    // packet identifier 65535
				"00",      // property length 0
				"00ff",    // payload 00 ff
			),
		},
		{
			// MQTT-3.3.2-13, MQTT-3.3.2-19: Response Topic and Content
			// Type are UTF-8 strings. Subscription Identifier is a
			// Variable Byte Integer, here of one and four bytes; user
			// properties keep their order and may repeat a name.
			name: "v5 QoS 1 every property MQTT-3.3.2-13 MQTT-3.3.2-19",
			v:    v5,
			pkt: &wire.Publish{QoS: 1, Topic: "a", PacketID: 5, Payload: []byte("hello"),
				Properties: &wire.Properties{
					PayloadFormat:   1,
					MessageExpiry:   new(uint32(300)),
					ContentType:     "text",
					ResponseTopic:   "r/1",
					CorrelationData: []byte{1, 2, 3},
					SubscriptionIDs: []int{1, wire.MaxRemainingLength},
					TopicAlias:      7,
					UserProperties:  []wire.UserProperty{{Key: "k", Value: "1"}, {Key: "k", Value: "2"}},
				}},
			raw: hx(
				"32",                 // PUBLISH QoS 1
				"3d",                 // remaining length 61
				"0001 61",            // topic "a"
				"0005",               // packet identifier 5
				"32",                 // property length 50
				"01 01",              // Payload Format Indicator 1 (UTF-8)
				"02 0000012c",        // Message Expiry Interval 300
				"03 0004 74657874",   // Content Type "text"
				"08 0003 722f31",     // Response Topic "r/1"
				"09 0003 010203",     // Correlation Data 01 02 03
				"0b 01",              // Subscription Identifier 1
				"0b ffffff7f",        // Subscription Identifier 268435455
				"23 0007",            // Topic Alias 7
				"26 0001 6b 0001 31", // User Property "k" = "1"
				"26 0001 6b 0001 32", // User Property "k" = "2"
				"68656c6c6f",         // payload "hello"
			),
		},
		{
			name: "v5 topic alias with empty topic",
			v:    v5,
			pkt:  &wire.Publish{Payload: []byte("x"), Properties: &wire.Properties{TopicAlias: 1}},
			raw: hx(
				"30",      // PUBLISH QoS 0
				"07",      // remaining length 7
				"0000",    // topic "" (the alias stands for it)
				"03",      // property length 3
				"23 0001", // Topic Alias 1
				"78",      // payload "x"
			),
		},

		// ------------------------------------------- PUBACK PUBREC PUBREL PUBCOMP
		{name: "v31 PUBACK", v: v31, pkt: &wire.Puback{PacketID: 1},
			raw: hx("40" /* PUBACK */, "02", "0001" /* packet identifier */)},
		{name: "v31 PUBREC", v: v31, pkt: &wire.Pubrec{PacketID: 2},
			raw: hx("50" /* PUBREC */, "02", "0002")},
		{name: "v31 PUBREL MQTT-3.6.1-1", v: v31, pkt: &wire.Pubrel{PacketID: 3},
			raw: hx("62" /* PUBREL, flags 0010 */, "02", "0003")},
		{name: "v31 PUBCOMP", v: v31, pkt: &wire.Pubcomp{PacketID: 4},
			raw: hx("70" /* PUBCOMP */, "02", "0004")},
		{name: "v311 PUBACK", v: v311, pkt: &wire.Puback{PacketID: 0xffff},
			raw: hx("40", "02", "ffff" /* packet identifier 65535 */)},
		{name: "v311 PUBREC", v: v311, pkt: &wire.Pubrec{PacketID: 0x0102},
			raw: hx("50", "02", "0102")},
		{name: "v311 PUBREL MQTT-3.6.1-1", v: v311, pkt: &wire.Pubrel{PacketID: 0x0203},
			raw: hx("62" /* flags 0010 */, "02", "0203")},
		{name: "v311 PUBCOMP", v: v311, pkt: &wire.Pubcomp{PacketID: 0x0304},
			raw: hx("70", "02", "0304")},
		{name: "v5 PUBACK success short form", v: v5, pkt: &wire.Puback{PacketID: 7},
			raw: hx("40", "02" /* reason code and properties left out */, "0007")},
		{name: "v5 PUBACK empty properties short form", v: v5, in: &wire.Puback{PacketID: 7, Properties: &wire.Properties{}},
			pkt: &wire.Puback{PacketID: 7}, raw: hx("40", "02", "0007")},
		{name: "v5 PUBACK success with reason code", v: v5, pkt: &wire.Puback{PacketID: 7}, decodeOnly: true,
			raw: hx("40", "03", "0007", "00" /* success, properties left out */)},
		{name: "v5 PUBACK success with empty properties", v: v5, pkt: &wire.Puback{PacketID: 7}, decodeOnly: true,
			raw: hx("40", "04", "0007", "00" /* success */, "00" /* property length 0 */)},
		{name: "v5 PUBACK no matching subscribers MQTT-3.4.2-1", v: v5, pkt: &wire.Puback{PacketID: 7, ReasonCode: wire.NoMatchingSubscribers},
			raw: hx("40", "03", "0007", "10" /* no matching subscribers */)},
		{
			name: "v5 PUBACK with properties",
			v:    v5,
			pkt: &wire.Puback{PacketID: 7, ReasonCode: wire.UnspecifiedError, Properties: &wire.Properties{
				ReasonString: "no", UserProperties: []wire.UserProperty{{Key: "a", Value: "b"}}}},
			raw: hx(
				"40",                 // PUBACK
				"10",                 // remaining length 16
				"0007",               // packet identifier 7
				"80",                 // reason code unspecified error
				"0c",                 // property length 12
				"1f 0002 6e6f",       // Reason String "no"
				"26 0001 61 0001 62", // User Property "a" = "b"
			),
		},
		{name: "v5 PUBREC packet identifier in use MQTT-3.5.2-1", v: v5, pkt: &wire.Pubrec{PacketID: 8, ReasonCode: wire.PacketIdentifierInUse},
			raw: hx("50", "03", "0008", "91" /* packet identifier in use */)},
		{name: "v5 PUBREL packet identifier not found MQTT-3.6.2-1", v: v5, pkt: &wire.Pubrel{PacketID: 9, ReasonCode: wire.PacketIdentifierNotFound},
			raw: hx("62" /* flags 0010 */, "03", "0009", "92" /* packet identifier not found */)},
		{name: "v5 PUBREL short form MQTT-3.6.1-1", v: v5, pkt: &wire.Pubrel{PacketID: 9},
			raw: hx("62", "02", "0009")},
		{name: "v5 PUBCOMP packet identifier not found MQTT-3.7.2-1", v: v5, pkt: &wire.Pubcomp{PacketID: 10, ReasonCode: wire.PacketIdentifierNotFound},
			raw: hx("70", "03", "000a", "92")},
		{
			name: "v5 PUBCOMP success with reason string",
			v:    v5,
			pkt:  &wire.Pubcomp{PacketID: 11, Properties: &wire.Properties{ReasonString: "r"}},
			raw: hx(
				"70",         // PUBCOMP
				"08",         // remaining length 8
				"000b",       // packet identifier 11
				"00",         // reason code success, written because properties follow
				"04",         // property length 4
				"1f 0001 72", // Reason String "r"
			),
		},

		// ---------------------------------------------------------------- SUBSCRIBE
		{
			// MQTT-3.8.1-1: flags 0010.
			name: "v311 two filters MQTT-3.8.1-1",
			v:    v311,
			pkt:  &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "a/+", QoS: 1}, {Topic: "#"}}},
			raw: hx(
				"82",          // SUBSCRIBE, flags 0010
				"0c",          // remaining length 12
				"0001",        // packet identifier 1
				"0003 612f2b", // filter "a/+"
				"01",          // QoS 1
				"0001 23",     // filter "#"
				"00",          // QoS 0
			),
		},
		{
			name: "v31 one filter MQTT-3.8.1-1",
			v:    v31,
			pkt:  &wire.Subscribe{PacketID: 2, Filters: []wire.Filter{{Topic: "a/b", QoS: 2}}},
			raw: hx(
				"82",          // SUBSCRIBE, flags 0010
				"08",          // remaining length 8
				"0002",        // packet identifier 2
				"0003 612f62", // filter "a/b"
				"02",          // QoS 2
			),
		},
		{
			name: "v5 options, shared filter and two-byte subscription identifier",
			v:    v5,
			pkt: &wire.Subscribe{
				PacketID:   0x0102,
				Properties: &wire.Properties{SubscriptionIDs: []int{128}, UserProperties: []wire.UserProperty{{Key: "k", Value: "v"}}},
				Filters: []wire.Filter{
					{Topic: "a/#", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
					{Topic: "$share/g/b", QoS: 1, RetainHandling: 1},
				},
			},
			raw: hx(
				"82",                          // SUBSCRIBE, flags 0010
				"20",                          // remaining length 32
				"0102",                        // packet identifier 258
				"0a",                          // property length 10
				"0b 8001",                     // Subscription Identifier 128 (two bytes)
				"26 0001 6b 0001 76",          // User Property "k" = "v"
				"0003 612f23",                 // filter "a/#"
				"2e",                          // retain handling 2 (20), retain as published 08, no local 04, QoS 2
				"000a 247368617265 2f67 2f62", // filter "$share/g/b"
				"11",                          // retain handling 1 (10), QoS 1
			),
		},
		{
			name: "v5 three-byte subscription identifier",
			v:    v5,
			pkt: &wire.Subscribe{PacketID: 3, Properties: &wire.Properties{SubscriptionIDs: []int{16384}},
				Filters: []wire.Filter{{Topic: "x"}}},
			raw: hx(
				"82",        // SUBSCRIBE
				"0b",        // remaining length 11
				"0003",      // packet identifier 3
				"04",        // property length 4
				"0b 808001", // Subscription Identifier 16384 (three bytes)
				"0001 78",   // filter "x"
				"00",        // options: QoS 0
			),
		},

		// ---------------------------------------------------------------- SUBACK
		{name: "v311 SUBACK", v: v311,
			pkt: &wire.Suback{PacketID: 1, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS0, wire.GrantedQoS1, wire.GrantedQoS2, wire.UnspecifiedError}},
			raw: hx(
				"90",          // SUBACK
				"06",          // remaining length 6
				"0001",        // packet identifier 1
				"00 01 02 80", // granted QoS 0, 1, 2, failure
			)},
		{name: "v31 SUBACK", v: v31,
			pkt: &wire.Suback{PacketID: 2, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1, wire.GrantedQoS2}},
			raw: hx("90", "04", "0002", "01 02" /* granted QoS 1, 2 */)},
		{name: "v5 SUBACK no properties", v: v5,
			pkt: &wire.Suback{PacketID: 4, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS0}},
			raw: hx("90", "04", "0004", "00" /* property length */, "00" /* granted QoS 0 */)},
		{
			name: "v5 SUBACK every reason code",
			v:    v5,
			pkt: &wire.Suback{PacketID: 3, Properties: &wire.Properties{ReasonString: "r"},
				ReasonCodes: []wire.ReasonCode{wire.GrantedQoS0, wire.GrantedQoS1, wire.GrantedQoS2,
					wire.UnspecifiedError, wire.ImplementationSpecificError, wire.NotAuthorized,
					wire.TopicFilterInvalid, wire.PacketIdentifierInUse, wire.QuotaExceeded,
					wire.SharedSubscriptionsNotSupported, wire.SubscriptionIdentifiersNotSupported,
					wire.WildcardSubscriptionsNotSupported}},
			raw: hx(
				"90",                                  // SUBACK
				"13",                                  // remaining length 19
				"0003",                                // packet identifier 3
				"04",                                  // property length 4
				"1f 0001 72",                          // Reason String "r"
				"00 01 02 80 83 87 8f 91 97 9e a1 a2", // the twelve subscribe reason codes
			),
		},

		// ---------------------------------------------------------------- UNSUBSCRIBE
		{
			name: "v311 UNSUBSCRIBE MQTT-3.10.1-1",
			v:    v311,
			pkt:  &wire.Unsubscribe{PacketID: 4, Topics: []string{"a/b", "#"}},
			raw: hx(
				"a2",          // UNSUBSCRIBE, flags 0010
				"0a",          // remaining length 10
				"0004",        // packet identifier 4
				"0003 612f62", // filter "a/b"
				"0001 23",     // filter "#"
			),
		},
		{name: "v31 UNSUBSCRIBE MQTT-3.10.1-1", v: v31, pkt: &wire.Unsubscribe{PacketID: 5, Topics: []string{"x"}},
			raw: hx("a2", "05", "0005", "0001 78" /* filter "x" */)},
		{
			name: "v5 UNSUBSCRIBE",
			v:    v5,
			pkt: &wire.Unsubscribe{PacketID: 6, Properties: &wire.Properties{UserProperties: []wire.UserProperty{{Key: "k", Value: "v"}}},
				Topics: []string{"a", "$share/g/#"}},
			raw: hx(
				"a2",                          // UNSUBSCRIBE, flags 0010
				"19",                          // remaining length 25
				"0006",                        // packet identifier 6
				"07",                          // property length 7
				"26 0001 6b 0001 76",          // User Property "k" = "v"
				"0001 61",                     // filter "a"
				"000a 247368617265 2f67 2f23", // filter "$share/g/#"
			),
		},

		// ---------------------------------------------------------------- UNSUBACK
		{name: "v31 UNSUBACK", v: v31, pkt: &wire.Unsuback{PacketID: 7}, raw: hx("b0", "02", "0007")},
		{name: "v311 UNSUBACK", v: v311, pkt: &wire.Unsuback{PacketID: 7}, raw: hx("b0", "02", "0007")},
		{
			name: "v5 UNSUBACK every reason code",
			v:    v5,
			pkt: &wire.Unsuback{PacketID: 8, ReasonCodes: []wire.ReasonCode{wire.Success, wire.NoSubscriptionExisted,
				wire.UnspecifiedError, wire.ImplementationSpecificError, wire.NotAuthorized,
				wire.TopicFilterInvalid, wire.PacketIdentifierInUse}},
			raw: hx(
				"b0",                   // UNSUBACK
				"0a",                   // remaining length 10
				"0008",                 // packet identifier 8
				"00",                   // property length 0
				"00 11 80 83 87 8f 91", // the seven unsubscribe reason codes
			),
		},
		{
			name: "v5 UNSUBACK reason string",
			v:    v5,
			pkt: &wire.Unsuback{PacketID: 9, Properties: &wire.Properties{ReasonString: "x"},
				ReasonCodes: []wire.ReasonCode{wire.NoSubscriptionExisted}},
			raw: hx(
				"b0",         // UNSUBACK
				"08",         // remaining length 8
				"0009",       // packet identifier 9
				"04",         // property length 4
				"1f 0001 78", // Reason String "x"
				"11",         // no subscription existed
			),
		},

		// ---------------------------------------------------------------- PINGREQ PINGRESP
		{name: "v31 PINGREQ", v: v31, pkt: &wire.Pingreq{}, raw: hx("c0", "00")},
		{name: "v311 PINGREQ", v: v311, pkt: &wire.Pingreq{}, raw: hx("c0", "00")},
		{name: "v5 PINGREQ", v: v5, pkt: &wire.Pingreq{}, raw: hx("c0", "00")},
		{name: "v31 PINGRESP", v: v31, pkt: &wire.Pingresp{}, raw: hx("d0", "00")},
		{name: "v311 PINGRESP", v: v311, pkt: &wire.Pingresp{}, raw: hx("d0", "00")},
		{name: "v5 PINGRESP", v: v5, pkt: &wire.Pingresp{}, raw: hx("d0", "00")},

		// ---------------------------------------------------------------- DISCONNECT
		{name: "v31 DISCONNECT MQTT-3.14.1-1", v: v31, pkt: &wire.Disconnect{}, raw: hx("e0" /* flags 0000 */, "00")},
		{name: "v311 DISCONNECT MQTT-3.14.1-1", v: v311, pkt: &wire.Disconnect{}, raw: hx("e0", "00")},
		{name: "v5 DISCONNECT normal short form MQTT-3.14.1-1", v: v5, pkt: &wire.Disconnect{},
			raw: hx("e0", "00" /* reason code and properties left out */)},
		{name: "v5 DISCONNECT normal with reason code", v: v5, pkt: &wire.Disconnect{}, decodeOnly: true,
			raw: hx("e0", "01", "00" /* normal disconnection */)},
		{name: "v5 DISCONNECT normal with empty properties", v: v5, pkt: &wire.Disconnect{}, decodeOnly: true,
			raw: hx("e0", "02", "00", "00" /* property length 0 */)},
		{name: "v5 DISCONNECT with will MQTT-3.14.2-1", v: v5, pkt: &wire.Disconnect{ReasonCode: wire.DisconnectWithWill},
			raw: hx("e0", "02", "04" /* disconnect with will message */, "00" /* property length 0 */)},
		{name: "v5 DISCONNECT with will, no property length", v: v5, pkt: &wire.Disconnect{ReasonCode: wire.DisconnectWithWill},
			decodeOnly: true, raw: hx("e0", "01", "04" /* disconnect with will message */)},
		{
			name: "v5 DISCONNECT use another server",
			v:    v5,
			pkt: &wire.Disconnect{ReasonCode: wire.UseAnotherServer, Properties: &wire.Properties{
				SessionExpiry: new(uint32(0)), ServerReference: "s", ReasonString: "x",
				UserProperties: []wire.UserProperty{{Key: "a", Value: ""}}}},
			raw: hx(
				"e0",              // DISCONNECT
				"15",              // remaining length 21
				"9c",              // reason code use another server
				"13",              // property length 19
				"11 00000000",     // Session Expiry Interval 0
				"1c 0001 73",      // Server Reference "s"
				"1f 0001 78",      // Reason String "x"
				"26 0001 61 0000", // User Property "a" = ""
			),
		},

		// ---------------------------------------------------------------- AUTH
		{name: "v5 AUTH success short form MQTT-3.15.1-1", v: v5, pkt: &wire.Auth{},
			raw: hx("f0" /* AUTH, flags 0000 */, "00")},
		{
			name: "v5 AUTH continue MQTT-3.15.2-1",
			v:    v5,
			pkt: &wire.Auth{ReasonCode: wire.ContinueAuthentication, Properties: &wire.Properties{
				AuthMethod: "SCRAM", AuthData: []byte{1, 2, 3}, ReasonString: "r",
				UserProperties: []wire.UserProperty{{Key: "k", Value: "v"}}}},
			raw: hx(
				"f0",                 // AUTH
				"1b",                 // remaining length 27
				"18",                 // reason code continue authentication
				"19",                 // property length 25
				"15 0005 534352414d", // Authentication Method "SCRAM"
				"16 0003 010203",     // Authentication Data 01 02 03
				"1f 0001 72",         // Reason String "r"
				"26 0001 6b 0001 76", // User Property "k" = "v"
			),
		},
		{
			name: "v5 AUTH re-authenticate MQTT-3.15.2-1",
			v:    v5,
			pkt:  &wire.Auth{ReasonCode: wire.ReAuthenticate, Properties: &wire.Properties{AuthMethod: "m"}},
			raw: hx(
				"f0",         // AUTH
				"06",         // remaining length 6
				"19",         // reason code re-authenticate
				"04",         // property length 4
				"15 0001 6d", // Authentication Method "m"
			),
		},
	}
}

func (g golden) testName() string {
	return g.pkt.Type().String() + "/" + g.name
}

// TestGolden checks that Append writes exactly the bytes of each golden case
// and that Parse and Reader.ReadPacket read them back to the same packet.
func TestGolden(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, g := range goldenCases() {
		if seen[g.testName()] {
			t.Fatalf("two golden cases named %q", g.testName())
		}
		seen[g.testName()] = true
		t.Run(g.testName(), func(t *testing.T) {
			t.Parallel()
			if !g.decodeOnly {
				in := g.pkt
				if g.in != nil {
					in = g.in
				}
				checkAppend(t, in, g.v, g.raw)
			}
			got, err := decodeAll(t, g.raw, g.v)
			if err != nil {
				t.Fatalf("decoding % x: %v", g.raw, err)
			}
			if diff := cmp.Diff(g.pkt, got, bytesEqual); diff != "" {
				t.Errorf("decoded packet mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// checkAppend checks that p encodes to want for version v, both into a nil
// buffer and after a prefix, and that Publish.Size agrees.
func checkAppend(t *testing.T, p wire.Packet, v wire.Version, want []byte) {
	t.Helper()
	got, err := p.Append(nil, v)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if diff := cmp.Diff(hex.Dump(want), hex.Dump(got)); diff != "" {
		t.Errorf("Append mismatch (-want +got):\n%s", diff)
	}
	prefix := []byte{0xaa, 0xbb}
	got2, err := p.Append(prefix, v)
	if err != nil {
		t.Fatalf("Append after a prefix: %v", err)
	}
	if !bytes.Equal(got2, cat(prefix, want)) {
		t.Errorf("Append after a prefix: got % x, want aa bb % x", got2, want)
	}
	if pub, ok := p.(*wire.Publish); ok {
		n, err := pub.Size(v)
		if err != nil || n != len(want) {
			t.Errorf("Size = %d, %v; want %d, nil", n, err, len(want))
		}
	}
}

// TestGoldenCoverage makes sure the golden table has every packet type for
// every version that has it.
func TestGoldenCoverage(t *testing.T) {
	t.Parallel()
	have := map[wire.Version]map[wire.Type]bool{}
	for _, g := range goldenCases() {
		if have[g.v] == nil {
			have[g.v] = map[wire.Type]bool{}
		}
		have[g.v][g.pkt.Type()] = true
	}
	for _, v := range versions {
		for typ := wire.CONNECT; typ <= wire.AUTH; typ++ {
			if typ == wire.AUTH && v != wire.V5 {
				continue
			}
			if !have[v][typ] {
				t.Errorf("no golden case for %v in MQTT %v", typ, v)
			}
		}
	}
}

// TestRemainingLength checks the Variable Byte Integer of the fixed header at
// the boundaries of each length (MQTT-1.5.5-1: the fewest bytes), encoding
// and decoding a QoS 0 PUBLISH with topic "t" whose payload fills the rest.
func TestRemainingLength(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		length int
		header string
	}{
		{"one byte min MQTT-1.5.5-1", 3, "03"},
		{"one byte max MQTT-1.5.5-1", 127, "7f"},
		{"two bytes min MQTT-1.5.5-1", 128, "80 01"},
		{"two bytes 321 MQTT-1.5.5-1", 321, "c1 02"},
		{"two bytes max MQTT-1.5.5-1", 16_383, "ff 7f"},
		{"three bytes min MQTT-1.5.5-1", 16_384, "80 80 01"},
		{"three bytes max MQTT-1.5.5-1", 2_097_151, "ff ff 7f"},
		{"four bytes min MQTT-1.5.5-1", 2_097_152, "80 80 80 01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &wire.Publish{Topic: "t", Payload: bytes.Repeat([]byte{'x'}, tt.length-3)}
			want := cat(hx("30", tt.header, "0001 74"), p.Payload)
			got, err := p.Append(nil, wire.V311)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("header % x, want %s", got[:min(len(got), 8)], tt.header)
			}
			h, n, err := wire.ParseHeader(got)
			if err != nil || n != 1+len(hx(tt.header)) || h.Remaining != tt.length || h.Size() != len(got) {
				t.Fatalf("ParseHeader = %+v, %d, %v", h, n, err)
			}
			back, err := decodeAll(t, got, wire.V311)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wire.Packet(p), back, bytesEqual); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestNonMinimalRemainingLength: MQTT-1.5.5-1 binds the sender; a receiver
// takes a length written in more bytes than needed.
func TestNonMinimalRemainingLength(t *testing.T) {
	t.Parallel()
	for _, raw := range [][]byte{
		hx("c0", "80 00"),          // PINGREQ, remaining length 0 in two bytes
		hx("c0", "80 80 80 00"),    // in four bytes
		hx("40", "82 00", "00 07"), // PUBACK, remaining length 2 in two bytes
	} {
		p, n, err := wire.Parse(raw, wire.V311)
		if err != nil || n != len(raw) || p == nil {
			t.Errorf("Parse(% x) = %v, %d, %v", raw, p, n, err)
		}
	}
}
