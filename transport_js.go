//go:build js

package mqtt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall/js"
	"time"
)

// Under GOOS=js the transport is the JavaScript host's WebSocket: a
// browser's (or that of Node.js 22 and later). The browser opens the
// connection, makes the TLS connection of a wss:// URL and checks its
// certificate, and adds its own Origin header; the client sees binary
// messages, which carry MQTT's bytes as TCP would (MQTT-6.0.0-1).

// maxWSBuffered bounds the bytes received that the client has not read yet.
// A browser's WebSocket cannot hold a server back: it takes every message
// as it arrives. The client reads at once, except while it holds the
// server back on purpose (connection.waitRoom): on TCP the server then
// stops, here messages would pile up. A connection that holds this much
// unread fails instead; the client connects again, and the server sends
// again what was not acknowledged.
const maxWSBuffered = 16 << 20

// maxWSSending bounds the bytes the browser holds for sending
// (bufferedAmount): a Write waits while it holds more, so that a slow
// network holds the writer back as a full TCP buffer would.
const maxWSSending = 1 << 20

// sendingPoll is how often a waiting Write looks at bufferedAmount again:
// the browser has no event for it going down.
const sendingPoll = 10 * time.Millisecond

// checkPlatform refuses at Dial what a JavaScript host cannot do.
func checkPlatform(t *target, o *DialOptions) error {
	switch {
	case o.Dialer != nil:
		return errors.New("mqtt: DialOptions.Dialer cannot be used under GOOS=js: the browser's WebSocket opens the connection; leave it nil")
	case o.TLSConfig != nil:
		return errors.New("mqtt: DialOptions.TLSConfig cannot be used under GOOS=js: the browser makes the TLS connection of a wss:// URL " +
			"and checks the server's certificate itself; leave it nil")
	case t.scheme == "tcp" || t.scheme == "tls":
		return fmt.Errorf("mqtt: server URL %s: a browser cannot open TCP connections: use the server's WebSocket listener, ws:// or wss://", t.raw)
	}
	return nil
}

// dialTransport opens a WebSocket to t with the subprotocol "mqtt"
// (MQTT-6.0.0-3) and waits until it is open, bounded by ctx.
func dialTransport(ctx context.Context, t *target, o *DialOptions) (net.Conn, error) {
	ctor := js.Global().Get("WebSocket")
	if ctor.Type() != js.TypeFunction {
		return nil, fmt.Errorf("mqtt: connecting to %s: this JavaScript host has no WebSocket (Node.js has one from version 22 on)", t.raw)
	}
	ws, err := newWebSocket(ctor, t.wsURL)
	if err != nil {
		return nil, fmt.Errorf("mqtt: WebSocket URL %s: %w", t.raw, err)
	}
	c := &jsConn{
		ws:      ws,
		remote:  wsAddr(t.raw),
		opened:  make(chan struct{}),
		ended:   make(chan struct{}),
		arrived: make(chan struct{}, 1),
		rdlSet:  make(chan struct{}, 1),
		wdlSet:  make(chan struct{}, 1),
	}
	ws.Set("binaryType", "arraybuffer")
	c.handlers = [...]js.Func{js.FuncOf(c.onOpen), js.FuncOf(c.onMessage), js.FuncOf(c.onClose)}
	ws.Set("onopen", c.handlers[0])
	ws.Set("onmessage", c.handlers[1])
	ws.Set("onclose", c.handlers[2])
	select {
	case <-c.opened:
		return c, nil
	case <-c.ended:
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		c.Close()
		var ce *wsCloseError
		if errors.As(err, &ce) && ce.code == 1006 {
			// The browser keeps the cause to itself on purpose.
			err = fmt.Errorf("%w; the browser does not tell why (its console may): the server may be down or refuse WebSocket connections, "+
				"offer no \"mqtt\" subprotocol, or have a certificate the browser does not trust", err)
		}
		return nil, fmt.Errorf("mqtt: WebSocket handshake with %s: %w", t.raw, err)
	case <-ctx.Done():
		c.Close()
		return nil, fmt.Errorf("mqtt: WebSocket handshake with %s: %w", t.raw, ctx.Err())
	}
}

// newWebSocket calls new WebSocket(url, "mqtt"), turning what it throws
// into an error. The exception's message is left out: it quotes the URL,
// whose query may be a credential.
func newWebSocket(ctor js.Value, url string) (ws js.Value, err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		je, ok := r.(js.Error)
		if !ok {
			panic(r)
		}
		name := "an exception"
		if n := je.Value.Get("name"); n.Type() == js.TypeString {
			name = n.String()
		}
		err = fmt.Errorf("the browser refused it (%s)", name)
		if name == "SecurityError" {
			err = fmt.Errorf("%w: a page loaded over https may open wss:// URLs only, or the port is one browsers block", err)
		}
	}()
	return ctor.New(url, "mqtt"), nil
}

// jsConn is a WebSocket of the JavaScript host as a net.Conn. Its event
// handlers run on the host's event loop and never block: a message is
// copied into Go memory and queued for Read, up to maxWSBuffered bytes.
// Close never blocks either: it detaches the handlers and asks the host
// to close, which it does in the background.
//
// Deadlines work as on a net.Conn: a Read or Write waiting past its
// deadline returns os.ErrDeadlineExceeded, and later ones too until the
// deadline is moved. A Read cut short that way loses nothing, but the
// client does not rely on that: it reads such a connection with a
// goroutine of its own (interruptible).
type jsConn struct {
	ws       js.Value
	remote   wsAddr
	handlers [3]js.Func // onopen, onmessage, onclose

	wmu sync.Mutex // one Write at a time

	mu       sync.Mutex
	frames   [][]byte  // messages received and not yet read; the first may be partly read
	buffered int       // bytes in frames
	err      error     // once set, what Read returns when frames are drained, and Write at once
	closed   bool      // Close ran
	rdl, wdl time.Time // the deadlines

	opened  chan struct{} // closed by onopen
	ended   chan struct{} // closed when err is first set
	arrived chan struct{} // a message arrived or the connection ended; capacity 1
	rdlSet  chan struct{} // the read deadline moved; capacity 1
	wdlSet  chan struct{} // the write deadline moved; capacity 1
}

// notify wakes a waiter on ch, if any, without blocking.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// endLocked sets the connection's error once; c.mu is held.
func (c *jsConn) endLocked(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	close(c.ended)
	notify(c.arrived)
}

func (c *jsConn) onOpen(js.Value, []js.Value) any {
	close(c.opened)
	return nil
}

var uint8Array = js.Global().Get("Uint8Array")

func (c *jsConn) onMessage(_ js.Value, args []js.Value) any {
	data := args[0].Get("data")
	c.mu.Lock()
	var fail error
	switch {
	case c.err != nil:
	case data.Type() == js.TypeString:
		fail = errors.New("the server sent a text WebSocket message; MQTT travels in binary ones (MQTT-6.0.0-1)")
	case c.buffered >= maxWSBuffered:
		fail = fmt.Errorf("%d bytes arrived that the client has not read yet: a browser's WebSocket cannot hold the server back", c.buffered)
	default:
		arr := uint8Array.New(data)
		if n := arr.Length(); n > 0 {
			b := make([]byte, n)
			js.CopyBytesToGo(b, arr)
			c.frames = append(c.frames, b)
			c.buffered += n
			notify(c.arrived)
		}
	}
	if fail != nil {
		// What is held goes: the connection is over, and the server
		// sends again what was not acknowledged.
		c.endLocked(fail)
		c.frames, c.buffered = nil, 0
	}
	c.mu.Unlock()
	if fail != nil {
		c.ws.Call("close")
	}
	return nil
}

func (c *jsConn) onClose(_ js.Value, args []js.Value) any {
	ev := args[0]
	var err error = io.EOF
	if code := ev.Get("code").Int(); code != 1000 && code != 1005 {
		err = &wsCloseError{code: code, reason: ev.Get("reason").String()}
	}
	c.mu.Lock()
	c.endLocked(err)
	c.mu.Unlock()
	return nil
}

// wsCloseError is a WebSocket that closed other than normally.
type wsCloseError struct {
	code   int
	reason string
}

// Error gives the close code, and the server's reason if it sent one.
func (e *wsCloseError) Error() string {
	s := fmt.Sprintf("the WebSocket closed with code %d", e.code)
	if e.code == 1006 {
		s += " (abnormal closure)"
	}
	if e.reason != "" {
		s += ": " + e.reason
	}
	return s
}

// Read reads what the server sent, waiting for it until the connection
// ends or the read deadline passes.
func (c *jsConn) Read(p []byte) (int, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, net.ErrClosed
		}
		if len(c.frames) > 0 {
			n := copy(p, c.frames[0])
			if n == len(c.frames[0]) {
				c.frames[0] = nil
				c.frames = c.frames[1:]
			} else {
				c.frames[0] = c.frames[0][n:]
			}
			c.buffered -= n
			c.mu.Unlock()
			return n, nil
		}
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return 0, err
		}
		dl := c.rdl
		c.mu.Unlock()
		if err := wait(c.arrived, c.rdlSet, dl, 0); err != nil {
			return 0, err
		}
	}
}

// Write hands p to the host's WebSocket, waiting first while the host holds
// more than maxWSSending bytes not yet sent, until the connection ends or
// the write deadline passes.
func (c *jsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for {
		c.mu.Lock()
		err, dl := c.err, c.wdl
		c.mu.Unlock()
		if err != nil {
			if err == io.EOF {
				err = errors.New("the server closed the WebSocket")
			}
			return 0, err
		}
		if c.ws.Get("bufferedAmount").Int() < maxWSSending {
			break
		}
		if err := wait(c.ended, c.wdlSet, dl, sendingPoll); err != nil {
			return 0, err
		}
	}
	arr := uint8Array.New(len(p))
	js.CopyBytesToJS(arr, p)
	if err := send(c.ws, arr); err != nil {
		return 0, err
	}
	return len(p), nil
}

// send calls ws.send(data), turning what it throws into an error.
func send(ws, data js.Value) (err error) {
	defer func() {
		if r := recover(); r != nil {
			je, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("WebSocket send: %w", je)
		}
	}()
	ws.Call("send", data)
	return nil
}

// wait waits until ch or moved receives, poll passes (if not 0) or the
// deadline dl (if not zero) passes, which gives os.ErrDeadlineExceeded.
func wait(ch, moved chan struct{}, dl time.Time, poll time.Duration) error {
	var expired, polled <-chan time.Time
	if !dl.IsZero() {
		d := time.Until(dl)
		if d <= 0 {
			return os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		defer t.Stop()
		expired = t.C
	}
	if poll > 0 {
		t := time.NewTimer(poll)
		defer t.Stop()
		polled = t.C
	}
	select {
	case <-ch:
	case <-moved:
	case <-polled:
	case <-expired:
		return os.ErrDeadlineExceeded
	}
	return nil
}

// Close detaches the event handlers and has the host close the WebSocket,
// without waiting for it. Reads and writes in progress return
// net.ErrClosed. Nothing is lost by skipping the closing handshake: MQTT
// says goodbye with DISCONNECT.
func (c *jsConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.endLocked(net.ErrClosed)
	c.err = net.ErrClosed
	c.frames, c.buffered = nil, 0
	c.mu.Unlock()
	notify(c.arrived)
	for _, h := range []string{"onopen", "onmessage", "onclose"} {
		c.ws.Set(h, js.Null())
	}
	c.ws.Call("close")
	for _, f := range c.handlers {
		f.Release()
	}
	return nil
}

// LocalAddr returns wsAddr("browser"): the page does not know its port.
func (c *jsConn) LocalAddr() net.Addr { return wsAddr("browser") }

// RemoteAddr returns the server's URL, without user info or query.
func (c *jsConn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the read and the write deadline.
func (c *jsConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline of Read, also one in progress.
func (c *jsConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl = t
	c.mu.Unlock()
	notify(c.rdlSet)
	return nil
}

// SetWriteDeadline sets the deadline of Write, also one in progress.
func (c *jsConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.wdl = t
	c.mu.Unlock()
	notify(c.wdlSet)
	return nil
}

// wsAddr is the address of one end of a browser's WebSocket: the server's
// URL as errors show it, or "browser".
type wsAddr string

// Network returns "websocket".
func (a wsAddr) Network() string { return "websocket" }

// String returns the address.
func (a wsAddr) String() string { return string(a) }
