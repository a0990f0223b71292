package mqtt

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/culex-mqtt/mqtt/wire"
)

// Client is a session with an MQTT server, carried by one network
// connection at a time. When the connection is lost, the client connects
// again (see DialOptions.NoReconnect) and takes up where it stood: calls
// made meanwhile wait, and unacknowledged messages are sent again.
//
// All methods may be called concurrently from many goroutines. Publish calls
// made at the same time are pipelined over the one connection, as many at once
// as the server's Receive Maximum allows.
//
// The client owns a goroutine that watches the connection and three per
// connection (reading, writing, keep alive); Close and Disconnect stop them
// and wait for them to end.
type Client struct {
	opts    DialOptions
	targets []*target
	sess    *session
	router  router
	log     *slog.Logger

	// ctx is cancelled when the client ends; it bounds reconnection.
	ctx    context.Context
	cancel context.CancelFunc

	cn       atomic.Pointer[connection] // the latest connection, alive or not
	nextGen  uint64                     // for the next connection; owned by the dialing goroutine
	redirect *redirection               // where the last connection's DISCONNECT sent us; owned by the dialing goroutine
	hurry    atomic.Bool                // Reconnect asked: the next attempt waits for no delay
	wake     chan struct{}              // Reconnect wakes a supervisor waiting between attempts; capacity 1

	mu       sync.Mutex
	clientID string                  // as the server knows us; may be assigned (v5)
	versions map[string]wire.Version // by server URL (target.raw): V311 where 5.0 was refused
	up       chan struct{}           // closed when a new connection is installed, then replaced
	offline  [][]byte                // QoS 0 PUBLISH packets made while offline, encoded

	done      chan struct{} // closed when the client has ended
	ending    atomic.Bool   // Disconnect is under way: a lost connection is not replaced
	watched   atomic.Bool   // connections are read by a goroutine of their own (connection.keepReading)
	closeOnce sync.Once
	err       error          // why it ended; set before done is closed
	closed    bool           // under mu: end ran, wg takes no more goroutines
	wg        sync.WaitGroup // the supervisor, the requester

	stats    counters
	released releasedQoS2 // incoming QoS 2 messages completed lately

	reqMu sync.Mutex
	req   *requester

	authMu sync.Mutex // one re-authentication at a time
}

// Dial connects to the MQTT server at rawURL and returns once the server has
// accepted the connection with CONNACK.
//
// The URL scheme picks the transport: mqtt:// and tcp:// (plain TCP, port
// 1883), mqtts://, tls:// and ssl:// (TLS, 8883), ws:// (WebSocket, 80), wss://,
// wxs:// and alis:// (WebSocket over TLS, 443); in a browser (GOOS=js) the
// WebSocket ones only, the browser's. User info in the URL sets the
// user name and password; '/', '?', '#', '@' and ':' in them must be
// percent-encoded. Only WebSocket URLs may have a path or query. After
// rawURL, the URLs in opts.Servers are tried in order; the first that
// accepts wins. With opts.TLSConfig set, a plain-text URL is refused unless
// opts.AllowPlaintext is set too.
//
// Errors and logs show a URL as scheme://host:port/path: never its user
// info, nor the query, which may carry a signature.
//
// ctx bounds the dial only, never the life of the client. A server that
// refuses the connection gives a *ConnectError with its reason code.
// Messages an earlier process left in opts.Store are sent once connected.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Client, error) {
	o := opts.withDefaults()
	if err := checkOptions(&o); err != nil {
		return nil, err
	}
	urls := append([]string{rawURL}, o.Servers...)
	targets := make([]*target, 0, len(urls))
	for _, u := range urls {
		t, err := parseURL(u)
		if err == nil {
			err = checkTransport(t, &o)
		}
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
	}
	c := &Client{
		targets:  targets,
		log:      o.Logger,
		clientID: o.ClientID,
		up:       make(chan struct{}),
		done:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
		nextGen:  firstGen,
	}
	o.Store = countingStore{Store: o.Store, writes: &c.stats.storeWrites}
	c.opts, c.sess = o, newSession(o.Store)
	c.released.seed = maphash.MakeSeed()
	if c.clientID == "" && (o.Version == V31 || o.KeepSession) {
		c.clientID = "culex-" + randomHex(8)
	}
	// Callbacks about the connection ask for it to be watched, so that
	// they are called when it fails, not at the next call.
	c.watched.Store(o.OnConnect != nil || o.OnConnectionLost != nil || o.OnReconnecting != nil)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.router.init(c)
	if err := c.sess.load(); err != nil {
		c.cancel()
		return nil, err
	}
	if _, err := c.dialAny(ctx, 0); err != nil {
		c.cancel()
		return nil, err
	}
	return c, nil
}

func checkOptions(o *DialOptions) error {
	switch o.Version {
	case 0, V31, V311, V5:
	default:
		return badOptionf("DialOptions.Version %d is not a protocol version; use V31, V311 or V5", o.Version)
	}
	if o.Will != nil {
		if err := wire.CheckTopicName(o.Will.Topic); err != nil {
			return badOptionf("will: %w", err)
		}
		if o.Will.QoS > QoS2 {
			return badOptionf("will QoS %d is not 0, 1 or 2", o.Will.QoS)
		}
		if o.Will.MessageExpiry < 0 {
			return badOptionf("will: MessageExpiry %v is negative; use 0 for a will that never expires", o.Will.MessageExpiry)
		}
	}
	// MQTT counts these in whole seconds: a bare number is nanoseconds,
	// and would go out as 0 or 1.
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"KeepAlive", o.KeepAlive},
		{"SessionExpiry", o.SessionExpiry},
		{"WillDelay", o.WillDelay},
		{"Will.MessageExpiry", willExpiry(o.Will)},
	} {
		if d.d > 0 && d.d < time.Second {
			return badOptionf("DialOptions.%s %v is under a second, MQTT's unit: %s", d.name, d.d, secondsHint(d.d))
		}
	}
	if o.SessionExpiry < 0 || o.WillDelay < 0 {
		return badOptionf("DialOptions.SessionExpiry and WillDelay cannot be negative (%v, %v)", o.SessionExpiry, o.WillDelay)
	}
	if o.Version == V31 && len(o.ClientID) > 23 {
		// MQTT 3.1 servers refuse longer ones; they count bytes.
		return badOptionf("DialOptions.ClientID %q is %d bytes long; MQTT 3.1 allows at most 23: choose a shorter one, or use V311 or V5", o.ClientID, len(o.ClientID))
	}
	if len(o.UserProperties) > 0 && (o.Version == V31 || o.Version == V311) {
		// Refused, as message properties are, rather than dropped silently.
		return badOptionf("DialOptions.UserProperties need MQTT 5.0, not %v: remove them or use V5", o.Version)
	}
	if o.Auth != nil && o.Version != 0 && o.Version != V5 {
		return badOptionf("DialOptions.Auth needs MQTT 5.0, not %v", o.Version)
	}
	return nil
}

func willExpiry(w *Message) time.Duration {
	if w == nil {
		return 0
	}
	return w.MessageExpiry
}

// target is a parsed server URL.
type target struct {
	raw      string // scheme://host[:port]/path, for errors and logs: no user info, query or fragment
	url      string // as given without user info, for BeforeConnect
	scheme   string // tcp, tls, ws, wss
	host     string // host:port
	wsURL    string
	username string
	password []byte
	hasUser  bool
	header   http.Header // for the WebSocket upgrade, set by BeforeConnect; nil: DialOptions.WebSocket's
}

// encodeSecrets is the advice for user info that breaks a URL.
const encodeSecrets = "percent-encode '/', '?', '#', '@' and ':' in the user name and password " +
	"(as %2F, %3F, %23, %40 and %3A), or set DialOptions.Username and Password instead"

func parseURL(raw string) (*target, error) {
	i := strings.Index(raw, "://")
	if i < 0 {
		// "alice:pw@host" parses as the scheme "alice": never show it.
		return nil, badOptionf("server URL %q is not of the form scheme://host[:port]%s", redact(raw), schemeHint(raw))
	}
	// A user name or password with '/', '?' or '#' ends the authority
	// early: the secret lands in the host, port, path, query or fragment.
	// tail is what follows the authority, as url.Parse splits it.
	rest := raw[i+3:]
	tail := ""
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		tail = rest[end:]
	}
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(rest, "@") {
			// url.Parse's error quotes parts of the URL, which may be
			// parts of the password.
			return nil, badOptionf("server URL %q does not parse; %s", redact(raw), encodeSecrets)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, whose query may be secret
		}
		return nil, badOptionf("server URL %q: %w", redact(raw), err)
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
		return nil, badOptionf("server URL %q: unknown scheme %q; use mqtt, mqtts, ws or wss", redact(raw), u.Scheme)
	}
	switch {
	case (t.scheme == "tcp" || t.scheme == "tls") && tail != "" && tail != "/":
		// MQTT over TCP has no use for them; refusing them also stops
		// a password with '/', '?' or '#' from becoming a host name to
		// look up.
		return nil, badOptionf("server URL %q has a path, query or fragment, which MQTT over TCP and TLS does not use: "+
			"remove it; if it comes from the user name or password, %s", redact(raw), encodeSecrets)
	case strings.Contains(tail, "@"):
		// Almost always a password with '/', '?' or '#'.
		return nil, badOptionf("server URL %q has an '@' in its path, query or fragment: write it as %%40; "+
			"if it comes from the user name or password, %s", redact(raw), encodeSecrets)
	}
	if u.Hostname() == "" {
		return nil, badOptionf("server URL %q has no host", redact(raw))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
			return nil, badOptionf("server URL %q: bad port %q", redact(raw), p)
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
	t.url = u.String()
	// The query of a signed WebSocket URL is a credential too.
	t.raw = u.Scheme + "://" + u.Host + u.EscapedPath()
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

// schemeHint completes the error of a URL without a scheme: the URL with
// one, when showing it reveals no user info.
func schemeHint(raw string) string {
	if raw != "" && !strings.ContainsAny(raw, "@/?#") {
		return "; did you mean mqtt://" + raw + "?"
	}
	return ", like mqtt://broker:1883"
}

// references returns the servers of a Server Reference that t's server
// sent (MQTT 5.0 section 4.11): one or more, separated by spaces, each host
// or host:port. Each is reached like t: same scheme, WebSocket path, user
// info; a missing port is t's.
func (t *target) references(ref string) ([]*target, error) {
	_, port, _ := net.SplitHostPort(t.host)
	scheme, _, _ := strings.Cut(t.raw, "://")
	var path string
	if t.scheme == "ws" || t.scheme == "wss" {
		if u, err := url.Parse(t.wsURL); err == nil {
			path = u.EscapedPath()
		}
	}
	var targets []*target
	for _, hp := range strings.Fields(ref) {
		if _, _, err := net.SplitHostPort(hp); err != nil {
			hp = net.JoinHostPort(strings.Trim(hp, "[]"), port)
		}
		nt, err := parseURL(scheme + "://" + hp + path)
		if err != nil {
			return nil, fmt.Errorf("server reference %q: %w", ref, err)
		}
		nt.hasUser, nt.username, nt.password = t.hasUser, t.username, t.password
		targets = append(targets, nt)
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("server reference %q names no server", ref)
	}
	return targets, nil
}

// plaintext reports whether t sends the password in clear.
func (t *target) plaintext() bool { return t.scheme == "tcp" || t.scheme == "ws" }

// checkTransport refuses a plain-text target when TLS was asked for, and
// what the platform cannot do (checkPlatform).
func checkTransport(t *target, o *DialOptions) error {
	if err := checkPlatform(t, o); err != nil {
		return err
	}
	if t.plaintext() && o.TLSConfig != nil && !o.AllowPlaintext {
		return badOptionf("server URL %s is plain text, but DialOptions.TLSConfig is set: the password would go out unencrypted; "+
			"use mqtts:// or wss://, or set DialOptions.AllowPlaintext to connect without TLS", t.raw)
	}
	return nil
}

// redact shows a URL in a message without what may be secret: everything
// before the last '@' (user info, whose '/', '?' or '#' may have moved the
// end of the authority), and the query and fragment after it (a signed
// URL's signature). It works on URLs that do not parse.
func redact(raw string) string {
	scheme, rest := "", raw
	if i := strings.Index(raw, "://"); i >= 0 {
		scheme, rest = raw[:i+3], raw[i+3:]
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = "***" + rest[at:]
	}
	if end := strings.IndexAny(rest, "?#"); end >= 0 {
		rest = rest[:end]
	}
	return scheme + rest
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// dialError is the error of a connection attempt that failed at stage (TCP
// connect, TLS handshake, WebSocket upgrade, wait for CONNACK). When ctx
// ended, it names the stage that did not finish in time, and prefers ctx's
// error over the I/O error it caused; a TLS handshake that failed as
// against a server that does not speak TLS says so.
func dialError(ctx context.Context, t *target, stage string, err error) error {
	if ctx.Err() != nil {
		return wrapf(ctx.Err(), "connecting to %s: the %s did not finish in time (DialOptions.ConnectTimeout, or the ctx of Dial)", t.raw, stage)
	}
	if stage == "TLS handshake" && notTLS(err) {
		return wrapf(err, "connecting to %s: %s; the server does not seem to speak TLS on this port: "+
			"is it a plain MQTT port (mqtt:// or ws://)?", t.raw, stage)
	}
	return wrapf(err, "connecting to %s: %s", t.raw, stage)
}

// notTLS reports whether a TLS handshake failed the way it does against a
// server that speaks something else: an answer that is no TLS record, or
// the connection closed at the ClientHello (mosquitto's plain listeners).
func notTLS(err error) bool {
	return errors.As(err, new(tls.RecordHeaderError)) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// dialTarget connects to one server, falling back from V5 to V311 when the
// version was not chosen and the server refuses 5, unless that would drop
// CONNECT user properties.
//
// A server refuses 5.0 with reason code 0x84 (a 3.1.1 CONNACK 0x01 reads
// so), or, like RabbitMQ's MQTT plugin before 3.13, by closing the
// connection without CONNACK. The version that worked is remembered for
// the next connections to the same server.
func (c *Client) dialTarget(ctx context.Context, t *target, cred credentials) (*connection, *wire.Connack, error) {
	if c.opts.Version != 0 {
		return c.connect(ctx, t, cred, wire.Version(c.opts.Version))
	}
	if c.opts.Auth != nil {
		// Enhanced authentication needs 5.0: no falling back.
		return c.connect(ctx, t, cred, wire.V5)
	}
	c.mu.Lock()
	v := c.versions[t.raw]
	c.mu.Unlock()
	if v == wire.V311 {
		return c.connect(ctx, t, cred, wire.V311)
	}
	cn, ack, err := c.connect(ctx, t, cred, wire.V5)
	var ce *ConnectError
	refused := errors.As(err, &ce) && ce.ReasonCode == wire.UnsupportedProtocolVersion
	closed := errors.As(err, new(*closedBeforeConnack))
	if !refused && !closed {
		return cn, ack, err
	}
	if len(c.opts.UserProperties) > 0 {
		// 3.1.1 would drop them silently.
		return nil, nil, wrapf(err, "%s did not take MQTT 5.0, and DialOptions.UserProperties need it: "+
			"remove them to connect with MQTT 3.1.1", t.raw)
	}
	c.mu.Lock()
	if c.clientID == "" {
		c.clientID = "culex-" + randomHex(8) // 3.1.1 needs one with a kept session
	}
	c.mu.Unlock()
	cn, ack, err311 := c.connect(ctx, t, cred, wire.V311)
	if err311 != nil {
		if closed {
			// Say what both attempts met.
			return nil, nil, wrapf(err311, "%s closed the connection on a 5.0 CONNECT; with 3.1.1", t.raw)
		}
		return nil, nil, err311
	}
	c.mu.Lock()
	if c.versions == nil {
		c.versions = make(map[string]wire.Version)
	}
	c.versions[t.raw] = wire.V311
	c.mu.Unlock()
	return cn, ack, nil
}

// credentials are the user name and password of one connection attempt.
type credentials struct {
	username string
	password []byte
	set      bool // send the user name even when it is empty
}

// credentials are those of the URL's user info when t has any (its
// password, or the given one when it names none), else the given ones.
func (t *target) credentials(username string, password []byte) credentials {
	if !t.hasUser {
		return credentials{username: username, password: password}
	}
	cred := credentials{username: t.username, password: t.password, set: true}
	if cred.password == nil {
		cred.password = password
	}
	return cred
}

// connect opens a connection, sends CONNECT and waits for CONNACK. The
// connection it returns has not started its goroutines.
func (c *Client) connect(ctx context.Context, t *target, cred credentials, v wire.Version) (*connection, *wire.Connack, error) {
	conn, err := dialTransport(ctx, t, &c.opts)
	if err != nil {
		return nil, nil, err
	}
	cn := &connection{
		c:       c,
		gen:     c.nextGen,
		target:  t,
		server:  t.raw,
		version: v,
		conn:    conn,
		dead:    make(chan struct{}),

		turn:        make(chan struct{}, 1),
		interrupted: make(chan struct{}, 1),
	}
	c.nextGen++
	cn.interrupt = cn.interruptRead
	cn.w = newWriter(cn)
	pkt := c.connectPacket(cred, v)
	if a := c.opts.Auth; a != nil {
		data, err := a.Start(ctx)
		if err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("mqtt: connecting to %s: authentication method %s: %w", t.raw, a.Method(), err)
		}
		pkt.Properties.AuthMethod, pkt.Properties.AuthData = a.Method(), data
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	sent := time.Now()
	ack, err := cn.handshake(ctx, pkt)
	cn.rtt = time.Since(sent)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		conn.Close()
		return nil, nil, dialError(ctx, t, "wait for CONNACK", err)
	}
	conn.SetDeadline(time.Time{})
	if ack.ReasonCode != wire.Success {
		conn.Close()
		ce := &ConnectError{Server: t.raw, ReasonCode: ack.ReasonCode}
		if ack.Properties != nil {
			ce.ReasonString = ack.Properties.ReasonString
			ce.ServerReference = ack.Properties.ServerReference
		}
		return nil, nil, ce
	}
	cn.limits = readLimits(v, time.Duration(pkt.KeepAlive)*time.Second, ack.Properties)
	cn.accepted()
	if ack.Properties != nil && ack.Properties.AssignedClientID != "" {
		c.mu.Lock()
		c.clientID = ack.Properties.AssignedClientID
		c.mu.Unlock()
	}
	return cn, ack, nil
}

func (c *Client) connectPacket(cred credentials, v wire.Version) *wire.Connect {
	o := &c.opts
	p := &wire.Connect{
		CleanStart:   !o.KeepSession,
		ClientID:     c.ClientID(),
		Username:     cred.username,
		UsernameFlag: cred.set,
		Password:     cred.password,
	}
	if o.KeepAlive > 0 {
		p.KeepAlive = uint16(seconds(o.KeepAlive, 65535))
	}
	if w := o.Will; w != nil {
		p.Will = &wire.Will{Topic: w.Topic, Payload: w.Payload, QoS: byte(w.QoS), Retain: w.Retain}
		if v == wire.V5 {
			p.Will.Properties = messageProps(w)
			if o.WillDelay > 0 {
				if p.Will.Properties == nil {
					p.Will.Properties = &wire.Properties{}
				}
				p.Will.Properties.WillDelay = seconds(o.WillDelay, 0xFFFFFFFF)
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
				exp = seconds(o.SessionExpiry, 0xFFFFFFFE)
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
// the first packet), going through the rounds of enhanced authentication
// when DialOptions.Auth is set (auth.go).
func (cn *connection) handshake(ctx context.Context, p *wire.Connect) (*wire.Connack, error) {
	var out wire.Packet = p
	first := &firstBytes{r: cn.conn}
	cn.reader = wire.NewReader(first, 0)
	cn.reader.MaxPacketSize = cn.c.opts.MaximumPacketSize
	for {
		b, err := out.Append(nil, cn.version)
		if err != nil {
			return nil, err
		}
		cn.c.trace(true, out)
		if _, err := cn.conn.Write(b); err != nil {
			return nil, err
		}
		cn.c.stats.packetsSent.Add(1)
		cn.c.stats.bytesSent.Add(uint64(len(b)))
		h, body, err := cn.reader.Next()
		var pkt wire.Packet
		if err == nil {
			pkt, err = wire.Decode(h, body, cn.version)
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
				return nil, &closedBeforeConnack{err}
			}
			if errors.As(err, new(*wire.Error)) && !first.sawPacket {
				return nil, first.notMQTT(err)
			}
			return nil, err
		}
		first.sawPacket = true
		cn.c.stats.packetsReceived.Add(1)
		cn.c.stats.bytesReceived.Add(uint64(h.Size()))
		cn.c.trace(false, pkt)
		a := cn.c.opts.Auth
		switch pkt := pkt.(type) {
		case *wire.Connack:
			if a != nil && pkt.ReasonCode == wire.Success {
				if err := a.Finish(ctx, authData(pkt.Properties)); err != nil {
					cn.conn.Write(disconnectNotAuthorized)
					return nil, fmt.Errorf("authentication method %s: the server failed: %w", a.Method(), err)
				}
			}
			return pkt, nil
		case *wire.Auth:
			if a == nil {
				return nil, errors.New("the server sent AUTH, but no authentication method was asked for") // MQTT-4.12.0-6
			}
			if out, err = answerChallenge(ctx, a, pkt); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("the server sent %v before CONNACK", pkt.Type())
		}
	}
}

// closedBeforeConnack is a server that closed the connection without
// answering CONNECT: a TLS port that got a plain CONNECT, a server that
// refused the client in silence, or one that does not speak the version
// asked for (RabbitMQ's MQTT plugin before 3.13 with 5.0: dialTarget falls
// back to 3.1.1).
type closedBeforeConnack struct{ err error }

func (e *closedBeforeConnack) Error() string {
	return "the server closed the connection before CONNACK (a TLS port does that to a plain CONNECT: " +
		"if it is one, use mqtts:// or wss://; else the server's log says why): " + e.err.Error()
}

func (e *closedBeforeConnack) Unwrap() error { return e.err }

// firstBytes keeps the first bytes the server sends, to show what a server
// that does not speak MQTT answered (an HTTP server, a TLS port).
type firstBytes struct {
	r         io.Reader
	b         []byte
	sawPacket bool // a packet was read whole: the server speaks MQTT
}

func (f *firstBytes) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if len(f.b) < 24 {
		f.b = append(f.b, p[:min(n, 24-len(f.b))]...)
	}
	return n, err
}

// notMQTT is the error of a first answer that is no MQTT packet.
func (f *firstBytes) notMQTT(err error) error {
	hint := "is this the server's MQTT port?"
	if len(f.b) > 0 && (f.b[0] == 0x15 || f.b[0] == 0x16) {
		hint = "it answered with TLS: use mqtts:// or wss://"
	} else if bytes.HasPrefix(f.b, []byte("HTTP/")) {
		hint = "it answered with HTTP: a WebSocket endpoint wants ws:// or wss:// and its path"
	}
	return fmt.Errorf("the server did not answer with MQTT (its first bytes: %q); %s (%w)", f.b, hint, err)
}

// disconnectNotAuthorized is a v5 DISCONNECT 0x87: the client found the
// server's authentication wanting.
var disconnectNotAuthorized = []byte{0xE0, 0x01, byte(wire.NotAuthorized)}

// ClientID returns the client identifier in use, which the server may have
// assigned (v5).
func (c *Client) ClientID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clientID
}

// Version returns the protocol version of the latest connection.
func (c *Client) Version() Version { return Version(c.cn.Load().version) }

// Connected reports whether the client has a connection now: false while
// it reconnects, and once it has ended.
func (c *Client) Connected() bool { return c.current() != nil }

// Done returns a channel that is closed when the client has ended: by Close,
// by Disconnect, or, with NoReconnect, by the loss of its connection. Err
// tells why.
//
// A client that has only published at QoS 1 or 2, one message at a time,
// reads its connection only while a Publish waits for its answer; it learns
// of a connection the server closed at its next call or keep-alive ping.
// Calling Done has it watch its connection from then on, so that the
// channel closes as soon as the server ends the client.
func (c *Client) Done() <-chan struct{} {
	c.keepReading()
	return c.done
}

// keepReading has the client's connections read by a goroutine of their own
// from now on: something may arrive that no caller waits for.
func (c *Client) keepReading() {
	if !c.watched.Load() {
		c.watched.Store(true)
		if cn := c.cn.Load(); cn != nil {
			cn.startReader()
		}
	}
}

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
// will, if any. Calls in progress return ErrClosed; QoS 0 messages queued
// while offline are dropped. Unacknowledged QoS 1/2 messages stay in the
// Store. Close waits for the client's goroutines to end and may be called
// more than once.
func (c *Client) Close() error {
	c.end(ErrClosed)
	c.waitEnded()
	return nil
}

// waitEnded waits for the goroutines of an ended client: the supervisor's, and
// the connection's, which no supervisor may be watching.
func (c *Client) waitEnded() {
	c.wg.Wait()
	if cn := c.cn.Load(); cn != nil {
		cn.wg.Wait()
	}
}

// Disconnect ends the client gracefully: it waits until every QoS 1/2
// message in flight has been acknowledged (or ctx ends), reconnecting if it
// must, then sends DISCONNECT and closes the connection, so the server
// discards the will. It returns ctx's error when ctx ended before the drain
// was complete; the client is closed either way. DisconnectWith says why
// (MQTT 5.0).
func (c *Client) Disconnect(ctx context.Context) error {
	return c.disconnect(ctx, &wire.Disconnect{})
}

// disconnect ends the client as Disconnect does, with pkt as its DISCONNECT.
func (c *Client) disconnect(ctx context.Context, pkt *wire.Disconnect) error {
	if c.sess.pending.Load() > 0 {
		c.keepReading() // for the answers drain waits for
	}
	err := c.sess.drain(ctx, c.done)
	select {
	case <-c.done:
		c.waitEnded()
		return c.Err()
	default:
	}
	// The server closes the connection after DISCONNECT; the supervisor
	// must not take that for a loss.
	c.ending.Store(true)
	if cn := c.current(); cn != nil {
		cn.w.sendLast(pkt) // MQTT-3.14.4-1: nothing after it
	}
	c.end(ErrClosed)
	c.waitEnded()
	if err != nil {
		return wrapf(err, "disconnected with messages still in flight")
	}
	return nil
}

// end ends the client with err, once, and closes its connection.
func (c *Client) end(err error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.err = err
		close(c.done)
		c.cancel()
		if cn := c.cn.Load(); cn != nil {
			cn.fail(ErrClosed)
		}
		if err != ErrClosed {
			c.logInfo("client ended", "error", err)
		}
	})
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
