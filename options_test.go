package mqtt_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/wire"
)

// Options that cannot be sent are refused by Dial before it connects, with
// an error that says what to do: MQTT 3.1 allows client identifiers of 1 to
// 23 characters (3.1 has no numbered statements; cf. MQTT-3.1.3-5, which
// servers of later versions only must accept), CONNECT user properties need
// MQTT 5.0 (as message properties do), and a negative message expiry on the
// will means nothing.
func TestDialRefusesWhatCannotBeSent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts mqtt.DialOptions
		want string
	}{
		{"3.1 client ID over 23", mqtt.DialOptions{Version: mqtt.V31, ClientID: strings.Repeat("x", 24)}, "23"},
		{"3.1 client ID over 23 bytes", mqtt.DialOptions{Version: mqtt.V31, ClientID: strings.Repeat("é", 12)}, "23"},
		{"3.1 user properties", mqtt.DialOptions{Version: mqtt.V31, ClientID: "c", UserProperties: []mqtt.UserProperty{{Key: "k", Value: "v"}}}, "MQTT 5.0"},
		{"3.1.1 user properties", mqtt.DialOptions{Version: mqtt.V311, UserProperties: []mqtt.UserProperty{{Key: "k", Value: "v"}}}, "MQTT 5.0"},
		{"will with negative expiry", mqtt.DialOptions{Version: mqtt.V5, Will: &mqtt.Message{Topic: "w", MessageExpiry: -time.Second}}, "MessageExpiry"},
		{"will with negative expiry, any version", mqtt.DialOptions{Will: &mqtt.Message{Topic: "w", MessageExpiry: -time.Second}}, "MessageExpiry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var d recordingDialer
			o := tc.opts
			o.Dialer = d.dial
			_, err := mqtt.Dial(testCtx(t), "mqtt://broker.test", &o)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "mqtt: ") || strings.Contains(err.Error(), "mqtt: mqtt: ") {
				t.Errorf("Dial: %v, want a refusal mentioning %q", err, tc.want)
			}
			if addrs := d.dialed(); len(addrs) != 0 {
				t.Errorf("Dial connected to %q before refusing", addrs)
			}
		})
	}
	// 23 characters are fine.
	var d recordingDialer
	_, err := mqtt.Dial(testCtx(t), "mqtt://broker.test", &mqtt.DialOptions{Version: mqtt.V31, ClientID: strings.Repeat("x", 23), Dialer: d.dial})
	if len(d.dialed()) != 1 {
		t.Errorf("a 3.1 client ID of 23 characters was refused: %v", err)
	}
}

// MQTT carries these durations in whole seconds; Go reads a bare number as
// nanoseconds. A value under a second (SessionExpiry: 3600 is 3.6µs, sent
// as 0: the session would be dropped) is refused with the fix, at Dial or
// Publish.
func TestDurationsUnderASecondRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    mqtt.DialOptions
		fix  string
	}{
		{"SessionExpiry", mqtt.DialOptions{KeepSession: true, SessionExpiry: 3600}, "3600 * time.Second"},
		{"KeepAlive", mqtt.DialOptions{KeepAlive: 30}, "30 * time.Second"},
		{"WillDelay", mqtt.DialOptions{Will: &mqtt.Message{Topic: "w"}, WillDelay: 5}, "5 * time.Second"},
		{"Will.MessageExpiry", mqtt.DialOptions{Will: &mqtt.Message{Topic: "w", MessageExpiry: 60}}, "60 * time.Second"},
		{"KeepAlive of half a second", mqtt.DialOptions{KeepAlive: 500 * time.Millisecond}, "time.Second or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d recordingDialer
			tc.o.Dialer = d.dial
			_, err := mqtt.Dial(context.Background(), "mqtt://broker.test", &tc.o)
			if !errors.Is(err, mqtt.ErrInvalid) || !strings.Contains(err.Error(), tc.fix) {
				t.Fatalf("Dial: %v, want ErrInvalid showing the fix %q", err, tc.fix)
			}
			if len(d.dialed()) != 0 {
				t.Error("Dial connected before refusing the option")
			}
			checkOnePrefix(t, tc.name, err)
		})
	}
}

// Durations go out rounded to the nearest second, every one alike: 1.5s is
// 2, 2.4s is 2.
func TestDurationsRounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o mqtt.DialOptions
		o.Version = mqtt.V5
		o.KeepAlive = 1500 * time.Millisecond
		o.KeepSession, o.ClientID = true, "rounded"
		o.SessionExpiry = 2400 * time.Millisecond
		o.Will = &mqtt.Message{Topic: "w", MessageExpiry: 2500 * time.Millisecond}
		o.WillDelay = 1500 * time.Millisecond
		conns := make(chan net.Conn, 1)
		o.Dialer = func(context.Context, string, string) (net.Conn, error) {
			a, b := net.Pipe()
			conns <- b
			return a, nil
		}
		o.NoReconnect = true
		dialed := async(func() error {
			c, err := mqtt.Dial(context.Background(), "mqtt://broker.test", &o)
			if err == nil {
				t.Cleanup(func() { c.Close() })
			}
			return err
		})
		p := &peer{t: t, v: wire.V5, conn: <-conns}
		p.r = wire.NewReader(p.conn, 0)
		connect := p.expect(wire.CONNECT).(*wire.Connect)
		p.send(&wire.Connack{})
		if err := <-dialed; err != nil {
			t.Fatal(err)
		}
		defer p.conn.Close()
		if connect.KeepAlive != 2 || *connect.Properties.SessionExpiry != 2 ||
			*connect.Will.Properties.MessageExpiry != 3 || connect.Will.Properties.WillDelay != 2 {
			t.Errorf("keep alive %d, session expiry %d, will expiry %d, will delay %d; want 2, 2, 3, 2",
				connect.KeepAlive, *connect.Properties.SessionExpiry, *connect.Will.Properties.MessageExpiry, connect.Will.Properties.WillDelay)
		}
	})
}
