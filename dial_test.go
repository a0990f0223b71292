package mqtt_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
	"github.com/google/go-cmp/cmp"
)

// MQTT-3.1.0-1: CONNECT is the first packet. MQTT-3.1.2-1: the protocol name.
func TestConnectFirst(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// dialPeer fails unless the first packet is a CONNECT
				// of version v, which wire checks carries the
				// protocol name of that version.
				c, _ := dialPeer(t, v, &wire.Connack{}, &mqtt.DialOptions{ClientID: "x"})
				if c.Version() != mqtt.Version(v) {
					t.Errorf("Version() = %v", c.Version())
				}
			})
		})
	}
}

// MQTT-3.1.2-2: a server that refuses version 5 gets 3.1.1 next.
func TestVersionFallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conns := make(chan net.Conn, 2)
		opts := &mqtt.DialOptions{Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			a, b := net.Pipe()
			conns <- b
			return a, nil
		}}
		res := make(chan *mqtt.Client, 1)
		go func() {
			c, err := mqtt.Dial(context.Background(), "mqtt://old.broker", opts)
			if err != nil {
				t.Error(err)
			}
			res <- c
		}()
		first := <-conns
		r := wire.NewReader(first, 0)
		pkt, err := r.ReadPacket(wire.V5)
		if err != nil || pkt.(*wire.Connect).Version != wire.V5 {
			t.Fatalf("first CONNECT: %v %v", pkt, err)
		}
		first.Write([]byte{0x20, 0x02, 0x00, 0x01}) // 3.1.1: unacceptable protocol version
		first.Close()
		second := <-conns
		r = wire.NewReader(second, 0)
		pkt, err = r.ReadPacket(wire.V311)
		if err != nil {
			t.Fatal(err)
		}
		cp := pkt.(*wire.Connect)
		if cp.Version != wire.V311 || cp.ClientID == "" {
			t.Errorf("second CONNECT: version %v client ID %q", cp.Version, cp.ClientID)
		}
		second.Write([]byte{0x20, 0x02, 0x00, 0x00})
		c := <-res
		if c.Version() != mqtt.V311 {
			t.Errorf("Version() = %v", c.Version())
		}
		go func() { // answer nothing, read until closed
			for {
				if _, err := r.ReadPacket(wire.V311); err != nil {
					return
				}
			}
		}()
		c.Close()
		second.Close()
	})
}

// CONNECT carries the options (MQTT-3.1.2-9, MQTT-3.1.3-1), and what CONNACK
// says is unavailable is refused before sending (MQTT-3.8.3-4).
func TestConnectOptionsAndAvailability(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := false
		opts := &mqtt.DialOptions{
			ClientID: "opts", KeepSession: true, SessionExpiry: time.Hour, KeepAlive: 30 * time.Second,
			Username: "u", Password: []byte("p"), ReceiveMaximum: 7, TopicAliasMaximum: 3,
			NoProblemInfo: true, RequestResponseInfo: true, MaximumPacketSize: 4096,
			UserProperties: []mqtt.UserProperty{{Key: "k", Value: "v"}},
			Will:           &mqtt.Message{Topic: "w", Payload: []byte("bye"), QoS: mqtt.QoS1, Retain: true, ContentType: "text/plain"},
			WillDelay:      5 * time.Second,
		}
		var connect *wire.Connect
		opts.OnPacketSent = func(p wire.Packet) {
			if c, ok := p.(*wire.Connect); ok {
				connect = c
			}
		}
		c, _ := dialPeer(t, wire.V5, &wire.Connack{Properties: &wire.Properties{
			WildcardSubAvailable: &f, SharedSubAvailable: &f}}, opts)
		exp := uint32(3600)
		want := &wire.Connect{
			KeepAlive: 30, ClientID: "opts", Username: "u", Password: []byte("p"),
			Will: &wire.Will{Topic: "w", Payload: []byte("bye"), QoS: 1, Retain: true,
				Properties: &wire.Properties{ContentType: "text/plain", WillDelay: 5}},
			Properties: &wire.Properties{SessionExpiry: &exp, ReceiveMaximum: 7, TopicAliasMaximum: 3,
				RequestProblemInfo: new(false), RequestResponseInfo: true, MaximumPacketSize: 4096,
				UserProperties: []wire.UserProperty{{Key: "k", Value: "v"}}},
		}
		if diff := cmp.Diff(want, connect); diff != "" {
			t.Errorf("CONNECT (-want +got)\n%s", diff)
		}
		ctx := context.Background()
		for _, f := range []mqtt.Filter{{Topic: "a/+"}, {Topic: "$share/g/a"}, {Topic: "#"}} {
			if _, err := c.Subscribe(ctx, f); err == nil {
				t.Errorf("subscribe %q: no error though the server does not support it", f.Topic)
			}
		}
	})
}

// A CONNACK the client cannot go on with fails Dial and closes the network
// connection: a refusal (MQTT-4.13.2-1), or a session present although the
// client asked for a clean start and holds no session (MQTT-3.2.2-4).
func TestConnackClosesConnection(t *testing.T) {
	for _, tc := range []struct {
		name string
		ack  *wire.Connack
	}{
		{"refused", &wire.Connack{ReasonCode: wire.NotAuthorized}},
		{"unexpected session", &wire.Connack{SessionPresent: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				conns := make(chan net.Conn, 1)
				opts := &mqtt.DialOptions{Version: mqtt.V5, Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
					a, b := net.Pipe()
					conns <- b
					return a, nil
				}}
				res := async(func() error {
					_, err := mqtt.Dial(context.Background(), "mqtt://broker.test", opts)
					return err
				})
				p := &peer{t: t, v: wire.V5, conn: <-conns}
				p.r = wire.NewReader(p.conn, 0)
				p.expect(wire.CONNECT)
				p.send(tc.ack)
				if err := <-res; err == nil {
					t.Fatal("Dial succeeded")
				}
				if pkt, err := p.r.ReadPacket(wire.V5); err == nil {
					t.Errorf("the client sent %v and kept the connection open", pkt.Type())
				}
			})
		})
	}
}

// A v5 CONNACK that refuses the connection and names another server
// (Server Reference, section 4.11 Server redirection; MQTT-3.2.2-7: the
// server closes the connection after it) gives a *ConnectError that keeps
// the reference and says it.
func TestConnectErrorServerReference(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newPipeDialer()
		res := async(func() error {
			_, err := mqtt.Dial(context.Background(), "mqtt://broker.test", &mqtt.DialOptions{Version: mqtt.V5, Dialer: d.dial})
			return err
		})
		conn := <-d.conns
		defer conn.Close()
		p := &peer{t: t, v: wire.V5, conn: conn, r: wire.NewReader(conn, 0)}
		p.expect(wire.CONNECT)
		p.send(&wire.Connack{ReasonCode: wire.UseAnotherServer, Properties: &wire.Properties{ServerReference: "other.test:1883"}})
		conn.Close()
		err := <-res
		var ce *mqtt.ConnectError
		if !errors.As(err, &ce) {
			t.Fatalf("Dial: %v, want a *ConnectError", err)
		}
		if ce.ServerReference != "other.test:1883" || ce.ReasonCode != wire.UseAnotherServer {
			t.Errorf("ConnectError %+v, want reason %v and ServerReference other.test:1883", ce, wire.UseAnotherServer)
		}
		if !strings.Contains(err.Error(), "other.test:1883") {
			t.Errorf("error %q does not name the server referred to", err)
		}
	})
}

// With Version 0 and CONNECT user properties, a server that refuses 5.0
// (MQTT-3.1.2-2: CONNACK 0x84) is not asked again with 3.1.1, which would
// drop the properties silently: Dial fails and says why.
func TestVersionFallbackKeepsUserProperties(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newPipeDialer()
		res := async(func() error {
			_, err := mqtt.Dial(context.Background(), "mqtt://old.broker", &mqtt.DialOptions{
				Dialer: d.dial, UserProperties: []mqtt.UserProperty{{Key: "region", Value: "eu"}}})
			return err
		})
		first := <-d.conns
		pkt, err := wire.NewReader(first, 0).ReadPacket(wire.V5)
		if err != nil || pkt.(*wire.Connect).Version != wire.V5 {
			t.Fatalf("first CONNECT: %v %v", pkt, err)
		}
		first.Write([]byte{0x20, 0x02, 0x00, 0x01}) // 3.1.1: unacceptable protocol version
		first.Close()
		var second net.Conn
		select {
		case err = <-res:
		case second = <-d.conns:
			defer second.Close()
			second.SetReadDeadline(time.Now().Add(time.Second))
			if pkt, err := wire.NewReader(second, 0).ReadPacket(wire.V311); err == nil {
				t.Errorf("the client fell back to 3.1.1 and sent %v without its user properties", pkt.Type())
			}
			second.Close()
			err = <-res
		}
		if err == nil || !strings.Contains(err.Error(), "UserProperties") || !strings.HasPrefix(err.Error(), "mqtt: ") {
			t.Errorf("Dial: %v, want a refusal naming UserProperties", err)
		}
		if n := d.n.Load(); n != 1 {
			t.Errorf("%d connections, want 1", n)
		}
	})
}

// A 3.1.1-only server that closes the connection on a 5.0 CONNECT without
// any CONNACK (RabbitMQ's MQTT plugin before 3.13) gets 3.1.1 next, as one
// that answers 0x84 does; the client remembers, and reconnects to it with
// 3.1.1 at once.
func TestVersionFallbackOnClose(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer(mqtttest.Versions(wire.V311), mqtttest.CloseOnUnknownVersion())
	t.Cleanup(srv.Close)
	lost := make(chan struct{}, 1)
	c := dialT(t, srv.URL, &mqtt.DialOptions{ReconnectDelay: time.Millisecond,
		OnConnectionLost: func(error) { lost <- struct{}{} }})
	if c.Version() != mqtt.V311 {
		t.Fatalf("Version() = %v, want 3.1.1", c.Version())
	}
	srv.CloseClientConnections()
	<-lost
	ctx := testCtx(t)
	if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}); err != nil {
		t.Fatal(err)
	}
	var versions []wire.Version
	for _, r := range srv.Packets() {
		if cp, ok := r.Packet.(*wire.Connect); ok {
			versions = append(versions, cp.Version)
		}
	}
	if want := []wire.Version{wire.V5, wire.V311, wire.V311}; !slices.Equal(versions, want) {
		t.Errorf("CONNECT versions %v, want %v: 5.0 once, then 3.1.1 remembered", versions, want)
	}
}

// Server redirection (MQTT 5.0 section 4.11): a CONNACK or DISCONNECT with
// reason code 0x9C (use another server) or 0x9D (server moved) and a Server
// Reference sends the client to the server(s) it names.

// referrer is a server that answers every CONNECT with a CONNACK of code
// and Server Reference ref, and counts the connections it got.
type referrer struct {
	addr     string
	connects atomic.Int32
}

func newReferrer(t *testing.T, code wire.ReasonCode, ref func() string) *referrer {
	t.Helper()
	ln := listenLocal(t)
	r := &referrer{addr: ln.Addr().String()}
	serveConns(ln, func(c net.Conn) {
		if _, err := wire.NewReader(c, 0).ReadPacket(wire.V5); err != nil {
			return
		}
		r.connects.Add(1)
		b, _ := (&wire.Connack{ReasonCode: code, Properties: &wire.Properties{ServerReference: ref()}}).Append(nil, wire.V5)
		c.Write(b)
	})
	return r
}

func addrOf(url string) string { return url[strings.Index(url, "://")+3:] }

// 0x9C: the client connects to the referenced server, with the credentials
// of the URL it was given; the redirection holds for that connection only,
// so a reconnection asks the first server again.
func TestRedirectUseAnotherServer(t *testing.T) {
	t.Parallel()
	var users = make(chan string, 10)
	srv := mqtttest.NewServer(mqtttest.Authenticate(func(c *wire.Connect) wire.ReasonCode {
		users <- c.Username
		return wire.Success
	}))
	t.Cleanup(srv.Close)
	// Two references, the first of which refuses connections.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	ref := newReferrer(t, wire.UseAnotherServer, func() string { return deadAddr + " " + addrOf(srv.URL) })
	connected := make(chan struct{}, 10)
	c := dialT(t, "mqtt://alice:pw@"+ref.addr, &mqtt.DialOptions{Version: mqtt.V5, ReconnectDelay: time.Millisecond,
		OnConnect: func(bool) { connected <- struct{}{} }})
	<-connected
	if u := <-users; u != "alice" {
		t.Errorf("the referenced server got user %q, want alice from the URL", u)
	}
	if n := ref.connects.Load(); n != 1 {
		t.Fatalf("the first server got %d connections, want 1", n)
	}
	srv.CloseClientConnections()
	<-connected
	if n := ref.connects.Load(); n != 2 {
		t.Errorf("after a reconnection the first server got %d connections, want 2: 0x9C holds for one connection", n)
	}
	if err := c.Publish(testCtx(t), mqtt.Message{Topic: "t", QoS: mqtt.QoS1}); err != nil {
		t.Fatal(err)
	}
}

// 0x9D: the referenced server is the first tried from then on.
func TestRedirectServerMoved(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ref := newReferrer(t, wire.ServerMoved, func() string { return addrOf(srv.URL) })
	connected := make(chan struct{}, 10)
	c := dialT(t, "mqtt://"+ref.addr, &mqtt.DialOptions{Version: mqtt.V5, ReconnectDelay: time.Millisecond,
		OnConnect: func(bool) { connected <- struct{}{} }})
	<-connected
	srv.CloseClientConnections()
	<-connected
	if n := ref.connects.Load(); n != 1 {
		t.Errorf("the server that moved got %d connections, want only the first", n)
	}
	_ = c
}

// A DISCONNECT with a redirection sends the client to the referenced
// server at once, without the reconnection delay.
func TestRedirectOnDisconnect(t *testing.T) {
	t.Parallel()
	from, to := mqtttest.NewServer(), mqtttest.NewServer()
	t.Cleanup(from.Close)
	t.Cleanup(to.Close)
	connected := make(chan struct{}, 10)
	c := dialT(t, from.URL, &mqtt.DialOptions{Version: mqtt.V5, ClientID: "moving", ReconnectDelay: time.Hour,
		OnConnect: func(bool) { connected <- struct{}{} }})
	<-connected
	ctx := testCtx(t)
	conn, err := from.Conn(ctx, "moving")
	if err != nil {
		t.Fatal(err)
	}
	conn.Disconnect(wire.UseAnotherServer, &wire.Properties{ServerReference: addrOf(to.URL)})
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("the client did not connect to the referenced server (a reconnection delay of an hour was waited?)")
	}
	if _, err := to.Conn(ctx, "moving"); err != nil {
		t.Fatalf("the referenced server has no connection from the client: %v", err)
	}
	if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}); err != nil {
		t.Fatal(err)
	}
}

// Servers that refer to each other do not keep the client going round:
// redirections are bounded, and the error says so. NoRedirect turns them
// off: the error carries the reference.
func TestRedirectBounded(t *testing.T) {
	t.Parallel()
	var a, b *referrer
	a = newReferrer(t, wire.UseAnotherServer, func() string { return b.addr })
	b = newReferrer(t, wire.UseAnotherServer, func() string { return a.addr })
	_, err := mqtt.Dial(testCtx(t), "mqtt://"+a.addr, &mqtt.DialOptions{Version: mqtt.V5})
	if err == nil || !strings.Contains(err.Error(), "in a row") {
		t.Fatalf("Dial: %v, want an error about redirections in a row", err)
	}
	if n := a.connects.Load() + b.connects.Load(); n > 10 {
		t.Errorf("%d connections for one Dial", n)
	}

	_, err = mqtt.Dial(testCtx(t), "mqtt://"+a.addr, &mqtt.DialOptions{Version: mqtt.V5, NoRedirect: true})
	var ce *mqtt.ConnectError
	if !errors.As(err, &ce) || ce.ReasonCode != wire.UseAnotherServer || ce.ServerReference != b.addr {
		t.Fatalf("Dial with NoRedirect: %v, want the *ConnectError with the reference", err)
	}
}

// closedURL returns the URL of a port where nothing listens.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "mqtt://" + addr
}

// Dial tries its URL, then Servers, in order, once each: a server that
// cannot be reached or refuses the connection passes the turn to the next;
// when all fail, the error names each.
func TestDialServers(t *testing.T) {
	t.Parallel()
	refusing := mqtttest.NewServer(mqtttest.Authenticate(func(*wire.Connect) wire.ReasonCode { return wire.NotAuthorized }))
	t.Cleanup(refusing.Close)
	good := mqtttest.NewServer()
	t.Cleanup(good.Close)
	ctx := testCtx(t)

	down := closedURL(t)
	c, err := mqtt.Dial(ctx, down, &mqtt.DialOptions{ClientID: "failover", Servers: []string{refusing.URL, good.URL}})
	if err != nil {
		t.Fatalf("Dial: %v, want the third server", err)
	}
	c.Close()
	if _, err := good.WaitPacket(ctx, func(r mqtttest.Record) bool {
		return r.ClientID == "failover" && r.Packet.Type() == wire.CONNACK
	}); err != nil {
		t.Errorf("the good server saw no connection: %v", err)
	}
	if _, err := refusing.WaitPacket(ctx, func(r mqtttest.Record) bool {
		return r.ClientID == "failover" && r.Packet.Type() == wire.CONNECT
	}); err != nil {
		t.Errorf("the refusing server was not tried: %v", err)
	}

	_, err = mqtt.Dial(ctx, down, &mqtt.DialOptions{Servers: []string{refusing.URL}})
	var ce *mqtt.ConnectError
	if !errors.As(err, &ce) || ce.ReasonCode != wire.NotAuthorized || !strings.Contains(err.Error(), strings.TrimPrefix(down, "mqtt://")) {
		t.Fatalf("Dial with every server failing: %v, want both failures, the refusal a *ConnectError", err)
	}
}

// answering listens on a free port and answers whatever it reads with
// answer, like a server of another protocol; it returns the address.
func answering(t *testing.T, answer string) string {
	t.Helper()
	ln := listenLocal(t)
	serveConns(ln, func(c net.Conn) {
		c.Read(make([]byte, 512))
		c.Write([]byte(answer))
		c.Read(make([]byte, 512)) // until the client closes
	})
	return ln.Addr().String()
}

// A server that does not speak MQTT is named as such, with what it said:
// an HTTP server, a TLS server (an alert record), a TLS port that closes on
// a plain CONNECT; and a TLS URL to a plain port says the port may not be
// TLS.
func TestWrongServerSaysSo(t *testing.T) {
	t.Parallel()
	httpAddr := answering(t, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
	alertAddr := answering(t, "\x15\x03\x01\x00\x02\x02\x46") // TLS alert: protocol version
	tlsBroker := mqtttest.NewTLSServer()
	t.Cleanup(tlsBroker.Close)
	plainBroker := mqtttest.NewServer()
	t.Cleanup(plainBroker.Close)

	for _, tc := range []struct {
		name, url string
		tls       bool
		want      []string
	}{
		{"HTTP server", "mqtt://" + httpAddr, false, []string{"did not answer with MQTT", "HTTP/1.1 400", "ws://"}},
		{"TLS alert", "mqtt://" + alertAddr, false, []string{"did not answer with MQTT", "mqtts://"}},
		{"TLS port in plain text", strings.Replace(tlsBroker.URL, "mqtts://", "mqtt://", 1), false, []string{"closed the connection before CONNACK", "mqtts://"}},
		{"plain port with TLS", strings.Replace(plainBroker.URL, "mqtt://", "mqtts://", 1), true, []string{"TLS handshake", "plain MQTT port"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &mqtt.DialOptions{Version: mqtt.V311}
			if tc.tls {
				o.TLSConfig = tlsBroker.ClientTLSConfig()
			}
			_, err := mqtt.Dial(testCtx(t), tc.url, o)
			if err == nil {
				t.Fatal("Dial succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Dial: %v; want it to say %q", err, w)
				}
			}
			checkOnePrefix(t, tc.name, err)
		})
	}
}

// A connection attempt that times out names the stage that did not finish:
// TCP connect, TLS handshake, WebSocket upgrade, or the wait for CONNACK.
func TestDialTimeoutNamesStage(t *testing.T) {
	t.Parallel()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, then says nothing
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	addr := silent.Addr().String()
	blockingDialer := func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	for _, tc := range []struct {
		url, stage string
		dialer     func(context.Context, string, string) (net.Conn, error)
	}{
		{"mqtt://" + addr, "TCP connect", blockingDialer},
		{"mqtts://" + addr, "TLS handshake", nil},
		{"ws://" + addr, "WebSocket upgrade", nil},
		{"mqtt://" + addr, "wait for CONNACK", nil},
	} {
		t.Run(tc.stage, func(t *testing.T) {
			t.Parallel()
			_, err := mqtt.Dial(context.Background(), tc.url, &mqtt.DialOptions{ConnectTimeout: 200 * time.Millisecond, Dialer: tc.dialer})
			if err == nil || !strings.Contains(err.Error(), "the "+tc.stage+" did not finish in time") || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Dial: %v, want the %s named as not finished in time", err, tc.stage)
			}
			checkOnePrefix(t, tc.stage, err)
		})
	}
}

// A client that needs a client identifier and was given none makes one up:
// MQTT 3.1 allows no empty one (and at most 23 characters), 3.1.1 only with
// a clean session (v311:MQTT-3.1.3-7), and with KeepSession a 5.0 client
// needs one of its own too, since the identifier is the key of the session
// (MQTT-3.1.3-2): every connection of the client uses the same one, so that
// it finds its session again. A clean 3.1.1 or 5.0 client sends an empty
// one.
func TestGeneratedClientID(t *testing.T) {
	for _, tc := range []struct {
		name      string
		v         wire.Version
		keep      bool
		generated bool
	}{
		{"3.1", wire.V31, false, true},
		{"3.1 kept", wire.V31, true, true},
		{"3.1.1 kept", wire.V311, true, true},
		{"5.0 kept", wire.V5, true, true},
		{"3.1.1 clean", wire.V311, false, false},
		{"5.0 clean", wire.V5, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var sent connects
				c, ps, p := dialPeers(t, tc.v, &mqtt.DialOptions{KeepSession: tc.keep, OnPacketSent: sent.hook})
				p.conn.Close()
				p2, _ := ps.accept(&wire.Connack{})
				all := sent.all()
				if len(all) != 2 {
					t.Fatalf("%d CONNECT packets, want 2", len(all))
				}
				id := all[0].ClientID
				switch {
				case !tc.generated && id != "":
					t.Errorf("client ID %q, want an empty one", id)
				case tc.generated && (id == "" || len(id) > 23):
					t.Errorf("client ID %q, want one of 1 to 23 characters", id)
				case all[1].ClientID != id:
					t.Errorf("client ID %q on the second connection, %q on the first", all[1].ClientID, id)
				case c.ClientID() != id:
					t.Errorf("ClientID() = %q, want %q", c.ClientID(), id)
				}
				p2.drain()
			})
		})
	}
}

// MQTT-3.1.3-7, MQTT-3.2.2-16: a v5 client that sends an empty client
// identifier takes the one the server assigns.
func TestAssignedClientID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := dialPeer(t, wire.V5, &wire.Connack{Properties: &wire.Properties{AssignedClientID: "srv-7"}}, nil)
		if got := c.ClientID(); got != "srv-7" {
			t.Errorf("ClientID() = %q, want the assigned srv-7", got)
		}
	})
}

// With NoResubscribe, a client whose server kept no session does not
// subscribe again by itself (MQTT.js resubscribe: false).
func TestNoResubscribe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, ps, p := dialPeers(t, wire.V5, &mqtt.DialOptions{NoResubscribe: true, ReconnectDelay: time.Millisecond})
		p.subscribe(c, mqtt.Filter{Topic: "s/#", QoS: mqtt.QoS1})
		p.conn.Close()
		p2, _ := ps.accept(&wire.Connack{})
		published := async(func() error { return c.Publish(context.Background(), mqtt.Message{Topic: "after", QoS: mqtt.QoS1}) })
		// The first packet after CONNACK is the new PUBLISH, not a SUBSCRIBE.
		pub := p2.expect(wire.PUBLISH).(*wire.Publish)
		if pub.Topic != "after" {
			t.Fatalf("first packet on the new connection: PUBLISH to %q", pub.Topic)
		}
		p2.send(&wire.Puback{PacketID: pub.PacketID})
		if err := <-published; err != nil {
			t.Fatal(err)
		}
		p2.drain()
	})
}

// BeforeConnect sees every attempt and may change the URL and credentials.
func TestBeforeConnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var seen []mqtt.ConnectAttempt
		opts := &mqtt.DialOptions{
			Username: "static",
			BeforeConnect: func(ctx context.Context, a *mqtt.ConnectAttempt) error {
				seen = append(seen, *a)
				a.Password = []byte("token-" + string(rune('0'+a.Attempt)))
				if a.Attempt > 0 {
					a.URL = "mqtt://other.test:1999"
					a.Username = "rotated"
				}
				return nil
			},
		}
		_, ps, p := dialPeers(t, wire.V5, opts)
		p.conn.Close()
		_, connect := ps.accept(&wire.Connack{})
		if connect.Username != "rotated" || string(connect.Password) != "token-1" {
			t.Errorf("CONNECT after the hook: user %q password %q, want rotated, token-1", connect.Username, connect.Password)
		}
		ps.mu.Lock()
		addrs := ps.addrs
		ps.mu.Unlock()
		if len(addrs) != 2 || addrs[0] != "broker.test:1883" || addrs[1] != "other.test:1999" {
			t.Errorf("dialed %v, want broker.test:1883 then other.test:1999", addrs)
		}
		if len(seen) != 2 || seen[0].Attempt != 0 || seen[0].URL != "mqtt://broker.test" || seen[0].Username != "static" || seen[1].Attempt != 1 {
			t.Errorf("hook saw %+v", seen)
		}
	})
}
