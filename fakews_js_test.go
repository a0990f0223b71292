//go:build js

package mqtt

// Suite support: the fake browser WebSocket of the js/wasm suite (transport_js_test.go).

import (
	"context"
	"net"
	"slices"
	"sync"
	"syscall/js"
	"testing"

	"github.com/culex-mqtt/mqtt/mqtttest"
)

// fakeHost stands in for the browser under Node.js: it installs
// globalThis.WebSocket as a constructor of fakeSockets, which behave as a
// browser's do (events fired later, never during the call that causes
// them; send never blocks and counts bufferedAmount) and, in the mode
// "bridge", carry MQTT's bytes to an mqtttest server over its Dial.
type fakeHost struct {
	t    *testing.T
	mode string // bridge, refuse (closed 1006 before open), hang (never opens), manual (the test plays the server)
	srv  *mqtttest.Server

	ctor  js.Func
	made  chan *fakeSocket // every socket made, in order
	wg    sync.WaitGroup   // the sockets' goroutines
	mu    sync.Mutex
	socks []*fakeSocket
}

// installFakeWebSocket makes globalThis.WebSocket a fakeHost's until the
// test ends.
func installFakeWebSocket(t *testing.T, mode string, srv *mqtttest.Server) *fakeHost {
	t.Helper()
	h := &fakeHost{t: t, mode: mode, srv: srv, made: make(chan *fakeSocket, 100)}
	h.ctor = js.FuncOf(h.construct)
	global := js.Global()
	old := global.Get("WebSocket")
	global.Set("WebSocket", h.ctor)
	t.Cleanup(func() {
		h.mu.Lock()
		socks := slices.Clone(h.socks)
		h.mu.Unlock()
		for _, s := range socks {
			s.serverClose(1001) // the test is over: no socket stays open
		}
		h.wg.Wait()
		global.Set("WebSocket", old)
		h.ctor.Release()
		for _, s := range socks {
			s.send.Release()
			s.close.Release()
		}
	})
	return h
}

// removeWebSocket takes globalThis.WebSocket away until the test ends, as
// on Node.js before version 22.
func removeWebSocket(t *testing.T) {
	global := js.Global()
	old := global.Get("WebSocket")
	global.Delete("WebSocket")
	t.Cleanup(func() {
		if !old.IsUndefined() {
			global.Set("WebSocket", old)
		}
	})
}

// fakeSocket is one WebSocket object.
type fakeSocket struct {
	h           *fakeHost
	obj         js.Value
	URL         string
	Protocols   []string
	send, close js.Func

	mu         sync.Mutex
	state      int      // readyState: 0 connecting, 1 open, 3 closed
	binaryType string   // binaryType when the socket opened
	sent       [][]byte // messages sent, not yet taken (manual) or written (bridge)
	pending    int      // bytes in sent, the bufferedAmount
	extra      int      // bufferedAmount on top, for a network that does not move (setStuck)
	kick       chan struct{}
	closing    chan struct{} // closed by close() or serverClose
	conn       net.Conn      // bridge: the client's end of mqtttest.Server.Dial
	closeCalls int
}

func (h *fakeHost) construct(this js.Value, args []js.Value) any {
	s := &fakeSocket{h: h, obj: this, URL: args[0].String(), kick: make(chan struct{}, 1), closing: make(chan struct{})}
	if len(args) > 1 {
		if p := args[1]; p.Type() == js.TypeString {
			s.Protocols = []string{p.String()}
		} else {
			for i := range p.Length() {
				s.Protocols = append(s.Protocols, p.Index(i).String())
			}
		}
	}
	this.Set("readyState", 0)
	this.Set("bufferedAmount", 0)
	this.Set("binaryType", "blob")
	this.Set("protocol", "")
	s.send = js.FuncOf(s.jsSend)
	s.close = js.FuncOf(s.jsClose)
	this.Set("send", s.send)
	this.Set("close", s.close)
	h.mu.Lock()
	h.socks = append(h.socks, s)
	h.mu.Unlock()
	h.made <- s
	// Like a browser, open later, once the page's script has set the
	// handlers and yielded: a task for the event loop, not a goroutine,
	// which could run before the constructor's caller goes on.
	h.wg.Add(1)
	var start js.Func
	start = js.FuncOf(func(js.Value, []js.Value) any {
		start.Release()
		go s.run()
		return nil
	})
	js.Global().Call("setTimeout", start, 0)
	return nil // new returns this
}

// run opens the socket, later, as a browser does.
func (s *fakeSocket) run() {
	defer s.h.wg.Done()
	switch s.h.mode {
	case "refuse":
		s.setState(3)
		s.fire("onclose", map[string]any{"code": 1006, "reason": "", "wasClean": false})
		return
	case "hang":
		<-s.closing
		return
	case "bridge":
		if !slices.Contains(s.Protocols, "mqtt") {
			s.setState(3)
			s.fire("onclose", map[string]any{"code": 1006, "reason": "", "wasClean": false})
			return
		}
		conn, err := s.h.srv.Dial(context.Background())
		if err != nil {
			s.h.t.Errorf("fake WebSocket: %v", err)
			return
		}
		s.mu.Lock()
		s.conn = conn
		s.mu.Unlock()
		s.h.wg.Add(2)
		go s.pumpIn()
		go s.pumpOut()
	}
	s.mu.Lock()
	s.binaryType = s.obj.Get("binaryType").String()
	s.mu.Unlock()
	s.obj.Set("protocol", "mqtt")
	s.setState(1)
	s.fire("onopen", map[string]any{})
	if s.h.mode == "manual" {
		<-s.closing
	}
}

func (s *fakeSocket) setState(n int) {
	s.mu.Lock()
	s.state = n
	s.mu.Unlock()
	s.obj.Set("readyState", n)
}

// fire calls the handler name, if one is set, with the event ev.
func (s *fakeSocket) fire(name string, ev map[string]any) {
	if f := s.obj.Get(name); f.Type() == js.TypeFunction {
		f.Invoke(ev)
	}
}

// deliver fires a binary message.
func (s *fakeSocket) deliver(b []byte) {
	u := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(u, b)
	s.fire("onmessage", map[string]any{"data": u.Get("buffer")})
}

// deliverText fires a text message.
func (s *fakeSocket) deliverText(text string) {
	s.fire("onmessage", map[string]any{"data": text})
}

// pumpIn carries what the server writes to onmessage, one message per
// read.
func (s *fakeSocket) pumpIn() {
	defer s.h.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := s.conn.Read(buf)
		if n > 0 {
			s.deliver(buf[:n])
		}
		if err != nil {
			s.serverClose(1006)
			return
		}
	}
}

// pumpOut writes what the client sends to the server.
func (s *fakeSocket) pumpOut() {
	defer s.h.wg.Done()
	for {
		select {
		case <-s.kick:
		case <-s.closing:
			return
		}
		for _, b := range s.take() {
			if _, err := s.conn.Write(b); err != nil {
				return
			}
		}
	}
}

// take returns the messages sent so far and forgets them.
func (s *fakeSocket) take() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sent
	s.sent, s.pending = nil, 0
	s.obj.Set("bufferedAmount", s.extra)
	return out
}

// setStuck makes bufferedAmount n bytes larger, as if the network had
// stopped taking them.
func (s *fakeSocket) setStuck(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.extra = n
	s.obj.Set("bufferedAmount", s.pending+s.extra)
}

func (s *fakeSocket) jsSend(_ js.Value, args []js.Value) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == 0 {
		s.h.t.Errorf("fake WebSocket: send while connecting: a browser throws InvalidStateError")
		return nil
	}
	if s.state != 1 {
		return nil // a browser drops it
	}
	b := make([]byte, args[0].Length())
	js.CopyBytesToGo(b, args[0])
	s.sent = append(s.sent, b)
	s.pending += len(b)
	s.obj.Set("bufferedAmount", s.pending+s.extra)
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

// jsClose is close(): the socket closes, and onclose fires later.
func (s *fakeSocket) jsClose(js.Value, []js.Value) any {
	s.mu.Lock()
	s.closeCalls++
	s.mu.Unlock()
	s.h.wg.Add(1)
	go func() {
		defer s.h.wg.Done()
		s.serverCloseEvent(1005, true)
	}()
	return nil
}

// serverClose has the server end the connection with code.
func (s *fakeSocket) serverClose(code int) { s.serverCloseEvent(code, false) }

func (s *fakeSocket) serverCloseEvent(code int, byClient bool) {
	s.mu.Lock()
	if s.state == 3 {
		s.mu.Unlock()
		return
	}
	s.state = 3
	close(s.closing)
	conn := s.conn
	s.mu.Unlock()
	s.obj.Set("readyState", 3)
	if conn != nil {
		conn.Close()
	}
	s.fire("onclose", map[string]any{"code": code, "reason": "", "wasClean": byClient})
}

// handlersSet reports whether any of onopen, onmessage and onclose is set.
func (s *fakeSocket) handlersSet() bool {
	for _, h := range []string{"onopen", "onmessage", "onclose"} {
		if s.obj.Get(h).Type() == js.TypeFunction {
			return true
		}
	}
	return false
}

func (s *fakeSocket) closeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeCalls
}
