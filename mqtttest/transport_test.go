package mqtttest_test

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"

	"golang.org/x/net/websocket"

	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// wsDial opens a WebSocket to url offering the given subprotocols.
func wsDial(t *testing.T, url string, tlsConfig *tls.Config, protocols ...string) (*websocket.Conn, error) {
	t.Helper()
	cfg, err := websocket.NewConfig(url, "http://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Protocol = protocols
	cfg.TlsConfig = tlsConfig
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		return nil, err
	}
	ws.PayloadType = websocket.BinaryFrame
	return ws, nil
}

// TestWebSocket: MQTT-6.0.0-2: packets may span frames and frames may hold
// several packets, both ways; MQTT-6.0.0-4: the server answers with the
// "mqtt" subprotocol.
func TestWebSocket(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	if !strings.HasPrefix(srv.WSURL, "ws://127.0.0.1:") || !strings.HasSuffix(srv.WSURL, "/mqtt") {
		t.Errorf("WSURL = %q", srv.WSURL)
	}
	ws, err := wsDial(t, srv.WSURL, nil, "mqtt")
	if err != nil {
		t.Fatal(err)
	}
	if got := ws.Config().Protocol; len(got) != 1 || got[0] != "mqtt" {
		t.Errorf("subprotocol %q, want mqtt", got)
	}
	c := newClient(t, ws, wire.V5)
	b, _ := (&wire.Connect{ClientID: "ws", CleanStart: true}).Append(nil, wire.V5)
	c.write(b[:5]) // one packet in two frames
	c.write(b[5:])
	c.expect(connack(wire.V5))
	var batch []byte // three packets in one frame
	batch, _ = (&wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "t", QoS: 1}}}).Append(batch, wire.V5)
	batch, _ = (&wire.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("x")}).Append(batch, wire.V5)
	batch, _ = (&wire.Pingreq{}).Append(batch, wire.V5)
	c.write(batch)
	c.expect(
		&wire.Suback{PacketID: 1, ReasonCodes: []wire.ReasonCode{1}},
		&wire.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("x")},
		&wire.Puback{PacketID: 1},
		&wire.Pingresp{},
	)
	// A message published over TCP reaches the WebSocket client.
	pub := connect(t, srv, wire.V311, "tcp")
	pub.send(&wire.Publish{Topic: "t", Payload: []byte("from tcp")})
	c.expect(&wire.Publish{Topic: "t", Payload: []byte("from tcp")})
}

// TestWebSocketRefusals: MQTT-6.0.0-4: a client offering no mqtt
// subprotocol is refused; MQTT-6.0.0-1: a text frame closes the
// connection.
func TestWebSocketRefusals(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	if ws, err := wsDial(t, srv.WSURL, nil, "chat"); err == nil {
		ws.Close()
		t.Error("handshake without the mqtt subprotocol succeeded")
	}
	ws, err := wsDial(t, srv.WSURL, nil, "mqtt")
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, ws, wire.V311)
	c.connect(&wire.Connect{ClientID: "c", CleanStart: true})
	if err := websocket.Message.Send(ws, "\xc0\x00"); err != nil { // PINGREQ, in a text frame
		t.Fatal(err)
	}
	c.expectClosed()
}

// TestTLS connects over TLS, in memory over TLS, and over WebSocket with
// TLS.
func TestTLS(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewTLSServer()
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "mqtts://127.0.0.1:") || !strings.HasPrefix(srv.WSURL, "wss://127.0.0.1:") {
		t.Errorf("URL %q, WSURL %q", srv.URL, srv.WSURL)
	}
	if newServer(t).ClientTLSConfig() != nil {
		t.Error("a plain server has a client TLS configuration")
	}
	t.Run("tcp", func(t *testing.T) {
		nc, err := tls.Dial("tcp", strings.TrimPrefix(srv.URL, "mqtts://"), srv.ClientTLSConfig())
		if err != nil {
			t.Fatal(err)
		}
		c := newClient(t, nc, wire.V5)
		c.connect(&wire.Connect{ClientID: "tls", CleanStart: true})
	})
	t.Run("untrusted", func(t *testing.T) {
		nc, err := tls.Dial("tcp", strings.TrimPrefix(srv.URL, "mqtts://"), &tls.Config{})
		if err == nil {
			nc.Close()
			t.Fatal("a client that does not trust the certificate connected")
		}
	})
	t.Run("dial", func(t *testing.T) {
		nc, err := srv.Dial(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		cfg := srv.ClientTLSConfig()
		cfg.ServerName = "localhost"
		c := newClient(t, tls.Client(nc, cfg), wire.V311)
		c.connect(&wire.Connect{ClientID: "mem", CleanStart: true})
	})
	t.Run("wss", func(t *testing.T) {
		ws, err := wsDial(t, srv.WSURL, srv.ClientTLSConfig(), "mqtt")
		if err != nil {
			t.Fatal(err)
		}
		c := newClient(t, ws, wire.V311)
		c.connect(&wire.Connect{ClientID: "wss", CleanStart: true})
	})
}

// TestUnstarted: an unstarted server has no URL, works through Dial, and
// can be started later.
func TestUnstarted(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewUnstartedServer()
	t.Cleanup(srv.Close)
	if srv.URL != "" || srv.WSURL != "" {
		t.Errorf("URL %q, WSURL %q before Start", srv.URL, srv.WSURL)
	}
	mem := dialMem(t, srv, wire.V311)
	mem.connect(&wire.Connect{ClientID: "mem", CleanStart: true})
	mem.subscribe(1, wire.Filter{Topic: "t"})
	srv.Start()
	pub := connect(t, srv, wire.V311, "tcp")
	pub.send(&wire.Publish{Topic: "t", Payload: []byte("x")})
	mem.expect(&wire.Publish{Topic: "t", Payload: []byte("x")})
	defer func() {
		if recover() == nil {
			t.Error("a second Start did not panic")
		}
	}()
	srv.Start()
}

// TestCloseIdempotent: Close ends connections and may be called twice;
// Dial then fails.
func TestCloseIdempotent(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	c := connect(t, srv, wire.V5, "c")
	srv.Close()
	c.expectClosed()
	srv.Close()
	if _, err := srv.Dial(t.Context()); err == nil {
		t.Error("Dial on a closed server succeeded")
	}
	if _, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "mqtt://")); err == nil {
		t.Error("the listener still accepts after Close")
	}
}
