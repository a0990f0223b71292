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
