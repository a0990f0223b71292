package mqtt_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/wire"
)

// pipeDialer is a DialOptions.Dialer whose connections are pipes to the
// test, which plays the server; it counts the dials.
type pipeDialer struct {
	conns chan net.Conn
	n     atomic.Int32
}

func newPipeDialer() *pipeDialer { return &pipeDialer{conns: make(chan net.Conn, 4)} }

func (d *pipeDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.n.Add(1)
	a, b := net.Pipe()
	d.conns <- b
	return a, nil
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

// Options that cannot be sent are refused by Dial before it connects, with
// an error that says what to do: MQTT 3.1 allows client identifiers of 1 to
// 23 characters (3.1 has no numbered statements; cf. MQTT-3.1.3-5, which
// servers of later versions only must accept).
func TestDialRefusesWhatCannotBeSent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts mqtt.DialOptions
		want string
	}{
		{"3.1 client ID over 23", mqtt.DialOptions{Version: mqtt.V31, ClientID: strings.Repeat("x", 24)}, "23"},
		{"3.1 client ID over 23 bytes", mqtt.DialOptions{Version: mqtt.V31, ClientID: strings.Repeat("é", 12)}, "23"},
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
