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
