package mqtttest

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/culex-mqtt/mqtt/wire"
)

// A Conn is the server's end of one client connection. Get one with
// Server.Conn; use it to observe the connection or to misbehave on it.
// All methods may be called concurrently.
type Conn struct {
	s   *Server
	num int
	t   transport
	raw io.Closer // closes the connection abruptly, below TLS and WebSocket

	wake   chan struct{} // wakes the writer; capacity 1
	resume chan struct{} // wakes a paused reader; capacity 1
	quit   chan struct{} // closed when the connection is closed
	done   chan struct{} // closed when both goroutines have ended
	last   atomic.Int64  // when the last packet was read, in UnixNano
	pause  atomic.Bool   // mirrors paused, for the reader's fast path

	// Guarded by s.mu.
	state         connState
	err           error
	running       int // goroutines still running
	version       wire.Version
	connect       *wire.Connect
	clientID      string
	sess          *session
	ready         bool // CONNACK accepted the client
	will          *wire.Will
	connectExpiry uint32
	out, spare    []outItem
	paused        bool
	keepAlive     time.Duration
	timer         *time.Timer
	sendQuota     int    // the client's Receive Maximum
	maxOut        uint32 // the client's Maximum Packet Size, 0 for none
	problemInfo   bool
	aliases       map[uint16]string
	unacked       map[uint16]struct{} // QoS>0 PUBLISH ids whose acknowledgement is not sent yet
	cutting       bool                // a CloseConn fault is queued: take no more packets
	auth          *authState
}

type connState int8

const (
	stateOpen     connState = iota
	stateDraining           // writing what is queued, then closing
	stateClosed
)

// outItem is a packet queued for the writer.
type outItem struct {
	p       wire.Packet // the packet, for the record; nil for raw bytes
	raw     []byte      // its encoding when made in advance, or raw bytes
	noFault bool        // written without checking the faults
	ackID   uint16      // the PUBLISH this acknowledgement completes, for ReceiveMaximum
	cut     error       // not a packet: close the connection here
}

// authState follows an enhanced authentication exchange.
type authState struct{ step int }

var (
	errClosedByTest       = errors.New("mqtttest: connection closed by the test")
	errDisconnectedByTest = errors.New("mqtttest: connection ended by Conn.Disconnect")
	errClientDisconnect   = errors.New("mqtttest: the client sent DISCONNECT")
	errTakenOver          = errors.New("mqtttest: session taken over by a new connection")
	errNotOpen            = errors.New("mqtttest: connection closed")
)

// startConn serves a new connection on two goroutines of its own.
func (s *Server) startConn(t transport, raw io.Closer) (*Conn, error) {
	c := &Conn{
		s:           s,
		t:           t,
		raw:         raw,
		wake:        make(chan struct{}, 1),
		resume:      make(chan struct{}, 1),
		quit:        make(chan struct{}),
		done:        make(chan struct{}),
		problemInfo: true,
		sendQuota:   65535,
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errServerClosed
	}
	s.connCount++
	c.num = s.connCount
	s.conns[c] = struct{}{}
	s.goroutines += 2
	c.running = 2
	s.mu.Unlock()
	go c.readLoop()
	go c.writeLoop()
	return c, nil
}

// exit ends one of the connection's goroutines.
func (c *Conn) exit() {
	s := c.s
	s.mu.Lock()
	c.running--
	if c.running == 0 {
		delete(s.conns, c)
		close(c.done)
	}
	s.mu.Unlock()
	s.goDone()
}

// readLoop reads packets and handles them until the connection ends.
func (c *Conn) readLoop() {
	defer c.exit()
	s := c.s
	r := wire.NewReader(c.t, 0)
	if n := s.opts.maximumPacketSize; n > 0 {
		r.MaxPacketSize = int(min(n, wire.MaxPacketSize))
	}
	var v wire.Version // 0 until CONNECT
	for {
		h, body, err := r.Next()
		if err != nil {
			c.readFailed(err)
			return
		}
		if c.pause.Load() && !c.waitResumed() {
			return
		}
		c.last.Store(time.Now().UnixNano())
		if v == 0 && h.Type != wire.CONNECT {
			// MQTT-3.1.4-1.
			s.mu.Lock()
			c.shutdown(fmt.Errorf("mqtttest: the first packet is %v, not CONNECT", h.Type), false, false)
			s.mu.Unlock()
			return
		}
		dv := v
		if dv == 0 {
			dv = wire.V5 // CONNECT is decoded for the version it names
		}
		p, err := wire.Decode(h, body, dv)
		if err != nil {
			s.mu.Lock()
			if h.Type == wire.CONNECT && v == 0 {
				c.badConnect(err, body)
			} else {
				c.failErr(err)
			}
			s.mu.Unlock()
			continue
		}
		s.mu.Lock()
		if cp, ok := p.(*wire.Connect); ok && v == 0 {
			v = cp.Version
			c.version = v
			c.clientID = cp.ClientID
		}
		r := Record{Conn: c.num, ClientID: c.clientID, Dir: FromClient, Packet: p}
		s.mu.Unlock()
		s.record(r)
		if f := s.check(r); f != nil {
			switch f.action {
			case Drop:
				continue
			case Hold:
				if f.hold(heldPacket{c: c, in: p}) {
					continue
				}
			case CloseConn:
				s.mu.Lock()
				c.shutdown(fmt.Errorf("mqtttest: closed by a fault on %v", r), false, true)
				s.mu.Unlock()
				return
			}
		}
		c.handle(p)
	}
}

// waitResumed waits while the connection is paused. It reports false if the
// connection closed meanwhile.
func (c *Conn) waitResumed() bool {
	s := c.s
	s.mu.Lock()
	for c.paused && c.state == stateOpen {
		s.mu.Unlock()
		select {
		case <-c.resume:
		case <-c.quit:
		}
		s.mu.Lock()
	}
	open := c.state != stateClosed
	s.mu.Unlock()
	return open
}

// readFailed ends the connection after a read error.
func (c *Conn) readFailed(err error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var we *wire.Error
	if errors.As(err, &we) {
		c.failErr(err)
		return
	}
	if c.state == stateOpen {
		if errors.Is(err, io.EOF) {
			err = errors.New("mqtttest: the client closed the connection")
		}
		c.shutdown(err, false, true)
	}
}

// writeLoop writes queued packets, all that are ready in one write, until
// the connection is closed.
func (c *Conn) writeLoop() {
	defer c.exit()
	s := c.s
	var buf []byte
	for {
		s.mu.Lock()
		items := c.out
		c.out, c.spare = c.spare, nil
		state, v := c.state, c.version
		if len(items) == 0 && state == stateDraining {
			c.state = stateClosed
			close(c.quit)
			s.mu.Unlock()
			c.t.Close()
			c.raw.Close()
			return
		}
		s.mu.Unlock()
		if state == stateClosed {
			return
		}
		if len(items) == 0 {
			select {
			case <-c.wake:
			case <-c.quit:
			}
			continue
		}
		buf = buf[:0]
		var cut error
		for i := range items {
			it := &items[i]
			if it.cut != nil {
				cut = it.cut
				break
			}
			if it.raw != nil {
				buf = append(buf, it.raw...)
			} else {
				buf, _ = it.p.Append(buf, v)
			}
			if len(buf) >= 64<<10 {
				if _, err := c.t.Write(buf); err != nil {
					c.writeFailed(err)
					return
				}
				buf = buf[:0]
			}
		}
		if len(buf) > 0 {
			if _, err := c.t.Write(buf); err != nil {
				c.writeFailed(err)
				return
			}
		}
		clear(items)
		s.mu.Lock()
		if c.spare == nil {
			c.spare = items[:0]
		}
		if cut != nil {
			c.shutdown(cut, false, true)
		}
		s.mu.Unlock()
		if len(buf) > 1<<20 {
			buf = nil // let go of the memory of a large packet
		}
	}
}

func (c *Conn) writeFailed(err error) {
	c.s.mu.Lock()
	c.shutdown(err, false, true)
	c.s.mu.Unlock()
}

// enqueue queues a packet for the writer. This is where packets to the
// client are recorded and faults applied to them, so that the records
// follow the order in which the server acts. It reports false when the
// connection no longer takes packets. The caller holds s.mu.
func (c *Conn) enqueue(it outItem) bool {
	if c.state != stateOpen || c.cutting {
		return false
	}
	s := c.s
	if it.p != nil {
		r := Record{Conn: c.num, ClientID: c.clientID, Dir: ToClient, Packet: it.p}
		if !it.noFault {
			if f := s.check(r); f != nil {
				switch f.action {
				case Drop:
					c.acked(it.ackID)
					return true
				case Hold:
					if f.hold(heldPacket{c: c, item: it}) {
						return true
					}
				case CloseConn:
					// The writer closes the connection when it
					// gets here, after what is queued before.
					c.cutting = true
					it = outItem{cut: fmt.Errorf("mqtttest: closed by a fault on %v", r)}
				}
			}
		}
		if it.cut == nil {
			s.record(r)
			c.acked(it.ackID)
		}
	}
	c.out = append(c.out, it)
	if len(c.out) == 1 {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// acked notes that the acknowledgement ending the incoming exchange of
// packet id has been sent, for ReceiveMaximum. The caller holds s.mu.
func (c *Conn) acked(id uint16) {
	if id != 0 {
		delete(c.unacked, id)
	}
}

// shutdown ends the connection: at once, or after writing what is queued
// when graceful is set. The client's session is detached, publishing its
// will if will is set. The caller holds s.mu.
func (c *Conn) shutdown(err error, graceful, will bool) {
	if c.state == stateClosed {
		return
	}
	if c.state == stateOpen {
		c.err = err
		c.detach(will)
		if c.timer != nil {
			c.timer.Stop()
		}
		if c.paused {
			c.paused = false
			c.pause.Store(false)
		}
		if graceful {
			c.state = stateDraining
			select {
			case c.wake <- struct{}{}:
			default:
			}
			return
		}
	}
	c.state = stateClosed
	close(c.quit)
	c.raw.Close()
}

// fail ends the connection because of what the client did; see failWith.
func (c *Conn) fail(code wire.ReasonCode, reason string) {
	c.failWith(code, errors.New("mqtttest: "+reason))
}

// failErr is fail for an error from the wire package.
func (c *Conn) failErr(err error) {
	code := wire.MalformedPacket
	var we *wire.Error
	if errors.As(err, &we) {
		code = we.Code
	}
	c.failWith(code, fmt.Errorf("mqtttest: %w", err))
}

// failWith ends the connection because of what the client did: in v5 after
// CONNACK with a DISCONNECT carrying code and err's text, before CONNACK
// with a refusing CONNACK when code is a CONNACK code, and otherwise
// without a word (MQTT-4.13.1-1, v311:MQTT-4.8.0-1). The will is
// published. The caller holds s.mu.
func (c *Conn) failWith(code wire.ReasonCode, err error) {
	if c.state != stateOpen {
		return
	}
	if c.version == wire.V5 {
		if c.ready {
			reason := strings.TrimPrefix(err.Error(), "mqtttest: ")
			d := &wire.Disconnect{ReasonCode: code, Properties: &wire.Properties{ReasonString: reason}}
			if _, e := d.Append(nil, wire.V5); e != nil {
				d = &wire.Disconnect{ReasonCode: wire.UnspecifiedError, Properties: &wire.Properties{ReasonString: reason}}
			}
			c.fitProps(d)
			c.enqueue(outItem{p: d})
			c.shutdown(err, true, true)
			return
		}
		if c.connect != nil {
			if _, e := (&wire.Connack{ReasonCode: code}).Append(nil, wire.V5); e == nil {
				c.refuse(code, err)
				return
			}
		}
	}
	c.shutdown(err, false, true)
}

// badConnect answers a CONNECT that wire refused. When wire says which
// CONNACK a server owes it, the server sends that: the 3.x CONNACK
// "unacceptable protocol version" for an unknown protocol, which every
// version can read (MQTT-3.1.2-2, v311:MQTT-3.1.2-2), and "identifier
// rejected" for a client identifier the version does not allow
// (v311:MQTT-3.1.3-8). Anything else closes the connection without CONNACK
// (MQTT-3.1.4-1). The caller holds s.mu.
func (c *Conn) badConnect(err error, body []byte) {
	var we *wire.Error
	if errors.As(err, &we) {
		switch we.Code {
		case wire.UnsupportedProtocolVersion:
			c.version = wire.V311
			c.refuse(we.Code, err)
			return
		case wire.ClientIdentifierNotValid:
			if v := connectLevel(body); v == wire.V31 || v == wire.V311 {
				c.version = v
				c.refuse(we.Code, err)
				return
			}
		}
	}
	c.shutdown(err, false, false)
}

// connectLevel returns the protocol level of a CONNECT body, or 0.
func connectLevel(body []byte) wire.Version {
	if len(body) < 2 {
		return 0
	}
	n := 2 + (int(body[0])<<8 | int(body[1]))
	if len(body) <= n {
		return 0
	}
	return wire.Version(body[n])
}

// refuse sends a CONNACK with a failure code and closes the connection; in
// 3.x a code without a return code of the same meaning closes it without
// CONNACK (v311:MQTT-3.2.2-6). The caller holds s.mu.
func (c *Conn) refuse(code wire.ReasonCode, err error) {
	v := c.version
	if v == wire.V5 && !c.s.opts.versions[wire.V5] && code == wire.UnsupportedProtocolVersion {
		v = wire.V311 // as a 3.1.1 broker would answer
	}
	ack := &wire.Connack{ReasonCode: code}
	b, e := ack.Append(nil, v)
	if e != nil {
		c.shutdown(err, false, false)
		return
	}
	c.enqueue(outItem{p: ack, raw: b})
	c.shutdown(err, true, false)
}

// fitProps leaves out the Reason String and User Properties of a packet
// the server makes when they would take it over the client's Maximum
// Packet Size (MQTT-3.1.2-24, MQTT-3.2.2-19, -20, MQTT-3.9.2-1, -2,
// MQTT-3.11.2-1, -2, MQTT-3.14.2-3, -4, MQTT-3.15.2-2, -3), or when the
// client asked for no problem information and the packet is not a
// CONNACK or DISCONNECT (MQTT-3.1.2-29). The caller holds s.mu.
func (c *Conn) fitProps(p wire.Packet) {
	var props **wire.Properties
	switch p := p.(type) {
	case *wire.Disconnect:
		props = &p.Properties
	case *wire.Suback:
		props = &p.Properties
	case *wire.Unsuback:
		props = &p.Properties
	case *wire.Puback:
		props = &p.Properties
	case *wire.Pubrec:
		props = &p.Properties
	case *wire.Pubrel:
		props = &p.Properties
	case *wire.Pubcomp:
		props = &p.Properties
	case *wire.Auth:
		props = &p.Properties
	default:
		return
	}
	if *props == nil {
		return
	}
	if (*props).ReasonString == "" && len((*props).UserProperties) == 0 {
		return
	}
	drop := !c.problemInfo && p.Type() != wire.DISCONNECT
	if !drop && c.maxOut != 0 {
		b, err := p.Append(nil, wire.V5)
		drop = err == nil && len(b) > int(c.maxOut)
	}
	if drop {
		q := *(*props)
		q.ReasonString, q.UserProperties = "", nil
		*props = &q
		if p.Type() != wire.AUTH && q.AuthMethod == "" && q.AuthData == nil && q.ServerReference == "" && q.SessionExpiry == nil {
			*props = nil
		}
	}
}

// keepAliveCheck runs when the keep alive timer fires: it closes the
// connection of a client silent for one and a half times its Keep Alive
// (MQTT-3.1.2-22; v5: DISCONNECT 0x8D), or sets the timer again.
func (c *Conn) keepAliveCheck() {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.state != stateOpen {
		return
	}
	limit := c.keepAlive * 3 / 2
	if c.paused {
		c.timer.Reset(limit)
		return
	}
	idle := time.Duration(time.Now().UnixNano() - c.last.Load())
	if idle >= limit {
		c.fail(wire.KeepAliveTimeout, fmt.Sprintf("no packet for %v, one and a half times the keep alive", idle))
		return
	}
	c.timer.Reset(limit - idle)
}

// Number returns the connection's number: 1 for the first connection the
// server accepted or dialed, 2 for the next, and so on, as in Record.Conn.
func (c *Conn) Number() int { return c.num }

// ClientID returns the client identifier of the connection: the one its
// CONNECT gave, or the one the server assigned.
func (c *Conn) ClientID() string {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.clientID
}

// Version returns the protocol version of the connection's CONNECT.
func (c *Conn) Version() wire.Version {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.version
}

// Send queues p to be written to the client as it is, after the packets
// already queued, whatever the state of the session: use it to deliver a
// message twice, acknowledge something never sent, or send a packet the
// server would not. Packet identifiers in p are not checked against the
// session's. p is recorded when written; faults do not apply to it. Send
// returns an error if p cannot be encoded for the connection's version, or
// if the connection is closing.
func (c *Conn) Send(p wire.Packet) error {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := p.Append(nil, c.version)
	if err != nil {
		return err
	}
	if !c.enqueue(outItem{p: p, raw: b, noFault: true}) {
		return errNotOpen
	}
	return nil
}

// WriteRaw queues b to be written to the client as it is, after the packets
// already queued: use it for malformed packets. The bytes are not recorded.
// It returns an error if the connection is closing.
func (c *Conn) WriteRaw(b []byte) error {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.enqueue(outItem{raw: append([]byte(nil), b...), noFault: true}) {
		return errNotOpen
	}
	return nil
}

// Disconnect ends the connection the way a server does: it writes what is
// queued, then (v5 only) a DISCONNECT with code and props, then closes the
// connection. MQTT 3.x has no DISCONNECT from the server, so there the
// connection is just closed after what is queued. The client's will is
// published, as after any disconnection the client did not ask for. It
// returns an error if the DISCONNECT cannot be encoded (a code that
// DISCONNECT may not carry, or properties it may not have) or if the
// connection is already closing.
func (c *Conn) Disconnect(code wire.ReasonCode, props *wire.Properties) error {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.state != stateOpen {
		return errNotOpen
	}
	if c.version == wire.V5 {
		if props != nil && props.SessionExpiry != nil {
			return errors.New("mqtttest: a server DISCONNECT carries no Session Expiry Interval (MQTT-3.14.2-2)")
		}
		d := &wire.Disconnect{ReasonCode: code, Properties: props}
		b, err := d.Append(nil, wire.V5)
		if err != nil {
			return err
		}
		c.enqueue(outItem{p: d, raw: b, noFault: true})
	}
	c.shutdown(errDisconnectedByTest, true, true)
	return nil
}

// Close closes the connection at once, without DISCONNECT and without
// writing what is queued, as a network failure would. The client's will is
// published. Closing a closed connection does nothing.
func (c *Conn) Close() {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.shutdown(errClosedByTest, false, true)
}

// Pause stops the server from processing packets from the client until
// Resume: once Pause returns, no further packet is handled, and once the
// server's read buffer (64 KiB) and the transport's buffers are full the
// client can write no more, as with a busy broker. Keep alive is not
// enforced while paused.
func (c *Conn) Pause() {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.state == stateOpen {
		c.paused = true
		c.pause.Store(true)
	}
}

// Resume undoes Pause. The keep alive period starts again from now.
func (c *Conn) Resume() {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if !c.paused {
		return
	}
	c.paused = false
	c.pause.Store(false)
	c.last.Store(time.Now().UnixNano())
	select {
	case c.resume <- struct{}{}:
	default:
	}
}

// Done returns a channel that is closed once the connection has ended and
// the server has stopped serving it.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is open: for
// instance that the client sent DISCONNECT or closed the connection, that
// it broke the protocol (wrapping the *wire.Error, if any), or that it was
// silent past its keep alive.
func (c *Conn) Err() error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.state == stateOpen {
		return nil
	}
	return c.err
}
