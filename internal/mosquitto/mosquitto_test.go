package mosquitto

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

const ioTimeout = 5 * time.Second

// connectPacket hand-encodes an MQTT 3.1.1 CONNECT with clean session and
// a 60 s keep-alive, and with a user name and password if user is not
// empty.
func connectPacket(clientID, user, password string) []byte {
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }

	flags := byte(0x02) // clean session
	var payload []byte
	payload = append(payload, str(clientID)...)
	if user != "" {
		flags |= 0x80 | 0x40 // user name, password
		payload = append(payload, str(user)...)
		payload = append(payload, str(password)...)
	}
	body := []byte{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, flags, 0x00, 0x3c}
	body = append(body, payload...)

	pkt := []byte{0x10}
	for n := len(body); ; { // remaining length, variable byte integer
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		pkt = append(pkt, b)
		if n == 0 {
			break
		}
	}
	return append(pkt, body...)
}

var (
	connackAccepted = []byte{0x20, 0x02, 0x00, 0x00}
	disconnect      = []byte{0xe0, 0x00}
)

// mqttConnect sends CONNECT over rw and returns the 4-byte CONNACK.
func mqttConnect(rw io.ReadWriter, clientID, user, password string) ([]byte, error) {
	if _, err := rw.Write(connectPacket(clientID, user, password)); err != nil {
		return nil, err
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(rw, ack); err != nil {
		return nil, err
	}
	return ack, nil
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	return c
}

func dialTLS(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: ioTimeout}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	return c, nil
}

// expectConnack connects with CONNECT over rw and checks the CONNACK.
func expectConnack(t *testing.T, rw io.ReadWriter, user, password string, want []byte) {
	t.Helper()
	got, err := mqttConnect(rw, "culex-raw-"+strconv.FormatInt(time.Now().UnixNano(), 36), user, password)
	if err != nil {
		t.Fatalf("CONNECT as %q: %v", user, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("CONNECT as %q: CONNACK % x, want % x", user, got, want)
	}
	if bytes.Equal(want, connackAccepted) {
		_, _ = rw.Write(disconnect)
	}
}

// wsConn is a minimal client side of RFC 6455: binary messages, masked
// frames out, unmasked frames in. Just enough to carry MQTT in a test.
type wsConn struct {
	c net.Conn
	r *bufio.Reader
	// pending is payload read but not yet returned.
	pending []byte
}

func wsUpgrade(c net.Conn, host, path string) (*wsConn, string, error) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + path + " HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: mqtt\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return nil, "", err
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, "", fmt.Errorf("websocket upgrade: %s", resp.Status)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		return nil, "", fmt.Errorf("Sec-WebSocket-Accept %q, want %q", got, want)
	}
	return &wsConn{c: c, r: r}, resp.Header.Get("Sec-WebSocket-Protocol"), nil
}

func (w *wsConn) Write(p []byte) (int, error) {
	hdr := []byte{0x82} // FIN, binary
	switch {
	case len(p) < 126:
		hdr = append(hdr, 0x80|byte(len(p)))
	case len(p) <= 0xffff:
		hdr = append(hdr, 0x80|126, byte(len(p)>>8), byte(len(p)))
	default:
		return 0, fmt.Errorf("test websocket: %d-byte message too long", len(p))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	frame := append(hdr, mask[:]...)
	for i, b := range p {
		frame = append(frame, b^mask[i%4])
	}
	if _, err := w.c.Write(frame); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *wsConn) Read(p []byte) (int, error) {
	for len(w.pending) == 0 {
		var hdr [2]byte
		if _, err := io.ReadFull(w.r, hdr[:]); err != nil {
			return 0, err
		}
		if hdr[1]&0x80 != 0 {
			return 0, fmt.Errorf("test websocket: masked frame from server")
		}
		n := uint64(hdr[1] & 0x7f)
		switch n {
		case 126, 127:
			ext := make([]byte, map[uint64]int{126: 2, 127: 8}[n])
			if _, err := io.ReadFull(w.r, ext); err != nil {
				return 0, err
			}
			n = 0
			for _, b := range ext {
				n = n<<8 | uint64(b)
			}
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(w.r, payload); err != nil {
			return 0, err
		}
		switch op := hdr[0] & 0x0f; op {
		case 0x0, 0x2: // continuation, binary
			w.pending = payload
		case 0x8:
			return 0, io.EOF
		default: // ping, pong, text: ignore
		}
	}
	n := copy(p, w.pending)
	w.pending = w.pending[n:]
	return n, nil
}

func TestDefaultIsAnonymousTCP(t *testing.T) {
	t.Parallel()
	b := Start(t, Options{})

	if !strings.HasPrefix(b.TCPURL, "mqtt://127.0.0.1:") || b.TCPURL != "mqtt://"+b.TCPAddr {
		t.Fatalf("TCPURL %q, TCPAddr %q", b.TCPURL, b.TCPAddr)
	}
	if strings.HasSuffix(b.TCPAddr, ":1883") {
		t.Fatal("broker uses the system broker's port 1883")
	}
	if b.WSURL != "" || b.TLSURL != "" || b.WSSURL != "" || b.Certs != nil {
		t.Fatalf("unrequested listeners: ws %q tls %q wss %q certs %v", b.WSURL, b.TLSURL, b.WSSURL, b.Certs != nil)
	}

	c := dial(t, b.TCPAddr)
	expectConnack(t, c, "", "", connackAccepted)
	b.WaitForLog(t, "Received DISCONNECT from culex-raw-", ioTimeout)
	if !b.Running() {
		t.Fatal("Running() = false")
	}
}

func TestAllListeners(t *testing.T) {
	t.Parallel()
	b := Start(t, Options{
		TCP: true, WebSocket: true, TLS: true, WSS: true,
		RequireClientCert: true,
		Users:             map[string]string{"alice": "secret", "bob": "hunter 2"},
	})
	for _, u := range []string{b.TCPURL, b.WSURL, b.TLSURL, b.WSSURL} {
		if !strings.Contains(u, "://127.0.0.1:") {
			t.Fatalf("bad URL %q", u)
		}
	}
	if !strings.HasPrefix(b.WSURL, "ws://") || !strings.HasPrefix(b.WSSURL, "wss://") || !strings.HasPrefix(b.TLSURL, "mqtts://") {
		t.Fatalf("bad schemes: %q %q %q", b.WSURL, b.TLSURL, b.WSSURL)
	}
	if b.Certs == nil {
		t.Fatal("no certificates")
	}
	refused := func(t *testing.T, ack []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		// 3.1.1 return codes 4 (bad user name or password) or 5 (not
		// authorized); mosquitto 2.0.11 sends 5.
		if len(ack) != 4 || ack[0] != 0x20 || (ack[3] != 0x04 && ack[3] != 0x05) {
			t.Fatalf("CONNACK % x, want a refusal", ack)
		}
	}

	t.Run("tcp", func(t *testing.T) {
		expectConnack(t, dial(t, b.TCPAddr), "alice", "secret", connackAccepted)
		expectConnack(t, dial(t, b.TCPAddr), "bob", "hunter 2", connackAccepted)
		ack, err := mqttConnect(dial(t, b.TCPAddr), "anon", "", "")
		refused(t, ack, err)
		ack, err = mqttConnect(dial(t, b.TCPAddr), "wrong", "alice", "wrong")
		refused(t, ack, err)
	})

	t.Run("ws", func(t *testing.T) {
		ws, proto, err := wsUpgrade(dial(t, b.WSAddr), b.WSAddr, "/mqtt")
		if err != nil {
			t.Fatal(err)
		}
		if proto != "mqtt" {
			t.Fatalf("subprotocol %q, want mqtt", proto)
		}
		expectConnack(t, ws, "alice", "secret", connackAccepted)
	})

	t.Run("tls", func(t *testing.T) {
		c, err := dialTLS(t, b.TLSAddr, b.Certs.ClientTLSConfig(true))
		if err != nil {
			t.Fatal(err)
		}
		expectConnack(t, c, "alice", "secret", connackAccepted)
	})

	t.Run("tls without client certificate", func(t *testing.T) {
		// With TLS 1.3 the client's handshake may complete before the
		// server rejects it, so the refusal can show up on first read.
		c, err := dialTLS(t, b.TLSAddr, b.Certs.ClientTLSConfig(false))
		if err == nil {
			var ack []byte
			ack, err = mqttConnect(c, "nocert", "alice", "secret")
			if err == nil {
				t.Fatalf("got CONNACK % x without a client certificate", ack)
			}
		}
		t.Logf("refused as expected: %v", err)
	})

	t.Run("tls with another CA", func(t *testing.T) {
		cfg := b.Certs.ClientTLSConfig(true)
		cfg.RootCAs = nil // system roots: must not trust the test CA
		if _, err := dialTLS(t, b.TLSAddr, cfg); err == nil {
			t.Fatal("server certificate verified without the test CA")
		}
	})

	t.Run("wss", func(t *testing.T) {
		c, err := dialTLS(t, b.WSSAddr, b.Certs.ClientTLSConfig(true))
		if err != nil {
			t.Fatal(err)
		}
		ws, _, err := wsUpgrade(c, b.WSSAddr, "/mqtt")
		if err != nil {
			t.Fatal(err)
		}
		expectConnack(t, ws, "alice", "secret", connackAccepted)
	})

	t.Run("mosquitto_pub and mosquitto_sub over tls", func(t *testing.T) {
		auth := []string{"-u", "alice", "-P", "secret"}
		sub := Sub(t, append(append(b.TLSArgs(true), auth...),
			"-i", "culex-sub", "-t", "culex/tls/#", "-v", "-q", "1")...)
		b.WaitForLog(t, "Sending SUBACK to culex-sub", ioTimeout)

		if err := Pub(t, append(append(b.TLSArgs(true), auth...),
			"-t", "culex/tls/a", "-m", "hello over tls", "-q", "1")...); err != nil {
			t.Fatal(err)
		}
		line, err := sub.Next(ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if line != "culex/tls/a hello over tls" {
			t.Fatalf("mosquitto_sub got %q", line)
		}

		// Without the client certificate mosquitto_pub is refused.
		if err := Pub(t, append(append(b.TLSArgs(false), auth...), "-t", "culex/tls/b", "-m", "x")...); err == nil {
			t.Fatal("mosquitto_pub without client certificate succeeded")
		}
		sub.Stop()
		sub.Stop()
		if line, err := sub.Next(time.Second); err == nil {
			t.Fatalf("line %q after Stop", line)
		}
	})
}

func TestRestartKeepsPortsAndPersistence(t *testing.T) {
	t.Parallel()
	b := Start(t, Options{TCP: true, WebSocket: true, Persistence: true})
	tcp, ws := b.TCPAddr, b.WSAddr

	if err := Pub(t, append(b.TCPArgs(), "-t", "culex/retained", "-m", "kept", "-r", "-q", "1")...); err != nil {
		t.Fatal(err)
	}
	b.Restart(t)

	if b.TCPAddr != tcp || b.WSAddr != ws {
		t.Fatalf("addresses changed: %s %s -> %s %s", tcp, ws, b.TCPAddr, b.WSAddr)
	}
	expectConnack(t, dial(t, tcp), "", "", connackAccepted)
	wsc, _, err := wsUpgrade(dial(t, ws), ws, "/mqtt")
	if err != nil {
		t.Fatal(err)
	}
	expectConnack(t, wsc, "", "", connackAccepted)

	// The retained message survived in the persistence database.
	sub := Sub(t, append(b.TCPArgs(), "-t", "culex/retained", "-C", "1", "-W", "5")...)
	if line, err := sub.Next(ioTimeout); err != nil || line != "kept" {
		t.Fatalf("retained message after restart: %q, %v", line, err)
	}

	log := b.Log()
	if n := strings.Count(log, "mosquitto version"); n < 4 { // starting, running, terminating, starting, ...
		t.Fatalf("log does not span both runs:\n%s", log)
	}
	if !strings.Contains(log, "Saving in-memory database") {
		t.Fatalf("no persistence save in the log:\n%s", log)
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	b := Start(t, Options{})
	b.Stop()
	b.Stop()
	if b.Running() {
		t.Fatal("Running() after Stop")
	}
	if c, err := net.DialTimeout("tcp", b.TCPAddr, time.Second); err == nil {
		c.Close()
		t.Fatal("broker still accepts connections after Stop")
	}
	if !strings.Contains(b.Log(), "terminating") {
		t.Fatalf("no clean shutdown in the log:\n%s", b.Log())
	}
}

func TestExtraConfig(t *testing.T) {
	t.Parallel()
	b := Start(t, Options{Extra: "allow_zero_length_clientid false"})
	// An empty client id is now refused with return code 2 (identifier
	// rejected); by default mosquitto would assign one.
	ack, err := mqttConnect(dial(t, b.TCPAddr), "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x20, 0x02, 0x00, 0x02}; !bytes.Equal(ack, want) {
		t.Fatalf("empty client id: CONNACK % x, want % x", ack, want)
	}

	conf, err := readFrom(b.ConfigFile, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(conf)), "allow_zero_length_clientid false") {
		t.Fatalf("Extra not at the end of the configuration:\n%s", conf)
	}
}

// TestPortStolen hands Start a port that is already taken: it must retry
// with other ports.
func TestPortStolen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port

	calls := 0
	pickPorts = func(n int) ([]int, error) {
		calls++
		if calls == 1 {
			ports, err := freePorts(n)
			if err == nil {
				ports[0] = busy
			}
			return ports, err
		}
		return freePorts(n)
	}
	t.Cleanup(func() { pickPorts = freePorts })

	b := Start(t, Options{})
	if calls < 2 {
		t.Fatalf("pickPorts called %d times, want a retry", calls)
	}
	if b.TCPAddr == ln.Addr().String() {
		t.Fatal("broker reports the busy port")
	}
	expectConnack(t, dial(t, b.TCPAddr), "", "", connackAccepted)
}

// fakeTB records Skip and Fatal calls instead of acting on them.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skip(args ...any) {
	f.skipped, f.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func requireWith(binary string) (*fakeTB, string) {
	f := &fakeTB{}
	var path string
	done := make(chan struct{})
	go func() {
		defer close(done)
		path = Require(f, binary)
	}()
	<-done
	return f, path
}

func TestRequire(t *testing.T) {
	t.Setenv("CI", "")
	f, path := requireWith("mosquitto")
	if f.skipped || f.failed || path == "" {
		t.Skipf("mosquitto not installed here: %s", f.msg)
	}

	f, _ = requireWith("mosquitto-no-such-binary")
	if !f.skipped || f.failed || !strings.Contains(f.msg, "apt-get install mosquitto mosquitto-clients") {
		t.Fatalf("missing binary without CI: skipped %v failed %v msg %q", f.skipped, f.failed, f.msg)
	}

	t.Setenv("CI", "true")
	f, _ = requireWith("mosquitto-no-such-binary")
	if f.skipped || !f.failed || !strings.Contains(f.msg, "mosquitto-no-such-binary not installed") {
		t.Fatalf("missing binary with CI=true: skipped %v failed %v msg %q", f.skipped, f.failed, f.msg)
	}
}

// TestWebSocketOnly covers a mosquitto 2.0.11 quirk: it will not start with
// websockets listeners alone.
func TestWebSocketOnly(t *testing.T) {
	t.Parallel()
	b := Start(t, Options{WebSocket: true, WSS: true})
	if b.TCPURL != "" || b.TLSURL != "" {
		t.Fatalf("unrequested listeners: %q %q", b.TCPURL, b.TLSURL)
	}
	for _, addr := range []string{b.WSAddr, b.WSSAddr} {
		var c net.Conn
		if addr == b.WSSAddr {
			tc, err := dialTLS(t, addr, b.Certs.ClientTLSConfig(false))
			if err != nil {
				t.Fatal(err)
			}
			c = tc
		} else {
			c = dial(t, addr)
		}
		start := time.Now()
		ws, _, err := wsUpgrade(c, addr, "/any/path")
		if err != nil {
			t.Fatal(err)
		}
		upgraded := time.Now()
		expectConnack(t, ws, "", "", connackAccepted)
		t.Logf("%s: upgrade in %v, CONNECT-CONNACK in %v", addr, upgraded.Sub(start), time.Since(upgraded))
	}
}
