package mqtt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/net/websocket"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/wire"
)

// wsPeer is a scripted MQTT server over WebSocket: the test reads what the
// client sends, frame by frame, and chooses how its own packets are cut
// into frames.
type wsPeer struct {
	t  *testing.T
	v  wire.Version
	ws *websocket.Conn
	r  *wire.Reader
	fr *wsFrames
}

// wsFrames reads the bytes of the client's frames, failing the test at a
// frame that is not binary.
type wsFrames struct {
	t   *testing.T
	ws  *websocket.Conn
	buf []byte
}

// wsFrameCodec receives one frame with its type.
var wsFrameCodec = websocket.Codec{Unmarshal: func(data []byte, typ byte, v any) error {
	f := v.(*wsFrame)
	f.data, f.typ = data, typ
	return nil
}}

type wsFrame struct {
	data []byte
	typ  byte
}

func (r *wsFrames) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		var f wsFrame
		if err := wsFrameCodec.Receive(r.ws, &f); err != nil {
			return 0, err
		}
		if f.typ != websocket.BinaryFrame {
			r.t.Errorf("the client sent a WebSocket frame of type %d with %q; MQTT goes in binary frames only", f.typ, f.data)
		}
		r.buf = f.data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// startWSPeer serves one WebSocket connection, offering the "mqtt"
// subprotocol, and returns its URL and the peer of the connection made to
// it.
func startWSPeer(t *testing.T, v wire.Version) (string, <-chan *wsPeer) {
	t.Helper()
	peers := make(chan *wsPeer, 1)
	done := make(chan struct{})
	srv := httptest.NewServer(websocket.Server{
		Handshake: func(cfg *websocket.Config, _ *http.Request) error {
			cfg.Protocol = []string{"mqtt"}
			return nil
		},
		Handler: func(ws *websocket.Conn) {
			ws.PayloadType = websocket.BinaryFrame
			fr := &wsFrames{t: t, ws: ws}
			peers <- &wsPeer{t: t, v: v, ws: ws, fr: fr, r: wire.NewReader(fr, 0)}
			<-done // returning closes the connection
		},
	})
	t.Cleanup(func() { close(done); srv.Close() })
	return "ws://" + strings.TrimPrefix(srv.URL, "http://") + "/mqtt", peers
}

func (p *wsPeer) expect(typ wire.Type) wire.Packet {
	p.t.Helper()
	pkt, err := p.r.ReadPacket(p.v)
	if err != nil {
		p.t.Fatalf("peer: reading: %v", err)
	}
	if pkt.Type() != typ {
		p.t.Fatalf("peer: got %v %+v, want %v", pkt.Type(), pkt, typ)
	}
	return pkt
}

// encode returns the packets one after the other, as bytes.
func (p *wsPeer) encode(pkts ...wire.Packet) []byte {
	p.t.Helper()
	var b []byte
	for _, pkt := range pkts {
		var err error
		if b, err = pkt.Append(b, p.v); err != nil {
			p.t.Fatal(err)
		}
	}
	return b
}

// frames sends b in binary frames cut at the given offsets.
func (p *wsPeer) frames(b []byte, cuts ...int) {
	p.t.Helper()
	start := 0
	for _, end := range append(cuts, len(b)) {
		if err := websocket.Message.Send(p.ws, b[start:end]); err != nil { // []byte: a binary frame
			p.t.Fatal(err)
		}
		start = end
	}
}

// MQTT-6.0.0-2: a WebSocket frame may hold several packets, or part of one.
// The client reads CONNACK cut in two frames, a SUBACK and three PUBLISH
// packets in one frame (larger than the client's first read), and a PUBLISH
// spread over three frames. MQTT-6.0.0-1: everything the client sends goes
// in binary frames, and a text frame from the server closes the connection;
// the PUBLISH it holds is never delivered.
func TestWebSocketFrames(t *testing.T) {
	t.Parallel()
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			url, peers := startWSPeer(t, v)
			ctx := testCtx(t)
			dialed := make(chan *mqtt.Client, 1)
			go func() {
				c, err := mqtt.Dial(ctx, url, &mqtt.DialOptions{Version: mqtt.Version(v), ClientID: "ws", NoReconnect: true})
				if err != nil {
					t.Error(err)
				}
				dialed <- c
			}()
			p := <-peers
			p.expect(wire.CONNECT)
			p.frames(p.encode(&wire.Connack{}), 1)
			c := <-dialed
			if c == nil {
				t.FailNow()
			}
			defer c.Close()

			subscribed := make(chan *mqtt.Subscription, 1)
			go func() {
				s, err := c.Subscribe(ctx, mqtt.Filter{Topic: "t", QoS: mqtt.QoS1})
				if err != nil {
					t.Error(err)
				}
				subscribed <- s
			}()
			sub := p.expect(wire.SUBSCRIBE).(*wire.Subscribe)
			var want [][]byte
			pkts := []wire.Packet{&wire.Suback{PacketID: sub.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1}}}
			for i := range 3 {
				payload := bytes.Repeat([]byte{'a' + byte(i)}, 3000)
				want = append(want, payload)
				pkts = append(pkts, &wire.Publish{Topic: "t", QoS: 1, PacketID: uint16(10 + i), Payload: payload})
			}
			p.frames(p.encode(pkts...)) // about 9 KB in one frame
			spread := bytes.Repeat([]byte{'z'}, 5000)
			want = append(want, spread)
			p.frames(p.encode(&wire.Publish{Topic: "t", QoS: 1, PacketID: 13, Payload: spread}), 3, 2000)
			s := <-subscribed
			if s == nil {
				t.FailNow()
			}
			for i, w := range want {
				m, err := s.Next(ctx)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if !bytes.Equal(m.Payload, w) {
					t.Fatalf("message %d: %d bytes %.10q..., want %d bytes %.10q...", i, len(m.Payload), m.Payload, len(w), w)
				}
				if ack := p.expect(wire.PUBACK).(*wire.Puback); ack.PacketID != uint16(10+i) {
					t.Errorf("PUBACK %d, want %d", ack.PacketID, 10+i)
				}
			}

			// A text frame, holding a PUBLISH. (Should the client not
			// close, its keep alive would: the peer stops waiting.)
			defer context.AfterFunc(ctx, func() { p.ws.Close() })()
			text := string(p.encode(&wire.Publish{Topic: "t", Payload: []byte("in a text frame")}))
			if err := websocket.Message.Send(p.ws, text); err != nil {
				t.Fatal(err)
			}
			for {
				pkt, err := p.r.ReadPacket(v)
				if err != nil {
					break // closed
				}
				if pkt.Type() != wire.DISCONNECT {
					t.Errorf("after a text frame the client sent %v", pkt.Type())
				}
			}
			select {
			case <-c.Done():
			case <-ctx.Done():
				t.Fatal("the client still runs after a text frame")
			}
			if m, err := s.Next(ctx); err == nil {
				t.Errorf("the PUBLISH of a text frame was delivered: %q", m.Payload)
			} else if !errors.Is(err, mqtt.ErrClosed) {
				t.Errorf("Next after the text frame: %v, want ErrClosed", err)
			}
		})
	}
}

// upgrade is what a WebSocket server saw of one upgrade request.
type upgrade struct {
	header    http.Header
	origin    string
	protocols []string
}

// wsRecorder is an MQTT over WebSocket server that records each upgrade
// request and accepts the client.
func wsRecorder(t *testing.T) (url string, upgrades <-chan upgrade) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan upgrade, 10)
	srv := &http.Server{Handler: websocket.Server{
		Handshake: func(cfg *websocket.Config, r *http.Request) error {
			ch <- upgrade{r.Header.Clone(), r.Header.Get("Origin"), cfg.Protocol}
			cfg.Protocol = []string{"mqtt"}
			return nil
		},
		Handler: func(ws *websocket.Conn) {
			ws.PayloadType = websocket.BinaryFrame
			r := wire.NewReader(ws, 0)
			if _, err := r.ReadPacket(wire.V5); err != nil {
				return
			}
			b, _ := (&wire.Connack{}).Append(nil, wire.V5)
			ws.Write(b)
			for {
				if _, err := r.ReadPacket(wire.V5); err != nil {
					return
				}
			}
		},
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "ws://" + ln.Addr().String() + "/mqtt", ch
}

// The upgrade request carries DialOptions.WebSocket's headers, Origin and
// subprotocols (MQTT.js wsOptions).
func TestWebSocketOptions(t *testing.T) {
	t.Parallel()
	url, upgrades := wsRecorder(t)
	header := http.Header{"Authorization": {"Bearer s3cret"}, "Cookie": {"session=1"}}
	dialT(t, url, &mqtt.DialOptions{Version: mqtt.V5, WebSocket: &mqtt.WebSocketOptions{
		Header: header, Origin: "https://app.example", Protocols: []string{"mqtt", "mqttv3.1"}}})
	u := <-upgrades
	if u.header.Get("Authorization") != "Bearer s3cret" || u.header.Get("Cookie") != "session=1" {
		t.Errorf("headers %v, want Authorization and Cookie", u.header)
	}
	if u.origin != "https://app.example" {
		t.Errorf("Origin %q, want https://app.example", u.origin)
	}
	if strings.Join(u.protocols, ",") != "mqtt,mqttv3.1" {
		t.Errorf("subprotocols %q, want mqtt, mqttv3.1", u.protocols)
	}
}

// BeforeConnect changes the headers for each attempt (an expiring token)
// without changing DialOptions'.
func TestWebSocketHeaderPerAttempt(t *testing.T) {
	t.Parallel()
	url, upgrades := wsRecorder(t)
	header := http.Header{"Authorization": {"Bearer from-options"}}
	dialT(t, url, &mqtt.DialOptions{Version: mqtt.V5, WebSocket: &mqtt.WebSocketOptions{Header: header},
		BeforeConnect: func(ctx context.Context, a *mqtt.ConnectAttempt) error {
			a.Header.Set("Authorization", fmt.Sprintf("Bearer attempt-%d", a.Attempt))
			return nil
		}})
	u := <-upgrades
	if got := u.header.Get("Authorization"); got != "Bearer attempt-0" {
		t.Errorf("Authorization %q, want the hook's Bearer attempt-0", got)
	}
	if got := header.Get("Authorization"); got != "Bearer from-options" {
		t.Errorf("the hook changed DialOptions' header: %q", got)
	}
}
