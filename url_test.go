package mqtt_test

// External tests of url.go: URL parsing, redaction and the plaintext check;
// url_internal_test.go holds the internal ones.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
)

// A URL written without its scheme gets the fix, not the URL parser's
// jargon.
func TestURLWithoutScheme(t *testing.T) {
	_, err := mqtt.Dial(context.Background(), "127.0.0.1:1883", nil)
	if err == nil || !strings.Contains(err.Error(), "mqtt://127.0.0.1:1883") || !errors.Is(err, mqtt.ErrInvalid) {
		t.Fatalf("Dial(127.0.0.1:1883): %v, want ErrInvalid suggesting mqtt://127.0.0.1:1883", err)
	}
	checkOnePrefix(t, "URL without a scheme", err)
}

// A user name or password that holds a character with a meaning in URLs
// ('#', '/', '?', '@', ':') unescaped moves the end of the URL's authority:
// the secret lands in the host, the port, the path, the query or the
// fragment. Dial refuses such URLs before any connection attempt (no DNS
// lookup of a user name), and its error shows neither the user name nor
// the password, only what to do instead.
func TestURLSecretsNeverShown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, url string
		secrets   []string
		fix       string // the error must say this
	}{
		{"hash in password", "mqtt://alice:S3cr3t#Pa55@host", []string{"alice", "S3cr3t", "Pa55"}, "%23"},
		{"hash in password, numeric", "mqtt://alice:1234#5678@host", []string{"alice", "1234", "5678"}, "%23"},
		{"slash in password", "mqtt://alice:1234/S3cr3t@host", []string{"alice", "1234", "S3cr3t"}, "%2F"},
		{"question mark in password", "mqtts://alice:1234?S3cr3t@host", []string{"alice", "1234", "S3cr3t"}, "%3F"},
		{"slash in user name", "tcp://al/ice:S3cr3t@host", []string{"al/ice", "ice", "S3cr3t"}, "DialOptions.Username"},
		{"no scheme separator", "alice:S3cr3t@host", []string{"alice", "S3cr3t"}, "mqtt://"},
		{"ws slash in password", "ws://alice:1234/S3cr3t@host/mqtt", []string{"alice", "1234", "S3cr3t"}, "%40"},
		{"wss hash in password", "wss://alice:S3cr3t#Pa55@host/mqtt", []string{"alice", "S3cr3t", "Pa55"}, "%23"},
		{"wss at in query", "wss://host/mqtt?user=alice@example.com", []string{"alice"}, "%40"},
		{"path on mqtt", "mqtt://host/topic", nil, "path"},
		{"query on mqtts", "mqtts://host?token=S3cr3t", []string{"S3cr3t"}, "query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var d recordingDialer
			var lost []error
			var log bytes.Buffer
			_, err := mqtt.Dial(testCtx(t), tc.url, &mqtt.DialOptions{
				Dialer:           d.dial,
				Logger:           slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
				OnConnectionLost: func(err error) { lost = append(lost, err) },
			})
			if err == nil {
				t.Fatal("Dial succeeded")
			}
			if addrs := d.dialed(); len(addrs) != 0 {
				t.Errorf("Dial tried to connect to %q before refusing the URL", addrs)
			}
			if !strings.HasPrefix(err.Error(), "mqtt: ") || strings.Contains(err.Error(), ": mqtt: ") {
				t.Errorf("error %q does not start with one %q", err, "mqtt: ")
			}
			if !strings.Contains(err.Error(), tc.fix) {
				t.Errorf("error %q does not say what to do (%q)", err, tc.fix)
			}
			for _, s := range tc.secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error shows %q: %v", s, err)
				}
				if strings.Contains(log.String(), s) {
					t.Errorf("log shows %q:\n%s", s, log.String())
				}
			}
			if len(lost) != 0 {
				t.Errorf("OnConnectionLost called with %v", lost)
			}
		})
	}
}

// tapDialer connects to the address asked for and keeps what the client
// writes, so a test can see the WebSocket handshake the client sent.
type tapDialer struct {
	mu  sync.Mutex
	out bytes.Buffer
}

func (d *tapDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &tapConn{Conn: c, d: d}, nil
}

func (d *tapDialer) written() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

type tapConn struct {
	net.Conn
	d *tapDialer
}

func (c *tapConn) Write(p []byte) (int, error) {
	c.d.mu.Lock()
	c.d.out.Write(p)
	c.d.mu.Unlock()
	return c.Conn.Write(p)
}

// The query of a signed WebSocket URL (X-Amz-Signature=...), from the URL
// given to Dial or from BeforeConnect, is sent in the handshake and nowhere
// else: not in logs, not in OnConnectionLost's error, not in Err. Neither
// are the user name and password of a URL the hook returns.
func TestSignedWebSocketURLNeverShown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		query    string // of the URL given to Dial
		hook     string // user info and query of the URL BeforeConnect returns; none if empty
		secrets  []string
		sentWith string // the query the handshake must carry
	}{
		{name: "url", query: "?X-Amz-Signature=SigFromURL&X-Amz-Credential=CredFromURL",
			secrets: []string{"SigFromURL", "CredFromURL", "X-Amz"}},
		{name: "hook", hook: "hookuser:HookPass@|?X-Amz-Signature=SigFromHook",
			secrets: []string{"SigFromHook", "X-Amz", "hookuser", "HookPass"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := mqtttest.NewServer()
			t.Cleanup(srv.Close)
			var log syncBuffer
			var tap tapDialer
			lost := make(chan error, 1)
			opts := &mqtt.DialOptions{
				NoReconnect:      true,
				Dialer:           tap.dial,
				Logger:           slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
				OnConnectionLost: func(err error) { lost <- err },
			}
			query := tc.query
			if tc.hook != "" {
				userinfo, q, _ := strings.Cut(tc.hook, "|")
				query = q
				hookURL := strings.Replace(srv.WSURL, "ws://", "ws://"+userinfo, 1) + q
				opts.BeforeConnect = func(ctx context.Context, a *mqtt.ConnectAttempt) error {
					a.URL = hookURL
					return nil
				}
			}
			c := dialT(t, srv.WSURL+tc.query, opts)
			if hs := tap.written(); !strings.Contains(hs, "GET /mqtt"+query+" HTTP/1.1") {
				t.Errorf("the WebSocket handshake lacks the query %q:\n%s", query, hs)
			}
			srv.CloseClientConnections()
			var lostErr error
			select {
			case lostErr = <-lost:
			case <-testCtx(t).Done():
				t.Fatal("OnConnectionLost not called")
			}
			<-c.Done()
			shown := map[string]string{"log": log.String(), "OnConnectionLost": lostErr.Error(), "Err": c.Err().Error()}
			if !strings.Contains(shown["log"], "level=INFO") || !strings.Contains(shown["log"], "/mqtt") {
				t.Errorf("the log lacks the INFO lines naming the server:\n%s", shown["log"])
			}
			for where, text := range shown {
				for _, s := range tc.secrets {
					if strings.Contains(text, s) {
						t.Errorf("%s shows %q: %s", where, s, text)
					}
				}
			}
		})
	}
}

// DialOptions.TLSConfig says the user expects TLS: a plain-text URL next to
// it (mqtt://, tcp://, ws://; given to Dial, in Servers, or returned by
// BeforeConnect) would send the password in clear. Dial refuses it, naming
// the fix, before connecting anywhere, unless AllowPlaintext says that is
// meant.
func TestTLSConfigRefusesPlaintext(t *testing.T) {
	t.Parallel()
	cfg := &tls.Config{ServerName: "broker.test"}
	for _, tc := range []struct {
		name    string
		url     string
		servers []string
		hookURL string
	}{
		{name: "mqtt", url: "mqtt://broker.test"},
		{name: "tcp", url: "tcp://broker.test:1883"},
		{name: "ws", url: "ws://broker.test/mqtt"},
		{name: "in Servers", url: "mqtts://broker.test", servers: []string{"mqtt://other.test"}},
		{name: "from BeforeConnect", url: "mqtts://broker.test", hookURL: "ws://broker.test/mqtt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var d recordingDialer
			opts := &mqtt.DialOptions{Dialer: d.dial, TLSConfig: cfg, Servers: tc.servers, Password: []byte("S3cr3t")}
			if tc.hookURL != "" {
				opts.BeforeConnect = func(ctx context.Context, a *mqtt.ConnectAttempt) error {
					a.URL = tc.hookURL
					return nil
				}
			}
			_, err := mqtt.Dial(testCtx(t), tc.url, opts)
			if err == nil || !strings.Contains(err.Error(), "AllowPlaintext") || !strings.Contains(err.Error(), "TLSConfig") {
				t.Errorf("Dial: %v, want a refusal naming TLSConfig and AllowPlaintext", err)
			}
			if addrs := d.dialed(); len(addrs) != 0 {
				t.Errorf("Dial connected to %q in plain text", addrs)
			}

			// Opted in: the plain-text URL is tried.
			d = recordingDialer{}
			opts.AllowPlaintext = true
			_, err = mqtt.Dial(testCtx(t), tc.url, opts)
			if addrs := d.dialed(); len(addrs) == 0 || strings.Contains(err.Error(), "AllowPlaintext") {
				t.Errorf("with AllowPlaintext: dialed %q, error %v; want the plain-text server tried", addrs, err)
			}
		})
	}
}
