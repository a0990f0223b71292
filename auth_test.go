package mqtt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
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
// direction, type, and reason code for AUTH.
func authPackets(srv *mqtttest.Server, clientID string) []string {
	var out []string
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

// With AutoTopicAlias, a topic published again goes out as its alias alone
// (MQTT-3.3.2-8); when the server's maximum is reached the oldest alias
// takes the new topic, sent in full (MQTT-3.3.2-7; never above the maximum:
// MQTT-3.3.2-9, MQTT-3.2.2-17). The subscriber sees every topic in full. A
// client PUBLISH never carries a Subscription Identifier (MQTT-3.3.4-6), nor
// does a client without an authentication method send AUTH (MQTT-4.12.0-7).
// A server without topic aliases gets none (MQTT-3.2.2-18).
func TestAutoTopicAlias(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer(mqtttest.TopicAliasMaximum(3))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := mqtt.Dial(ctx, srv.URL, &mqtt.DialOptions{ClientID: "alias", AutoTopicAlias: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sub, err := c.Subscribe(ctx, mqtt.Filter{Topic: "#", QoS: mqtt.QoS1})
	if err != nil {
		t.Fatal(err)
	}
	topics := []string{"a/long/topic", "a/long/topic", "b", "c", "b", "d", "a/long/topic"}
	for _, tp := range topics {
		if err := c.Publish(ctx, mqtt.Message{Topic: tp, QoS: mqtt.QoS1, Payload: []byte(tp)}); err != nil {
			t.Fatalf("publish %q: %v", tp, err)
		}
	}
	for _, tp := range topics {
		m, err := sub.Next(ctx)
		if err != nil || m.Topic != tp || string(m.Payload) != tp {
			t.Fatalf("received %q %q (%v), want %q", m.Topic, m.Payload, err, tp)
		}
	}
	var got []string
	for _, r := range srv.Packets() {
		if r.Dir != mqtttest.FromClient {
			continue
		}
		if p, ok := r.Packet.(*wire.Publish); ok {
			got = append(got, fmt.Sprintf("%q=%d", p.Topic, p.Properties.TopicAlias))
			if len(p.Properties.SubscriptionIDs) != 0 {
				t.Errorf("client PUBLISH with subscription IDs %v", p.Properties.SubscriptionIDs)
			}
		}
		if r.Packet.Type() == wire.AUTH {
			t.Error("client sent AUTH without an authentication method")
		}
	}
	want := []string{`"a/long/topic"=1`, `""=1`, `"b"=2`, `"c"=3`, `""=2`,
		`"d"=1`, // all three taken: the oldest, 1, goes to d
		`"a/long/topic"=2`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PUBLISH topics and aliases (-want +got)\n%s", diff)
	}

	none := mqtttest.NewServer(mqtttest.TopicAliasMaximum(0))
	t.Cleanup(none.Close)
	c2, err := mqtt.Dial(ctx, none.URL, &mqtt.DialOptions{AutoTopicAlias: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for range 2 {
		if err := c2.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range none.Packets() {
		if p, ok := r.Packet.(*wire.Publish); ok && p.Properties != nil && p.Properties.TopicAlias != 0 {
			t.Errorf("topic alias %d sent to a server without topic aliases", p.Properties.TopicAlias)
		}
	}
}
