package mqtt

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/websocket"

	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// Client is a connection to an MQTT server and the session it carries.
//
// All methods may be called concurrently from many goroutines. Publish calls
// made at the same time are pipelined over the one connection, as many at once
// as the server's Receive Maximum allows.
//
// The client owns three goroutines (reading, writing, keep alive); Close and
// Disconnect stop them and wait for them to end.
type Client struct {
	opts    DialOptions
	server  string // the URL that accepted us
	version wire.Version
	conn    net.Conn
	reader  *wire.Reader
	w       *writer
	sess    *session
	router  router
	log     *slog.Logger

	// What the server allows, from CONNACK.
	clientID        string
	keepAlive       time.Duration
	maxQoS          QoS
	retainAvailable bool
	maxPacketSize   int
	subIDs          bool // subscription identifiers available
	wildcards       bool // wildcard subscriptions available
	shared          bool // shared subscriptions available
	responseInfo    string

	lastSent, lastRecv atomic.Int64 // UnixNano
	pingSent           atomic.Int64 // UnixNano of an unanswered PINGREQ, 0 if none

	done      chan struct{} // closed when the client has ended
	closeOnce sync.Once
	err       error // why it ended; set before done is closed
	wg        sync.WaitGroup

	reqOnce sync.Once
	req     *requester
}

// Dial connects to the MQTT server at rawURL and returns once the server has
// accepted the connection with CONNACK.
//
// The URL scheme picks the transport: mqtt:// and tcp:// (plain TCP, port
// 1883), mqtts://, tls:// and ssl:// (TLS, 8883), ws:// (WebSocket, 80), wss://,
// wxs:// and alis:// (WebSocket over TLS, 443). User info in the URL sets the
// user name and password. After rawURL, the URLs in opts.Servers are tried in
// order; the first that accepts wins.
//
// ctx bounds the dial only, never the life of the client. A server that
// refuses the connection gives a *ConnectError with its reason code.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Client, error) {
	o := opts.withDefaults()
	if err := checkOptions(&o); err != nil {
		return nil, err
	}
	urls := append([]string{rawURL}, o.Servers...)
	targets := make([]*target, 0, len(urls))
	for _, u := range urls {
		t, err := parseURL(u)
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
	}
	if o.ClientID == "" && (o.Version == V31 || o.KeepSession) {
		o.ClientID = "culex-" + randomHex(8)
	}
	var errs []error
	for _, t := range targets {
		c, err := dialTarget(ctx, t, o)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	return nil, errors.Join(errs...)
}

func checkOptions(o *DialOptions) error {
	switch o.Version {
	case 0, V31, V311, V5:
	default:
		return fmt.Errorf("mqtt: DialOptions.Version %d is not a protocol version; use V31, V311 or V5", o.Version)
	}
	if o.Will != nil {
		if err := wire.CheckTopicName(o.Will.Topic); err != nil {
			return fmt.Errorf("mqtt: will: %w", err)
		}
		if o.Will.QoS > QoS2 {
			return fmt.Errorf("mqtt: will QoS %d is not 0, 1 or 2", o.Will.QoS)
		}
	}
	return nil
}

// target is a parsed server URL.
type target struct {
	raw      string // without user info, for errors and logs
	scheme   string // tcp, tls, ws, wss
	host     string // host:port
	wsURL    string
	username string
	password []byte
	hasUser  bool
}

func parseURL(raw string) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a password
		}
		return nil, fmt.Errorf("mqtt: server URL %q: %w", redact(raw), err)
	}
	t := &target{}
	var port string
	switch strings.ToLower(u.Scheme) {
	case "mqtt", "tcp":
		t.scheme, port = "tcp", "1883"
	case "mqtts", "tls", "ssl":
		t.scheme, port = "tls", "8883"
	case "ws":
		t.scheme, port = "ws", "80"
	case "wss", "wxs", "alis":
		t.scheme, port = "wss", "443"
	default:
		return nil, fmt.Errorf("mqtt: server URL %q: unknown scheme %q; use mqtt, mqtts, ws or wss", redact(raw), u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("mqtt: server URL %q has no host", redact(raw))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("mqtt: server URL %q: bad port %q", redact(raw), p)
		}
		port = p
	}
	t.host = net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		t.hasUser = true
		t.username = u.User.Username()
		if p, ok := u.User.Password(); ok {
			t.password = []byte(p)
		}
	}
	u.User = nil
	t.raw = u.String()
	if t.scheme == "ws" || t.scheme == "wss" {
		path := u.EscapedPath()
		if path == "" {
			path = "/mqtt"
		}
		scheme := "ws"
		if t.scheme == "wss" {
			scheme = "wss"
		}
		t.wsURL = scheme + "://" + t.host + path
		if u.RawQuery != "" {
			t.wsURL += "?" + u.RawQuery
		}
	}
	return t, nil
}

// redact removes the password from a URL for messages, even from one that
// does not parse.
func redact(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		return raw
	}
	rest := raw[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return raw
	}
	user, _, _ := strings.Cut(rest[:at], ":")
	return raw[:i+3] + user + rest[at:]
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// dialTransport opens the network connection for t.
func dialTransport(ctx context.Context, t *target, o *DialOptions) (net.Conn, error) {
	dial := o.Dialer
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", t.host)
	if err != nil {
		return nil, fmt.Errorf("mqtt: connecting to %s: %w", t.raw, err)
	}
	conn = withQuickAck(conn)
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
			return nil, fmt.Errorf("mqtt: WebSocket URL %s: %w", t.raw, err)
		}
		cfg.Protocol = []string{"mqtt"} // MQTT-6.0.0-3
		ws, err := websocket.NewClient(cfg, conn)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("mqtt: WebSocket handshake with %s: %w", t.raw, ctxErr(ctx, err))
		}
		ws.PayloadType = websocket.BinaryFrame // MQTT-6.0.0-1
		conn = ws
	}
	if !stop() {
		conn.Close()
		return nil, fmt.Errorf("mqtt: connecting to %s: %w", t.raw, ctx.Err())
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

// ctxErr prefers the context's error over the I/O error it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// dialTarget connects to one server, falling back from V5 to V311 when the
// version was not chosen and the server refuses 5.
func dialTarget(ctx context.Context, t *target, o DialOptions) (*Client, error) {
	if o.Version != 0 {
		return connect(ctx, t, o, wire.Version(o.Version))
	}
	c, err := connect(ctx, t, o, wire.V5)
	var ce *ConnectError
	if errors.As(err, &ce) && ce.ReasonCode == wire.UnsupportedProtocolVersion {
		if o.ClientID == "" {
			o.ClientID = "culex-" + randomHex(8) // 3.1.1 needs one with a kept session
		}
		return connect(ctx, t, o, wire.V311)
	}
	return c, err
}

// connect opens a connection, sends CONNECT and waits for CONNACK.
func connect(ctx context.Context, t *target, o DialOptions, v wire.Version) (*Client, error) {
	conn, err := dialTransport(ctx, t, &o)
	if err != nil {
		return nil, err
	}
	c := &Client{
		opts:    o,
		server:  t.raw,
		version: v,
		conn:    conn,
		done:    make(chan struct{}),
		log:     o.Logger,
	}
	pkt := c.connectPacket(t, v)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	ack, err := c.handshake(pkt)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("mqtt: connecting to %s: %w", t.raw, ctxErr(ctx, err))
	}
	conn.SetDeadline(time.Time{})
	if ack.ReasonCode != wire.Success {
		conn.Close()
		ce := &ConnectError{Server: t.raw, ReasonCode: ack.ReasonCode}
		if ack.Properties != nil {
			ce.ReasonString = ack.Properties.ReasonString
		}
		return nil, ce
	}
	if err := c.start(pkt, ack); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) connectPacket(t *target, v wire.Version) *wire.Connect {
	o := &c.opts
	p := &wire.Connect{
		CleanStart: !o.KeepSession,
		ClientID:   o.ClientID,
		Username:   o.Username,
		Password:   o.Password,
	}
	if t.hasUser {
		p.Username, p.UsernameFlag = t.username, true
		if t.password != nil {
			p.Password = t.password
		}
	}
	if o.KeepAlive > 0 {
		p.KeepAlive = uint16(min(o.KeepAlive.Round(time.Second)/time.Second, 65535))
		if p.KeepAlive == 0 {
			p.KeepAlive = 1
		}
	}
	if w := o.Will; w != nil {
		p.Will = &wire.Will{Topic: w.Topic, Payload: w.Payload, QoS: byte(w.QoS), Retain: w.Retain}
		if v == wire.V5 {
			p.Will.Properties = messageProps(w)
			if o.WillDelay > 0 {
				if p.Will.Properties == nil {
					p.Will.Properties = &wire.Properties{}
				}
				p.Will.Properties.WillDelay = uint32(o.WillDelay / time.Second)
			}
		}
	}
	if v == wire.V5 {
		props := &wire.Properties{
			ReceiveMaximum:      o.ReceiveMaximum,
			TopicAliasMaximum:   o.TopicAliasMaximum,
			UserProperties:      o.UserProperties,
			RequestResponseInfo: o.RequestResponseInfo,
		}
		if o.NoProblemInfo {
			props.RequestProblemInfo = new(false)
		}
		if o.KeepSession {
			exp := uint32(0xFFFFFFFF)
			if o.SessionExpiry > 0 {
				exp = uint32(min(o.SessionExpiry/time.Second, 0xFFFFFFFE))
			}
			props.SessionExpiry = &exp
		}
		if o.MaximumPacketSize > 0 {
			props.MaximumPacketSize = uint32(min(o.MaximumPacketSize, wire.MaxPacketSize))
		}
		p.Properties = props
	}
	return p
}

// handshake writes CONNECT and reads the answer (MQTT-3.1.0-1: CONNECT is
// the first packet).
func (c *Client) handshake(p *wire.Connect) (*wire.Connack, error) {
	b, err := p.Append(nil, c.version)
	if err != nil {
		return nil, err
	}
	c.trace(true, p)
	if _, err := c.conn.Write(b); err != nil {
		return nil, err
	}
	c.reader = wire.NewReader(c.conn, 0)
	c.reader.MaxPacketSize = c.opts.MaximumPacketSize
	pkt, err := c.reader.ReadPacket(c.version)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("the server closed the connection before CONNACK: %w", err)
		}
		return nil, err
	}
	c.trace(false, pkt)
	ack, ok := pkt.(*wire.Connack)
	if !ok {
		return nil, fmt.Errorf("the server sent %v before CONNACK", pkt.Type())
	}
	return ack, nil
}

// start takes in what CONNACK says and starts the goroutines.
func (c *Client) start(cp *wire.Connect, ack *wire.Connack) error {
	c.clientID = cp.ClientID
	c.maxQoS = QoS2
	c.retainAvailable = true
	c.subIDs = c.version == wire.V5
	c.wildcards, c.shared = true, true
	c.keepAlive = time.Duration(cp.KeepAlive) * time.Second
	receiveMax := 65535
	if p := ack.Properties; p != nil {
		if p.AssignedClientID != "" {
			c.clientID = p.AssignedClientID
		}
		if p.ServerKeepAlive != nil {
			c.keepAlive = time.Duration(*p.ServerKeepAlive) * time.Second // MQTT-3.1.2-21
		}
		if p.MaximumQoS != nil {
			c.maxQoS = QoS(*p.MaximumQoS)
		}
		if p.RetainAvailable != nil {
			c.retainAvailable = *p.RetainAvailable
		}
		if p.MaximumPacketSize != 0 {
			c.maxPacketSize = int(p.MaximumPacketSize)
		}
		if p.SubIDAvailable != nil {
			c.subIDs = *p.SubIDAvailable
		}
		if p.WildcardSubAvailable != nil {
			c.wildcards = *p.WildcardSubAvailable
		}
		if p.SharedSubAvailable != nil {
			c.shared = *p.SharedSubAvailable
		}
		if p.ReceiveMaximum != 0 {
			receiveMax = int(p.ReceiveMaximum)
		}
		c.responseInfo = p.ResponseInfo
	}
	store := c.opts.Store
	if !ack.SessionPresent {
		// No session on the server: the IDs of incoming QoS 2 messages
		// we were waiting to see released mean nothing any more.
		if err := store.Reset(persist.Incoming); err != nil {
			return fmt.Errorf("mqtt: resetting the session store: %w", err)
		}
	}
	if ack.SessionPresent && !c.opts.KeepSession {
		// MQTT-3.2.2-4: we asked for a clean start and hold no session.
		return fmt.Errorf("mqtt: %s resumed a session although the client asked for a clean start", c.server)
	}
	c.sess = newSession(store, receiveMax)
	c.router.init(c)
	c.w = newWriter(c.conn, c.version, c)
	if err := c.resume(ack.SessionPresent); err != nil {
		return err
	}
	now := time.Now().UnixNano()
	c.lastSent.Store(now)
	c.lastRecv.Store(now)
	c.logInfo("connected", "server", c.server, "version", c.version.String(), "client_id", c.clientID, "session_present", ack.SessionPresent)
	c.wg.Add(3)
	go c.readLoop()
	go c.w.loop(&c.wg)
	go c.keepAliveLoop()
	if c.opts.OnConnect != nil {
		c.opts.OnConnect(ack.SessionPresent)
	}
	return nil
}

// ClientID returns the client identifier in use, which the server may have
// assigned (v5).
func (c *Client) ClientID() string { return c.clientID }

// Version returns the protocol version the server accepted.
func (c *Client) Version() Version { return Version(c.version) }

// Done returns a channel that is closed when the client has ended, by Close,
// Disconnect, or the loss of its connection. Err tells why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns nil while the client runs, and then why it ended: ErrClosed
// after Close or Disconnect, else an error that wraps ErrClosed and the cause
// (a *DisconnectError when the server sent DISCONNECT).
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close ends the client now, without DISCONNECT: the server publishes the
// will, if any. Calls in progress return ErrClosed. Unacknowledged QoS 1/2
// messages stay in the Store. Close waits for the client's goroutines to end
// and may be called more than once.
func (c *Client) Close() error {
	c.end(ErrClosed)
	c.wg.Wait()
	return nil
}

// Disconnect ends the client gracefully: it waits until every QoS 1/2
// message in flight has been acknowledged (or ctx ends), then sends
// DISCONNECT and closes the connection, so the server discards the will.
// It returns ctx's error when ctx ended before the drain was complete; the
// client is closed either way.
func (c *Client) Disconnect(ctx context.Context) error {
	err := c.sess.drain(ctx, c.done)
	select {
	case <-c.done:
		c.wg.Wait()
		return c.Err()
	default:
	}
	c.w.sendLast(&wire.Disconnect{}) // MQTT-3.14.4-1: nothing after it
	c.end(ErrClosed)
	c.wg.Wait()
	if err != nil {
		return fmt.Errorf("mqtt: disconnected with messages still in flight: %w", err)
	}
	return nil
}

// end closes the client with err, once.
func (c *Client) end(err error) {
	c.closeOnce.Do(func() {
		c.err = err
		close(c.done)
		c.w.close()
		c.conn.Close() // MQTT-3.14.4-2
		if err != ErrClosed {
			c.logInfo("connection ended", "error", err)
		}
	})
}

// lost ends the client after the connection failed.
func (c *Client) lost(cause error) {
	select {
	case <-c.done:
		return // already ending; the cause is a consequence
	default:
	}
	err := fmt.Errorf("%w: connection lost: %w", ErrClosed, cause)
	var de *DisconnectError
	if errors.As(cause, &de) {
		err = fmt.Errorf("%w: %w", ErrClosed, cause)
	}
	c.end(err)
	if c.opts.OnConnectionLost != nil {
		c.opts.OnConnectionLost(err)
	}
}

// closedErr is the error for calls that find the client ended.
func (c *Client) closedErr() error {
	<-c.done
	return c.err
}

// readLoop reads packets until the connection ends. It never blocks on the
// application: deliveries are queued for Subscription.Next.
func (c *Client) readLoop() {
	defer c.wg.Done()
	for {
		h, body, err := c.reader.Next()
		if err != nil {
			c.lost(err)
			return
		}
		c.lastRecv.Store(time.Now().UnixNano())
		if err := c.handle(h, body); err != nil {
			c.protocolViolation(err)
			return
		}
	}
}

// protocolViolation closes the connection after a bad packet from the server
// (v311:MQTT-4.8.0-1), telling a v5 server why first.
func (c *Client) protocolViolation(err error) {
	if c.version == wire.V5 {
		code := wire.ProtocolError
		var we *wire.Error
		if errors.As(err, &we) {
			code = we.Code
			if code == wire.TopicNameInvalid || code == wire.TopicFilterInvalid {
				code = wire.ProtocolError
			}
		}
		c.w.sendLast(&wire.Disconnect{ReasonCode: code})
	}
	c.lost(err)
}

// handle acts on one packet from the server.
func (c *Client) handle(h wire.FixedHeader, body []byte) error {
	if h.Type == wire.PUBLISH {
		p := new(wire.Publish)
		if err := p.Decode(h.Flags, body, c.version); err != nil {
			return err
		}
		c.trace(false, p)
		return c.receivePublish(p)
	}
	if len(body) == 2 && c.opts.OnPacketReceived == nil && c.log == nil {
		// The common acknowledgement: an identifier and nothing else.
		// Handled without decoding into a new packet.
		id := uint16(body[0])<<8 | uint16(body[1])
		if id != 0 {
			switch h.Type {
			case wire.PUBACK:
				return c.sess.complete(id, wire.PUBLISH, 0, nil, nil)
			case wire.PUBCOMP:
				return c.sess.complete(id, wire.PUBREL, 0, nil, nil)
			}
		}
	}
	pkt, err := wire.Decode(h, body, c.version)
	if err != nil {
		return err
	}
	c.trace(false, pkt)
	switch p := pkt.(type) {
	case *wire.Puback:
		return c.sess.complete(p.PacketID, wire.PUBLISH, p.ReasonCode, p.Properties, nil)
	case *wire.Pubrec:
		return c.receivePubrec(p)
	case *wire.Pubcomp:
		return c.sess.complete(p.PacketID, wire.PUBREL, p.ReasonCode, p.Properties, nil)
	case *wire.Pubrel:
		return c.receivePubrel(p)
	case *wire.Suback:
		return c.sess.complete(p.PacketID, wire.SUBSCRIBE, 0, p.Properties, p.ReasonCodes)
	case *wire.Unsuback:
		return c.sess.complete(p.PacketID, wire.UNSUBSCRIBE, 0, p.Properties, p.ReasonCodes)
	case *wire.Pingresp:
		c.pingSent.Store(0)
		return nil
	case *wire.Disconnect:
		de := &DisconnectError{ReasonCode: p.ReasonCode}
		if p.Properties != nil {
			de.ReasonString = p.Properties.ReasonString
			de.ServerReference = p.Properties.ServerReference
		}
		c.lost(de)
		return nil
	}
	return fmt.Errorf("the server sent an unexpected %v", pkt.Type())
}

// keepAliveLoop sends PINGREQ when the connection has been quiet and ends the
// connection when the server stays silent (MQTT-3.1.2-20).
func (c *Client) keepAliveLoop() {
	defer c.wg.Done()
	ka := c.keepAlive
	if ka <= 0 {
		<-c.done
		return
	}
	tick := time.NewTicker(ka / 4)
	defer tick.Stop()
	for {
		select {
		case <-c.done:
			return
		case t := <-tick.C:
			now := t.UnixNano()
			if ps := c.pingSent.Load(); ps != 0 {
				if time.Duration(now-ps) >= ka/2 {
					c.lost(fmt.Errorf("no PINGRESP within %v: the server or the network is gone", ka/2))
					return
				}
				continue
			}
			if time.Duration(now-c.lastSent.Load()) >= ka || time.Duration(now-c.lastRecv.Load()) >= ka {
				c.pingSent.Store(now)
				c.w.sendNow(&wire.Pingreq{})
			}
		}
	}
}

// trace reports a packet to the hooks and the logger.
func (c *Client) trace(sent bool, p wire.Packet) {
	if sent {
		if c.opts.OnPacketSent != nil {
			c.opts.OnPacketSent(p)
		}
	} else if c.opts.OnPacketReceived != nil {
		c.opts.OnPacketReceived(p)
	}
	if c.log != nil && c.log.Enabled(context.Background(), slog.LevelDebug) {
		dir := "received"
		if sent {
			dir = "sent"
		}
		c.log.Debug("mqtt packet "+dir, "type", p.Type().String(), "packet", packetSummary(p))
	}
}

// packetSummary describes a packet for logs without secrets or payloads.
func packetSummary(p wire.Packet) string {
	switch p := p.(type) {
	case *wire.Connect:
		return fmt.Sprintf("client_id=%q clean=%v keepalive=%d user_set=%v password_set=%v will=%v",
			p.ClientID, p.CleanStart, p.KeepAlive, p.Username != "" || p.UsernameFlag, p.Password != nil, p.Will != nil)
	case *wire.Publish:
		return fmt.Sprintf("topic=%q qos=%d id=%d dup=%v retain=%v bytes=%d", p.Topic, p.QoS, p.PacketID, p.Dup, p.Retain, len(p.Payload))
	}
	return fmt.Sprintf("%+v", p)
}

func (c *Client) logInfo(msg string, args ...any) {
	if c.log != nil {
		c.log.Info("mqtt: "+msg, args...)
	}
}
