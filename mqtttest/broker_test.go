package mqtttest_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

var versions = []wire.Version{wire.V31, wire.V311, wire.V5}

// connack is the CONNACK a default server sends a clean session of
// version v.
func connack(v wire.Version) *wire.Connack {
	if v == wire.V5 {
		return &wire.Connack{Properties: &wire.Properties{TopicAliasMaximum: 10}}
	}
	return &wire.Connack{}
}

// noMatch is the PUBACK/PUBREC code for a message nobody subscribed to.
func noMatch(v wire.Version) wire.ReasonCode {
	if v == wire.V5 {
		return wire.NoMatchingSubscribers
	}
	return wire.Success
}

func TestConnect(t *testing.T) {
	t.Parallel()
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			c := dial(t, srv, v)
			c.send(&wire.Connect{ClientID: "c1", CleanStart: true, KeepAlive: 30})
			// MQTT-3.1.3-5: an alphanumeric ID is accepted;
			// v311:MQTT-3.2.0-1: CONNACK comes first;
			// MQTT-3.2.2-2: clean start, no session present.
			c.expect(connack(v))
			c.send(&wire.Pingreq{})
			c.expect(&wire.Pingresp{}) // MQTT-3.12.4-1
			c.send(&wire.Disconnect{})
			c.expectClosed()
		})
	}
}

func TestAssignedClientID(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	// MQTT-3.1.3-6, MQTT-3.1.3-7, MQTT-3.2.2-16: an empty ID gets a
	// unique one, reported in CONNACK.
	for _, id := range []string{"auto-1", "auto-2"} {
		c := dial(t, srv, wire.V5)
		c.send(&wire.Connect{CleanStart: true})
		c.expect(&wire.Connack{Properties: &wire.Properties{AssignedClientID: id, TopicAliasMaximum: 10}})
		conn, err := srv.Conn(testContext(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if got := conn.ClientID(); got != id {
			t.Errorf("Conn(%q).ClientID() = %q", id, got)
		}
	}
	// MQTT-3.1.3-6 in 3.1.1: accepted, assigned but not reported.
	c := dial(t, srv, wire.V311)
	c.send(&wire.Connect{CleanStart: true})
	c.expect(&wire.Connack{})
}

func TestConnectRefusedClientID(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	t.Run("v311:MQTT-3.1.3-8", func(t *testing.T) {
		// An empty client ID with CleanSession 0: CONNACK 0x02, close.
		c := dial(t, srv, wire.V311)
		c.write([]byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0, 0, 0, 0, 0})
		c.expectClosed(&wire.Connack{ReasonCode: wire.ClientIdentifierNotValid})
	})
	t.Run("3.1", func(t *testing.T) {
		// MQTT 3.1 has no empty client ID.
		c := dial(t, srv, wire.V31)
		c.write([]byte{0x10, 14, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 2, 0, 0, 0, 0})
		c.expectClosed(&wire.Connack{ReasonCode: wire.ClientIdentifierNotValid})
	})
}

// TestPublishSubscribe sends a message at each QoS to a subscription at
// each QoS, for every version.
func TestPublishSubscribe(t *testing.T) {
	t.Parallel()
	for _, v := range versions {
		for pubQoS := byte(0); pubQoS <= 2; pubQoS++ {
			for subQoS := byte(0); subQoS <= 2; subQoS++ {
				name := v.String() + "/pub" + string('0'+pubQoS) + "/sub" + string('0'+subQoS)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					testPublishSubscribe(t, v, pubQoS, subQoS)
				})
			}
		}
	}
}

func testPublishSubscribe(t *testing.T, v wire.Version, pubQoS, subQoS byte) {
	srv := newServer(t)
	sub := connect(t, srv, v, "sub")
	sub.subscribe(1, wire.Filter{Topic: "a/+", QoS: subQoS})
	pub := connect(t, srv, v, "pub")

	var pid uint16
	if pubQoS > 0 {
		pid = 7
	}
	pub.send(&wire.Publish{Topic: "a/b", QoS: pubQoS, PacketID: pid, Payload: []byte("hello")})
	switch pubQoS {
	case 1:
		pub.expect(&wire.Puback{PacketID: 7}) // MQTT-4.3.2-4, MQTT-2.2.1-5
	case 2:
		pub.expect(&wire.Pubrec{PacketID: 7}) // MQTT-4.3.3-8
		pub.send(&wire.Pubrel{PacketID: 7})
		pub.expect(&wire.Pubcomp{PacketID: 7}) // MQTT-4.3.3-11
	}

	// MQTT-3.8.4-8: delivered at min(published QoS, granted QoS).
	q := min(pubQoS, subQoS)
	var id uint16
	if q > 0 {
		id = 1 // MQTT-2.2.1-4: the server's own identifiers
	}
	sub.expect(&wire.Publish{Topic: "a/b", QoS: q, PacketID: id, Payload: []byte("hello")})
	switch q {
	case 1:
		sub.send(&wire.Puback{PacketID: id})
	case 2:
		sub.send(&wire.Pubrec{PacketID: id})
		sub.expect(&wire.Pubrel{PacketID: id}) // MQTT-4.3.3-4
		sub.send(&wire.Pubcomp{PacketID: id})
	}
	// The exchange is over: a ping comes back with nothing before it.
	sub.send(&wire.Pingreq{})
	sub.expect(&wire.Pingresp{})
}

// TestQoS2Duplicate: MQTT-4.3.3-10, a PUBLISH repeated before PUBREL is
// acknowledged again and not delivered twice; MQTT-4.3.3-12, after PUBCOMP
// the same identifier is a new message.
func TestQoS2Duplicate(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	sub := connect(t, srv, wire.V311, "sub")
	sub.subscribe(1, wire.Filter{Topic: "t", QoS: 0})
	pub := connect(t, srv, wire.V311, "pub")
	m := &wire.Publish{Topic: "t", QoS: 2, PacketID: 5, Payload: []byte("1")}
	pub.send(m)
	pub.expect(&wire.Pubrec{PacketID: 5})
	dup := *m
	dup.Dup = true
	pub.send(&dup)
	pub.expect(&wire.Pubrec{PacketID: 5})
	pub.send(&wire.Pubrel{PacketID: 5})
	pub.expect(&wire.Pubcomp{PacketID: 5})
	pub.send(&wire.Publish{Topic: "t", QoS: 2, PacketID: 5, Payload: []byte("2")})
	pub.expect(&wire.Pubrec{PacketID: 5})
	sub.expect(
		&wire.Publish{Topic: "t", Payload: []byte("1")},
		&wire.Publish{Topic: "t", Payload: []byte("2")},
	)
}

// TestOrder: MQTT-4.6.0-5, -6: messages reach a subscriber in the order
// they were published, across QoS levels.
func TestOrder(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	sub := connect(t, srv, wire.V311, "sub")
	sub.subscribe(1, wire.Filter{Topic: "t", QoS: 2})
	pub := connect(t, srv, wire.V311, "pub")
	var want, got []byte
	for i := range 30 {
		q := byte(i % 3)
		p := &wire.Publish{Topic: "t", QoS: q, Payload: []byte{byte(i)}}
		if q > 0 {
			p.PacketID = uint16(i + 1)
		}
		pub.send(p)
		want = append(want, byte(i))
	}
	for range want {
		p := sub.recv().(*wire.Publish)
		got = append(got, p.Payload...)
		if p.QoS != p.Payload[0]%3 {
			t.Errorf("message %d came at QoS %d", p.Payload[0], p.QoS)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("order (-want +got):\n%s", diff)
	}
}

func TestTopicMatching(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		filter string
		topics []string // published in this order
		want   []string // delivered
	}{
		{"plus", "a/+/c", []string{"a/b/c", "a/b/d", "a/b/c/d", "a//c"}, []string{"a/b/c", "a//c"}},
		{"hash", "a/#", []string{"a", "a/b", "a/b/c", "b/a"}, []string{"a", "a/b", "a/b/c"}},
		// MQTT-4.7.2-1: leading wildcards do not match $ topics.
		{"MQTT-4.7.2-1 hash", "#", []string{"$SYS/x", "x"}, []string{"x"}},
		{"MQTT-4.7.2-1 plus", "+/x", []string{"$SYS/x", "a/x"}, []string{"a/x"}},
		{"dollar", "$SYS/#", []string{"$SYS/x", "x"}, []string{"$SYS/x"}},
		// MQTT-4.7.3-4: case sensitive, no normalisation.
		{"MQTT-4.7.3-4", "A/b", []string{"a/b", "A/b", "A/b/"}, []string{"A/b"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			id := "sub" + string(rune('a'+i))
			end := "end/" + id
			sub := connect(t, srv, wire.V311, id)
			sub.subscribe(1, wire.Filter{Topic: tt.filter}, wire.Filter{Topic: end})
			pub := connect(t, srv, wire.V311, "pub"+id)
			for _, topic := range tt.topics {
				pub.send(&wire.Publish{Topic: topic, Payload: []byte(id)})
			}
			// Messages from one publisher keep their order: when
			// the one on end/ arrives, the others have.
			pub.send(&wire.Publish{Topic: end})
			var got []string
			for {
				topic := sub.recv().(*wire.Publish).Topic
				if topic == end {
					break
				}
				got = append(got, topic)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("delivered topics (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOverlappingSubscriptions: one copy per client at the highest QoS
// (MQTT-3.3.4-2), with every subscription identifier in v5
// (MQTT-3.3.4-3, -4).
func TestOverlappingSubscriptions(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		sub := connect(t, srv, v, "sub"+v.String())
		sub.subscribe(1, wire.Filter{Topic: "a/#", QoS: 0})
		if v == wire.V5 {
			sub.send(&wire.Subscribe{PacketID: 2, Filters: []wire.Filter{{Topic: "a/+", QoS: 1}},
				Properties: &wire.Properties{SubscriptionIDs: []int{7}}})
			sub.expect(&wire.Suback{PacketID: 2, ReasonCodes: []wire.ReasonCode{1}})
		} else {
			sub.subscribe(2, wire.Filter{Topic: "a/+", QoS: 1})
		}
		pub := connect(t, srv, wire.V311, "pub"+v.String())
		pub.send(&wire.Publish{Topic: "a/b", QoS: 2, PacketID: 1, Payload: []byte("x")})
		pub.expect(&wire.Pubrec{PacketID: 1})
		want := &wire.Publish{Topic: "a/b", QoS: 1, PacketID: 1, Payload: []byte("x")}
		if v == wire.V5 {
			want.Properties = &wire.Properties{SubscriptionIDs: []int{7}}
		}
		sub.expect(want)
		sub.send(&wire.Puback{PacketID: 1}, &wire.Pingreq{})
		sub.expect(&wire.Pingresp{}) // and no second copy before it
	}
}

// TestUnsubscribe: MQTT-3.10.4-1, -4, -5, -6, MQTT-3.11.3-1: exact-match
// unsubscribe, one UNSUBACK with the same identifier and, in v5, a code
// per filter in order.
func TestUnsubscribe(t *testing.T) {
	t.Parallel()
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			sub := connect(t, srv, v, "sub")
			sub.subscribe(1, wire.Filter{Topic: "a/#"}, wire.Filter{Topic: "b"})
			sub.send(&wire.Unsubscribe{PacketID: 9, Topics: []string{"a/+", "a/#", "b"}})
			want := &wire.Unsuback{PacketID: 9}
			if v == wire.V5 {
				want.ReasonCodes = []wire.ReasonCode{wire.NoSubscriptionExisted, wire.Success, wire.Success}
			}
			sub.expect(want)
			pub := connect(t, srv, v, "pub")
			pub.send(&wire.Publish{Topic: "a/x", QoS: 1, PacketID: 1})
			pub.expect(&wire.Puback{PacketID: 1, ReasonCode: noMatch(v)})
			sub.send(&wire.Pingreq{})
			sub.expect(&wire.Pingresp{})
		})
	}
}

func TestRetained(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	pub := connect(t, srv, wire.V311, "pub")
	// MQTT-3.3.1-5: stored; a newer one replaces it (QoS 0 too,
	// v311:MQTT-3.3.1-12 in 3.1.1's numbering).
	pub.send(&wire.Publish{Topic: "r/1", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("old")})
	pub.expect(&wire.Puback{PacketID: 1})
	pub.send(&wire.Publish{Topic: "r/1", Retain: true, Payload: []byte("new")})
	pub.send(&wire.Publish{Topic: "r/2", QoS: 2, PacketID: 2, Retain: true, Payload: []byte("two")})
	pub.expect(&wire.Pubrec{PacketID: 2})
	pub.send(&wire.Pubrel{PacketID: 2})
	pub.expect(&wire.Pubcomp{PacketID: 2})
	// MQTT-3.3.1-6, -7: an empty payload deletes it.
	pub.send(&wire.Publish{Topic: "r/3", Retain: true, Payload: []byte("gone")})
	pub.send(&wire.Publish{Topic: "r/3", Retain: true})
	// MQTT-3.3.1-8: RETAIN 0 leaves the store alone.
	pub.send(&wire.Publish{Topic: "r/2", QoS: 1, PacketID: 3, Payload: []byte("live")})
	pub.expect(&wire.Puback{PacketID: 3})

	// MQTT-3.3.1-9, -10: a new subscription gets them with RETAIN 1, at
	// min(QoS), in topic order here.
	sub := connect(t, srv, wire.V311, "sub")
	sub.send(&wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "r/#", QoS: 1}}})
	sub.expect(
		&wire.Suback{PacketID: 1, ReasonCodes: []wire.ReasonCode{1}},
		&wire.Publish{Topic: "r/1", Retain: true, Payload: []byte("new")},
		&wire.Publish{Topic: "r/2", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("two")},
	)
	sub.send(&wire.Puback{PacketID: 1})
	// Live forwarding clears RETAIN in 3.1.1 (v311:MQTT-3.3.1-9).
	pub.send(&wire.Publish{Topic: "r/1", Retain: true, Payload: []byte("newer")})
	sub.expect(&wire.Publish{Topic: "r/1", Payload: []byte("newer")})
	// MQTT-3.8.4-3: subscribing again to the same filter resends them.
	sub.send(&wire.Subscribe{PacketID: 2, Filters: []wire.Filter{{Topic: "r/#", QoS: 0}}})
	sub.expect(
		&wire.Suback{PacketID: 2, ReasonCodes: []wire.ReasonCode{0}},
		&wire.Publish{Topic: "r/1", Retain: true, Payload: []byte("newer")},
		&wire.Publish{Topic: "r/2", Retain: true, Payload: []byte("two")},
	)
}

// TestRetainHandling covers the v5 subscription options about retained
// messages: MQTT-3.3.1-9, -10, -11 (Retain Handling 0, 1, 2) and
// MQTT-3.3.1-12, -13 (Retain As Published).
func TestRetainHandling(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	if err := srv.Publish(&wire.Publish{Topic: "r", Retain: true, Payload: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	sub := connect(t, srv, wire.V5, "sub")
	kept := &wire.Publish{Topic: "r", Retain: true, Payload: []byte("kept")}
	suback := func(id uint16) *wire.Suback { return &wire.Suback{PacketID: id, ReasonCodes: []wire.ReasonCode{0}} }
	tests := []struct {
		rh   byte
		want []wire.Packet
	}{
		{0, []wire.Packet{suback(1), kept}}, // new: sent
		{0, []wire.Packet{suback(2), kept}}, // existing: sent again
		{1, []wire.Packet{suback(3)}},       // existing: not sent
		{2, []wire.Packet{suback(4)}},       // never
	}
	for i, tt := range tests {
		sub.send(&wire.Subscribe{PacketID: uint16(i + 1), Filters: []wire.Filter{{Topic: "r", RetainHandling: tt.rh}}})
		sub.expect(tt.want...)
	}
	sub.send(&wire.Subscribe{PacketID: 5, Filters: []wire.Filter{{Topic: "+", RetainHandling: 1, RetainAsPublished: true}}})
	sub.expect(suback(5), kept) // new: sent
	sub.send(&wire.Unsubscribe{PacketID: 6, Topics: []string{"r"}})
	sub.expect(&wire.Unsuback{PacketID: 6, ReasonCodes: []wire.ReasonCode{0}})

	// Live: Retain As Published keeps RETAIN.
	pub := connect(t, srv, wire.V5, "pub")
	pub.send(&wire.Publish{Topic: "r", Retain: true, Payload: []byte("live")})
	sub.expect(&wire.Publish{Topic: "r", Retain: true, Payload: []byte("live")})
	sub.send(&wire.Subscribe{PacketID: 7, Filters: []wire.Filter{{Topic: "+", RetainHandling: 2}}})
	sub.expect(suback(7))
	pub.send(&wire.Publish{Topic: "r", Retain: true, Payload: []byte("live2")})
	sub.expect(&wire.Publish{Topic: "r", Payload: []byte("live2")})
}

// TestPersistentSession: MQTT-3.1.2-5, -23, v311:MQTT-3.1.2-4 and the
// 3.1.1 broker statement MQTT-3.1.2-5: subscriptions survive and QoS 1 and
// 2 messages wait for the client, QoS 0 ones do not; session present
// (MQTT-3.2.2-3).
func TestPersistentSession(t *testing.T) {
	t.Parallel()
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			keep := &wire.Connect{ClientID: "sub"}
			if v == wire.V5 {
				keep.Properties = &wire.Properties{SessionExpiry: ptr(uint32(60))}
			}
			sub := dial(t, srv, v)
			if ack := sub.connect(keep); ack.SessionPresent {
				t.Fatal("session present on the first connection")
			}
			sub.subscribe(1, wire.Filter{Topic: "t", QoS: 2})
			sub.send(&wire.Disconnect{})
			sub.expectClosed()

			pub := connect(t, srv, v, "pub")
			for i, q := range []byte{0, 1, 2} {
				p := &wire.Publish{Topic: "t", QoS: q, Payload: []byte{'0' + q}}
				if q > 0 {
					p.PacketID = uint16(i)
				}
				pub.send(p)
			}
			pub.expect(&wire.Puback{PacketID: 1}, &wire.Pubrec{PacketID: 2})

			sub = dial(t, srv, v)
			if ack := sub.connect(keep); !ack.SessionPresent {
				t.Fatal("no session present on the second connection")
			}
			sub.expect(
				&wire.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("1")},
				&wire.Publish{Topic: "t", QoS: 2, PacketID: 2, Payload: []byte("2")},
			)

			// MQTT-3.1.2-4: clean start throws the session away.
			sub = dial(t, srv, v)
			sub.send(&wire.Connect{ClientID: "sub", CleanStart: true})
			sub.expect(connack(v))
			pub.send(&wire.Publish{Topic: "t", QoS: 1, PacketID: 3})
			pub.expect(&wire.Puback{PacketID: 3, ReasonCode: noMatch(v)})
		})
	}
}

// TestResendOnResume: MQTT-4.4.0-1 (and v311:MQTT-4.4.0-1): unacknowledged
// PUBLISH packets go again with DUP 1 (MQTT-3.3.1-1) and their identifiers,
// and PUBREL for those already received, in order.
func TestResendOnResume(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	keep := &wire.Connect{ClientID: "sub"}
	sub := dial(t, srv, wire.V311)
	sub.connect(keep)
	sub.subscribe(1, wire.Filter{Topic: "t", QoS: 2})
	srv.Publish(&wire.Publish{Topic: "t", QoS: 1, Payload: []byte("a")})
	srv.Publish(&wire.Publish{Topic: "t", QoS: 2, Payload: []byte("b")})
	srv.Publish(&wire.Publish{Topic: "t", QoS: 2, Payload: []byte("c")})
	sub.expect(
		&wire.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("a")},
		&wire.Publish{Topic: "t", QoS: 2, PacketID: 2, Payload: []byte("b")},
		&wire.Publish{Topic: "t", QoS: 2, PacketID: 3, Payload: []byte("c")},
	)
	sub.send(&wire.Pubrec{PacketID: 3})
	sub.expect(&wire.Pubrel{PacketID: 3})
	sub.nc.Close()

	sub = dial(t, srv, wire.V311)
	sub.send(keep)
	sub.expect(
		&wire.Connack{SessionPresent: true},
		&wire.Publish{Dup: true, Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("a")},
		&wire.Publish{Dup: true, Topic: "t", QoS: 2, PacketID: 2, Payload: []byte("b")},
		&wire.Pubrel{PacketID: 3},
	)
	sub.send(&wire.Puback{PacketID: 1}, &wire.Pubrec{PacketID: 2}, &wire.Pubcomp{PacketID: 3})
	sub.expect(&wire.Pubrel{PacketID: 2})
	sub.send(&wire.Pubcomp{PacketID: 2})
	// Now nothing is left to resend.
	sub.send(&wire.Disconnect{})
	sub.expectClosed()
	sub = dial(t, srv, wire.V311)
	sub.send(keep, &wire.Pingreq{})
	sub.expect(&wire.Connack{SessionPresent: true}, &wire.Pingresp{})
}

// TestTakeover: MQTT-3.1.4-3: a second connection with the same client ID
// takes over; a v5 client gets DISCONNECT 0x8E, a 3.1.1 client is just
// closed (v311:MQTT-3.1.4-2).
func TestTakeover(t *testing.T) {
	t.Parallel()
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			old := connect(t, srv, v, "c")
			c1, err := srv.Conn(testContext(t), "c")
			if err != nil {
				t.Fatal(err)
			}
			connect(t, srv, v, "c")
			if v == wire.V5 {
				old.expectClosed(&wire.Disconnect{ReasonCode: wire.SessionTakenOver})
			} else {
				old.expectClosed()
			}
			<-c1.Done()
			c2, err := srv.Conn(testContext(t), "c")
			if err != nil {
				t.Fatal(err)
			}
			if c2 == c1 || c2.Number() != 2 {
				t.Errorf("Conn after takeover: number %d, want the new connection 2", c2.Number())
			}
		})
	}
}

// TestWill covers MQTT-3.1.2-8 (published on an unexpected close),
// MQTT-3.14.4-3 (discarded by DISCONNECT 0x00), DISCONNECT 0x04, and will
// retain (MQTT-3.1.2-14, -15).
func TestWill(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		v      wire.Version
		end    func(c *client)
		fires  bool
		retain bool
	}{
		{"v311 close", wire.V311, func(c *client) { c.nc.Close() }, true, false},
		{"v311 close retained", wire.V311, func(c *client) { c.nc.Close() }, true, true},
		{"v311 DISCONNECT", wire.V311, func(c *client) { c.send(&wire.Disconnect{}) }, false, false},
		{"v5 close", wire.V5, func(c *client) { c.nc.Close() }, true, false},
		{"v5 DISCONNECT 0x00", wire.V5, func(c *client) { c.send(&wire.Disconnect{}) }, false, false},
		{"v5 DISCONNECT 0x04", wire.V5, func(c *client) { c.send(&wire.Disconnect{ReasonCode: wire.DisconnectWithWill}) }, true, true},
		{"v5 DISCONNECT 0x80", wire.V5, func(c *client) { c.send(&wire.Disconnect{ReasonCode: wire.UnspecifiedError}) }, true, false},
		{"v5 malformed", wire.V5, func(c *client) { c.write([]byte{0xC0, 1, 0}) }, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			sub := connect(t, srv, tt.v, "sub")
			sub.subscribe(1, wire.Filter{Topic: "will", QoS: 1})
			c := dial(t, srv, tt.v)
			c.connect(&wire.Connect{ClientID: "c", CleanStart: true,
				Will: &wire.Will{Topic: "will", Payload: []byte("gone"), QoS: 1, Retain: tt.retain}})
			conn, err := srv.Conn(testContext(t), "c")
			if err != nil {
				t.Fatal(err)
			}
			tt.end(c)
			<-conn.Done()
			if tt.fires {
				sub.expect(&wire.Publish{Topic: "will", QoS: 1, PacketID: 1, Payload: []byte("gone")})
			}
			sub.send(&wire.Pingreq{})
			sub.expect(&wire.Pingresp{})
			late := connect(t, srv, tt.v, "late")
			late.send(&wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "will"}}}, &wire.Pingreq{})
			late.expect(&wire.Suback{PacketID: 1, ReasonCodes: []wire.ReasonCode{0}})
			if tt.fires && tt.retain {
				late.expect(&wire.Publish{Topic: "will", Retain: true, Payload: []byte("gone")})
			}
			late.expect(&wire.Pingresp{})
		})
	}
}

// TestRecords compares the exact packet sequence the server recorded.
func TestRecords(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := dial(t, srv, wire.V311)
	c.send(&wire.Connect{ClientID: "c", CleanStart: true},
		&wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "t", QoS: 1}}},
		&wire.Publish{Topic: "t", QoS: 1, PacketID: 2, Payload: []byte("x")})
	c.expect(&wire.Connack{}, &wire.Suback{PacketID: 1, ReasonCodes: []wire.ReasonCode{1}},
		&wire.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("x")},
		&wire.Puback{PacketID: 2})
	c.send(&wire.Puback{PacketID: 1}, &wire.Disconnect{})
	c.expectClosed()
	ctx := testContext(t)
	if _, err := srv.WaitPacket(ctx, func(r mqtttest.Record) bool { return r.Packet.Type() == wire.DISCONNECT }); err != nil {
		t.Fatal(err)
	}
	rec := func(dir mqtttest.Direction, p wire.Packet) mqtttest.Record {
		return mqtttest.Record{Conn: 1, ClientID: "c", Dir: dir, Packet: p}
	}
	in, out := mqtttest.FromClient, mqtttest.ToClient
	want := []mqtttest.Record{
		rec(in, &wire.Connect{Version: wire.V311, ClientID: "c", CleanStart: true}),
		rec(out, &wire.Connack{}),
		rec(in, &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "t", QoS: 1}}}),
		rec(out, &wire.Suback{PacketID: 1, ReasonCodes: []wire.ReasonCode{1}}),
		rec(in, &wire.Publish{Topic: "t", QoS: 1, PacketID: 2, Payload: []byte("x")}),
		rec(out, &wire.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("x")}),
		rec(out, &wire.Puback{PacketID: 2}),
		rec(in, &wire.Puback{PacketID: 1}),
		rec(in, &wire.Disconnect{}),
	}
	if diff := cmp.Diff(want, srv.Packets()); diff != "" {
		t.Errorf("Packets() (-want +got):\n%s", diff)
	}
}
