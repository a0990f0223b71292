package mqtttest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// is returns a match function for packets of type t going direction d.
func is(d mqtttest.Direction, t wire.Type) func(mqtttest.Record) bool {
	return func(r mqtttest.Record) bool { return r.Dir == d && r.Packet.Type() == t }
}

// TestHoldAck withholds one PUBACK while the next passes it, then releases
// it.
func TestHoldAck(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := connect(t, srv, wire.V311, "c")
	first := true
	f := srv.Inject(func(r mqtttest.Record) bool {
		if r.Dir == mqtttest.ToClient && r.Packet.Type() == wire.PUBACK && first {
			first = false
			return true
		}
		return false
	}, mqtttest.Hold)
	c.send(&wire.Publish{Topic: "t", QoS: 1, PacketID: 1}, &wire.Publish{Topic: "t", QoS: 1, PacketID: 2})
	c.expect(&wire.Puback{PacketID: 2})
	r, err := f.Wait(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(mqtttest.Record{Conn: 1, ClientID: "c", Dir: mqtttest.ToClient, Packet: &wire.Puback{PacketID: 1}}, r); diff != "" {
		t.Errorf("Fault.Wait (-want +got):\n%s", diff)
	}
	f.Release()
	f.Release() // twice is fine
	c.expect(&wire.Puback{PacketID: 1})
	// Records show the acknowledgements in the order they were sent.
	var acks []uint16
	for _, r := range srv.Packets() {
		if p, ok := r.Packet.(*wire.Puback); ok {
			acks = append(acks, p.PacketID)
		}
	}
	if diff := cmp.Diff([]uint16{2, 1}, acks); diff != "" {
		t.Errorf("recorded PUBACKs (-want +got):\n%s", diff)
	}
}

// TestHoldConnect delays the server's processing of CONNECT.
func TestHoldConnect(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	f := srv.Inject(is(mqtttest.FromClient, wire.CONNECT), mqtttest.Hold)
	c := dial(t, srv, wire.V311)
	c.send(&wire.Connect{ClientID: "c", CleanStart: true})
	if _, err := f.Wait(testContext(t)); err != nil {
		t.Fatal(err)
	}
	f.Release()
	c.expect(&wire.Connack{})
}

// TestDropPublish loses a QoS 1 PUBLISH from the client; the client's
// resend after reconnecting (with DUP, MQTT-3.3.1-1) goes through.
func TestDropPublish(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	sub := connect(t, srv, wire.V311, "sub")
	sub.subscribe(1, wire.Filter{Topic: "t", QoS: 1})
	f := srv.Inject(is(mqtttest.FromClient, wire.PUBLISH), mqtttest.Drop)
	c := connect(t, srv, wire.V311, "c")
	c.send(&wire.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("x")}, &wire.Pingreq{})
	c.expect(&wire.Pingresp{})
	f.Release()
	c.send(&wire.Publish{Dup: true, Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("x")})
	c.expect(&wire.Puback{PacketID: 1})
	sub.expect(&wire.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("x")})
}

// TestCloseOnPubrel cuts the connection when the client's PUBREL arrives:
// the server keeps the QoS 2 state in the session, so the PUBREL sent again
// after reconnecting is answered (MQTT-4.3.3-11) and the message is
// delivered once (MQTT-4.3.3-10).
func TestCloseOnPubrel(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	sub := connect(t, srv, wire.V311, "sub")
	sub.subscribe(1, wire.Filter{Topic: "t"})
	n := 0
	srv.Inject(func(r mqtttest.Record) bool {
		if r.Dir == mqtttest.FromClient && r.Packet.Type() == wire.PUBREL {
			n++
			return n == 1
		}
		return false
	}, mqtttest.CloseConn)
	keep := &wire.Connect{ClientID: "c"}
	c := dial(t, srv, wire.V311)
	c.connect(keep)
	c.send(&wire.Publish{Topic: "t", QoS: 2, PacketID: 1, Payload: []byte("x")})
	c.expect(&wire.Pubrec{PacketID: 1})
	c.send(&wire.Pubrel{PacketID: 1})
	c.expectClosed()

	c = dial(t, srv, wire.V311)
	c.send(keep, &wire.Publish{Dup: true, Topic: "t", QoS: 2, PacketID: 1, Payload: []byte("x")}, &wire.Pubrel{PacketID: 1})
	c.expect(&wire.Connack{SessionPresent: true}, &wire.Pubrec{PacketID: 1}, &wire.Pubcomp{PacketID: 1})
	sub.expect(&wire.Publish{Topic: "t", Payload: []byte("x")})
	sub.send(&wire.Pingreq{})
	sub.expect(&wire.Pingresp{})
}

// TestCloseOnSent cuts the connection in place of the server's PUBREC:
// what was queued before it is written, it and what follows are not.
func TestCloseOnSent(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Inject(is(mqtttest.ToClient, wire.PUBREC), mqtttest.CloseConn)
	c := connect(t, srv, wire.V5, "c")
	c.send(&wire.Pingreq{}, &wire.Publish{Topic: "t", QoS: 2, PacketID: 1}, &wire.Pingreq{})
	c.expectClosed(&wire.Pingresp{})
}

// TestSendAndWriteRaw: a Conn sends any packet (here a message twice) and
// raw bytes.
func TestSendAndWriteRaw(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := connect(t, srv, wire.V311, "c")
	conn, err := srv.Conn(testContext(t), "c")
	if err != nil {
		t.Fatal(err)
	}
	if conn.Version() != wire.V311 || conn.ClientID() != "c" || conn.Number() != 1 {
		t.Errorf("conn: version %v, client %q, number %d", conn.Version(), conn.ClientID(), conn.Number())
	}
	m := &wire.Publish{Topic: "t", QoS: 1, PacketID: 9, Payload: []byte("twice")}
	for range 2 {
		if err := conn.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.Send(&wire.Publish{Topic: "bad#"}); err == nil {
		t.Error("Send of an invalid PUBLISH succeeded")
	}
	c.expect(m, m)
	if err := conn.WriteRaw([]byte{0xD0, 0, 0x40, 1, 0}); err != nil {
		t.Fatal(err)
	}
	c.expect(&wire.Pingresp{})
	if _, err := c.read(); err == nil {
		t.Error("malformed PUBACK read without error")
	}
	// Unknown acknowledgements are ignored.
	c.send(&wire.Puback{PacketID: 9})
}

// TestDisconnect: a server DISCONNECT with a reason code and properties in
// v5 (MQTT-3.14.0-1: only after CONNACK); in 3.1.1 the connection is just
// closed. Either way the will is published.
func TestDisconnect(t *testing.T) {
	t.Parallel()
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			sub := connect(t, srv, v, "sub")
			sub.subscribe(1, wire.Filter{Topic: "will"})
			c := dial(t, srv, v)
			c.connect(&wire.Connect{ClientID: "c", CleanStart: true, Will: &wire.Will{Topic: "will"}})
			conn, err := srv.Conn(testContext(t), "c")
			if err != nil {
				t.Fatal(err)
			}
			props := &wire.Properties{ReasonString: "maintenance", ServerReference: "other:1883"}
			if v == wire.V5 {
				if err := conn.Disconnect(wire.AdministrativeAction, &wire.Properties{SessionExpiry: ptr(uint32(1))}); err == nil {
					t.Error("Disconnect with a Session Expiry Interval succeeded") // MQTT-3.14.2-2
				}
			}
			if err := conn.Disconnect(wire.UseAnotherServer, props); err != nil {
				t.Fatal(err)
			}
			if v == wire.V5 {
				c.expectClosed(&wire.Disconnect{ReasonCode: wire.UseAnotherServer, Properties: props})
			} else {
				c.expectClosed()
			}
			sub.expect(&wire.Publish{Topic: "will", Payload: []byte{}})
			<-conn.Done()
			if err := conn.Err(); err == nil || !strings.Contains(err.Error(), "Disconnect") {
				t.Errorf("Err() = %v", err)
			}
			if err := conn.Disconnect(0, nil); err == nil {
				t.Error("Disconnect of a closed connection succeeded")
			}
			if err := conn.Send(&wire.Pingresp{}); err == nil {
				t.Error("Send on a closed connection succeeded")
			}
		})
	}
}

// TestConnErr: Err tells why a connection ended.
func TestConnErr(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := connect(t, srv, wire.V5, "c")
	conn, err := srv.Conn(testContext(t), "c")
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Err(); err != nil {
		t.Errorf("Err() of an open connection = %v", err)
	}
	c.send(&wire.Publish{Topic: "t", QoS: 1, PacketID: 1, Properties: &wire.Properties{TopicAlias: 99}})
	<-conn.Done()
	if err := conn.Err(); err == nil || !strings.Contains(err.Error(), "topic alias 99") {
		t.Errorf("Err() = %v", err)
	}

	c = connect(t, srv, wire.V5, "d")
	conn, _ = srv.Conn(testContext(t), "d")
	c.write([]byte{0xC0, 1, 0})
	<-conn.Done()
	var we *wire.Error
	if err := conn.Err(); !errors.As(err, &we) || we.Code != wire.MalformedPacket {
		t.Errorf("Err() = %v, want a *wire.Error", err)
	}
}

// TestCloseClientConnections drops every client: wills fire and
// persistent sessions stay.
func TestCloseClientConnections(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	a := dial(t, srv, wire.V311)
	a.connect(&wire.Connect{ClientID: "a", Will: &wire.Will{Topic: "will/a", QoS: 1}})
	a.subscribe(1, wire.Filter{Topic: "will/#", QoS: 1})
	b := dial(t, srv, wire.V5)
	b.connect(&wire.Connect{ClientID: "b", CleanStart: true, Will: &wire.Will{Topic: "will/b", QoS: 1}})
	srv.CloseClientConnections()
	a.expectClosed()
	b.expectClosed()
	a = dial(t, srv, wire.V311)
	a.send(&wire.Connect{ClientID: "a"})
	a.expect(&wire.Connack{SessionPresent: true})
	var got []string
	for range 2 {
		p := a.recv().(*wire.Publish)
		got = append(got, p.Topic)
		a.send(&wire.Puback{PacketID: p.PacketID})
	}
	if got[0] > got[1] {
		got[0], got[1] = got[1], got[0]
	}
	if diff := cmp.Diff([]string{"will/a", "will/b"}, got); diff != "" {
		t.Errorf("wills (-want +got):\n%s", diff)
	}
}

// TestWaitPacket: WaitPacket calls match once per record, in order, so a
// counting match skips what it has seen; it fails once the server is
// closed.
func TestWaitPacket(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	c := connect(t, srv, wire.V311, "c")
	c.send(&wire.Pingreq{})
	c.expect(&wire.Pingresp{})
	seen := len(srv.Packets())
	i := 0
	go c.nc.Write([]byte{0xC0, 0})
	r, err := srv.WaitPacket(testContext(t), func(r mqtttest.Record) bool {
		i++
		return i > seen && r.Packet.Type() == wire.PINGRESP
	})
	if err != nil {
		t.Fatal(err)
	}
	if i != seen+2 {
		t.Errorf("match called %d times, want %d", i, seen+2)
	}
	_ = r
	srv.Close()
	srv.Close()
	if _, err := srv.WaitPacket(testContext(t), func(mqtttest.Record) bool { return false }); err == nil {
		t.Error("WaitPacket on a closed server succeeded")
	}
	if _, err := srv.Conn(testContext(t), "nobody"); err == nil {
		t.Error("Conn on a closed server succeeded")
	}
}

func TestRecordLimit(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{0, 1, 3} {
		srv := newServer(t, mqtttest.RecordLimit(limit))
		c := connect(t, srv, wire.V311, "c")
		for range 5 {
			c.send(&wire.Pingreq{})
			c.expect(&wire.Pingresp{})
		}
		got := srv.Packets()
		if len(got) != limit {
			t.Fatalf("RecordLimit(%d): %d records", limit, len(got))
		}
		if limit > 0 && got[limit-1].Packet.Type() != wire.PINGRESP {
			t.Errorf("RecordLimit(%d): last record %v", limit, got[limit-1])
		}
	}
}
