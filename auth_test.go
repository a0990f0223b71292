package mqtt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// echoAuth is a toy challenge-response method: the server sends a nonce,
// the client answers it reversed, twice; the server's final data is "ok".
type echoAuth struct {
	secret   string
	finished []byte
	badPeer  bool // refuse the server's final data
}

func (a *echoAuth) Method() string                        { return "ECHO" }
func (a *echoAuth) Start(context.Context) ([]byte, error) { return []byte("hello " + a.secret), nil }
func (a *echoAuth) Continue(_ context.Context, challenge []byte) ([]byte, error) {
	out := slices.Clone(challenge)
	slices.Reverse(out)
	return out, nil
}
func (a *echoAuth) Finish(_ context.Context, data []byte) error {
	a.finished = data
	if a.badPeer {
		return errors.New("the server's proof is wrong")
	}
	return nil
}

// echoServer checks the exchange of echoAuth: step 0 carries the secret,
// steps 1 and 2 answer the nonces.
func echoServer(secret string) mqtttest.Option {
	return mqtttest.EnhancedAuth(func(c *wire.Connect, step int, data []byte) ([]byte, wire.ReasonCode) {
		nonces := [][]byte{[]byte("abc"), []byte("xyz")}
		switch {
		case step == 0 && string(data) == "hello "+secret:
			return nonces[0], wire.ContinueAuthentication
		case step == 1 && string(data) == "cba":
			return nonces[1], wire.ContinueAuthentication
		case step == 2 && string(data) == "zyx":
			return []byte("ok"), wire.Success
		}
		return nil, wire.NotAuthorized
	})
}

// authPackets lists the AUTH exchange of a client as the broker saw it:
// direction, type, and reason code for AUTH; and any other packet that
// came before the first CONNACK.
func authPackets(srv *mqtttest.Server, clientID string) []string {
	var out []string
	acked := false
	for _, r := range srv.Packets() {
		if r.ClientID != clientID {
			continue
		}
		dir := "<-"
		if r.Dir == mqtttest.FromClient {
			dir = "->"
		}
		switch p := r.Packet.(type) {
		case *wire.Connect:
			out = append(out, fmt.Sprintf("%sCONNECT %s", dir, p.Properties.AuthMethod))
		case *wire.Auth:
			out = append(out, fmt.Sprintf("%sAUTH %#02x", dir, byte(p.ReasonCode)))
		case *wire.Connack:
			out = append(out, fmt.Sprintf("%sCONNACK %#02x", dir, byte(p.ReasonCode)))
			acked = true
		default:
			if !acked {
				out = append(out, dir+p.Type().String())
			}
		}
	}
	return out
}

// Enhanced authentication: CONNECT names the method and carries the first
// data, each AUTH 0x18 from the server is answered with an AUTH 0x18
// (MQTT-4.12.0-3) of the same method (MQTT-4.12.0-5), nothing else goes out
// before CONNACK (MQTT-3.1.2-30), and the server's final data reaches
// Finish. Reauthenticate runs the exchange again, opened by AUTH 0x19
// (MQTT-4.12.1-1).
func TestEnhancedAuth(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer(echoServer("s3cret"))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a := &echoAuth{secret: "s3cret"}
	c, err := mqtt.Dial(ctx, srv.URL, &mqtt.DialOptions{ClientID: "auth", Auth: a})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if string(a.finished) != "ok" {
		t.Errorf("Finish got %q, want the server's final data %q", a.finished, "ok")
	}
	want := []string{"->CONNECT ECHO", "<-AUTH 0x18", "->AUTH 0x18", "<-AUTH 0x18", "->AUTH 0x18", "<-CONNACK 0x00"}
	for _, r := range srv.Packets() {
		if a, ok := r.Packet.(*wire.Auth); ok && r.Dir == mqtttest.FromClient && a.Properties.AuthMethod != "ECHO" {
			t.Errorf("client AUTH with method %q", a.Properties.AuthMethod)
		}
		// MQTT-3.15.2-2, MQTT-3.15.2-3: a Reason String or User
		// Property only where it fits the server's limit; the client
		// sends neither, so its AUTH is never refused for them.
		if a, ok := r.Packet.(*wire.Auth); ok && r.Dir == mqtttest.FromClient && (a.Properties.ReasonString != "" || len(a.Properties.UserProperties) > 0) {
			t.Errorf("client AUTH with a reason string or user properties: %+v", a.Properties)
		}
	}
	if diff := cmp.Diff(want, authPackets(srv, "auth")); diff != "" {
		t.Errorf("exchange at connect (-want +got)\n%s", diff)
	}
	if err := c.Reauthenticate(ctx); err != nil {
		t.Fatalf("Reauthenticate: %v", err)
	}
	want = append(want, "->AUTH 0x19", "<-AUTH 0x18", "->AUTH 0x18", "<-AUTH 0x18", "->AUTH 0x18", "<-AUTH 0x00")
	if diff := cmp.Diff(want, authPackets(srv, "auth")); diff != "" {
		t.Errorf("exchange with re-authentication (-want +got)\n%s", diff)
	}
	// The connection still works.
	if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}); err != nil {
		t.Errorf("publish after re-authenticating: %v", err)
	}
}

// A server that refuses the exchange gives a *ConnectError; a server whose
// final data the method refuses fails Dial, and the client says so with
// DISCONNECT 0x87.
func TestEnhancedAuthRefused(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer(echoServer("s3cret"))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := mqtt.Dial(ctx, srv.URL, &mqtt.DialOptions{ClientID: "wrong", Auth: &echoAuth{secret: "guess"}})
	var ce *mqtt.ConnectError
	if !errors.As(err, &ce) || ce.ReasonCode != wire.NotAuthorized {
		t.Errorf("Dial with the wrong secret: %v, want *ConnectError not authorized", err)
	}
	_, err = mqtt.Dial(ctx, srv.URL, &mqtt.DialOptions{ClientID: "doubt", Auth: &echoAuth{secret: "s3cret", badPeer: true}})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("proof is wrong")) {
		t.Errorf("Dial refusing the server's final data: %v", err)
	}
	_, err = srv.WaitPacket(ctx, func(r mqtttest.Record) bool {
		d, ok := r.Packet.(*wire.Disconnect)
		return ok && r.ClientID == "doubt" && d.ReasonCode == wire.NotAuthorized
	})
	if err != nil {
		t.Errorf("no DISCONNECT 0x87 after refusing the server: %v", err)
	}
	if _, err := mqtt.Dial(ctx, srv.URL, &mqtt.DialOptions{Version: mqtt.V311, Auth: &echoAuth{}}); err == nil {
		t.Error("Dial with Auth and MQTT 3.1.1 succeeded")
	}
}

// rest reads what the client sends until it closes the connection, which it
// must do at once: not after its keep alive or connect timeout gave up on
// the peer, which the bubble's clock would show.
func (p *peer) rest() []wire.Packet {
	p.t.Helper()
	start := time.Now()
	var pkts []wire.Packet
	for {
		pkt, err := p.r.ReadPacket(p.v)
		if err != nil {
			break
		}
		pkts = append(pkts, pkt)
	}
	if d := time.Since(start); d > time.Second {
		p.t.Fatalf("the client closed the connection only after %v, having sent %v", d, types(pkts))
	}
	return pkts
}

// packetList lists packets with their fields.
func packetList(pkts []wire.Packet) string {
	var b strings.Builder
	for i, p := range pkts {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%v %+v", p.Type(), p)
	}
	return "[" + b.String() + "]"
}

func types(pkts []wire.Packet) []wire.Type {
	var ts []wire.Type
	for _, p := range pkts {
		ts = append(ts, p.Type())
	}
	return ts
}

// dialHandshake starts Dial over a pipe and returns the peer, which has
// read the CONNECT, and the channel of Dial's error.
func dialHandshake(t *testing.T, opts *mqtt.DialOptions) (*peer, *wire.Connect, <-chan error) {
	t.Helper()
	d := newPipeDialer()
	o := *opts
	o.Version, o.Dialer = mqtt.V5, d.dial
	dialed := async(func() error {
		c, err := mqtt.Dial(context.Background(), "mqtt://broker.test", &o)
		if err == nil {
			c.Close()
		}
		return err
	})
	conn := <-d.conns
	t.Cleanup(func() { conn.Close() })
	p := &peer{t: t, v: wire.V5, conn: conn, r: wire.NewReader(conn, 0)}
	return p, p.expect(wire.CONNECT).(*wire.Connect), dialed
}

// echoAuth's data for the server's AUTH.
func echoProps(method, data string) *wire.Properties {
	return &wire.Properties{AuthMethod: method, AuthData: []byte(data)}
}

// MQTT-4.12.0-7: a client whose CONNECT names no authentication method
// never sends AUTH: not to answer a server's AUTH, before CONNACK or after
// (a protocol error: the connection is closed), nor when the application
// asks to re-authenticate.
func TestNoAuthWithoutMethod(t *testing.T) {
	t.Run("server AUTH before CONNACK", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p, connect, dialed := dialHandshake(t, &mqtt.DialOptions{})
			if connect.Properties != nil && (connect.Properties.AuthMethod != "" || connect.Properties.AuthData != nil) {
				t.Errorf("CONNECT with authentication method %q", connect.Properties.AuthMethod)
			}
			p.send(&wire.Auth{ReasonCode: wire.ContinueAuthentication, Properties: echoProps("ECHO", "abc")})
			if pkts := p.rest(); len(pkts) != 0 {
				t.Errorf("the client answered the server's AUTH with %v", types(pkts))
			}
			if err := <-dialed; err == nil {
				t.Error("Dial succeeded after an AUTH the client did not ask for")
			}
		})
	})
	t.Run("server AUTH after CONNACK", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
			p.send(&wire.Auth{ReasonCode: wire.ContinueAuthentication, Properties: echoProps("ECHO", "abc")})
			pkts := p.rest()
			if len(pkts) != 1 || pkts[0].Type() != wire.DISCONNECT || pkts[0].(*wire.Disconnect).ReasonCode != wire.ProtocolError {
				t.Errorf("the client answered the server's AUTH with %s, want DISCONNECT 0x82 alone", packetList(pkts))
			}
			<-c.Done()
		})
	})
	t.Run("Reauthenticate", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
			ctx := context.Background()
			if err := c.Reauthenticate(ctx); err == nil {
				t.Error("Reauthenticate without DialOptions.Auth succeeded")
			}
			disconnected := async(func() error { return c.Disconnect(ctx) })
			p.expect(wire.DISCONNECT) // and no AUTH before it
			if err := <-disconnected; err != nil {
				t.Error(err)
			}
		})
	})
}

// MQTT-4.12.0-5: every AUTH of an exchange names the method of the CONNECT.
// A server AUTH that names another one is never answered (MQTT-4.12.0-7
// for that method) nor taken for success: before CONNACK, Dial fails; in a
// re-authentication, which has then failed, the client closes the
// connection with DISCONNECT 0x82 (MQTT-4.12.1-2).
func TestAuthNamesTheMethod(t *testing.T) {
	t.Run("before CONNACK", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := &echoAuth{secret: "s3cret"}
			p, _, dialed := dialHandshake(t, &mqtt.DialOptions{Auth: a})
			p.send(&wire.Auth{ReasonCode: wire.ContinueAuthentication, Properties: echoProps("OTHER", "abc")})
			if pkts := p.rest(); len(pkts) != 0 {
				t.Errorf("the client answered an AUTH naming another method with %v", types(pkts))
			}
			if err := <-dialed; err == nil {
				t.Error("Dial succeeded")
			}
		})
	})
	for _, code := range []wire.ReasonCode{wire.ContinueAuthentication, wire.Success} {
		t.Run(fmt.Sprintf("re-authentication, AUTH %#02x", byte(code)), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := &echoAuth{secret: "s3cret"}
				c, p := dialPeer(t, wire.V5, &wire.Connack{Properties: &wire.Properties{AuthMethod: "ECHO"}}, &mqtt.DialOptions{Auth: a})
				a.finished = nil
				reauth := async(func() error { return c.Reauthenticate(context.Background()) })
				if auth := p.expect(wire.AUTH).(*wire.Auth); auth.ReasonCode != wire.ReAuthenticate || auth.Properties.AuthMethod != "ECHO" {
					t.Fatalf("re-authentication opened with AUTH %v method %q, want 0x19 ECHO", auth.ReasonCode, auth.Properties.AuthMethod)
				}
				p.send(&wire.Auth{ReasonCode: code, Properties: echoProps("OTHER", "ok")})
				pkts := p.rest()
				if len(pkts) != 1 || pkts[0].Type() != wire.DISCONNECT || pkts[0].(*wire.Disconnect).ReasonCode != wire.ProtocolError {
					t.Errorf("the client answered an AUTH naming another method with %s, want DISCONNECT 0x82 alone", packetList(pkts))
				}
				if err := <-reauth; err == nil {
					t.Error("Reauthenticate succeeded")
				}
				if a.finished != nil {
					t.Errorf("Finish took the data %q of an AUTH naming another method", a.finished)
				}
				<-c.Done()
			})
		})
	}
}

// failingAuth is echoAuth whose Continue fails.
type failingAuth struct{ echoAuth }

func (failingAuth) Continue(context.Context, []byte) ([]byte, error) {
	return nil, errors.New("no answer to that")
}

// MQTT-4.12.1-2: a re-authentication that fails closes the connection, with
// a DISCONNECT saying why when the client is the one that finds it failed:
// the method refuses the server's final data (0x87), or cannot answer its
// challenge (0x80). A server that refuses says so with DISCONNECT, which
// Reauthenticate returns.
func TestFailedReauthCloses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		auth   mqtt.Authenticator
		server wire.Packet
		want   wire.ReasonCode // the client's DISCONNECT; 0: none
	}{
		{"the server's proof refused", &echoAuth{secret: "s3cret", badPeer: true},
			&wire.Auth{ReasonCode: wire.Success, Properties: echoProps("ECHO", "forged")}, wire.NotAuthorized},
		{"no answer to the challenge", &failingAuth{echoAuth{secret: "s3cret"}},
			&wire.Auth{ReasonCode: wire.ContinueAuthentication, Properties: echoProps("ECHO", "abc")}, wire.UnspecifiedError},
		{"the server refuses", &echoAuth{secret: "s3cret"},
			&wire.Disconnect{ReasonCode: wire.NotAuthorized}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// The CONNACK carries no data, which the method's
				// Finish accepts; only the re-authentication fails.
				c, p := dialPeer(t, wire.V5, &wire.Connack{Properties: &wire.Properties{AuthMethod: "ECHO"}},
					&mqtt.DialOptions{Auth: onlyFinishEmpty{tc.auth}})
				reauth := async(func() error { return c.Reauthenticate(context.Background()) })
				p.expect(wire.AUTH)
				p.send(tc.server)
				if _, ok := tc.server.(*wire.Disconnect); ok {
					p.conn.Close()
				}
				pkts := p.rest()
				if tc.want == 0 {
					if len(pkts) != 0 {
						t.Errorf("the client sent %v after the server's DISCONNECT", types(pkts))
					}
				} else if len(pkts) != 1 || pkts[0].Type() != wire.DISCONNECT || pkts[0].(*wire.Disconnect).ReasonCode != tc.want {
					t.Errorf("after the failed re-authentication the client sent %s, want DISCONNECT %v alone", packetList(pkts), tc.want)
				}
				err := <-reauth
				if err == nil {
					t.Fatal("Reauthenticate succeeded")
				}
				var de *mqtt.DisconnectError
				if tc.want == 0 && (!errors.As(err, &de) || de.ReasonCode != wire.NotAuthorized) {
					t.Errorf("Reauthenticate: %v, want the server's DISCONNECT", err)
				}
				<-c.Done()
			})
		})
	}
}

// onlyFinishEmpty is an Authenticator whose Finish accepts empty data (the
// CONNACK of the tests) and leaves anything else to the method inside.
type onlyFinishEmpty struct{ mqtt.Authenticator }

func (a onlyFinishEmpty) Finish(ctx context.Context, data []byte) error {
	if data == nil {
		return nil
	}
	return a.Authenticator.Finish(ctx, data)
}

// MQTT-3.1.2-30: with an authentication method in CONNECT, the client sends
// nothing but AUTH (or DISCONNECT) before CONNACK, through every round of
// the exchange and on every connection: what waits for a new connection
// (the subscriptions to restore, a QoS 1 message to send again, a QoS 0
// message queued while offline) waits for CONNACK.
func TestOnlyAuthBeforeConnack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, ps, p := dialPeers(t, wire.V5, &mqtt.DialOptions{Auth: &echoAuth{secret: "s3cret"}, ConnectTimeout: 2 * time.Minute})
		ctx := context.Background()
		p.subscribe(c, mqtt.Filter{Topic: "s", QoS: mqtt.QoS1})
		published := async(func() error { return c.Publish(ctx, mqtt.Message{Topic: "q1", QoS: mqtt.QoS1}) })
		p.expect(wire.PUBLISH)
		p.conn.Close()
		synctest.Wait()
		if err := c.Publish(ctx, mqtt.Message{Topic: "q0"}); err != nil {
			t.Fatalf("QoS 0 publish while offline: %v", err)
		}

		p2 := &peer{t: t, v: wire.V5, conn: <-ps.conns}
		defer p2.conn.Close()
		p2.r = wire.NewReader(p2.conn, 0)
		// quiet fails the test if the client sends anything within 5s.
		quiet := func(after string) {
			t.Helper()
			p2.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			defer p2.conn.SetReadDeadline(time.Time{})
			pkt, err := p2.r.ReadPacket(wire.V5)
			if err == nil {
				t.Fatalf("after %s, before CONNACK, the client sent %v %+v", after, pkt.Type(), pkt)
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("after %s: %v", after, err)
			}
		}
		connect := p2.expect(wire.CONNECT).(*wire.Connect)
		if connect.Properties.AuthMethod != "ECHO" || string(connect.Properties.AuthData) != "hello s3cret" {
			t.Fatalf("CONNECT with method %q data %q", connect.Properties.AuthMethod, connect.Properties.AuthData)
		}
		quiet("CONNECT")
		for _, round := range []struct{ challenge, answer string }{{"abc", "cba"}, {"xyz", "zyx"}} {
			p2.send(&wire.Auth{ReasonCode: wire.ContinueAuthentication, Properties: echoProps("ECHO", round.challenge)})
			auth := p2.expect(wire.AUTH).(*wire.Auth)
			if auth.ReasonCode != wire.ContinueAuthentication || string(auth.Properties.AuthData) != round.answer {
				t.Fatalf("AUTH %v %q, want 0x18 %q", auth.ReasonCode, auth.Properties.AuthData, round.answer)
			}
			quiet("AUTH " + round.answer)
		}
		p2.send(&wire.Connack{Properties: echoProps("ECHO", "ok")})
		sub := p2.expect(wire.SUBSCRIBE).(*wire.Subscribe)
		pub := p2.expect(wire.PUBLISH).(*wire.Publish)
		if q0 := p2.expect(wire.PUBLISH).(*wire.Publish); pub.Topic != "q1" || q0.Topic != "q0" {
			t.Errorf("after CONNACK: PUBLISH %q then %q, want q1 then q0", pub.Topic, q0.Topic)
		}
		p2.send(&wire.Suback{PacketID: sub.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1}},
			&wire.Puback{PacketID: pub.PacketID})
		if err := <-published; err != nil {
			t.Errorf("publish: %v", err)
		}
		p2.drain()
	})
}
