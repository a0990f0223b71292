package wire_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/culex-mqtt/mqtt/wire"
)

// badPacket is a packet that Append must refuse for version v.
type badPacket struct {
	name string
	v    wire.Version
	pkt  wire.Packet
	code wire.ReasonCode
}

func badPackets() []badPacket {
	const (
		v31  = wire.V31
		v311 = wire.V311
		v5   = wire.V5

		malformed = wire.MalformedPacket
		protocol  = wire.ProtocolError
		badTopic  = wire.TopicNameInvalid
		badFilter = wire.TopicFilterInvalid
	)
	long := strings.Repeat("x", 65536)
	longBytes := []byte(long)
	will := func(w wire.Will) *wire.Connect {
		return &wire.Connect{ClientID: "c", CleanStart: true, Will: &w}
	}
	pub := func(p wire.Properties) *wire.Publish {
		return &wire.Publish{Topic: "t", Properties: &p}
	}
	return []badPacket{
		// ------------------------------------------------ CONNECT
		{"unknown version 6", 6, &wire.Connect{ClientID: "c"}, protocol},
		{"unknown version 0", 0, &wire.Connect{ClientID: "c"}, protocol},
		{"3.1 empty client identifier", v31, &wire.Connect{CleanStart: true}, protocol},
		{"empty client identifier without clean session v311:MQTT-3.1.3-7", v311, &wire.Connect{}, protocol},
		{"client identifier not UTF-8 MQTT-3.1.3-4", v311, &wire.Connect{ClientID: "\xff", CleanStart: true}, malformed},
		{"client identifier with U+0000 MQTT-3.1.3-4", v5, &wire.Connect{ClientID: "a\x00"}, malformed},
		{"client identifier too long MQTT-3.1.3-4", v5, &wire.Connect{ClientID: long}, malformed},
		{"will topic with # MQTT-4.7.0-1", v311, will(wire.Will{Topic: "a/#"}), protocol},
		{"will topic with + MQTT-4.7.0-1", v5, will(wire.Will{Topic: "+"}), protocol},
		{"will topic empty MQTT-4.7.3-1", v311, will(wire.Will{}), protocol},
		{"will topic not UTF-8 MQTT-3.1.3-11", v311, will(wire.Will{Topic: "\xc3"}), protocol},
		{"will topic with surrogate MQTT-3.1.3-11", v5, will(wire.Will{Topic: "\xed\xa0\x80"}), protocol},
		{"will QoS 3 MQTT-3.1.2-12", v311, will(wire.Will{Topic: "t", QoS: 3}), malformed},
		{"will payload too long", v311, will(wire.Will{Topic: "t", Payload: longBytes}), malformed},
		{"will properties in 3.1.1 v311:MQTT-3.1.2-9", v311, will(wire.Will{Topic: "t", Properties: &wire.Properties{WillDelay: 1}}), protocol},
		{"will Session Expiry Interval", v5, will(wire.Will{Topic: "t", Properties: &wire.Properties{SessionExpiry: new(uint32(1))}}), protocol},
		{"will Topic Alias", v5, will(wire.Will{Topic: "t", Properties: &wire.Properties{TopicAlias: 1}}), protocol},
		{"will Response Topic with wildcard MQTT-3.3.2-14", v5, will(wire.Will{Topic: "t", Properties: &wire.Properties{ResponseTopic: "#"}}), protocol},
		{"will Content Type not UTF-8 MQTT-3.3.2-19", v5, will(wire.Will{Topic: "t", Properties: &wire.Properties{ContentType: "\xff"}}), malformed},
		{"properties in 3.1.1", v311, &wire.Connect{ClientID: "c", Properties: &wire.Properties{}}, protocol},
		{"properties in 3.1", v31, &wire.Connect{ClientID: "c", Properties: &wire.Properties{ReceiveMaximum: 1}}, protocol},
		{"Topic Alias in CONNECT", v5, &wire.Connect{ClientID: "c", Properties: &wire.Properties{TopicAlias: 1}}, protocol},
		{"Will Delay Interval in CONNECT", v5, &wire.Connect{ClientID: "c", Properties: &wire.Properties{WillDelay: 1}}, protocol},
		{"Subscription Identifier in CONNECT", v5, &wire.Connect{ClientID: "c", Properties: &wire.Properties{SubscriptionIDs: []int{1}}}, protocol},
		{"Maximum QoS in CONNECT", v5, &wire.Connect{ClientID: "c", Properties: &wire.Properties{MaximumQoS: new(byte(0))}}, protocol},
		{"Authentication Data without Authentication Method", v5, &wire.Connect{ClientID: "c", Properties: &wire.Properties{AuthData: []byte{1}}}, protocol},
		{"Authentication Method not UTF-8", v5, &wire.Connect{ClientID: "c", Properties: &wire.Properties{AuthMethod: "\xfe"}}, malformed},
		{"Authentication Data too long", v5, &wire.Connect{ClientID: "c", Properties: &wire.Properties{AuthMethod: "m", AuthData: longBytes}}, malformed},
		{"User Property name with U+0000 MQTT-1.5.7-1", v5, &wire.Connect{ClientID: "c", Properties: &wire.Properties{
			UserProperties: []wire.UserProperty{{Key: "\x00", Value: "v"}}}}, malformed},
		{"User Property value not UTF-8 MQTT-1.5.7-1", v5, &wire.Connect{ClientID: "c", Properties: &wire.Properties{
			UserProperties: []wire.UserProperty{{Key: "k", Value: "\xed\xbf\xbf"}}}}, malformed},
		{"User Property name too long MQTT-1.5.7-1", v5, &wire.Connect{ClientID: "c", Properties: &wire.Properties{
			UserProperties: []wire.UserProperty{{Key: long}}}}, malformed},
		{"user name not UTF-8 MQTT-3.1.3-12", v311, &wire.Connect{ClientID: "c", Username: "\xff"}, malformed},
		{"user name with U+0000 MQTT-3.1.3-12", v5, &wire.Connect{ClientID: "c", Username: "\x00"}, malformed},
		{"password without user name v311:MQTT-3.1.2-22", v311, &wire.Connect{ClientID: "c", Password: []byte("p")}, protocol},
		{"password flag without user name v311:MQTT-3.1.2-22", v311, &wire.Connect{ClientID: "c", PasswordFlag: true}, protocol},
		{"password without user name in 3.1", v31, &wire.Connect{ClientID: "c", Password: []byte{}}, protocol},
		{"password too long", v5, &wire.Connect{ClientID: "c", Password: longBytes}, malformed},

		// ------------------------------------------------ CONNACK
		{"unknown version", 2, &wire.Connack{}, protocol},
		{"v311 reason code without return code", v311, &wire.Connack{ReasonCode: wire.UnspecifiedError}, protocol},
		{"v31 reason code without return code", v31, &wire.Connack{ReasonCode: wire.Banned}, protocol},
		{"v311 session present with refusal", v311, &wire.Connack{SessionPresent: true, ReasonCode: wire.NotAuthorized}, protocol},
		{"v5 session present with refusal", v5, &wire.Connack{SessionPresent: true, ReasonCode: wire.Banned}, protocol},
		{"v311 properties", v311, &wire.Connack{Properties: &wire.Properties{ReasonString: "x"}}, protocol},
		{"v5 reason code 0x10 MQTT-3.2.2-8", v5, &wire.Connack{ReasonCode: wire.NoMatchingSubscribers}, protocol},
		{"v5 Maximum QoS 2", v5, &wire.Connack{Properties: &wire.Properties{MaximumQoS: new(byte(2))}}, protocol},
		{"v5 Topic Alias", v5, &wire.Connack{Properties: &wire.Properties{TopicAlias: 3}}, protocol},
		{"v5 Request Problem Information", v5, &wire.Connack{Properties: &wire.Properties{RequestProblemInfo: new(true)}}, protocol},
		{"v5 Reason String not UTF-8", v5, &wire.Connack{Properties: &wire.Properties{ReasonString: "\xff"}}, malformed},

		// ------------------------------------------------ PUBLISH
		{"unknown version", 0, &wire.Publish{Topic: "t"}, protocol},
		{"QoS 3 MQTT-3.3.1-4", v5, &wire.Publish{QoS: 3, Topic: "t", PacketID: 1}, malformed},
		{"QoS 3 v311:MQTT-3.3.1-4", v311, &wire.Publish{QoS: 3, Topic: "t", PacketID: 1}, malformed},
		{"DUP at QoS 0 MQTT-3.3.1-2", v311, &wire.Publish{Dup: true, Topic: "t"}, protocol},
		{"DUP at QoS 0 v5 MQTT-3.3.1-2", v5, &wire.Publish{Dup: true, Topic: "t"}, protocol},
		{"packet identifier at QoS 0 MQTT-2.2.1-2", v311, &wire.Publish{Topic: "t", PacketID: 1}, protocol},
		{"packet identifier 0 at QoS 1", v311, &wire.Publish{QoS: 1, Topic: "t"}, protocol},
		{"packet identifier 0 at QoS 2", v5, &wire.Publish{QoS: 2, Topic: "t"}, protocol},
		{"topic with + MQTT-3.3.2-2 MQTT-4.7.0-1", v311, &wire.Publish{Topic: "a/+/b"}, badTopic},
		{"topic with # MQTT-3.3.2-2 MQTT-4.7.0-1", v5, &wire.Publish{Topic: "#"}, badTopic},
		{"empty topic MQTT-4.7.3-1", v311, &wire.Publish{}, badTopic},
		{"empty topic without alias MQTT-4.7.3-1", v5, &wire.Publish{}, badTopic},
		{"empty topic with Topic Alias 0 MQTT-3.3.2-8", v5, &wire.Publish{Properties: &wire.Properties{}}, badTopic},
		{"topic with U+0000 MQTT-4.7.3-2", v311, &wire.Publish{Topic: "a\x00b"}, badTopic},
		{"topic of 65536 bytes MQTT-4.7.3-3", v311, &wire.Publish{Topic: long}, badTopic},
		{"topic not UTF-8 MQTT-3.3.2-1", v5, &wire.Publish{Topic: "\xc0\xaf"}, badTopic},
		{"topic with surrogate MQTT-1.5.4-1", v311, &wire.Publish{Topic: "\xed\xa0\x80"}, badTopic},
		{"v311 properties", v311, &wire.Publish{Topic: "t", Properties: &wire.Properties{}}, protocol},
		{"v31 Topic Alias", v31, &wire.Publish{Properties: &wire.Properties{TopicAlias: 1}}, protocol},
		{"Session Expiry Interval in PUBLISH", v5, pub(wire.Properties{SessionExpiry: new(uint32(0))}), protocol},
		{"Will Delay Interval in PUBLISH", v5, pub(wire.Properties{WillDelay: 1}), protocol},
		{"Reason String in PUBLISH", v5, pub(wire.Properties{ReasonString: "r"}), protocol},
		{"Payload Format Indicator 2", v5, pub(wire.Properties{PayloadFormat: 2}), protocol},
		{"Content Type not UTF-8 MQTT-3.3.2-19", v5, pub(wire.Properties{ContentType: "\x80"}), malformed},
		{"Content Type with U+0000 MQTT-3.3.2-19", v5, pub(wire.Properties{ContentType: "\x00"}), malformed},
		{"Response Topic with wildcard MQTT-3.3.2-14", v5, pub(wire.Properties{ResponseTopic: "a/+"}), protocol},
		{"Response Topic not UTF-8 MQTT-3.3.2-13", v5, pub(wire.Properties{ResponseTopic: "\xff"}), malformed},
		{"Correlation Data too long", v5, pub(wire.Properties{CorrelationData: longBytes}), malformed},
		{"Subscription Identifier 0", v5, pub(wire.Properties{SubscriptionIDs: []int{0}}), protocol},
		{"Subscription Identifier negative", v5, pub(wire.Properties{SubscriptionIDs: []int{-1}}), protocol},
		{"Subscription Identifier too large", v5, pub(wire.Properties{SubscriptionIDs: []int{wire.MaxRemainingLength + 1}}), protocol},

		// ------------------------------------------------ PUBACK PUBREC PUBREL PUBCOMP
		{"PUBACK unknown version", 7, &wire.Puback{PacketID: 1}, protocol},
		{"PUBACK packet identifier 0", v311, &wire.Puback{}, protocol},
		{"PUBREC packet identifier 0", v5, &wire.Pubrec{}, protocol},
		{"PUBREL packet identifier 0", v31, &wire.Pubrel{}, protocol},
		{"PUBCOMP packet identifier 0", v5, &wire.Pubcomp{}, protocol},
		{"v311 PUBACK reason code", v311, &wire.Puback{PacketID: 1, ReasonCode: wire.UnspecifiedError}, protocol},
		{"v311 PUBREL properties", v311, &wire.Pubrel{PacketID: 1, Properties: &wire.Properties{}}, protocol},
		{"PUBACK reason code 0x92 MQTT-3.4.2-1", v5, &wire.Puback{PacketID: 1, ReasonCode: wire.PacketIdentifierNotFound}, protocol},
		{"PUBREC reason code 0x92 MQTT-3.5.2-1", v5, &wire.Pubrec{PacketID: 1, ReasonCode: wire.PacketIdentifierNotFound}, protocol},
		{"PUBREL reason code 0x10 MQTT-3.6.2-1", v5, &wire.Pubrel{PacketID: 1, ReasonCode: wire.NoMatchingSubscribers}, protocol},
		{"PUBCOMP reason code 0x80 MQTT-3.7.2-1", v5, &wire.Pubcomp{PacketID: 1, ReasonCode: wire.UnspecifiedError}, protocol},
		{"PUBACK Content Type", v5, &wire.Puback{PacketID: 1, Properties: &wire.Properties{ContentType: "c"}}, protocol},
		{"PUBCOMP Reason String not UTF-8", v5, &wire.Pubcomp{PacketID: 1, Properties: &wire.Properties{ReasonString: "\xff"}}, malformed},

		// ------------------------------------------------ SUBSCRIBE
		{"unknown version", 9, &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "a"}}}, protocol},
		{"packet identifier 0", v311, &wire.Subscribe{Filters: []wire.Filter{{Topic: "a"}}}, protocol},
		{"no filter MQTT-3.8.3-2", v311, &wire.Subscribe{PacketID: 1}, protocol},
		{"no filter v5 MQTT-3.8.3-2", v5, &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{}}, protocol},
		{"filter not UTF-8 MQTT-3.8.3-1", v311, &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "\xff"}}}, badFilter},
		{"filter with U+0000 MQTT-3.8.3-1", v5, &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "a/\x00"}}}, badFilter},
		{"empty filter MQTT-4.7.3-1", v311, &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: ""}}}, badFilter},
		{"filter a/#/b MQTT-4.7.1-1", v311, &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "a"}, {Topic: "a/#/b"}}}, badFilter},
		{"filter a/b+ MQTT-4.7.1-2", v5, &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "a/b+"}}}, badFilter},
		{"filter $share//a MQTT-4.8.2-1", v5, &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "$share//a"}}}, badFilter},
		{"filter $share/g MQTT-4.8.2-2", v5, &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "$share/g"}}}, badFilter},
		{"QoS 3", v311, &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "a", QoS: 3}}}, malformed},
		{"retain handling 3", v5, &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "a", RetainHandling: 3}}}, malformed},
		{"v311 no local", v311, &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "a", NoLocal: true}}}, protocol},
		{"v311 retain as published", v311, &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "a", RetainAsPublished: true}}}, protocol},
		{"v31 retain handling", v31, &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "a", RetainHandling: 1}}}, protocol},
		{"no local on shared filter MQTT-3.8.3-4", v5, &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "$share/g/a", NoLocal: true}}}, protocol},
		{"two Subscription Identifiers", v5, &wire.Subscribe{PacketID: 1, Properties: &wire.Properties{SubscriptionIDs: []int{1, 2}},
			Filters: []wire.Filter{{Topic: "a"}}}, protocol},
		{"v311 properties", v311, &wire.Subscribe{PacketID: 1, Properties: &wire.Properties{}, Filters: []wire.Filter{{Topic: "a"}}}, protocol},
		{"Reason String in SUBSCRIBE", v5, &wire.Subscribe{PacketID: 1, Properties: &wire.Properties{ReasonString: "r"},
			Filters: []wire.Filter{{Topic: "a"}}}, protocol},

		// ------------------------------------------------ SUBACK
		{"SUBACK unknown version", 1, &wire.Suback{PacketID: 1, ReasonCodes: []wire.ReasonCode{0}}, protocol},
		{"SUBACK packet identifier 0", v311, &wire.Suback{ReasonCodes: []wire.ReasonCode{0}}, protocol},
		{"SUBACK no reason code", v5, &wire.Suback{PacketID: 1}, protocol},
		{"v311 SUBACK reason code 0x87", v311, &wire.Suback{PacketID: 1, ReasonCodes: []wire.ReasonCode{wire.NotAuthorized}}, protocol},
		{"v5 SUBACK reason code 0x10", v5, &wire.Suback{PacketID: 1, ReasonCodes: []wire.ReasonCode{0, wire.NoMatchingSubscribers}}, protocol},
		{"v311 SUBACK properties", v311, &wire.Suback{PacketID: 1, Properties: &wire.Properties{}, ReasonCodes: []wire.ReasonCode{0}}, protocol},
		{"v5 SUBACK Topic Alias", v5, &wire.Suback{PacketID: 1, Properties: &wire.Properties{TopicAlias: 1}, ReasonCodes: []wire.ReasonCode{0}}, protocol},

		// ------------------------------------------------ UNSUBSCRIBE
		{"unknown version", 255, &wire.Unsubscribe{PacketID: 1, Topics: []string{"a"}}, protocol},
		{"packet identifier 0", v311, &wire.Unsubscribe{Topics: []string{"a"}}, protocol},
		{"no filter MQTT-3.10.3-2", v311, &wire.Unsubscribe{PacketID: 1}, protocol},
		{"no filter v5 MQTT-3.10.3-2", v5, &wire.Unsubscribe{PacketID: 1, Topics: []string{}}, protocol},
		{"filter not UTF-8 MQTT-3.10.3-1", v311, &wire.Unsubscribe{PacketID: 1, Topics: []string{"a", "\xff"}}, badFilter},
		{"filter #/a MQTT-4.7.1-1", v5, &wire.Unsubscribe{PacketID: 1, Topics: []string{"#/a"}}, badFilter},
		{"v311 properties", v311, &wire.Unsubscribe{PacketID: 1, Properties: &wire.Properties{}, Topics: []string{"a"}}, protocol},
		{"Subscription Identifier in UNSUBSCRIBE", v5, &wire.Unsubscribe{PacketID: 1, Properties: &wire.Properties{SubscriptionIDs: []int{1}},
			Topics: []string{"a"}}, protocol},

		// ------------------------------------------------ UNSUBACK
		{"UNSUBACK unknown version", 0, &wire.Unsuback{PacketID: 1}, protocol},
		{"v311 UNSUBACK reason codes", v311, &wire.Unsuback{PacketID: 1, ReasonCodes: []wire.ReasonCode{0}}, protocol},
		{"v311 UNSUBACK properties", v311, &wire.Unsuback{PacketID: 1, Properties: &wire.Properties{}}, protocol},
		{"v311 UNSUBACK packet identifier 0", v311, &wire.Unsuback{}, protocol},
		{"v5 UNSUBACK packet identifier 0", v5, &wire.Unsuback{ReasonCodes: []wire.ReasonCode{0}}, protocol},
		{"v5 UNSUBACK no reason code", v5, &wire.Unsuback{PacketID: 1}, protocol},
		{"v5 UNSUBACK reason code 0x01", v5, &wire.Unsuback{PacketID: 1, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1}}, protocol},

		// ------------------------------------------------ DISCONNECT
		{"DISCONNECT unknown version", 6, &wire.Disconnect{}, protocol},
		{"v311 DISCONNECT reason code", v311, &wire.Disconnect{ReasonCode: wire.DisconnectWithWill}, protocol},
		{"v31 DISCONNECT properties", v31, &wire.Disconnect{Properties: &wire.Properties{}}, protocol},
		{"v5 DISCONNECT reason code 0x01 MQTT-3.14.2-1", v5, &wire.Disconnect{ReasonCode: wire.GrantedQoS1}, protocol},
		{"v5 DISCONNECT reason code 0x84 MQTT-3.14.2-1", v5, &wire.Disconnect{ReasonCode: wire.UnsupportedProtocolVersion}, protocol},
		{"v5 DISCONNECT Content Type", v5, &wire.Disconnect{Properties: &wire.Properties{ContentType: "c"}}, protocol},

		// ------------------------------------------------ AUTH
		{"v311 AUTH", v311, &wire.Auth{}, protocol},
		{"v31 AUTH", v31, &wire.Auth{}, protocol},
		{"v5 AUTH reason code 0x87 MQTT-3.15.2-1", v5, &wire.Auth{ReasonCode: wire.NotAuthorized}, protocol},
		{"v5 AUTH reason code 0x04 MQTT-3.15.2-1", v5, &wire.Auth{ReasonCode: wire.DisconnectWithWill}, protocol},
		{"v5 AUTH Session Expiry Interval", v5, &wire.Auth{Properties: &wire.Properties{SessionExpiry: new(uint32(1))}}, protocol},
	}
}

// TestAppendRefuses checks that Append refuses every bad packet with an
// *Error of the right code and leaves dst as it was: same length, and not a
// byte of its spare capacity written.
func TestAppendRefuses(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, tt := range badPackets() {
		name := tt.pkt.Type().String() + "/" + tt.v.String() + "/" + tt.name
		if seen[name] {
			t.Fatalf("two cases named %q", name)
		}
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dst := bytes.Repeat([]byte{0xaa}, 256)[:3]
			got, err := tt.pkt.Append(dst, tt.v)
			checkError(t, err, tt.code, tt.pkt.Type())
			if len(got) != 3 || &got[0] != &dst[0] {
				t.Errorf("Append returned % x, want dst unchanged", got)
			}
			if full := dst[:cap(dst)]; !bytes.Equal(full, bytes.Repeat([]byte{0xaa}, len(full))) {
				t.Errorf("Append wrote into the spare capacity of dst: % x", full[:16])
			}
			if p, ok := tt.pkt.(*wire.Publish); ok {
				if n, err := p.Size(tt.v); err == nil || n != 0 {
					t.Errorf("Size = %d, %v; want an error", n, err)
				}
			}
		})
	}
}

// TestPublishTooLarge: a PUBLISH whose Remaining Length would not fit the
// four bytes of a Variable Byte Integer is refused (MQTT 5.0 section 1.5.5).
// The payload is never touched, so its 256 MiB stay virtual.
func TestPublishTooLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 256 MiB of address space")
	}
	p := &wire.Publish{Topic: "t", Payload: make([]byte, wire.MaxRemainingLength-2)}
	if _, err := p.Size(wire.V311); err == nil {
		t.Fatal("Size: no error")
	} else {
		checkError(t, err, wire.PacketTooLarge, wire.PUBLISH)
	}
	got, err := p.Append(nil, wire.V311)
	if got != nil {
		t.Errorf("Append returned %d bytes", len(got))
	}
	checkError(t, err, wire.PacketTooLarge, wire.PUBLISH)

	// One byte less is the largest packet there is.
	p.Payload = p.Payload[:len(p.Payload)-1]
	n, err := p.Size(wire.V311)
	if err != nil || n != wire.MaxPacketSize {
		t.Errorf("Size = %d, %v; want %d", n, err, wire.MaxPacketSize)
	}
}

// The reason codes each packet type may carry, copied by hand from the
// tables of MQTT 5.0 sections 3.2.2.2, 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1,
// 3.9.3, 3.11.3, 3.14.2.1 and 3.15.2.1, and MQTT 3.1.1 section 3.9.3.
var reasonTables = []struct {
	name  string
	v     wire.Version
	typ   wire.Type
	codes []byte
	// mk builds a packet of the type carrying code c.
	mk func(c wire.ReasonCode) wire.Packet
	// raw is the encoding of that packet with code c.
	raw func(c byte) []byte
}{
	{"CONNACK MQTT-3.2.2-8", wire.V5, wire.CONNACK,
		[]byte{0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90,
			0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F},
		func(c wire.ReasonCode) wire.Packet { return &wire.Connack{ReasonCode: c} },
		func(c byte) []byte { return []byte{0x20, 3, 0, c, 0} }},
	{"PUBACK MQTT-3.4.2-1", wire.V5, wire.PUBACK,
		[]byte{0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99},
		func(c wire.ReasonCode) wire.Packet { return &wire.Puback{PacketID: 1, ReasonCode: c} },
		func(c byte) []byte { return []byte{0x40, 3, 0, 1, c} }},
	{"PUBREC MQTT-3.5.2-1", wire.V5, wire.PUBREC,
		[]byte{0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99},
		func(c wire.ReasonCode) wire.Packet { return &wire.Pubrec{PacketID: 1, ReasonCode: c} },
		func(c byte) []byte { return []byte{0x50, 3, 0, 1, c} }},
	{"PUBREL MQTT-3.6.2-1", wire.V5, wire.PUBREL,
		[]byte{0x00, 0x92},
		func(c wire.ReasonCode) wire.Packet { return &wire.Pubrel{PacketID: 1, ReasonCode: c} },
		func(c byte) []byte { return []byte{0x62, 3, 0, 1, c} }},
	{"PUBCOMP MQTT-3.7.2-1", wire.V5, wire.PUBCOMP,
		[]byte{0x00, 0x92},
		func(c wire.ReasonCode) wire.Packet { return &wire.Pubcomp{PacketID: 1, ReasonCode: c} },
		func(c byte) []byte { return []byte{0x70, 3, 0, 1, c} }},
	{"SUBACK", wire.V5, wire.SUBACK,
		[]byte{0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2},
		func(c wire.ReasonCode) wire.Packet {
			return &wire.Suback{PacketID: 1, ReasonCodes: []wire.ReasonCode{c}}
		},
		func(c byte) []byte { return []byte{0x90, 4, 0, 1, 0, c} }},
	{"SUBACK 3.1.1", wire.V311, wire.SUBACK,
		[]byte{0x00, 0x01, 0x02, 0x80},
		func(c wire.ReasonCode) wire.Packet {
			return &wire.Suback{PacketID: 1, ReasonCodes: []wire.ReasonCode{c}}
		},
		func(c byte) []byte { return []byte{0x90, 3, 0, 1, c} }},
	{"UNSUBACK", wire.V5, wire.UNSUBACK,
		[]byte{0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91},
		func(c wire.ReasonCode) wire.Packet {
			return &wire.Unsuback{PacketID: 1, ReasonCodes: []wire.ReasonCode{c}}
		},
		func(c byte) []byte { return []byte{0xb0, 4, 0, 1, 0, c} }},
	{"DISCONNECT MQTT-3.14.2-1", wire.V5, wire.DISCONNECT,
		[]byte{0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93,
			0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2},
		func(c wire.ReasonCode) wire.Packet { return &wire.Disconnect{ReasonCode: c} },
		func(c byte) []byte { return []byte{0xe0, 2, c, 0} }},
	{"AUTH MQTT-3.15.2-1", wire.V5, wire.AUTH,
		[]byte{0x00, 0x18, 0x19},
		func(c wire.ReasonCode) wire.Packet { return &wire.Auth{ReasonCode: c} },
		func(c byte) []byte { return []byte{0xf0, 2, c, 0} }},
}

// TestReasonCodeTables tries every byte as the reason code of every packet
// type that has one: Append and decoding must both accept exactly the codes
// of the specification's table.
func TestReasonCodeTables(t *testing.T) {
	t.Parallel()
	for _, tt := range reasonTables {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			allowed := map[byte]bool{}
			for _, c := range tt.codes {
				allowed[c] = true
			}
			for i := range 256 {
				c := byte(i)
				_, encErr := tt.mk(wire.ReasonCode(c)).Append(nil, tt.v)
				if (encErr == nil) != allowed[c] {
					t.Errorf("Append with code %#02x: error %v, want allowed=%v", c, encErr, allowed[c])
				}
				_, _, decErr := wire.Parse(tt.raw(c), tt.v)
				if (decErr == nil) != allowed[c] {
					t.Errorf("decoding code %#02x: error %v, want allowed=%v", c, decErr, allowed[c])
				}
			}
		})
	}
}
