package wire_test

import (
	"strings"
	"testing"

	"github.com/culex-mqtt/mqtt/wire"
)

func TestCheckTopicName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		topic string
		ok    bool
	}{
		{"one level", "a", true},
		{"levels", "a/b/c", true},
		{"leading slash", "/a", true},
		{"trailing slash", "a/", true},
		{"only a slash", "/", true},
		{"empty levels", "a//b", true},
		{"space", " ", true},
		{"dollar topic", "$SYS/broker/load", true},
		{"multi-byte", "é/€/𝄞", true},
		{"U+FEFF kept MQTT-1.5.4-3", "\uFEFF", true},
		{"65535 bytes MQTT-4.7.3-3", strings.Repeat("a", 65535), true},
		{"empty MQTT-4.7.3-1", "", false},
		{"65536 bytes MQTT-4.7.3-3", strings.Repeat("a", 65536), false},
		{"U+0000 MQTT-4.7.3-2", "a\x00", false},
		{"plus MQTT-4.7.0-1", "a/+", false},
		{"plus inside a level MQTT-4.7.0-1", "a+b", false},
		{"hash MQTT-4.7.0-1", "#", false},
		{"hash at the end MQTT-4.7.0-1", "a/b#", false},
		{"not UTF-8 MQTT-1.5.4-1", "\xff", false},
		{"surrogate MQTT-1.5.4-1", "\xed\xb0\x80", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := wire.CheckTopicName(tt.topic)
			if tt.ok {
				if err != nil {
					t.Fatalf("CheckTopicName: %v", err)
				}
				return
			}
			checkError(t, err, wire.TopicNameInvalid, wire.PUBLISH)
		})
	}
}

func TestCheckTopicFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		filter string
		ok     bool
	}{
		{"one level", "a", true},
		{"levels", "a/b/c", true},
		{"hash alone MQTT-4.7.1-1", "#", true},
		{"hash after slash MQTT-4.7.1-1", "a/#", true},
		{"hash after empty level MQTT-4.7.1-1", "/#", true},
		{"plus alone MQTT-4.7.1-2", "+", true},
		{"plus levels MQTT-4.7.1-2", "+/+/+", true},
		{"plus and hash", "+/a/#", true},
		{"plus in the middle MQTT-4.7.1-2", "a/+/b", true},
		{"plus then empty level", "+/", true},
		{"dollar", "$SYS/#", true},
		{"shared MQTT-4.8.2-1", "$share/g/a/b", true},
		{"shared with wildcards MQTT-4.8.2-2", "$share/group/+/#", true},
		{"shared with leading slash filter", "$share/g//a", true},
		{"share prefix without slash is plain", "$share", true},
		{"65535 bytes MQTT-4.7.3-3", strings.Repeat("a", 65535), true},
		{"empty MQTT-4.7.3-1", "", false},
		{"65536 bytes MQTT-4.7.3-3", strings.Repeat("a", 65536), false},
		{"U+0000 MQTT-4.7.3-2", "a/\x00", false},
		{"not UTF-8", "a/\xc3", false},
		{"hash not last MQTT-4.7.1-1", "a/#/b", false},
		{"hash first not last MQTT-4.7.1-1", "#/a", false},
		{"hash inside a level MQTT-4.7.1-1", "a#", false},
		{"hash after text MQTT-4.7.1-1", "a/b#", false},
		{"two hashes MQTT-4.7.1-1", "##", false},
		{"plus inside a level MQTT-4.7.1-2", "a+", false},
		{"plus before text MQTT-4.7.1-2", "a/+b", false},
		{"plus plus MQTT-4.7.1-2", "++", false},
		{"empty share name MQTT-4.8.2-1", "$share//a", false},
		{"share name only MQTT-4.8.2-2", "$share/g", false},
		{"share name and slash MQTT-4.8.2-2", "$share/g/", false},
		{"plus in share name MQTT-4.8.2-2", "$share/g+/a", false},
		{"hash in share name MQTT-4.8.2-2", "$share/#/a", false},
		{"bad filter after share name", "$share/g/a#", false},
		{"nothing after $share/", "$share/", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := wire.CheckTopicFilter(tt.filter)
			if tt.ok {
				if err != nil {
					t.Fatalf("CheckTopicFilter: %v", err)
				}
				return
			}
			checkError(t, err, wire.TopicFilterInvalid, wire.SUBSCRIBE)
		})
	}
}

func TestIsShared(t *testing.T) {
	t.Parallel()
	for filter, want := range map[string]bool{
		"$share/g/a": true,
		"$share/g/#": true,
		"$share":     false,
		"$SHARE/g/a": false,
		"a/$share/g": false,
		"share/g/a":  false,
	} {
		if got := wire.IsShared(filter); got != want {
			t.Errorf("IsShared(%q) = %v, want %v", filter, got, want)
		}
	}
}

func TestMatchTopic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		filter, topic string
		want          bool
	}{
		// Exact matches, case sensitive.
		{"a", "a", true},
		{"a/b", "a/b", true},
		{"a/b", "a/B", false},
		{"a/b", "a", false},
		{"a", "a/b", false},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"/a", "/a", true},
		{"/a", "a", false},
		{"a/", "a/", true},
		{"a/", "a", false},

		// '#': the level and all below, and the parent level itself.
		{"#", "a", true},
		{"#", "a/b/c", true},
		{"#", "/", true},
		{"a/#", "a", true},
		{"a/#", "a/", true},
		{"a/#", "a/b", true},
		{"a/#", "a/b/c", true},
		{"a/#", "ab", false},
		{"a/#", "b/a", false},
		{"a/b/#", "a", false},
		{"a/b/#", "a/b", true},
		{"/#", "/a", true},
		{"/#", "a", false},

		// '+': exactly one level, which may be empty.
		{"+", "a", true},
		{"+", "a/b", false},
		{"+", "/a", false},
		{"+/+", "/a", true},
		{"+/+", "a/", true},
		{"a/+", "a/b", true},
		{"a/+", "a/", true},
		{"a/+", "a", false},
		{"a/+", "a/b/c", false},
		{"a/+/c", "a/b/c", true},
		{"a/+/c", "a/b/d", false},
		{"+/b", "a/b", true},
		{"+/#", "a", true},
		{"+/#", "a/b/c", true},
		{"a/+/#", "a/b", true},
		{"a/+/#", "a", false},

		// MQTT-4.7.2-1: leading wildcards do not match $ topics.
		{"#", "$SYS", false},
		{"#", "$SYS/broker", false},
		{"+", "$SYS", false},
		{"+/broker", "$SYS/broker", false},
		{"+/#", "$SYS/broker", false},
		{"$SYS/#", "$SYS/broker", true},
		{"$SYS/+", "$SYS/broker", true},
		{"$SYS", "$SYS", true},
		{"a/#", "a/$b", true},
		{"a/+", "a/$b", true},
		{"#", "a$", true},

		// A shared filter matches by the part after the share name; the
		// whole "$share/..." string is just a filter starting with "$".
		{"a/+", "a/b", true},
		{"$share/g/a/+", "a/b", false},
	}
	for _, tt := range tests {
		if got := wire.MatchTopic(tt.filter, tt.topic); got != tt.want {
			t.Errorf("MatchTopic(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
		}
	}
}

func TestStrings(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		got, want string
	}{
		{wire.V31.String(), "3.1"},
		{wire.V311.String(), "3.1.1"},
		{wire.V5.String(), "5.0"},
		{wire.Version(6).String(), "Version(6)"},
		{wire.Version(0).String(), "Version(0)"},
		{wire.CONNECT.String(), "CONNECT"},
		{wire.PUBREL.String(), "PUBREL"},
		{wire.AUTH.String(), "AUTH"},
		{wire.Type(0).String(), "Type(0)"},
		{wire.Type(16).String(), "Type(16)"},
		{wire.Type(255).String(), "Type(255)"},
		{wire.Success.String(), "success"},
		{wire.NotAuthorized.String(), "not authorized"},
		{wire.WildcardSubscriptionsNotSupported.String(), "wildcard subscriptions not supported"},
		{wire.ReasonCode(0x03).String(), "reason code 0x03"},
		{wire.ReasonCode(0xfe).String(), "reason code 0xFE"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	for c := range 256 {
		if got, want := wire.ReasonCode(c).IsError(), c >= 0x80; got != want {
			t.Errorf("ReasonCode(%#02x).IsError() = %v", c, got)
		}
	}
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  *wire.Error
		want string
	}{
		{&wire.Error{Code: wire.MalformedPacket, Packet: wire.PUBLISH, Reason: "topic is bad"}, "malformed PUBLISH packet: topic is bad"},
		{&wire.Error{Code: wire.MalformedPacket, Reason: "remaining length is bad"}, "malformed packet: remaining length is bad"},
		{&wire.Error{Code: wire.ProtocolError, Packet: wire.SUBSCRIBE, Reason: "no topic filter"}, "protocol error in SUBSCRIBE packet: no topic filter"},
		{&wire.Error{Code: wire.PacketTooLarge, Packet: wire.CONNECT, Reason: "9 bytes"}, "CONNECT packet too large: 9 bytes"},
		{&wire.Error{Code: wire.TopicNameInvalid, Packet: wire.PUBLISH, Reason: `topic "#" is bad`}, `topic "#" is bad`},
		{&wire.Error{Code: wire.TopicFilterInvalid, Packet: wire.SUBSCRIBE, Reason: `topic filter "a#" is bad`}, `topic filter "a#" is bad`},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	// A long or odd topic is shortened and kept printable in the text.
	err := wire.CheckTopicName(strings.Repeat("a", 100) + "\x00#")
	if s := err.Error(); !strings.Contains(s, `"`+strings.Repeat("a", 64)+`..."`) {
		t.Errorf("long topic not shortened: %s", s)
	}
	err = wire.CheckTopicName("a\x00")
	if s := err.Error(); !strings.Contains(s, `"a\x00"`) {
		t.Errorf("U+0000 not escaped: %s", s)
	}
}

func TestPropertiesClone(t *testing.T) {
	t.Parallel()
	if (*wire.Properties)(nil).Clone() != nil {
		t.Error("nil.Clone() is not nil")
	}
	// Every golden packet's properties, cloned, must be equal and share no
	// memory with the original.
	for _, g := range goldenCases() {
		var props []*wire.Properties
		switch p := g.pkt.(type) {
		case *wire.Connect:
			props = append(props, p.Properties)
			if p.Will != nil {
				props = append(props, p.Will.Properties)
			}
		case *wire.Connack:
			props = append(props, p.Properties)
		case *wire.Publish:
			props = append(props, p.Properties)
		case *wire.Puback:
			props = append(props, p.Properties)
		case *wire.Subscribe:
			props = append(props, p.Properties)
		case *wire.Disconnect:
			props = append(props, p.Properties)
		case *wire.Auth:
			props = append(props, p.Properties)
		}
		for _, p := range props {
			if p == nil {
				continue
			}
			c := p.Clone()
			if diff := cmpDiff(p, c); diff != "" {
				t.Errorf("%s: Clone differs (-want +got):\n%s", g.name, diff)
			}
			mutate(c)
			if diff := cmpDiff(p.Clone(), c); diff == "" {
				t.Errorf("%s: changing the clone changed nothing?", g.name)
			}
			if diff := cmpDiff(p.Clone(), p); diff != "" {
				t.Errorf("%s: changing the clone changed the original:\n%s", g.name, diff)
			}
		}
	}
}

// mutate changes every pointer and slice target of p in place, and a few
// plain fields so that something always changes.
func mutate(p *wire.Properties) {
	p.TopicAlias++
	p.ReasonString += "!"
	for _, u32 := range []*uint32{p.MessageExpiry, p.SessionExpiry} {
		if u32 != nil {
			*u32++
		}
	}
	if p.ServerKeepAlive != nil {
		*p.ServerKeepAlive++
	}
	if p.MaximumQoS != nil {
		*p.MaximumQoS++
	}
	for _, b := range []*bool{p.RequestProblemInfo, p.RetainAvailable, p.WildcardSubAvailable, p.SubIDAvailable, p.SharedSubAvailable} {
		if b != nil {
			*b = !*b
		}
	}
	for _, s := range [][]byte{p.CorrelationData, p.AuthData} {
		for i := range s {
			s[i]++
		}
	}
	for i := range p.SubscriptionIDs {
		p.SubscriptionIDs[i]++
	}
	for i := range p.UserProperties {
		p.UserProperties[i].Key += "!"
	}
}
