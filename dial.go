package mqtt

// This file is the way from the servers of Dial to a working connection,
// top to bottom: dialAny tries the servers in turn, dialFollowing follows
// the redirections of a CONNACK, dialOne runs BeforeConnect and bounds the
// attempt, dialTarget falls back from MQTT 5.0 to 3.1.1, connect opens the
// transport and handshake exchanges CONNECT and CONNACK (auth.go: the
// rounds of enhanced authentication), and establish makes the connection
// the client's: the session taken up, subscriptions made again, what was
// in flight sent again.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/culex-mqtt/mqtt/wire"
)

// dialAny tries each server in turn and establishes the first connection
// that succeeds. attempt is 0 at Dial, then counts reconnection attempts.
//
// A server that answers with a redirection (MQTT 5.0 section 4.11) has the
// client try the server(s) it refers to first (dialFollowing); so does one
// that ended the last connection with one (supervise sets redirect).
func (c *Client) dialAny(ctx context.Context, attempt int) (*connection, error) {
	var errs []error
	c.mu.Lock()
	targets := c.targets
	c.mu.Unlock()
	if r := c.redirect; r != nil {
		c.redirect = nil
		for _, t := range r.targets {
			cn, err := c.dialFollowing(ctx, t, attempt, 1)
			if err == nil {
				if r.moved {
					c.moveTo(t)
				}
				return cn, nil
			}
			errs = append(errs, err)
		}
	}
	for _, t := range targets {
		cn, err := c.dialFollowing(ctx, t, attempt, 0)
		if err == nil {
			return cn, nil
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

// redirection is where a server sent the client: the targets of its Server
// Reference, and whether it moved for good (0x9D) or for this connection
// only (0x9C).
type redirection struct {
	targets []*target
	moved   bool
}

// maxRedirects bounds how many redirections in a row the client follows: a
// loop between servers that refer to each other ends.
const maxRedirects = 4

// redirectOf returns where a CONNACK or DISCONNECT with reason code and
// Server Reference ref sends a client connected to t, or nil when it
// sends it nowhere.
func (c *Client) redirectOf(t *target, code ReasonCode, ref string) (*redirection, error) {
	if c.opts.NoRedirect || ref == "" || (code != wire.UseAnotherServer && code != wire.ServerMoved) {
		return nil, nil
	}
	targets, err := t.references(ref)
	if err != nil {
		return nil, err
	}
	return &redirection{targets: targets, moved: code == wire.ServerMoved}, nil
}

// dialFollowing connects to t (dialOne) and follows the redirections its
// CONNACK makes, hops of them followed already.
func (c *Client) dialFollowing(ctx context.Context, t *target, attempt, hops int) (*connection, error) {
	cn, err := c.dialOne(ctx, t, attempt)
	var ce *ConnectError
	if err == nil || !errors.As(err, &ce) {
		return cn, err
	}
	r, rerr := c.redirectOf(t, ce.ReasonCode, ce.ServerReference)
	switch {
	case rerr != nil:
		return nil, wrapf(rerr, "following the redirection of %s", t.raw)
	case r == nil:
		return nil, err
	case hops >= maxRedirects:
		return nil, wrapf(err, "not following the redirection: %d in a row already, the servers may refer to each other", hops)
	}
	errs := []error{err}
	for _, rt := range r.targets {
		c.logInfo("redirected", "from", t.raw, "to", rt.raw, "moved", r.moved)
		cn, err := c.dialFollowing(ctx, rt, attempt, hops+1)
		if err == nil {
			if r.moved {
				c.moveTo(rt)
			}
			return cn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// moveTo makes t, where a server moved for good (0x9D), the first server
// the client tries from now on.
func (c *Client) moveTo(t *target) {
	c.mu.Lock()
	defer c.mu.Unlock()
	targets := []*target{t}
	for _, x := range c.targets {
		if x.raw != t.raw {
			targets = append(targets, x)
		}
	}
	c.targets = targets
}

// dialOne connects to one server, bounded by ConnectTimeout, and makes the
// connection the client's.
func (c *Client) dialOne(ctx context.Context, t *target, attempt int) (*connection, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.ConnectTimeout)
	defer cancel()
	cred := t.credentials(c.opts.Username, c.opts.Password)
	if hook := c.opts.BeforeConnect; hook != nil {
		a := &ConnectAttempt{URL: t.url, Username: cred.username, Password: cred.password, Attempt: attempt}
		if ws := c.opts.WebSocket; ws != nil {
			a.Header = ws.Header.Clone()
		}
		if err := hook(ctx, a); err != nil {
			return nil, wrapf(err, "before connecting to %s", t.raw)
		}
		nt, err := parseURL(a.URL)
		if err == nil {
			err = checkTransport(nt, &c.opts)
		}
		if err != nil {
			return nil, err
		}
		nt.header = a.Header
		t = nt
		cred = t.credentials(a.Username, a.Password)
	}
	cn, ack, err := c.dialTarget(ctx, t, cred)
	if err != nil {
		return nil, err
	}
	if err := c.establish(cn, ack, attempt == 0); err != nil {
		cn.fail(err)
		cn.wg.Wait()
		return nil, err
	}
	return cn, nil
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
		c.unanswered = true // the server may have the CONNECT, and act on it yet
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

// establish makes a new connection the client's: it applies what CONNACK
// said to the session, sends again what earlier connections left
// unfinished, then the QoS 0 messages queued while offline, and only then
// lets calls use it, so that everything leaves in the order it was made.
// first says that no supervisor runs yet (Dial's connection).
func (c *Client) establish(cn *connection, ack *wire.Connack, first bool) error {
	present := ack.SessionPresent
	if present && !c.opts.KeepSession {
		// MQTT-3.2.2-4: we asked for a clean start and hold no session.
		return fmt.Errorf("mqtt: %s resumed a session although the client asked for a clean start", cn.server)
	}
	cn.afterUnanswered, c.unanswered = c.unanswered, false
	c.sess.setReceiveMax(cn.receiveMax)
	if !present {
		// No session on the server: the IDs of incoming QoS 2 messages
		// we were waiting to see released mean nothing any more.
		if err := c.sess.newServerSession(); err != nil {
			return err
		}
		c.router.newSession()
	}
	c.router.newConnection()
	if !present && !c.opts.NoResubscribe {
		c.resubscribe(cn)
	}
	if err := c.resume(cn, present); err != nil {
		return err
	}
	if first {
		c.superviseOnLoss(cn)
	} else {
		c.stats.reconnects.Add(1)
	}

	c.mu.Lock()
	for _, b := range c.offline {
		if pkt, err := parseStored(b, cn.version); err == nil {
			cn.w.queue(pkt)
		}
	}
	clear(c.offline)
	c.offline = c.offline[:0]
	c.cn.Store(cn)
	close(c.up)
	c.up = make(chan struct{})
	c.mu.Unlock()
	// Installed before its reader starts, so that what the reader hands
	// out is acknowledged on it.
	cn.start()
	if c.Err() != nil {
		cn.fail(ErrClosed) // end ran before the connection was installed
	}

	c.logInfo("connected", "server", cn.server, "version", cn.version.String(), "client_id", c.ClientID(), "session_present", present)
	if c.opts.OnConnect != nil {
		c.opts.OnConnect(present)
	}
	return nil
}

// resubscribe subscribes again, on a connection whose server kept no
// session, to the filters of every open Subscription. Nobody waits for
// these SUBACKs; a refusal is logged and closes nothing.
func (c *Client) resubscribe(cn *connection) {
	for _, pkt := range c.router.resubscriptions(cn.version, cn.subIDs) {
		o, err := c.sess.beginRequest(pkt, pkt.Filters[0].Topic, func(r result) {
			for i, code := range r.codes {
				if code.IsError() && i < len(pkt.Filters) {
					c.logInfo("resubscribe refused", "filter", pkt.Filters[i].Topic, "reason", code.String())
				}
			}
		})
		if err != nil {
			c.logInfo("resubscribe failed", "error", err)
			return
		}
		if _, mine := o.claim(cn.gen); mine {
			cn.w.queue(pkt)
		}
	}
}
