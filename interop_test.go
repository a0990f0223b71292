package mqtt_test

// Suite: interoperability with a real mosquitto (every transport, version and QoS; auth, retain, will, its command-line clients).

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/internal/mosquitto"
	"github.com/culex-mqtt/mqtt/wire"
)

// TestMosquittoRoundTrip publishes to itself through a real mosquitto over
// every transport, at every QoS, with 3.1.1 and 5.0 (MQTT-4.2.0-1: an ordered,
// lossless byte stream, TCP, TLS or WebSocket; MQTT-6.0.0-3: the client offers
// the "mqtt" subprotocol, which mosquitto requires).
func TestMosquittoRoundTrip(t *testing.T) {
	t.Parallel()
	b := mosquitto.Start(t, mosquitto.Options{TCP: true, WebSocket: true, TLS: true, WSS: true})
	tlsConfig := b.Certs.ClientTLSConfig(false)
	for _, tr := range []struct {
		name, url string
		tls       *tls.Config // only where it applies: Dial refuses it with a plain-text URL
	}{
		{"tcp", b.TCPURL, nil}, {"ws", b.WSURL, nil}, {"tls", b.TLSURL, tlsConfig}, {"wss", b.WSSURL, tlsConfig},
	} {
		for _, v := range []mqtt.Version{mqtt.V311, mqtt.V5} {
			t.Run(fmt.Sprintf("%s/%v", tr.name, v), func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				c, err := mqtt.Dial(ctx, tr.url, &mqtt.DialOptions{Version: v, TLSConfig: tr.tls})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if got := c.Version(); got != v {
					t.Errorf("Version() = %v, want %v", got, v)
				}
				topic := "culex/" + tr.name + "/" + v.String()
				sub, err := c.Subscribe(ctx, mqtt.Filter{Topic: topic + "/#", QoS: mqtt.QoS2})
				if err != nil {
					t.Fatal(err)
				}
				for q := mqtt.QoS0; q <= mqtt.QoS2; q++ {
					payload := []byte(fmt.Sprintf("hello at %v", q))
					if err := c.Publish(ctx, mqtt.Message{Topic: topic + "/x", QoS: q, Payload: payload}); err != nil {
						t.Fatalf("publish %v: %v", q, err)
					}
					m, err := sub.Next(ctx)
					if err != nil {
						t.Fatalf("next %v: %v", q, err)
					}
					if m.Topic != topic+"/x" || !bytes.Equal(m.Payload, payload) || m.QoS != q {
						t.Errorf("got %q %q %v, want %q %q %v", m.Topic, m.Payload, m.QoS, topic+"/x", payload, q)
					}
				}
				if err := c.Disconnect(ctx); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestMosquittoV31RoundTrip publishes to itself through a real mosquitto
// with MQTT 3.1 (protocol name "MQIsdp", level 3) over TCP and WebSocket, at
// every QoS. mqtttest shares the wire package with the client, so that
// agreeing with it proves less; mosquitto's log shows that it took the
// connection for 3.1 ("p1"), not for 3.1.1 ("p2").
func TestMosquittoV31RoundTrip(t *testing.T) {
	t.Parallel()
	b := mosquitto.Start(t, mosquitto.Options{TCP: true, WebSocket: true})
	for _, tr := range []struct{ name, url string }{{"tcp", b.TCPURL}, {"ws", b.WSURL}} {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			id := "culex-v31-" + tr.name
			c := dialT(t, tr.url, &mqtt.DialOptions{Version: mqtt.V31, ClientID: id})
			if got := c.Version(); got != mqtt.V31 {
				t.Errorf("Version() = %v, want 3.1", got)
			}
			b.WaitForLog(t, "as "+id+" (p1,", 10*time.Second)
			topic := "culex/v31/" + tr.name
			sub, err := c.Subscribe(ctx, mqtt.Filter{Topic: topic + "/#", QoS: mqtt.QoS2})
			if err != nil {
				t.Fatal(err)
			}
			if f := sub.Filters(); len(f) != 1 || f[0].QoS != mqtt.QoS2 {
				t.Errorf("granted %+v, want QoS 2", f)
			}
			for q := mqtt.QoS0; q <= mqtt.QoS2; q++ {
				payload := []byte(fmt.Sprintf("3.1 at %v", q))
				if err := c.Publish(ctx, mqtt.Message{Topic: topic + "/x", QoS: q, Payload: payload}); err != nil {
					t.Fatalf("publish %v: %v", q, err)
				}
				m, err := sub.Next(ctx)
				if err != nil {
					t.Fatalf("next %v: %v", q, err)
				}
				if m.Topic != topic+"/x" || !bytes.Equal(m.Payload, payload) || m.QoS != q {
					t.Errorf("got %q %q %v, want %q %q %v", m.Topic, m.Payload, m.QoS, topic+"/x", payload, q)
				}
			}
			if err := c.Disconnect(ctx); err != nil {
				t.Fatal(err)
			}
			b.WaitForLog(t, "Client "+id+" disconnected.", 10*time.Second)
		})
	}
}

// TestMosquittoReconnectEveryTransport restarts a mosquitto without
// persistence under clients on every transport: each reconnects, finds no
// session, subscribes again on its own, and its Subscription receives again.
func TestMosquittoReconnectEveryTransport(t *testing.T) {
	t.Parallel()
	b := mosquitto.Start(t, mosquitto.Options{TCP: true, WebSocket: true, TLS: true, WSS: true})
	tlsConfig := b.Certs.ClientTLSConfig(false)
	type client struct {
		name     string
		c        *mqtt.Client
		sub      *mqtt.Subscription
		connects chan bool
	}
	ctx := testCtx(t)
	var clients []*client
	for _, tr := range []struct {
		name, url string
		tls       *tls.Config // only where it applies: Dial refuses it with a plain-text URL
	}{
		{"tcp", b.TCPURL, nil}, {"ws", b.WSURL, nil}, {"tls", b.TLSURL, tlsConfig}, {"wss", b.WSSURL, tlsConfig},
	} {
		cl := &client{name: tr.name, connects: make(chan bool, 4)}
		cl.c = dialT(t, tr.url, &mqtt.DialOptions{
			TLSConfig:      tr.tls,
			ReconnectDelay: 10 * time.Millisecond,
			OnConnect:      func(present bool) { cl.connects <- present },
		})
		<-cl.connects
		var err error
		if cl.sub, err = cl.c.Subscribe(ctx, mqtt.Filter{Topic: "again/" + tr.name, QoS: mqtt.QoS1}); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, cl)
	}
	b.Restart(t)
	for _, cl := range clients {
		select {
		case present := <-cl.connects:
			if present {
				t.Errorf("%s: session present after a restart without persistence", cl.name)
			}
		case <-ctx.Done():
			t.Fatalf("%s: no reconnection after the broker restarted", cl.name)
		}
		if err := cl.c.Publish(ctx, mqtt.Message{Topic: "again/" + cl.name, QoS: mqtt.QoS1, Payload: []byte(cl.name)}); err != nil {
			t.Errorf("%s: publish after reconnecting: %v", cl.name, err)
			continue
		}
		if m, err := cl.sub.Next(ctx); err != nil || string(m.Payload) != cl.name {
			t.Errorf("%s: the Subscription after resubscribing got %q, %v", cl.name, m.Payload, err)
		}
	}
}

// TestMosquittoAuth checks user names and passwords from options and from the
// URL, refusals as *ConnectError, and client certificates.
func TestMosquittoAuth(t *testing.T) {
	t.Parallel()
	b := mosquitto.Start(t, mosquitto.Options{TCP: true, TLS: true, RequireClientCert: true,
		Users: map[string]string{"alice": "s3cret"}})
	for _, v := range []mqtt.Version{mqtt.V31, mqtt.V311, mqtt.V5} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			c := dialT(t, b.TCPURL, &mqtt.DialOptions{Version: v, ClientID: "a-" + v.String(), Username: "alice", Password: []byte("s3cret")})
			c.Close()
			url := "mqtt://alice:s3cret@" + b.TCPAddr
			c = dialT(t, url, &mqtt.DialOptions{Version: v, ClientID: "b-" + v.String()})
			c.Close()

			_, err := mqtt.Dial(ctx, b.TCPURL, &mqtt.DialOptions{Version: v, ClientID: "c-" + v.String(), Username: "alice", Password: []byte("wrong")})
			var ce *mqtt.ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("wrong password: got %v, want *ConnectError", err)
			}
			if ce.ReasonCode != wire.BadUsernameOrPassword && ce.ReasonCode != wire.NotAuthorized {
				t.Errorf("wrong password: reason %v", ce.ReasonCode)
			}
			if strings.Contains(err.Error(), "wrong") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
	t.Run("client certificate", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		c := dialT(t, b.TLSURL, &mqtt.DialOptions{Username: "alice", Password: []byte("s3cret"), TLSConfig: b.Certs.ClientTLSConfig(true)})
		if err := c.Publish(ctx, mqtt.Message{Topic: "cert/ok", QoS: mqtt.QoS1}); err != nil {
			t.Fatal(err)
		}
		if _, err := mqtt.Dial(ctx, b.TLSURL, &mqtt.DialOptions{Username: "alice", Password: []byte("s3cret"), TLSConfig: b.Certs.ClientTLSConfig(false)}); err == nil {
			t.Error("dial without a client certificate succeeded")
		}
		// The client verifies the server: without the CA, the handshake fails.
		if _, err := mqtt.Dial(ctx, b.TLSURL, &mqtt.DialOptions{Username: "alice", Password: []byte("s3cret")}); err == nil {
			t.Error("dial trusting the system roots only succeeded against a test CA")
		}
	})
}

// TestMosquittoRetainAndWill checks a retained message and a will published
// when the client's connection is cut (Close sends no DISCONNECT).
func TestMosquittoRetainAndWill(t *testing.T) {
	t.Parallel()
	b := mosquitto.Start(t, mosquitto.Options{})
	for _, v := range []mqtt.Version{mqtt.V311, mqtt.V5} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			prefix := "rw/" + v.String()
			pub := dialT(t, b.TCPURL, &mqtt.DialOptions{Version: v})
			if err := pub.Publish(ctx, mqtt.Message{Topic: prefix + "/retained", Payload: []byte("kept"), QoS: mqtt.QoS1, Retain: true}); err != nil {
				t.Fatal(err)
			}
			sub := dialT(t, b.TCPURL, &mqtt.DialOptions{Version: v})
			s, err := sub.Subscribe(ctx, mqtt.Filter{Topic: prefix + "/#", QoS: mqtt.QoS1})
			if err != nil {
				t.Fatal(err)
			}
			m, err := s.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !m.Retain || string(m.Payload) != "kept" {
				t.Errorf("retained message: got retain=%v payload=%q", m.Retain, m.Payload)
			}
			willer := dialT(t, b.TCPURL, &mqtt.DialOptions{Version: v,
				Will: &mqtt.Message{Topic: prefix + "/will", Payload: []byte("gone"), QoS: mqtt.QoS1}})
			willer.Close()
			m, err = s.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.Topic != prefix+"/will" || string(m.Payload) != "gone" {
				t.Errorf("will: got %q %q", m.Topic, m.Payload)
			}
			// A graceful Disconnect discards the will.
			quiet := dialT(t, b.TCPURL, &mqtt.DialOptions{Version: v,
				Will: &mqtt.Message{Topic: prefix + "/will", Payload: []byte("unexpected"), QoS: mqtt.QoS1}})
			if err := quiet.Disconnect(ctx); err != nil {
				t.Fatal(err)
			}
			if err := pub.Publish(ctx, mqtt.Message{Topic: prefix + "/after", QoS: mqtt.QoS1}); err != nil {
				t.Fatal(err)
			}
			m, err = s.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.Topic != prefix+"/after" {
				t.Errorf("after a graceful disconnect got %q %q, want the message on %s/after", m.Topic, m.Payload, prefix)
			}
		})
	}
}

// TestMosquittoClientsInterop exchanges messages with mosquitto_pub and
// mosquitto_sub in both directions, in each protocol version, through a
// broker whose configuration turns nothing on but listeners and anonymous
// access: the client needs nothing outside the specification to work with
// other implementations (v311:MQTT-7.0.0-2).
func TestMosquittoClientsInterop(t *testing.T) {
	t.Parallel()
	b := mosquitto.Start(t, mosquitto.Options{})
	for _, v := range []mqtt.Version{mqtt.V31, mqtt.V311, mqtt.V5} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			vflag := map[mqtt.Version]string{mqtt.V31: "mqttv31", mqtt.V311: "mqttv311", mqtt.V5: "mqttv5"}[v]
			prefix := "interop/" + v.String()
			c := dialT(t, b.TCPURL, &mqtt.DialOptions{Version: v})
			s, err := c.Subscribe(ctx, mqtt.Filter{Topic: prefix + "/to-culex", QoS: mqtt.QoS2})
			if err != nil {
				t.Fatal(err)
			}
			for q := 0; q <= 2; q++ {
				msg := fmt.Sprintf("from mosquitto_pub qos %d", q)
				if err := mosquitto.Pub(t, append(b.TCPArgs(), "-V", vflag, "-q", fmt.Sprint(q), "-t", prefix+"/to-culex", "-m", msg)...); err != nil {
					t.Fatal(err)
				}
				m, err := s.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if string(m.Payload) != msg {
					t.Errorf("got %q, want %q", m.Payload, msg)
				}
			}
			id := "sub-" + v.String()
			sp := mosquitto.Sub(t, append(b.TCPArgs(), "-V", vflag, "-q", "2", "-i", id, "-t", prefix+"/from-culex")...)
			b.WaitForLog(t, "Sending SUBACK to "+id+"\n", 10*time.Second) // not sub-3.1.1's, for sub-3.1
			for q := mqtt.QoS0; q <= mqtt.QoS2; q++ {
				msg := fmt.Sprintf("from culex %v", q)
				if err := c.Publish(ctx, mqtt.Message{Topic: prefix + "/from-culex", QoS: q, Payload: []byte(msg)}); err != nil {
					t.Fatal(err)
				}
				line, err := sp.NextContext(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if line != msg {
					t.Errorf("mosquitto_sub printed %q, want %q", line, msg)
				}
			}
		})
	}
}
