package mqtt_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/internal/mosquitto"
	"github.com/culex-mqtt/mqtt/wire"
)

// MQTT-3.14.2-1, MQTT-3.14.4-1, MQTT-3.14.4-2: DisconnectWith sends the
// DISCONNECT its options describe, nothing after it, and closes the
// connection; the client is closed.
func TestDisconnectWith(t *testing.T) {
	hour, zero := uint32(3600), uint32(0)
	props := []mqtt.UserProperty{{Key: "why", Value: "maintenance"}}
	for _, tc := range []struct {
		name string
		opts *mqtt.DisconnectOptions
		want *wire.Disconnect
	}{
		{"nil", nil, &wire.Disconnect{}},
		{"zero", &mqtt.DisconnectOptions{}, &wire.Disconnect{}},
		{"with will", &mqtt.DisconnectOptions{ReasonCode: wire.DisconnectWithWill}, &wire.Disconnect{ReasonCode: wire.DisconnectWithWill}},
		{"properties", &mqtt.DisconnectOptions{ReasonCode: wire.AdministrativeAction, SessionExpiry: time.Hour,
			ReasonString: "shutting down", UserProperties: props},
			&wire.Disconnect{ReasonCode: wire.AdministrativeAction, Properties: &wire.Properties{
				SessionExpiry: &hour, ReasonString: "shutting down", UserProperties: props}}},
		{"end session", &mqtt.DisconnectOptions{EndSession: true},
			&wire.Disconnect{Properties: &wire.Properties{SessionExpiry: &zero}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := dialPeer(t, wire.V5, &wire.Connack{}, &mqtt.DialOptions{ClientID: "x", KeepSession: true})
				r := p.record()
				if err := c.DisconnectWith(context.Background(), tc.opts); err != nil {
					t.Fatal(err)
				}
				var got []wire.Packet
				for pkt := range r.ch {
					got = append(got, pkt)
				}
				if diff := cmp.Diff([]wire.Packet{tc.want}, got); diff != "" {
					t.Errorf("sent (-want +got):\n%s", diff)
				}
				if !errors.Is(c.Err(), mqtt.ErrClosed) {
					t.Errorf("Err() = %v, want ErrClosed", c.Err())
				}
			})
		})
	}
}

// What MQTT does not allow in a client's DISCONNECT is refused before
// anything is sent, and the client stays connected: a reason code only a
// server sends (MQTT-3.14.2-1), a session expiry raised from the 0 of a
// clean start (MQTT 5.0 section 3.14.2.2.2), durations that MQTT cannot
// carry, a packet over the server's Maximum Packet Size (MQTT-3.14.2-3,
// MQTT-3.14.2-4), strings that are not UTF-8 (MQTT-1.5.7-1), and over 3.1.1
// any reason code or property at all.
func TestDisconnectWithRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    wire.Version
		keep bool
		opts mqtt.DisconnectOptions
	}{
		{"server's code", wire.V5, true, mqtt.DisconnectOptions{ReasonCode: wire.SessionTakenOver}},
		{"success code of another packet", wire.V5, true, mqtt.DisconnectOptions{ReasonCode: wire.GrantedQoS1}},
		{"expiry after a clean start", wire.V5, false, mqtt.DisconnectOptions{SessionExpiry: time.Hour}},
		{"negative expiry", wire.V5, true, mqtt.DisconnectOptions{SessionExpiry: -time.Second}},
		{"expiry under a second", wire.V5, true, mqtt.DisconnectOptions{SessionExpiry: 3600}},
		{"expiry and end", wire.V5, true, mqtt.DisconnectOptions{SessionExpiry: time.Hour, EndSession: true}},
		{"too large", wire.V5, true, mqtt.DisconnectOptions{ReasonString: strings.Repeat("x", 100)}},
		{"not UTF-8", wire.V5, true, mqtt.DisconnectOptions{UserProperties: []mqtt.UserProperty{{Key: "k", Value: "\xff"}}}},
		{"3.1.1 with will", wire.V311, true, mqtt.DisconnectOptions{ReasonCode: wire.DisconnectWithWill}},
		{"3.1.1 end session", wire.V311, true, mqtt.DisconnectOptions{EndSession: true}},
		{"3.1.1 user properties", wire.V311, true, mqtt.DisconnectOptions{UserProperties: []mqtt.UserProperty{{Key: "k", Value: "v"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := dialPeer(t, tc.v, &wire.Connack{Properties: limitFor(tc.v, 64)},
					&mqtt.DialOptions{ClientID: "x", KeepSession: tc.keep, KeepAlive: -1})
				r := p.record()
				err := c.DisconnectWith(context.Background(), &tc.opts)
				if !errors.Is(err, mqtt.ErrInvalid) {
					t.Fatalf("DisconnectWith(%+v) = %v, want ErrInvalid", tc.opts, err)
				}
				if got := r.sent(); len(got) != 0 || c.Err() != nil {
					t.Fatalf("sent %v, Err() = %v; want nothing sent and the client running", got, c.Err())
				}
				if err := c.Disconnect(context.Background()); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff([]string{"DISCONNECT"}, r.sent()); diff != "" {
					t.Errorf("Disconnect after the refusal (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// limitFor is a CONNACK's properties with a Maximum Packet Size, for v5.
func limitFor(v wire.Version, size uint32) *wire.Properties {
	if v != wire.V5 {
		return nil
	}
	return &wire.Properties{MaximumPacketSize: size}
}

// While the client reconnects, DisconnectWith waits for the connection to
// say what it has to say; when its ctx ends first, it closes the client
// without a word to the server and says so.
func TestDisconnectWithWhileReconnecting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, ps, p := dialPeers(t, wire.V5, &mqtt.DialOptions{ClientID: "x", KeepSession: true})
		p.conn.Close()
		synctest.Wait() // the client knows
		done := async(func() error {
			return c.DisconnectWith(context.Background(), &mqtt.DisconnectOptions{ReasonCode: wire.DisconnectWithWill})
		})
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("DisconnectWith returned %v while the client had no connection", err)
		default:
		}
		p, _ = ps.accept(&wire.Connack{SessionPresent: true})
		if d := p.expect(wire.DISCONNECT).(*wire.Disconnect); d.ReasonCode != wire.DisconnectWithWill {
			t.Errorf("DISCONNECT %v, want disconnect with will", d.ReasonCode)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		c, _, p := dialPeers(t, wire.V5, &mqtt.DialOptions{ClientID: "x", KeepSession: true})
		p.conn.Close()
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := c.DisconnectWith(ctx, &mqtt.DisconnectOptions{EndSession: true})
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no connection") {
			t.Fatalf("DisconnectWith = %v, want an error saying there was no connection, wrapping the deadline", err)
		}
		if !errors.Is(c.Err(), mqtt.ErrClosed) {
			t.Errorf("Err() = %v, want ErrClosed", c.Err())
		}
	})
}

// Against mosquitto: DISCONNECT 0x04 has the will published; with a
// session expiry set at DISCONNECT the session survives the connection, its
// messages queued for the next one (MQTT-3.1.2-23), and EndSession ends it;
// every message carries the identifier of the subscription it matched
// (MQTT-3.3.4-3).
func TestMosquittoDisconnectWith(t *testing.T) {
	t.Parallel()
	b := mosquitto.Start(t, mosquitto.Options{})
	ctx := testCtx(t)
	watcher := dialT(t, b.TCPURL, &mqtt.DialOptions{Version: mqtt.V5})
	all, err := watcher.Subscribe(ctx, mqtt.Filter{Topic: "dw/#", QoS: mqtt.QoS1})
	if err != nil {
		t.Fatal(err)
	}
	wills, err := watcher.Subscribe(ctx, mqtt.Filter{Topic: "dw/will", QoS: mqtt.QoS1})
	if err != nil {
		t.Fatal(err)
	}

	willer := dialT(t, b.TCPURL, &mqtt.DialOptions{Version: mqtt.V5,
		Will: &mqtt.Message{Topic: "dw/will", Payload: []byte("gone on purpose"), QoS: mqtt.QoS1}})
	if err := willer.DisconnectWith(ctx, &mqtt.DisconnectOptions{ReasonCode: wire.DisconnectWithWill,
		UserProperties: []mqtt.UserProperty{{Key: "k", Value: "v"}}}); err != nil {
		t.Fatal(err)
	}
	m, err := wills.Next(ctx)
	if err != nil || string(m.Payload) != "gone on purpose" {
		t.Fatalf("will after DISCONNECT 0x04: %q, %v", m.Payload, err)
	}
	if !cmp.Equal([]int{wills.ID()}, m.SubscriptionIDs) {
		t.Errorf("SubscriptionIDs %v, want [%d] (the other subscription has its own copy)", m.SubscriptionIDs, wills.ID())
	}
	m, err = all.Next(ctx)
	if err != nil || !slices.Contains(m.SubscriptionIDs, all.ID()) {
		t.Errorf("the other subscription: %q %v, %v; want its ID %d", m.Payload, m.SubscriptionIDs, err, all.ID())
	}

	for _, tc := range []struct {
		name    string
		opts    mqtt.DisconnectOptions
		present bool
	}{
		{"session expiry", mqtt.DisconnectOptions{SessionExpiry: time.Hour}, true},
		{"end session", mqtt.DisconnectOptions{EndSession: true}, false},
	} {
		id := "dw-" + strings.ReplaceAll(tc.name, " ", "-")
		connected := make(chan bool, 2)
		opts := &mqtt.DialOptions{Version: mqtt.V5, ClientID: id, KeepSession: true, SessionExpiry: time.Minute,
			OnConnect: func(present bool) { connected <- present }}
		c := dialT(t, b.TCPURL, opts)
		<-connected
		if _, err := c.Subscribe(ctx, mqtt.Filter{Topic: "dw/" + id, QoS: mqtt.QoS1}); err != nil {
			t.Fatal(err)
		}
		if err := c.DisconnectWith(ctx, &tc.opts); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := watcher.Publish(ctx, mqtt.Message{Topic: "dw/" + id, QoS: mqtt.QoS1, Payload: []byte("meanwhile")}); err != nil {
			t.Fatal(err)
		}
		expectNext(t, all, "meanwhile")
		c = dialT(t, b.TCPURL, opts)
		if present := <-connected; present != tc.present {
			t.Errorf("%s: session present %v on the next connection, want %v", tc.name, present, tc.present)
		}
		if tc.present {
			s, err := c.Subscribe(ctx, mqtt.Filter{Topic: "dw/" + id, QoS: mqtt.QoS1})
			if err != nil {
				t.Fatal(err)
			}
			if m, err := s.Next(ctx); err != nil || string(m.Payload) != "meanwhile" {
				t.Errorf("%s: %q, %v; want the message queued in the session", tc.name, m.Payload, err)
			}
		}
	}
}
