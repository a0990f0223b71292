package mqtt

// This file holds what keeps a Client connected: the supervisor that dials
// again after a lost connection (dial.go makes each attempt), Reconnect, and
// how calls find a connection or wait for the next one.

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/culex-mqtt/mqtt/wire"
)

// superviseOnLoss has the supervisor started when cn fails while the client runs.
// Until a connection is lost there is no supervisor: a short-lived client
// never pays for one.
func (c *Client) superviseOnLoss(cn *connection) {
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
		if c.opts.NoReconnect || final(cause, cn) {
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
//
// Unless the other client may be us: an attempt of ours that sent CONNECT
// and lost its connection before the CONNACK, a server can still read after
// our next connection is up, and take the session over for a connection
// that is gone (a broker under load reads its connections in any order).
// A connection made after such an attempt is taken over once without
// ending the client; a client that really shares our identifier takes the
// session over again, and then it is final.
func final(cause error, cn *connection) bool {
	var de *DisconnectError
	if errors.As(cause, &de) && de.ReasonCode == wire.SessionTakenOver {
		return cn == nil || !cn.afterUnanswered
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
		if final(err, nil) {
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
