//go:build !js

package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"golang.org/x/net/websocket"
)

// tcpKeepAlive is the TCP keep-alive of the connections dialTransport dials.
var tcpKeepAlive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 15 * time.Second, Count: 4}

// dialTransport opens the network connection for t.
func dialTransport(ctx context.Context, t *target, o *DialOptions) (net.Conn, error) {
	dial := o.Dialer
	if dial == nil {
		// TCP keep-alive stays on whatever MQTT's keep alive is: it is the
		// last line of defence, and the only one when the server turns
		// MQTT's off with a Server Keep Alive of 0. A silent peer is found
		// after about 30s + 4 x 15s of silence.
		d := net.Dialer{KeepAliveConfig: tcpKeepAlive}
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", t.host)
	if err != nil {
		return nil, fmt.Errorf("mqtt: connecting to %s: %w", t.raw, err)
	}
	conn = withQuickAck(conn)
	if t.scheme == "tcp" {
		return conn, nil // plain TCP: no handshake before MQTT's
	}
	// The handshakes below are not context-aware; closing the connection
	// when ctx ends unblocks them.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if t.scheme == "tls" || t.scheme == "wss" {
		cfg := o.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(t.host)
			cfg.ServerName = host
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("mqtt: TLS handshake with %s: %w", t.raw, ctxErr(ctx, err))
		}
		conn = tc
	}
	if t.scheme == "ws" || t.scheme == "wss" {
		origin := "http://" + t.host
		cfg, err := websocket.NewConfig(t.wsURL, origin)
		if err != nil {
			conn.Close()
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // without the URL and its query
			}
			return nil, fmt.Errorf("mqtt: WebSocket URL %s: %w", t.raw, err)
		}
		cfg.Protocol = []string{"mqtt"} // MQTT-6.0.0-3
		ws, err := websocket.NewClient(cfg, conn)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("mqtt: WebSocket handshake with %s: %w", t.raw, ctxErr(ctx, err))
		}
		ws.PayloadType = websocket.BinaryFrame // MQTT-6.0.0-1
		conn = &wsConn{Conn: ws, transport: conn}
	}
	if !stop() {
		conn.Close()
		return nil, fmt.Errorf("mqtt: connecting to %s: %w", t.raw, ctx.Err())
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

// wsConn is a WebSocket connection that closes like a TCP one: at once.
// x/net/websocket's own Close sends a close frame under the lock that a
// Write holds while the server does not read, so it waited as long as the
// stuck write did: forever, for a server that stopped reading. Closing the
// connection beneath ends the write and the read in progress. (Nothing is
// lost by skipping the close frame: MQTT says goodbye with DISCONNECT.)
type wsConn struct {
	*websocket.Conn
	transport net.Conn // TCP or TLS
}

func (c *wsConn) Close() error { return c.transport.Close() }

// checkPlatform refuses at Dial what the platform cannot do: nothing here
// (transport_js.go).
func checkPlatform(*target, *DialOptions) error { return nil }
