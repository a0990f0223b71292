package mqtttest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/websocket"

	"github.com/culex-mqtt/mqtt/internal/testcert"
	"github.com/culex-mqtt/mqtt/wire"
)

// A Server is an MQTT broker listening on a system-chosen port on the local
// loopback interface, for use in end-to-end tests. It keeps everything in
// memory and records every packet it reads and writes.
//
// All methods may be called concurrently.
type Server struct {
	// URL is the broker's address, "mqtt://127.0.0.1:PORT", or
	// "mqtts://127.0.0.1:PORT" for a TLS server. It is empty until the
	// server is started.
	URL string
	// WSURL is the address of its MQTT over WebSocket listener,
	// "ws://127.0.0.1:PORT/mqtt" or "wss://127.0.0.1:PORT/mqtt". The
	// listener serves any path; it requires the "mqtt" subprotocol.
	WSURL string
	// Listener is the MQTT listener (below TLS). A server from
	// NewUnstartedServer has none until Start makes one, unless the
	// caller sets it before.
	Listener net.Listener

	opts      options
	tlsConfig *tls.Config      // server side, nil for a plain server
	certs     *testcert.Bundle // nil for a plain server
	wsLn      net.Listener
	hs        *http.Server

	// mu guards the fields from here to recMu, the sessions and their
	// subscriptions, and the fields of each Conn marked as guarded by it.
	mu          sync.Mutex
	started     bool
	closed      bool
	conns       map[*Conn]struct{} // every connection with live goroutines
	byID        map[string]*Conn   // connected clients
	sessions    map[string]*session
	topics      topicTree // every session's subscriptions, by filter; see session.subs
	routeGen    uint64    // counts calls of route, for the sessions' marks
	retained    map[string]*message
	connCount   int
	assigned    int
	goroutines  int
	idle        chan struct{} // closed when goroutines drops to 0 during Close
	connWaiters map[chan struct{}]struct{}

	recMu      sync.Mutex
	recs       []Record
	recDropped int // records removed from the front of recs
	recClosed  bool
	recWaiters map[chan struct{}]struct{}

	faultMu sync.Mutex
	faults  []*Fault
	nfaults atomic.Int32
}

// NewServer starts and returns a new Server listening on 127.0.0.1 for
// MQTT over TCP and over WebSocket. It panics if it cannot listen. The
// caller should call Close when finished, to shut it down.
func NewServer(opts ...Option) *Server {
	s := NewUnstartedServer(opts...)
	s.Start()
	return s
}

// NewTLSServer starts and returns a new Server using TLS, for mqtts:// and
// wss://, with a certificate for 127.0.0.1 and localhost issued by a CA
// made for it. Use ClientTLSConfig to trust it. It panics if it cannot
// listen or make the certificate.
func NewTLSServer(opts ...Option) *Server {
	s := NewUnstartedServer(opts...)
	s.StartTLS()
	return s
}

// NewUnstartedServer returns a new Server that does not listen yet. Call
// Start or StartTLS to start it, or use only Dial: a server that never
// starts opens no socket and runs no goroutine of its own, so it can live
// inside a testing/synctest bubble (create it and Close it there). The
// caller should call Close when finished.
func NewUnstartedServer(opts ...Option) *Server {
	s := &Server{
		opts:        defaultOptions(),
		conns:       map[*Conn]struct{}{},
		byID:        map[string]*Conn{},
		sessions:    map[string]*session{},
		retained:    map[string]*message{},
		connWaiters: map[chan struct{}]struct{}{},
		recWaiters:  map[chan struct{}]struct{}{},
	}
	for _, o := range opts {
		o(&s.opts)
	}
	return s
}

func listen() net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("mqtttest: failed to listen on a port: %v", err))
	}
	return ln
}

// Start starts a server from NewUnstartedServer. It panics if the server
// has already been started or closed.
func (s *Server) Start() { s.start(false) }

// StartTLS starts TLS on a server from NewUnstartedServer, as NewTLSServer
// does. It panics if the server has already been started or closed, or if
// it cannot make a certificate.
func (s *Server) StartTLS() { s.start(true) }

func (s *Server) start(useTLS bool) {
	var certs *testcert.Bundle
	if useTLS {
		var err error
		if certs, err = testcert.New(); err != nil {
			panic(fmt.Sprintf("mqtttest: making a certificate: %v", err))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		panic("mqtttest: server already started or closed")
	}
	s.started = true
	scheme, wsScheme := "mqtt", "ws"
	if s.Listener == nil {
		s.Listener = listen()
	}
	ln := s.Listener
	if certs != nil {
		s.certs = certs
		s.tlsConfig = certs.ServerTLSConfig()
		scheme, wsScheme = "mqtts", "wss"
	}
	s.URL = scheme + "://" + ln.Addr().String()
	s.wsLn = listen()
	s.WSURL = wsScheme + "://" + s.wsLn.Addr().String() + "/mqtt"

	s.goroutines += 2
	go func() {
		defer s.goDone()
		s.acceptLoop(ln)
	}()
	s.hs = &http.Server{
		Handler: websocket.Server{Handshake: wsHandshake, Handler: s.serveWS},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, rawConnKey{}, c)
		},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // failed handshakes are the client's to report
	}
	wsLn := s.wsLn
	if s.tlsConfig != nil {
		wsLn = tls.NewListener(wsLn, s.tlsConfig)
	}
	go func() {
		defer s.goDone()
		_ = s.hs.Serve(wsLn)
	}()
}

// ClientTLSConfig returns a new TLS configuration that trusts the server's
// certificate, or nil for a server without TLS.
func (s *Server) ClientTLSConfig() *tls.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.certs == nil {
		return nil
	}
	return s.certs.ClientTLSConfig(false)
}

// acceptLoop serves the MQTT listener until it is closed. Other accept
// errors, such as running out of file descriptors (EMFILE) with thousands
// of clients in one process, pass: it waits a growing while, as net/http's
// Server does, and accepts again, rather than stop serving for good.
func (s *Server) acceptLoop(ln net.Listener) {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		var t transport = nc
		if s.tlsConfig != nil {
			t = tls.Server(nc, s.tlsConfig)
		}
		if _, err := s.startConn(t, nc); err != nil {
			nc.Close()
		}
	}
}

// rawConnKey is the context key under which the WebSocket listener keeps
// each connection's net.Conn, to close it abruptly.
type rawConnKey struct{}

// wsHandshake selects the "mqtt" subprotocol, or "mqttv3.1" for old 3.1
// clients, and refuses clients that offer neither (MQTT-6.0.0-4).
func wsHandshake(cfg *websocket.Config, _ *http.Request) error {
	for _, p := range cfg.Protocol {
		if p == "mqtt" || p == "mqttv3.1" {
			cfg.Protocol = []string{p}
			return nil
		}
	}
	return errors.New("mqtttest: the client offers no mqtt WebSocket subprotocol")
}

// serveWS serves one MQTT over WebSocket connection.
func (s *Server) serveWS(ws *websocket.Conn) {
	ws.PayloadType = websocket.BinaryFrame // MQTT-6.0.0-1
	ws.MaxPayloadBytes = wire.MaxPacketSize
	var raw io.Closer = ws
	if nc, ok := ws.Request().Context().Value(rawConnKey{}).(net.Conn); ok {
		raw = nc
		if tc, ok := nc.(*tls.Conn); ok {
			raw = tc.NetConn()
		}
	}
	c, err := s.startConn(&wsTransport{ws: ws}, raw)
	if err != nil {
		return
	}
	<-c.done
}

// transport is a connection's byte stream: a net.Conn, a TLS connection or
// a WebSocket.
type transport interface {
	io.Reader
	io.Writer
	io.Closer
}

// wsTransport reads MQTT bytes from binary WebSocket frames; a packet may
// span frames and a frame may hold several packets (MQTT-6.0.0-2).
type wsTransport struct {
	ws  *websocket.Conn
	buf []byte
}

type wsFrame struct {
	data []byte
	typ  byte
}

var wsCodec = websocket.Codec{
	Unmarshal: func(data []byte, typ byte, v any) error {
		f := v.(*wsFrame)
		f.data, f.typ = data, typ
		return nil
	},
}

var errTextFrame = errors.New("mqtttest: a WebSocket text frame; MQTT goes in binary frames only (MQTT-6.0.0-1)")

func (t *wsTransport) Read(p []byte) (int, error) {
	for len(t.buf) == 0 {
		var f wsFrame
		if err := wsCodec.Receive(t.ws, &f); err != nil {
			return 0, err
		}
		if f.typ != websocket.BinaryFrame {
			return 0, errTextFrame
		}
		t.buf = f.data
	}
	n := copy(p, t.buf)
	t.buf = t.buf[n:]
	return n, nil
}

func (t *wsTransport) Write(p []byte) (int, error) { return t.ws.Write(p) }
func (t *wsTransport) Close() error                { return t.ws.Close() }

// Dial connects a client to the server in memory, through net.Pipe, with
// no socket; it returns the client's end. For a TLS server the connection
// expects a TLS handshake, as the listener does. Dial works whether or not
// the server listens.
//
// A connection made by Dial inside a testing/synctest bubble belongs to the
// bubble: its goroutines and timers (keep alive, will delay) run there.
// Such connections must only exchange messages with connections of the same
// bubble, the calls that wait for them (WaitPacket, Conn, Fault.Wait) must
// run in the bubble, and the client must close them before the bubble ends.
func (s *Server) Dial(ctx context.Context) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	client, server := net.Pipe()
	var t transport = server
	if s.tlsConfig != nil {
		t = tls.Server(server, s.tlsConfig)
	}
	if _, err := s.startConn(t, server); err != nil {
		client.Close()
		server.Close()
		return nil, err
	}
	return client, nil
}

// Close shuts down the server: it stops listening, closes every connection
// abruptly (without DISCONNECT and without publishing wills) and waits for
// all of the server's goroutines to end. Close may be called more than
// once. A server that listens must be closed outside of any
// testing/synctest bubble.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		idle := s.idle
		s.mu.Unlock()
		<-idle
		return
	}
	s.closed = true
	idle := make(chan struct{})
	s.idle = idle
	if s.goroutines == 0 {
		close(idle)
	}
	for c := range s.conns {
		c.shutdown(errServerClosed, false, false)
	}
	s.notifyLocked(s.connWaiters)
	ln, hs := s.Listener, s.hs
	s.mu.Unlock()

	if ln != nil {
		ln.Close()
	}
	if hs != nil {
		hs.Close()
	}
	s.recMu.Lock()
	s.recClosed = true
	s.notifyLocked(s.recWaiters)
	s.recMu.Unlock()
	<-idle
}

// goDone marks the end of one of the server's goroutines.
func (s *Server) goDone() {
	s.mu.Lock()
	s.goroutines--
	if s.goroutines == 0 && s.idle != nil {
		close(s.idle)
	}
	s.mu.Unlock()
}

// CloseClientConnections closes every client connection abruptly, without
// DISCONNECT, as a network failure would: wills are published, and
// persistent sessions stay for the clients to resume.
func (s *Server) CloseClientConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.shutdown(errClosedByTest, false, true)
	}
}

// Publish delivers a message to the matching subscribers as if a client
// had published it, and keeps it as the retained message of its topic when
// p.Retain is set (an empty payload deletes it). Of p, Publish uses the
// topic, payload, QoS, retain flag and v5 properties; the packet identifier
// and DUP flag are ignored. It returns the error of the wire package if p
// is not a valid PUBLISH (an invalid topic name, QoS 3, a property PUBLISH
// may not carry).
func (s *Server) Publish(p *wire.Publish) error {
	q := *p
	q.Dup, q.PacketID = false, 0
	if q.QoS > 0 {
		q.PacketID = 1
	}
	if _, err := q.Size(wire.V5); err != nil {
		return err
	}
	m := newMessage(p, p.Topic, "", time.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errServerClosed
	}
	s.publish(m)
	return nil
}
