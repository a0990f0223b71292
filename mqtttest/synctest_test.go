package mqtttest_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// These tests run the server in memory inside testing/synctest bubbles, so
// that keep alive, will delays and expiry intervals pass on a fake clock.

// bubbleServer returns an unstarted server, closed when the bubble ends.
func bubbleServer(t *testing.T, opts ...mqtttest.Option) *mqtttest.Server {
	srv := mqtttest.NewUnstartedServer(opts...)
	t.Cleanup(srv.Close)
	return srv
}

// published returns the PUBLISH packets the server sent to client id.
func published(srv *mqtttest.Server, id string) []wire.Packet {
	var ps []wire.Packet
	for _, r := range srv.Packets() {
		if r.ClientID == id && r.Dir == mqtttest.ToClient && r.Packet.Type() == wire.PUBLISH {
			ps = append(ps, r.Packet)
		}
	}
	return ps
}

// TestKeepAlive: MQTT-3.1.2-22 (v311:MQTT-3.1.2-24): the server closes a
// client silent for one and a half times its Keep Alive, and not before;
// any packet counts. v5 clients get DISCONNECT 0x8D first.
func TestKeepAlive(t *testing.T) {
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := bubbleServer(t)
				c := dialMem(t, srv, v)
				c.connect(&wire.Connect{ClientID: "c", CleanStart: true, KeepAlive: 10})
				conn, err := srv.Conn(t.Context(), "c")
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(9 * time.Second)
				c.send(&wire.Pingreq{})
				c.expect(&wire.Pingresp{})
				start := time.Now()
				time.Sleep(15*time.Second - time.Nanosecond)
				synctest.Wait()
				if err := conn.Err(); err != nil {
					t.Fatalf("closed after %v of silence: %v", time.Since(start), err)
				}
				time.Sleep(time.Nanosecond)
				synctest.Wait()
				if conn.Err() == nil {
					t.Fatalf("still open after %v of silence", time.Since(start))
				}
				if v == wire.V5 {
					c.expectClosed(&wire.Disconnect{ReasonCode: wire.KeepAliveTimeout,
						Properties: &wire.Properties{ReasonString: "no packet for 15s, one and a half times the keep alive"}})
				} else {
					c.expectClosed()
				}
			})
		})
	}
}

// TestServerKeepAlive: the Server Keep Alive replaces the client's value
// (MQTT 5.0 section 3.2.2.3.14), and the server enforces it
// (MQTT-3.1.2-22).
func TestServerKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := bubbleServer(t, mqtttest.ServerKeepAlive(4*time.Second))
		c := dialMem(t, srv, wire.V5)
		c.send(&wire.Connect{ClientID: "c", CleanStart: true, KeepAlive: 100})
		c.expect(&wire.Connack{Properties: &wire.Properties{ServerKeepAlive: ptr(uint16(4)), TopicAliasMaximum: 10}})
		start := time.Now()
		c.expectClosed(&wire.Disconnect{ReasonCode: wire.KeepAliveTimeout,
			Properties: &wire.Properties{ReasonString: "no packet for 6s, one and a half times the keep alive"}})
		if d := time.Since(start); d != 6*time.Second {
			t.Errorf("closed after %v, want 6s", d)
		}
	})
}

// TestPause: a paused connection is not read (the client's writes block
// once the buffers are full) and keep alive is not enforced; Resume
// processes what waited.
func TestPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := bubbleServer(t)
		c := dialMem(t, srv, wire.V311)
		c.connect(&wire.Connect{ClientID: "c", CleanStart: true, KeepAlive: 10})
		conn, err := srv.Conn(t.Context(), "c")
		if err != nil {
			t.Fatal(err)
		}
		conn.Pause()
		var batch []byte
		const n = 5000
		for i := range n {
			batch, _ = (&wire.Publish{Topic: "t", QoS: 1, PacketID: uint16(i + 1), Payload: make([]byte, 100)}).Append(batch, wire.V311)
		}
		written := make(chan error, 1)
		c.nc.SetWriteDeadline(time.Time{})
		go func() {
			_, err := c.nc.Write(batch)
			written <- err
		}()
		time.Sleep(time.Minute)
		synctest.Wait()
		select {
		case err := <-written:
			t.Fatalf("a write of %d bytes to a paused server returned %v", len(batch), err)
		default:
		}
		if conn.Err() != nil {
			t.Fatalf("keep alive enforced while paused: %v", conn.Err())
		}
		if got := len(published(srv, "c")); got != 0 {
			t.Fatalf("%d messages processed while paused", got)
		}
		conn.Resume()
		for i := range n {
			c.expect(&wire.Puback{PacketID: uint16(i + 1), ReasonCode: 0})
		}
		if err := <-written; err != nil {
			t.Fatal(err)
		}
		// Keep alive runs again from Resume.
		time.Sleep(14 * time.Second)
		synctest.Wait()
		if conn.Err() != nil {
			t.Fatalf("closed 14s after Resume: %v", conn.Err())
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if conn.Err() == nil {
			t.Fatal("open 15s after Resume")
		}
	})
}

// TestDelayedAck delays a PUBACK by releasing its Hold fault later.
func TestDelayedAck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := bubbleServer(t)
		f := srv.Inject(is(mqtttest.ToClient, wire.PUBACK), mqtttest.Hold)
		time.AfterFunc(3*time.Second, f.Release)
		c := dialMem(t, srv, wire.V5)
		c.connect(&wire.Connect{ClientID: "c", CleanStart: true})
		start := time.Now()
		c.send(&wire.Publish{Topic: "t", QoS: 1, PacketID: 1})
		c.expect(&wire.Puback{PacketID: 1, ReasonCode: wire.NoMatchingSubscribers})
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("PUBACK after %v, want 3s", d)
		}
	})
}

// TestWillDelay: MQTT-3.1.2-8 and MQTT-3.1.3-9: a will is published when
// its delay has passed, or when the session ends if that is sooner, and
// not at all if the client reconnects in time.
func TestWillDelay(t *testing.T) {
	tests := []struct {
		name      string
		expiry    uint32
		reconnect time.Duration // 0: no reconnection
		want      time.Duration // 0: no will
	}{
		{"delay", 100, 0, 5 * time.Second},
		{"session ends first", 2, 0, 2 * time.Second},
		{"reconnected in time", 100, 3 * time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := bubbleServer(t)
				sub := dialMem(t, srv, wire.V5)
				sub.connect(&wire.Connect{ClientID: "sub", CleanStart: true})
				sub.subscribe(1, wire.Filter{Topic: "will"})
				connect := &wire.Connect{ClientID: "c", CleanStart: true,
					Properties: &wire.Properties{SessionExpiry: ptr(tt.expiry)},
					Will:       &wire.Will{Topic: "will", Payload: []byte("bye"), Properties: &wire.Properties{WillDelay: 5}}}
				c := dialMem(t, srv, wire.V5)
				c.connect(connect)
				conn, _ := srv.Conn(t.Context(), "c")
				c.nc.Close()
				<-conn.Done()
				start := time.Now()
				if tt.reconnect > 0 {
					time.Sleep(tt.reconnect)
					c = dialMem(t, srv, wire.V5)
					connect.CleanStart = false
					connect.Will = nil
					c.send(connect)
					c.expect(&wire.Connack{SessionPresent: true, Properties: &wire.Properties{TopicAliasMaximum: 10}})
				}
				if tt.want == 0 {
					time.Sleep(time.Minute)
					synctest.Wait()
					if ps := published(srv, "sub"); len(ps) != 0 {
						t.Fatalf("will published: %v", ps)
					}
					return
				}
				sub.expect(&wire.Publish{Topic: "will", Payload: []byte("bye")})
				if d := time.Since(start); d != tt.want {
					t.Errorf("will after %v, want %v", d, tt.want)
				}
			})
		})
	}
}

// TestSessionExpiry: MQTT-3.1.2-23, MQTT-4.1.0-2: a session lasts its
// expiry interval after the connection closes, and no longer.
func TestSessionExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := bubbleServer(t)
		keep := &wire.Connect{ClientID: "c", Properties: &wire.Properties{SessionExpiry: ptr(uint32(10))}}
		c := dialMem(t, srv, wire.V5)
		c.connect(keep)
		c.subscribe(1, wire.Filter{Topic: "t", QoS: 1})
		c.send(&wire.Disconnect{})
		c.expectClosed()
		time.Sleep(10*time.Second - time.Nanosecond)
		c = dialMem(t, srv, wire.V5)
		if ack := c.connect(keep); !ack.SessionPresent {
			t.Fatal("session gone before its expiry interval")
		}
		// DISCONNECT may change the interval.
		c.send(&wire.Disconnect{Properties: &wire.Properties{SessionExpiry: ptr(uint32(3))}})
		c.expectClosed()
		time.Sleep(3 * time.Second)
		c = dialMem(t, srv, wire.V5)
		if ack := c.connect(keep); ack.SessionPresent {
			t.Fatal("session still present after its expiry interval")
		}
		// Session Expiry 0 in CONNECT: non-zero in DISCONNECT is a
		// protocol error.
		c = dialMem(t, srv, wire.V5)
		c.connect(&wire.Connect{ClientID: "d", CleanStart: true})
		c.send(&wire.Disconnect{Properties: &wire.Properties{SessionExpiry: ptr(uint32(3))}})
		c.expectClosed(&wire.Disconnect{ReasonCode: wire.ProtocolError,
			Properties: &wire.Properties{ReasonString: "DISCONNECT sets a session expiry interval after CONNECT had 0"}})
	})
}

// TestMessageExpiry: MQTT-3.3.2-5, -6: a message waiting for an offline
// client is dropped once expired, and otherwise carries the time it has
// left; expired retained messages are not sent.
func TestMessageExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := bubbleServer(t)
		keep := &wire.Connect{ClientID: "c", Properties: &wire.Properties{SessionExpiry: ptr(uint32(100))}}
		c := dialMem(t, srv, wire.V5)
		c.connect(keep)
		c.subscribe(1, wire.Filter{Topic: "t", QoS: 1})
		c.send(&wire.Disconnect{})
		c.expectClosed()
		srv.Publish(&wire.Publish{Topic: "t", QoS: 1, Payload: []byte("short"), Properties: &wire.Properties{MessageExpiry: ptr(uint32(3))}})
		srv.Publish(&wire.Publish{Topic: "t", QoS: 1, Payload: []byte("long"), Properties: &wire.Properties{MessageExpiry: ptr(uint32(10))}})
		srv.Publish(&wire.Publish{Topic: "r", Retain: true, Payload: []byte("r"), Properties: &wire.Properties{MessageExpiry: ptr(uint32(3))}})
		time.Sleep(4 * time.Second)
		c = dialMem(t, srv, wire.V5)
		c.send(keep, &wire.Subscribe{PacketID: 2, Filters: []wire.Filter{{Topic: "r"}}})
		c.expect(
			&wire.Connack{SessionPresent: true, Properties: &wire.Properties{TopicAliasMaximum: 10}},
			&wire.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("long"), Properties: &wire.Properties{MessageExpiry: ptr(uint32(6))}},
			&wire.Suback{PacketID: 2, ReasonCodes: []wire.ReasonCode{0}},
		)
	})
}

// TestDialInBubble: a server started outside a synctest bubble serves
// connections dialed inside it; their timers run on the bubble's clock.
func TestDialInBubble(t *testing.T) {
	srv := newServer(t)
	synctest.Test(t, func(t *testing.T) {
		c := dialMem(t, srv, wire.V5)
		c.connect(&wire.Connect{ClientID: "c", CleanStart: true, KeepAlive: 4})
		start := time.Now()
		c.expectClosed(&wire.Disconnect{ReasonCode: wire.KeepAliveTimeout,
			Properties: &wire.Properties{ReasonString: "no packet for 6s, one and a half times the keep alive"}})
		if d := time.Since(start); d != 6*time.Second {
			t.Errorf("closed after %v, want 6s", d)
		}
	})
	// The server goes on serving sockets.
	connect(t, srv, wire.V311, "after")
}
