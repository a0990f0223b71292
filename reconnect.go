package mqtt

// This file holds what keeps a Client connected: the supervisor that dials
// again after a lost connection, how a new connection takes up the session,
// and how calls find a connection or wait for the next one.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// watch has the supervisor started when cn fails while the client runs.
// Until a connection is lost there is no supervisor: a short-lived client
// never pays for one.
func (c *Client) watch(cn *connection) {
	cn.onFail = func() {
		c.spawn(func() { c.supervise(cn) }) // once closed, Close waits for cn itself
	}
}

// spawn runs f on a goroutine of the client's, which Close waits for, and
// reports whether it did: once Close has begun it starts nothing more.
func (c *Client) spawn(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// supervise replaces a failed connection, and the next ones as they fail,
// until the client ends.
func (c *Client) supervise(cn *connection) {
	for {
		cn.wg.Wait() // nothing of it runs while the next one takes over
		if c.ending.Load() {
			<-c.done // Disconnect ends the client
		}
		if c.Err() != nil {
			return
		}
		cause := cn.cause
		c.logInfo("connection lost", "server", cn.server, "error", cause)
		if c.opts.NoReconnect || final(cause) {
			err := closedBy("connection lost", cause)
			if errors.As(cause, new(*DisconnectError)) || errors.As(cause, new(*storeError)) {
				err = closedBy("", cause) // they say what happened
			}
			c.end(err)
			if c.opts.OnConnectionLost != nil {
				c.opts.OnConnectionLost(err)
			}
			return
		}
		if c.opts.OnConnectionLost != nil {
			c.opts.OnConnectionLost(cause)
		}
		if cause != errReconnectAsked {
			if o := c.sess.strike(cn.gen, cn.ackedSeq.Load(), cn.promptLoss); o != nil {
				if err := c.giveUp(o, cn); err != nil {
					c.end(closedBy("", err))
					return
				}
			}
		}
		var de *DisconnectError
		if errors.As(cause, &de) {
			r, err := c.redirectOf(cn.target, de.ReasonCode, de.ServerReference)
			if err != nil {
				c.logInfo("not following the redirection", "server", cn.server, "error", err)
			}
			c.redirect = r
		}
		var err error
		if cn, err = c.reconnect(cause); cn == nil {
			if err != nil {
				c.end(closedBy("", err))
			}
			return
		}
		select {
		case <-cn.dead:
		case <-c.done:
			cn.fail(ErrClosed)
			cn.wg.Wait()
			return
		}
	}
}

// final reports whether a lost connection must not be replaced: the server
// said another client took over our session, and connecting again would
// take it back, starting a fight that neither client wins; or the Store
// failed (storeError).
func final(cause error) bool {
	var de *DisconnectError
	if errors.As(cause, &de) && de.ReasonCode == wire.SessionTakenOver {
		return true
	}
	return errors.As(cause, new(*storeError))
}

// reconnect dials until a connection is established, the client ends (nil,
// nil) or an attempt fails in a way that no other attempt can mend: the
// Store failed (nil and the error).
func (c *Client) reconnect(lastErr error) (*connection, error) {
	for attempt := 1; ; attempt++ {
		delay := c.backoff(attempt)
		if attempt == 1 && (c.redirect != nil || c.hurry.Load()) {
			delay = 0 // the server sent us elsewhere, or Reconnect asked: no reason to wait
		}
		c.hurry.Store(false)
		c.logInfo("reconnecting", "attempt", attempt, "delay", delay, "error", lastErr)
		if c.opts.OnReconnecting != nil {
			c.opts.OnReconnecting(attempt, delay, lastErr)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-c.wake: // Reconnect
			t.Stop()
		case <-c.done:
			t.Stop()
			return nil, nil
		}
		cn, err := c.dialAny(c.ctx, attempt)
		if err == nil {
			return cn, nil
		}
		if c.Err() != nil {
			return nil, nil
		}
		if final(err) {
			return nil, err
		}
		lastErr = err
	}
}

// backoff is the wait before reconnection attempt n (from 1): exponential,
// capped, with ±20 % jitter.
func (c *Client) backoff(n int) time.Duration {
	d := c.opts.ReconnectDelay
	for i := 1; i < n && d < c.opts.MaxReconnectDelay; i++ {
		d *= 2
	}
	d = min(d, c.opts.MaxReconnectDelay)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

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
	c.sess.setReceiveMax(cn.receiveMax)
	if !present {
		// No session on the server: the IDs of incoming QoS 2 messages
		// we were waiting to see released mean nothing any more.
		if err := c.opts.Store.Reset(persist.Incoming); err != nil {
			return &storeError{"forgetting the incoming messages of the last session", err}
		}
		c.router.newSession()
	}
	c.router.newConnection()
	if !present {
		c.released.forget()
	}
	if !present && !c.opts.NoResubscribe {
		c.resubscribe(cn)
	}
	if err := c.resume(cn, present); err != nil {
		return err
	}
	if first {
		c.watch(cn)
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

// storeFailed ends the client after its Store failed outside the reading
// goroutine: through the connection's end when it has one, as a failed
// commit does, so that OnConnectionLost hears of it.
func (c *Client) storeFailed(err *storeError) {
	if cn := c.current(); cn != nil {
		cn.fail(err)
		return
	}
	c.end(closedBy("", err))
}

// errReconnectAsked is why a connection ended that Reconnect dropped.
var errReconnectAsked = errors.New("mqtt: Reconnect was called")

// Reconnect drops the connection, after a DISCONNECT that has the server
// discard the will, and connects again at once, without the reconnection
// delay (MQTT.js reconnect()); when the client is reconnecting already, it
// makes the next attempt now. It returns once connected, or when ctx ends
// (the client goes on reconnecting). As after any lost connection,
// messages in flight are sent again and OnConnectionLost and OnConnect are
// called. With DialOptions.NoReconnect there is nothing to reconnect: it
// fails.
func (c *Client) Reconnect(ctx context.Context) error {
	if c.opts.NoReconnect {
		return invalidf("reconnect", "DialOptions.NoReconnect is set: a dropped connection would end the client")
	}
	c.mu.Lock()
	cn, up := c.current(), c.up
	c.mu.Unlock()
	if err := c.Err(); err != nil {
		return wrapf(err, "reconnect")
	}
	c.hurry.Store(true)
	if cn != nil {
		cn.keepReading() // the supervisor watches the connections from now on
		cn.w.sendLast(&wire.Disconnect{})
		cn.fail(errReconnectAsked)
	} else {
		select {
		case c.wake <- struct{}{}: // the supervisor waits out a delay
		default:
		}
	}
	select {
	case <-up:
		return nil
	case <-ctx.Done():
		return wrapf(ctx.Err(), "reconnect: not connected yet")
	case <-c.done:
		return wrapf(c.err, "reconnect")
	}
}

// State is where a Client stands: connected, reconnecting, or closed.
type State int

// The states of a Client. A Client is connected when Dial returns it.
const (
	StateConnected    State = iota + 1 // a connection is up
	StateReconnecting                  // the connection was lost; the client connects again
	StateClosed                        // Close, Disconnect, or a lost connection with NoReconnect
)

// String returns "connected", "reconnecting" or "closed".
func (s State) String() string {
	switch s {
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	case StateClosed:
		return "closed"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// State returns where the client stands. It agrees with the callbacks: it
// is StateConnected when OnConnect runs, StateReconnecting (or, with
// NoReconnect, StateClosed) when OnConnectionLost runs.
func (c *Client) State() State {
	switch {
	case c.Err() != nil:
		return StateClosed
	case c.current() != nil:
		return StateConnected
	}
	return StateReconnecting
}

// current returns the connection, or nil while the client is reconnecting.
func (c *Client) current() *connection {
	if cn := c.cn.Load(); cn != nil && cn.alive() {
		return cn
	}
	return nil
}

// connection returns the connection, waiting for one while the client is
// reconnecting, bounded by ctx.
func (c *Client) connection(ctx context.Context) (*connection, error) {
	for {
		c.mu.Lock()
		cn, up := c.current(), c.up
		c.mu.Unlock()
		if cn != nil {
			return cn, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.done:
			return nil, c.err
		}
	}
}

// transmit queues the packet of o on the connection, waiting for one while
// the client is reconnecting. It returns nil once the packet is queued (by
// this call, or by the resume of a new connection). Otherwise o was never
// sent: transmit has removed it and says why.
//
// A packet queued on a connection that then fails is not sent again by
// transmit: the next connection's resume does that.
func (c *Client) transmit(ctx context.Context, o *op, pkt wire.Packet, what string) error {
	for {
		cn, err := c.connection(ctx)
		if err == nil {
			err = cn.w.waitSpace(ctx)
		}
		if err != nil {
			if o.giveUp() {
				c.sess.abort(o)
				return notSent(what, err)
			}
			return nil // queued after all; await reports the outcome
		}
		prev, mine := o.claim(cn.gen)
		if !mine {
			return nil // a new connection's resume sent it
		}
		if o.kind == wire.PUBLISH {
			o.sending(c.sess.sendSeq.Add(1))
		}
		if p, ok := pkt.(*wire.Publish); ok && prev != sentNever {
			p.Dup = true
			c.stats.resent.Add(1)
		}
		err = cn.w.send(pkt)
		if err == nil {
			return nil
		}
		if !errors.As(err, new(writerClosedError)) {
			o.sent.Store(sentAborted)
			c.sess.abort(o)
			return notSent(what, err)
		}
		// The connection is failing; it was not queued. Undo the claim
		// unless a resume took it, and wait for the next connection.
		if !o.sent.CompareAndSwap(cn.gen, prev) {
			return nil
		}
		select {
		case <-cn.dead:
		case <-c.done:
		}
	}
}
