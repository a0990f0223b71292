package mqtt_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/websocket"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/wire"
)

// upgrade is what a WebSocket server saw of one upgrade request.
type upgrade struct {
	header    http.Header
	origin    string
	protocols []string
}

// wsRecorder is an MQTT over WebSocket server that records each upgrade
// request and accepts the client.
func wsRecorder(t *testing.T) (url string, upgrades <-chan upgrade) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan upgrade, 10)
	srv := &http.Server{Handler: websocket.Server{
		Handshake: func(cfg *websocket.Config, r *http.Request) error {
			ch <- upgrade{r.Header.Clone(), r.Header.Get("Origin"), cfg.Protocol}
			cfg.Protocol = []string{"mqtt"}
			return nil
		},
		Handler: func(ws *websocket.Conn) {
			ws.PayloadType = websocket.BinaryFrame
			r := wire.NewReader(ws, 0)
			if _, err := r.ReadPacket(wire.V5); err != nil {
				return
			}
			b, _ := (&wire.Connack{}).Append(nil, wire.V5)
			ws.Write(b)
			for {
				if _, err := r.ReadPacket(wire.V5); err != nil {
					return
				}
			}
		},
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "ws://" + ln.Addr().String() + "/mqtt", ch
}

// The upgrade request carries DialOptions.WebSocket's headers, Origin and
// subprotocols (MQTT.js wsOptions).
func TestWebSocketOptions(t *testing.T) {
	t.Parallel()
	url, upgrades := wsRecorder(t)
	header := http.Header{"Authorization": {"Bearer s3cret"}, "Cookie": {"session=1"}}
	dialT(t, url, &mqtt.DialOptions{Version: mqtt.V5, WebSocket: &mqtt.WebSocketOptions{
		Header: header, Origin: "https://app.example", Protocols: []string{"mqtt", "mqttv3.1"}}})
	u := <-upgrades
	if u.header.Get("Authorization") != "Bearer s3cret" || u.header.Get("Cookie") != "session=1" {
		t.Errorf("headers %v, want Authorization and Cookie", u.header)
	}
	if u.origin != "https://app.example" {
		t.Errorf("Origin %q, want https://app.example", u.origin)
	}
	if strings.Join(u.protocols, ",") != "mqtt,mqttv3.1" {
		t.Errorf("subprotocols %q, want mqtt, mqttv3.1", u.protocols)
	}
}

// BeforeConnect changes the headers for each attempt (an expiring token)
// without changing DialOptions'.
func TestWebSocketHeaderPerAttempt(t *testing.T) {
	t.Parallel()
	url, upgrades := wsRecorder(t)
	header := http.Header{"Authorization": {"Bearer from-options"}}
	dialT(t, url, &mqtt.DialOptions{Version: mqtt.V5, WebSocket: &mqtt.WebSocketOptions{Header: header},
		BeforeConnect: func(ctx context.Context, a *mqtt.ConnectAttempt) error {
			a.Header.Set("Authorization", fmt.Sprintf("Bearer attempt-%d", a.Attempt))
			return nil
		}})
	u := <-upgrades
	if got := u.header.Get("Authorization"); got != "Bearer attempt-0" {
		t.Errorf("Authorization %q, want the hook's Bearer attempt-0", got)
	}
	if got := header.Get("Authorization"); got != "Bearer from-options" {
		t.Errorf("the hook changed DialOptions' header: %q", got)
	}
}
