package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/internal/testcert"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
	"github.com/google/go-cmp/cmp"
)

func TestServerURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "defaults", args: nil, want: "mqtt://localhost"},
		{name: "host and port", args: []string{"-h", "broker", "-p", "1884"}, want: "mqtt://broker:1884"},
		{name: "long names", args: []string{"--host", "broker", "--port", "1884", "--protocol", "mqtts"}, want: "mqtts://broker:1884"},
		{name: "websocket", args: []string{"-l", "wss", "-h", "broker"}, want: "wss://broker"},
		{name: "IPv6 with port", args: []string{"-h", "::1", "-p", "1883"}, want: "mqtt://[::1]:1883"},
		{name: "IPv6 without port", args: []string{"-h", "::1"}, want: "mqtt://[::1]"},
		{name: "-U overrides", args: []string{"-h", "ignored", "-p", "1", "-U", "ws://b:8080/mqtt"}, want: "ws://b:8080/mqtt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			f := addConnFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			got, err := f.serverURL()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("serverURL() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]mqtt.Version{
		"": 0, "3.1": mqtt.V31, "3": mqtt.V31, "3.1.1": mqtt.V311, "4": mqtt.V311, "5": mqtt.V5, "5.0": mqtt.V5,
	} {
		if got, err := parseVersion(in); err != nil || got != want {
			t.Errorf("parseVersion(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	var ue *usageError
	if _, err := parseVersion("6"); !errors.As(err, &ue) {
		t.Errorf("parseVersion(6) = %v, want a usage error", err)
	}
}

func TestDurationFlag(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"10": 10 * time.Second, "1.5": 1500 * time.Millisecond, "250ms": 250 * time.Millisecond, "2m": 2 * time.Minute,
	} {
		var d duration
		if err := d.Set(in); err != nil || time.Duration(d) != want {
			t.Errorf("Set(%q) = %v, %v; want %v", in, time.Duration(d), err, want)
		}
	}
	var d duration
	if err := d.Set("soon"); err == nil {
		t.Error("Set(soon) succeeded")
	}
}

// TestConnectFlags checks that the connection flags reach the CONNECT the
// broker reads.
func TestConnectFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, c *wire.Connect)
	}{
		{name: "defaults", check: func(t *testing.T, c *wire.Connect) {
			if c.Version != wire.V5 || c.KeepAlive != 60 || !c.CleanStart || c.Will != nil || c.UsernameFlag {
				t.Errorf("CONNECT = %+v, want v5, keep alive 60, clean start, no will, no user", c)
			}
		}},
		{name: "-V 3.1", args: []string{"-V", "3.1"}, check: wantVersion(wire.V31)},
		{name: "-V 4", args: []string{"-V", "4"}, check: wantVersion(wire.V311)},
		{name: "--protocol-version 3.1.1", args: []string{"--protocol-version", "3.1.1"}, check: wantVersion(wire.V311)},
		{name: "-V 5", args: []string{"-V", "5"}, check: wantVersion(wire.V5)},
		{name: "-k 0 turns keep alive off", args: []string{"-k", "0"}, check: func(t *testing.T, c *wire.Connect) {
			if c.KeepAlive != 0 {
				t.Errorf("KeepAlive = %d, want 0", c.KeepAlive)
			}
		}},
		{name: "-k 30", args: []string{"--keepalive", "30"}, check: func(t *testing.T, c *wire.Connect) {
			if c.KeepAlive != 30 {
				t.Errorf("KeepAlive = %d, want 30", c.KeepAlive)
			}
		}},
		{name: "user and password", args: []string{"-u", "alice", "-P", "secret"}, check: func(t *testing.T, c *wire.Connect) {
			if c.Username != "alice" || string(c.Password) != "secret" {
				t.Errorf("user %q password %q, want alice, secret", c.Username, c.Password)
			}
		}},
		{name: "will", args: []string{"--will-topic", "status/c1", "--will-message", "gone", "--will-qos", "1", "--will-retain"},
			check: func(t *testing.T, c *wire.Connect) {
				want := &wire.Will{Topic: "status/c1", Payload: []byte("gone"), QoS: 1, Retain: true}
				if diff := cmp.Diff(want, c.Will); diff != "" {
					t.Errorf("will (-want +got):\n%s", diff)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			args := append([]string{"pub", "-U", srv.URL, "-i", "c1", "-t", "x", "-m", "y"}, tt.args...)
			if r := runMQTT(testContext(t), "", args...); r.code != 0 {
				t.Fatalf("exit status %d: %s", r.code, r.stderr)
			}
			cs := records(srv, "c1", mqtttest.FromClient, wire.CONNECT)
			if len(cs) != 1 {
				t.Fatalf("%d CONNECTs, want 1", len(cs))
			}
			tt.check(t, cs[0].(*wire.Connect))
		})
	}
}

func wantVersion(v wire.Version) func(*testing.T, *wire.Connect) {
	return func(t *testing.T, c *wire.Connect) {
		t.Helper()
		if c.Version != v {
			t.Errorf("CONNECT version %v, want %v", c.Version, v)
		}
	}
}

// TestFallbackTo311 checks that without -V the command connects to a broker
// that speaks only 3.1.1.
func TestFallbackTo311(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mqtttest.Versions(wire.V311))
	if r := runMQTT(testContext(t), "", "pub", "-U", srv.URL, "-t", "x", "-m", "y", "-q", "1"); r.code != 0 {
		t.Fatalf("exit status %d: %s", r.code, r.stderr)
	}
	if r := runMQTT(testContext(t), "", "pub", "-U", srv.URL, "-V", "5", "-t", "x", "-m", "y"); r.code != 1 ||
		!strings.Contains(r.stderr, "refused the connection") {
		t.Errorf("-V 5 against a 3.1.1 broker: exit status %d, stderr %q; want 1 and a refusal", r.code, r.stderr)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mqtttest.Authenticate(func(c *wire.Connect) wire.ReasonCode {
		if c.Username == "alice" && string(c.Password) == "s3cret" {
			return wire.Success
		}
		return wire.BadUsernameOrPassword
	}))
	ctx := testContext(t)
	if r := runMQTT(ctx, "", "pub", "-U", srv.URL, "-u", "alice", "-P", "s3cret", "-t", "x", "-m", "y"); r.code != 0 {
		t.Errorf("right password: exit status %d: %s", r.code, r.stderr)
	}
	r := runMQTT(ctx, "", "pub", "-U", srv.URL, "-u", "alice", "-P", "guessed", "-t", "x", "-m", "y")
	if r.code != 1 || !strings.Contains(r.stderr, "refused the connection") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("wrong password: exit status %d, stderr %q; want 1 and one line saying it was refused", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "guessed") {
		t.Errorf("the error shows the password: %q", r.stderr)
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	r := runMQTT(testContext(t), "", "pub", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "x", "-m", "y")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "mqtt pub: connecting to mqtt://127.0.0.1:"+strconv.Itoa(port)) || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("exit status %d, stderr %q; want 1 and one line naming the server", r.code, r.stderr)
	}
}

// TestWebSocket connects with -U and with -l ws, -h and -p.
func TestWebSocket(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := testContext(t)
	if r := runMQTT(ctx, "", "pub", "-U", srv.WSURL, "-t", "x", "-m", "y"); r.code != 0 {
		t.Errorf("-U %s: exit status %d: %s", srv.WSURL, r.code, r.stderr)
	}
	host, port, _ := strings.Cut(strings.TrimPrefix(strings.TrimSuffix(srv.WSURL, "/mqtt"), "ws://"), ":")
	if r := runMQTT(ctx, "", "pub", "-l", "ws", "-h", host, "-p", port, "-i", "ws1", "-t", "x", "-m", "y"); r.code != 0 {
		t.Errorf("-l ws: exit status %d: %s", r.code, r.stderr)
	}
	waitDisconnect(ctx, t, srv, "ws1")
	if len(records(srv, "ws1", mqtttest.FromClient, wire.PUBLISH)) != 1 {
		t.Error("the broker did not get the message over WebSocket")
	}
}

// TestTLS covers --cafile, --insecure and a client certificate with --cert
// and --key, against a broker with a CA of the test's own.
func TestTLS(t *testing.T) {
	t.Parallel()
	b, err := testcert.New()
	if err != nil {
		t.Fatal(err)
	}
	files, err := b.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tlsServer := func(clientAuth tls.ClientAuthType) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg := b.ServerTLSConfig()
		cfg.ClientAuth = clientAuth
		srv := mqtttest.NewUnstartedServer()
		srv.Listener = tls.NewListener(ln, cfg)
		srv.Start()
		t.Cleanup(srv.Close)
		return "mqtts://" + ln.Addr().String()
	}
	plain := tlsServer(tls.VerifyClientCertIfGiven)
	mutual := tlsServer(tls.RequireAndVerifyClientCert)

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{name: "--cafile", args: []string{"-U", plain, "--cafile", files.CA}},
		{name: "unknown CA", args: []string{"-U", plain}, wantCode: 1, wantStderr: "certificate"},
		{name: "--insecure", args: []string{"-U", plain, "--insecure"}},
		{name: "--cafile not PEM", args: []string{"-U", plain, "--cafile", files.ClientKey}, wantCode: 1, wantStderr: "no PEM certificate"},
		{name: "--cafile missing", args: []string{"-U", plain, "--cafile", files.Dir + "/nope.crt"}, wantCode: 1, wantStderr: "nope.crt"},
		{name: "client certificate", args: []string{"-U", mutual, "--cafile", files.CA, "--cert", files.ClientCert, "--key", files.ClientKey}},
		{name: "no client certificate", args: []string{"-U", mutual, "--cafile", files.CA}, wantCode: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"pub", "-t", "x", "-m", "y", "--connect-timeout", "10s"}, tt.args...)
			r := runMQTT(testContext(t), "", args...)
			if r.code != tt.wantCode || !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("exit status %d, stderr %q; want %d and %q", r.code, r.stderr, tt.wantCode, tt.wantStderr)
			}
		})
	}
}
