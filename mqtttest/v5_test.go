package mqtttest_test

import (
	"sync"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// TestConnackLimits: the limits set by options are announced in CONNACK
// (MQTT-3.2.2-9 and the other absent-means-default properties).
func TestConnackLimits(t *testing.T) {
	t.Parallel()
	srv := newServer(t,
		mqtttest.MaximumQoS(1),
		mqtttest.RetainAvailable(false),
		mqtttest.WildcardSubscriptionAvailable(false),
		mqtttest.SharedSubscriptionAvailable(false),
		mqtttest.SubscriptionIdentifierAvailable(false),
		mqtttest.ReceiveMaximum(5),
		mqtttest.MaximumPacketSize(1000),
		mqtttest.TopicAliasMaximum(0),
		mqtttest.ServerKeepAlive(20*time.Second),
		mqtttest.ResponseInformation("resp/"),
	)
	c := dial(t, srv, wire.V5)
	c.send(&wire.Connect{ClientID: "c", CleanStart: true, KeepAlive: 60,
		Properties: &wire.Properties{RequestResponseInfo: true}})
	c.expect(&wire.Connack{Properties: &wire.Properties{
		MaximumQoS:           ptr(byte(1)),
		RetainAvailable:      ptr(false),
		WildcardSubAvailable: ptr(false),
		SharedSubAvailable:   ptr(false),
		SubIDAvailable:       ptr(false),
		ReceiveMaximum:       5,
		MaximumPacketSize:    1000,
		ServerKeepAlive:      ptr(uint16(20)),
		ResponseInfo:         "resp/c", // MQTT-3.1.2-28
	}})

	// MQTT-3.2.2-10: SUBSCRIBE at QoS 2 is accepted and granted 1;
	// wildcard and shared filters are refused, with a reason string.
	c.send(&wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "a", QoS: 2}, {Topic: "a/+"}, {Topic: "$share/g/a"}}})
	c.expect(&wire.Suback{PacketID: 1,
		ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1, wire.WildcardSubscriptionsNotSupported, wire.SharedSubscriptionsNotSupported},
		Properties:  &wire.Properties{ReasonString: "a/+: wildcards not available; $share/g/a: shared subscriptions not available"}})
	// Retain is not available: DISCONNECT 0x9A.
	c.send(&wire.Publish{Topic: "a", Retain: true})
	c.expectClosed(&wire.Disconnect{ReasonCode: wire.RetainNotSupported,
		Properties: &wire.Properties{ReasonString: "PUBLISH with RETAIN but retain is not available"}})

	// Without Request Response Information: no Response Information
	// (MQTT-3.1.2-28); without a Keep Alive override: none announced.
	srv2 := newServer(t, mqtttest.ResponseInformation("resp/"))
	c = dial(t, srv2, wire.V5)
	c.send(&wire.Connect{ClientID: "c", CleanStart: true})
	c.expect(connack(wire.V5))
}

func TestLimitsEnforced(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opt  mqtttest.Option
		send []wire.Packet
		want wire.Packet // the DISCONNECT
	}{
		{"QoS above maximum", mqtttest.MaximumQoS(0),
			[]wire.Packet{&wire.Publish{Topic: "t", QoS: 1, PacketID: 1}},
			&wire.Disconnect{ReasonCode: wire.QoSNotSupported,
				Properties: &wire.Properties{ReasonString: "PUBLISH at QoS 1, above the maximum QoS 0"}}},
		{"subscription identifiers", mqtttest.SubscriptionIdentifierAvailable(false),
			[]wire.Packet{&wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "t"}}, Properties: &wire.Properties{SubscriptionIDs: []int{1}}}},
			&wire.Disconnect{ReasonCode: wire.SubscriptionIdentifiersNotSupported,
				Properties: &wire.Properties{ReasonString: "SUBSCRIBE with a Subscription Identifier"}}},
		{"MQTT-3.3.2-12 topic alias above maximum", mqtttest.TopicAliasMaximum(2),
			[]wire.Packet{&wire.Publish{Topic: "t", Properties: &wire.Properties{TopicAlias: 3}}},
			&wire.Disconnect{ReasonCode: wire.TopicAliasInvalid,
				Properties: &wire.Properties{ReasonString: "topic alias 3 above the maximum 2"}}},
		{"unknown topic alias", mqtttest.TopicAliasMaximum(2),
			[]wire.Packet{&wire.Publish{Properties: &wire.Properties{TopicAlias: 1}}},
			&wire.Disconnect{ReasonCode: wire.ProtocolError,
				Properties: &wire.Properties{ReasonString: "unknown topic alias 1"}}},
		{"packet too large", mqtttest.MaximumPacketSize(100),
			[]wire.Packet{&wire.Publish{Topic: "t", Payload: make([]byte, 100)}},
			&wire.Disconnect{ReasonCode: wire.PacketTooLarge,
				Properties: &wire.Properties{ReasonString: "PUBLISH packet too large: 106 bytes is over the limit of 100 bytes"}}},
		// MQTT-3.3.4-9 seen from the other side: the client goes
		// over the server's Receive Maximum.
		{"MQTT-3.3.4-9 receive maximum", mqtttest.ReceiveMaximum(2),
			[]wire.Packet{
				&wire.Publish{Topic: "t", QoS: 2, PacketID: 1},
				&wire.Publish{Topic: "t", QoS: 2, PacketID: 2},
				&wire.Publish{Topic: "t", QoS: 2, PacketID: 3},
			},
			&wire.Disconnect{ReasonCode: wire.ReceiveMaximumExceeded,
				Properties: &wire.Properties{ReasonString: "more than 2 QoS 1 and 2 messages unacknowledged"}}},
		// A client's PUBLISH carries no Subscription Identifier
		// (MQTT 5.0 section 3.3.4).
		{"subscription identifier from client", nil,
			[]wire.Packet{&wire.Publish{Topic: "t", Properties: &wire.Properties{SubscriptionIDs: []int{1}}}},
			&wire.Disconnect{ReasonCode: wire.ProtocolError,
				Properties: &wire.Properties{ReasonString: "PUBLISH from a client with a Subscription Identifier"}}},
		// MQTT-3.1.0-2: a second CONNECT.
		{"MQTT-3.1.0-2", nil,
			[]wire.Packet{&wire.Connect{ClientID: "c"}},
			&wire.Disconnect{ReasonCode: wire.ProtocolError,
				Properties: &wire.Properties{ReasonString: "a second CONNECT"}}},
		// MQTT-4.13.1-1: a malformed packet.
		{"MQTT-4.13.1-1", nil, nil,
			&wire.Disconnect{ReasonCode: wire.MalformedPacket,
				Properties: &wire.Properties{ReasonString: "malformed PINGREQ packet: has a body of 1 bytes"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []mqtttest.Option
			if tt.opt != nil {
				opts = append(opts, tt.opt)
			}
			srv := newServer(t, opts...)
			c := dial(t, srv, wire.V5)
			c.send(&wire.Connect{ClientID: "c", CleanStart: true})
			c.recv()
			if tt.send == nil {
				c.write([]byte{0xC0, 1, 0})
			}
			c.send(tt.send...)
			var allowed []wire.Packet
			if tt.name == "MQTT-3.3.4-9 receive maximum" {
				allowed = []wire.Packet{
					&wire.Pubrec{PacketID: 1, ReasonCode: wire.NoMatchingSubscribers},
					&wire.Pubrec{PacketID: 2, ReasonCode: wire.NoMatchingSubscribers},
				}
			}
			c.expectClosed(append(allowed, tt.want)...)
		})
	}
}

// TestV311ProtocolErrors: v311:MQTT-4.8.0-1: a 3.1.1 client that breaks
// the protocol is disconnected without a word.
func TestV311ProtocolErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  []byte
	}{
		{"MQTT-3.6.1-1 PUBREL flags", []byte{0x60, 2, 0, 1}},
		{"MQTT-3.8.1-1 SUBSCRIBE flags", []byte{0x80, 6, 0, 1, 0, 1, 't', 0}},
		{"MQTT-3.10.1-1 UNSUBSCRIBE flags", []byte{0xA0, 5, 0, 1, 0, 1, 't'}},
		{"v311:MQTT-3.3.1-4 QoS 3", []byte{0x36, 5, 0, 1, 't', 0, 1}},
		{"v311:MQTT-3.8.3-4 reserved bits", []byte{0x82, 6, 0, 1, 0, 1, 't', 4}},
		{"MQTT-3.1.0-2 second CONNECT", []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 0, 0, 1, 'c'}},
		{"server packet", []byte{0x90, 3, 0, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			c := connect(t, srv, wire.V311, "c")
			c.write(tt.raw)
			c.expectClosed()
		})
	}
}

// TestFirstPacketNotConnect: MQTT-3.1.4-1: the server
// closes a connection whose first packet is not CONNECT.
func TestFirstPacketNotConnect(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := dial(t, srv, wire.V5)
	c.send(&wire.Pingreq{})
	c.expectClosed()
}

// TestVersions: a server refusing a version answers as a broker that does
// not know it: 20 02 00 01 (MQTT-3.1.2-2, v311:MQTT-3.1.2-2), read by v5
// clients as 0x84.
func TestVersions(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mqtttest.Versions(wire.V311))
	c := dial(t, srv, wire.V5)
	c.send(&wire.Connect{ClientID: "c", CleanStart: true})
	buf := make([]byte, 5)
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	n, _ := c.nc.Read(buf)
	if got, want := buf[:n], []byte{0x20, 2, 0, 1}; string(got) != string(want) {
		t.Errorf("answer to a v5 CONNECT: % x, want % x", got, want)
	}
	c.expectClosed()
	// The client falls back to 3.1.1.
	connect(t, srv, wire.V311, "c")
	// An unknown protocol level gets the same answer.
	c = dial(t, srv, wire.V311)
	c.write([]byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 9, 2, 0, 0, 0, 0})
	c.expectClosed(&wire.Connack{ReasonCode: wire.UnsupportedProtocolVersion})
	// As does 3.1, which this server refuses.
	c = dial(t, srv, wire.V31)
	c.send(&wire.Connect{ClientID: "c", CleanStart: true})
	c.expectClosed(&wire.Connack{ReasonCode: wire.UnsupportedProtocolVersion})

	// The records show what the v5 client read.
	rs := srv.Packets()
	if got, want := rs[1].Packet, (&wire.Connack{ReasonCode: wire.UnsupportedProtocolVersion}); got.Type() != want.Type() || got.(*wire.Connack).ReasonCode != want.ReasonCode {
		t.Errorf("record of the refusal: %v", rs[1])
	}
}

// TestAuthenticate: the Authenticate hook refuses with a reason code,
// mapped to a 3.x return code, or closing without CONNACK when 3.x has
// none (v311:MQTT-3.2.2-6). MQTT-3.2.2-6, -7: no session present, closed.
func TestAuthenticate(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mqtttest.Authenticate(func(c *wire.Connect) wire.ReasonCode {
		switch {
		case c.Username == "banned":
			return wire.Banned
		case c.Username != "user" || string(c.Password) != "pw":
			return wire.BadUsernameOrPassword
		}
		return wire.Success
	}))
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			c := dial(t, srv, v)
			c.send(&wire.Connect{ClientID: "c", Username: "user", Password: []byte("bad")})
			c.expectClosed(&wire.Connack{ReasonCode: wire.BadUsernameOrPassword})
			c = dial(t, srv, v)
			c.send(&wire.Connect{ClientID: "c", Username: "banned", Password: []byte("pw")})
			if v == wire.V5 {
				c.expectClosed(&wire.Connack{ReasonCode: wire.Banned})
			} else {
				c.expectClosed()
			}
			c = dial(t, srv, v)
			c.connect(&wire.Connect{ClientID: "c", Username: "user", Password: []byte("pw")})
		})
	}
}

// TestEnhancedAuth: an AUTH exchange before CONNACK (MQTT-4.12.0-2, -5)
// and a re-authentication (MQTT 5.0 section 4.12.1).
func TestEnhancedAuth(t *testing.T) {
	t.Parallel()
	type step struct {
		step int
		data string
	}
	var (
		mu    sync.Mutex
		steps []step
	)
	srv := newServer(t, mqtttest.EnhancedAuth(func(c *wire.Connect, n int, data []byte) ([]byte, wire.ReasonCode) {
		mu.Lock()
		steps = append(steps, step{n, string(data)})
		mu.Unlock()
		switch string(data) {
		case "hello":
			return []byte("challenge"), wire.ContinueAuthentication
		case "response":
			return []byte("welcome"), wire.Success
		}
		return nil, wire.NotAuthorized
	}))
	auth := func(code wire.ReasonCode, data string) *wire.Auth {
		return &wire.Auth{ReasonCode: code, Properties: &wire.Properties{AuthMethod: "TEST", AuthData: []byte(data)}}
	}
	c := dial(t, srv, wire.V5)
	c.send(&wire.Connect{ClientID: "c", CleanStart: true, Properties: &wire.Properties{AuthMethod: "TEST", AuthData: []byte("hello")}})
	c.expect(auth(wire.ContinueAuthentication, "challenge")) // MQTT-3.2.0-1: only AUTH before CONNACK
	c.send(auth(wire.ContinueAuthentication, "response"))
	c.expect(&wire.Connack{Properties: &wire.Properties{TopicAliasMaximum: 10, AuthMethod: "TEST", AuthData: []byte("welcome")}})

	c.send(auth(wire.ReAuthenticate, "hello"))
	c.expect(auth(wire.ContinueAuthentication, "challenge"))
	c.send(auth(wire.ContinueAuthentication, "response"))
	c.expect(auth(wire.Success, "welcome"))
	// MQTT-4.12.1-2: a failed re-authentication disconnects.
	c.send(auth(wire.ReAuthenticate, "nonsense"))
	c.expectClosed(&wire.Disconnect{ReasonCode: wire.NotAuthorized,
		Properties: &wire.Properties{ReasonString: "re-authentication failed: not authorized"}})

	// MQTT-4.12.0-4: refused at a step.
	c = dial(t, srv, wire.V5)
	c.send(&wire.Connect{ClientID: "c", CleanStart: true, Properties: &wire.Properties{AuthMethod: "TEST", AuthData: []byte("x")}})
	c.expectClosed(&wire.Connack{ReasonCode: wire.NotAuthorized})
	mu.Lock()
	defer mu.Unlock()
	want := []step{{0, "hello"}, {1, "response"}, {0, "hello"}, {1, "response"}, {0, "nonsense"}, {0, "x"}}
	if len(steps) != len(want) {
		t.Fatalf("steps %v, want %v", steps, want)
	}
	for i := range want {
		if steps[i] != want[i] {
			t.Errorf("step %d: %v, want %v", i, steps[i], want[i])
		}
	}

	// MQTT-4.12.0-1: no EnhancedAuth, an Authentication Method is
	// refused with 0x8C.
	plain := newServer(t)
	c = dial(t, plain, wire.V5)
	c.send(&wire.Connect{ClientID: "c", CleanStart: true, Properties: &wire.Properties{AuthMethod: "TEST"}})
	c.expectClosed(&wire.Connack{ReasonCode: wire.BadAuthenticationMethod})
	// MQTT-4.12.0-6: without a method, AUTH is a protocol error and the
	// server sends none.
	c = connect(t, plain, wire.V5, "c")
	c.send(auth(wire.ReAuthenticate, "hello"))
	c.expectClosed(&wire.Disconnect{ReasonCode: wire.ProtocolError,
		Properties: &wire.Properties{ReasonString: "AUTH without an authentication method in CONNECT"}})
}

// TestWillLimits: MQTT-3.2.2-12, -13: a will the server cannot honour is
// refused.
func TestWillLimits(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mqtttest.MaximumQoS(1), mqtttest.RetainAvailable(false))
	c := dial(t, srv, wire.V5)
	c.send(&wire.Connect{ClientID: "c", Will: &wire.Will{Topic: "w", QoS: 2}})
	c.expectClosed(&wire.Connack{ReasonCode: wire.QoSNotSupported})
	c = dial(t, srv, wire.V5)
	c.send(&wire.Connect{ClientID: "c", Will: &wire.Will{Topic: "w", Retain: true}})
	c.expectClosed(&wire.Connack{ReasonCode: wire.RetainNotSupported})
}

// TestClientReceiveMaximum: MQTT-3.3.4-9: the server sends no more
// unacknowledged QoS 1 and 2 messages than the client's Receive Maximum;
// MQTT-3.3.4-10: other packets are not held back.
func TestClientReceiveMaximum(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	sub := dial(t, srv, wire.V5)
	sub.connect(&wire.Connect{ClientID: "sub", CleanStart: true, Properties: &wire.Properties{ReceiveMaximum: 2}})
	sub.subscribe(1, wire.Filter{Topic: "t", QoS: 2})
	for i := range 4 {
		srv.Publish(&wire.Publish{Topic: "t", QoS: 1 + byte(i%2), Payload: []byte{byte(i)}})
	}
	sub.expect(
		&wire.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte{0}},
		&wire.Publish{Topic: "t", QoS: 2, PacketID: 2, Payload: []byte{1}},
	)
	sub.send(&wire.Pingreq{})
	sub.expect(&wire.Pingresp{})
	sub.send(&wire.Pubrec{PacketID: 2})
	sub.expect(&wire.Pubrel{PacketID: 2}) // still counts until PUBCOMP
	sub.send(&wire.Puback{PacketID: 1})
	sub.expect(&wire.Publish{Topic: "t", QoS: 1, PacketID: 3, Payload: []byte{2}})
	sub.send(&wire.Pubcomp{PacketID: 2})
	sub.expect(&wire.Publish{Topic: "t", QoS: 2, PacketID: 4, Payload: []byte{3}})
}

// TestClientMaximumPacketSize: MQTT-3.1.2-24, -25: a message too large for
// the client is dropped as if delivered, and the next one goes.
func TestClientMaximumPacketSize(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	sub := dial(t, srv, wire.V5)
	sub.connect(&wire.Connect{ClientID: "sub", CleanStart: true, Properties: &wire.Properties{MaximumPacketSize: 50}})
	sub.subscribe(1, wire.Filter{Topic: "t", QoS: 1})
	srv.Publish(&wire.Publish{Topic: "t", QoS: 1, Payload: make([]byte, 50)})
	srv.Publish(&wire.Publish{Topic: "t", QoS: 1, Payload: []byte("small")})
	sub.expect(&wire.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("small")})
}

// TestRequestProblemInformation: MQTT-3.1.2-29: with Request Problem
// Information 0, no Reason String on SUBACK.
func TestRequestProblemInformation(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mqtttest.WildcardSubscriptionAvailable(false))
	c := dial(t, srv, wire.V5)
	c.connect(&wire.Connect{ClientID: "c", CleanStart: true, Properties: &wire.Properties{RequestProblemInfo: ptr(false)}})
	c.send(&wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "#"}}})
	c.expect(&wire.Suback{PacketID: 1, ReasonCodes: []wire.ReasonCode{wire.WildcardSubscriptionsNotSupported}})
}

// TestTopicAlias: MQTT-3.3.2-12: the server accepts client aliases up to
// its maximum; the mapping lasts for the connection (MQTT-3.3.2-7). The
// subscriber set no Topic Alias Maximum and gets no alias (MQTT-3.1.2-27).
func TestTopicAlias(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	sub := connect(t, srv, wire.V5, "sub")
	sub.subscribe(1, wire.Filter{Topic: "#"})
	pub := connect(t, srv, wire.V5, "pub")
	pub.send(
		&wire.Publish{Topic: "long/topic", Payload: []byte("1"), Properties: &wire.Properties{TopicAlias: 10}},
		&wire.Publish{Payload: []byte("2"), Properties: &wire.Properties{TopicAlias: 10}},
		&wire.Publish{Topic: "other", Payload: []byte("3"), Properties: &wire.Properties{TopicAlias: 10}},
		&wire.Publish{Payload: []byte("4"), Properties: &wire.Properties{TopicAlias: 10}},
	)
	sub.expect(
		&wire.Publish{Topic: "long/topic", Payload: []byte("1")},
		&wire.Publish{Topic: "long/topic", Payload: []byte("2")},
		&wire.Publish{Topic: "other", Payload: []byte("3")},
		&wire.Publish{Topic: "other", Payload: []byte("4")},
	)
	pub.send(&wire.Disconnect{})
	pub = connect(t, srv, wire.V5, "pub")
	pub.send(&wire.Publish{Payload: []byte("5"), Properties: &wire.Properties{TopicAlias: 10}})
	pub.expectClosed(&wire.Disconnect{ReasonCode: wire.ProtocolError,
		Properties: &wire.Properties{ReasonString: "unknown topic alias 10"}})
}

// TestNoLocal: MQTT-3.8.3-3: No Local keeps a client's own messages from
// it.
func TestNoLocal(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := connect(t, srv, wire.V5, "c")
	c.subscribe(1, wire.Filter{Topic: "t", NoLocal: true})
	c.send(&wire.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("mine")})
	c.expect(&wire.Puback{PacketID: 1, ReasonCode: wire.NoMatchingSubscribers})
	srv.Publish(&wire.Publish{Topic: "t", Payload: []byte("theirs")})
	c.expect(&wire.Publish{Topic: "t", Payload: []byte("theirs")})
}

// TestSharedSubscriptions: MQTT-4.8.2-1, -2 filters; each message goes to
// one member of the group, in turn, with that subscription's identifier
// (MQTT-3.3.4-5); no retained message on subscribe.
func TestSharedSubscriptions(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Publish(&wire.Publish{Topic: "job", Retain: true, Payload: []byte("old")})
	a := connect(t, srv, wire.V5, "a")
	a.send(&wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "$share/g/job", QoS: 1}}, Properties: &wire.Properties{SubscriptionIDs: []int{1}}})
	a.expect(&wire.Suback{PacketID: 1, ReasonCodes: []wire.ReasonCode{1}})
	b := connect(t, srv, wire.V311, "b")
	b.subscribe(1, wire.Filter{Topic: "$share/g/job", QoS: 1})
	other := connect(t, srv, wire.V5, "other")
	other.subscribe(1, wire.Filter{Topic: "$share/h/#"}, wire.Filter{Topic: "job"})
	for i := range 4 {
		srv.Publish(&wire.Publish{Topic: "job", QoS: 1, Payload: []byte{'0' + byte(i)}})
	}
	a.expect(
		&wire.Publish{Topic: "job", QoS: 1, PacketID: 1, Payload: []byte("0"), Properties: &wire.Properties{SubscriptionIDs: []int{1}}},
		&wire.Publish{Topic: "job", QoS: 1, PacketID: 2, Payload: []byte("2"), Properties: &wire.Properties{SubscriptionIDs: []int{1}}},
	)
	b.expect(
		&wire.Publish{Topic: "job", QoS: 1, PacketID: 1, Payload: []byte("1")},
		&wire.Publish{Topic: "job", QoS: 1, PacketID: 2, Payload: []byte("3")},
	)
	// other has both a non-shared and a shared subscription: two copies.
	// The non-shared one brought the retained message first.
	other.expect(&wire.Publish{Topic: "job", Retain: true, Payload: []byte("old")})
	for i := range 4 {
		p := &wire.Publish{Topic: "job", Payload: []byte{'0' + byte(i)}}
		other.expect(p, p)
	}
}

// TestPropertiesForwarded: MQTT-3.3.2-4, -15, -16, -17, -18, -20: the
// server forwards the properties of a message unchanged, user properties
// in order.
func TestPropertiesForwarded(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	sub := connect(t, srv, wire.V5, "sub")
	sub.subscribe(1, wire.Filter{Topic: "t"})
	pub := connect(t, srv, wire.V5, "pub")
	props := &wire.Properties{
		PayloadFormat:   1,
		ContentType:     "text/plain",
		ResponseTopic:   "reply/here",
		CorrelationData: []byte{1, 2, 3},
		UserProperties:  []wire.UserProperty{{Key: "b", Value: "2"}, {Key: "a", Value: "1"}, {Key: "b", Value: "3"}},
	}
	pub.send(&wire.Publish{Topic: "t", Payload: []byte("x"), Properties: props})
	sub.expect(&wire.Publish{Topic: "t", Payload: []byte("x"), Properties: props})
	// A 3.1.1 subscriber gets the message without properties.
	old := connect(t, srv, wire.V311, "old")
	old.subscribe(1, wire.Filter{Topic: "t"})
	pub.send(&wire.Publish{Topic: "t", Payload: []byte("y"), Properties: props})
	old.expect(&wire.Publish{Topic: "t", Payload: []byte("y")})
}

// TestMalformedSubscribeOptions: MQTT-3.8.3-5: reserved bits 6 and 7 of the
// subscription options make the SUBSCRIBE malformed.
func TestMalformedSubscribeOptions(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := connect(t, srv, wire.V5, "c")
	c.write([]byte{0x82, 7, 0, 1, 0, 0, 1, 't', 0x40})
	p := c.recv().(*wire.Disconnect)
	if p.ReasonCode != wire.MalformedPacket {
		t.Errorf("DISCONNECT %v, want malformed packet", p.ReasonCode)
	}
	c.expectClosed()
}

// TestReservedConnectFlag: MQTT-3.1.2-3: a CONNECT with reserved flag bit 0
// set is malformed; the server closes without CONNACK (MQTT-3.1.4-1).
func TestReservedConnectFlag(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		c := dial(t, srv, v)
		b, _ := (&wire.Connect{ClientID: "c", CleanStart: true}).Append(nil, v)
		b[9] |= 1 // the connect flags of "MQTT" with a one-byte header
		c.write(b)
		c.expectClosed()
	}
}

// TestSubackReasonStringTooLarge: MQTT-3.9.2-1: the server leaves out a
// Reason String that would take the SUBACK over the client's Maximum
// Packet Size.
func TestSubackReasonStringTooLarge(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mqtttest.WildcardSubscriptionAvailable(false))
	c := dial(t, srv, wire.V5)
	c.connect(&wire.Connect{ClientID: "c", CleanStart: true, Properties: &wire.Properties{MaximumPacketSize: 20}})
	c.send(&wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "#"}}})
	c.expect(&wire.Suback{PacketID: 1, ReasonCodes: []wire.ReasonCode{wire.WildcardSubscriptionsNotSupported}})
}

// TestV311SubscribeRefused: v311:MQTT-3.8.3-2, v311:MQTT-3.9.3-2: a 3.1.1
// server without wildcard support refuses such filters with 0x80.
func TestV311SubscribeRefused(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mqtttest.WildcardSubscriptionAvailable(false))
	c := connect(t, srv, wire.V311, "c")
	c.send(&wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "a/+"}, {Topic: "a/b", QoS: 2}}})
	c.expect(&wire.Suback{PacketID: 1, ReasonCodes: []wire.ReasonCode{wire.UnspecifiedError, wire.GrantedQoS2}})
}
