//go:build !js

package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
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
		return nil, dialError(ctx, t, "TCP connect", err)
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
			return nil, dialError(ctx, t, "TLS handshake", err)
		}
		conn = tc
	}
	if t.scheme == "ws" || t.scheme == "wss" {
		wo := o.WebSocket
		if wo == nil {
			wo = &WebSocketOptions{}
		}
		origin := wo.Origin
		if origin == "" {
			origin = "http://" + t.host // x/net/websocket sends one always
		}
		cfg, err := websocket.NewConfig(t.wsURL, origin)
		if err != nil {
			conn.Close()
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // without the URL and its query
			}
			return nil, fmt.Errorf("mqtt: WebSocket URL %s: %w", t.raw, err)
		}
		cfg.Protocol = wo.Protocols
		if len(cfg.Protocol) == 0 {
			cfg.Protocol = []string{"mqtt"} // MQTT-6.0.0-3
		}
		cfg.Header = t.header
		if cfg.Header == nil {
			cfg.Header = wo.Header
		}
		ws, err := websocket.NewClient(cfg, conn)
		if err != nil {
			conn.Close()
			return nil, dialError(ctx, t, "WebSocket upgrade", err)
		}
		ws.PayloadType = websocket.BinaryFrame // MQTT-6.0.0-1
		conn = &wsConn{Conn: ws, transport: conn}
	}
	if !stop() {
		conn.Close()
		return nil, dialError(ctx, t, "WebSocket upgrade", ctx.Err())
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
	frame     wsFrame  // the data frame being read; nil between frames
}

func (c *wsConn) Close() error { return c.transport.Close() }

// wsFrame is what Read needs of x/net/websocket's frame reader.
type wsFrame interface {
	io.Reader
	PayloadType() byte
	TrailerReader() io.Reader
}

// Read reads MQTT's bytes from binary frames with no regard for where a
// frame ends: a packet may span frames, and a frame may hold several
// (MQTT-6.0.0-2). Any other data frame ends the connection (MQTT-6.0.0-1),
// where websocket.Conn's own Read would take a text frame's bytes for
// MQTT's. It reads frames as that Read does, through the methods
// websocket.Conn promotes.
func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.frame == nil {
			f, err := c.Conn.NewFrameReader()
			if err != nil {
				return 0, err
			}
			if f, err = c.Conn.HandleFrame(f); err != nil {
				return 0, err
			}
			if f == nil {
				continue // ping (answered) or pong
			}
			if f.PayloadType() != websocket.BinaryFrame {
				return 0, errors.New("the server sent a WebSocket frame that is not binary; MQTT goes in binary frames only")
			}
			c.frame = f
		}
		n, err := c.frame.Read(p)
		if err == io.EOF {
			if t := c.frame.TrailerReader(); t != nil {
				io.Copy(io.Discard, t)
			}
			c.frame = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

// checkPlatform refuses at Dial what the platform cannot do: nothing here
// (transport_js.go).
func checkPlatform(*target, *DialOptions) error { return nil }
