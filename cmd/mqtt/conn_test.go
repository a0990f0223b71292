package main

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
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

func TestServerURLs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		want    []string // the URL to dial, then the other servers
		wantTop []string // topics in the paths of the URLs
	}{
		{name: "defaults", args: nil, want: []string{"mqtt://localhost"}},
		{name: "host and port", args: []string{"-h", "broker", "-p", "1884"}, want: []string{"mqtt://broker:1884"}},
		{name: "long names", args: []string{"--host", "broker", "--port", "1884", "--protocol", "mqtts"}, want: []string{"mqtts://broker:1884"}},
		{name: "MQTT.js --hostname", args: []string{"--hostname", "broker"}, want: []string{"mqtt://broker"}},
		{name: "websocket", args: []string{"--protocol", "wss", "-h", "broker"}, want: []string{"wss://broker"}},
		// As in mosquitto: a CA file means TLS, unless told otherwise.
		{name: "--cafile means mqtts", args: []string{"-h", "broker", "--cafile", "ca.pem"}, want: []string{"mqtts://broker"}},
		{name: "--cafile over wss", args: []string{"--protocol", "wss", "--cafile", "ca.pem"}, want: []string{"wss://localhost"}},
		{name: "IPv6 with port", args: []string{"-h", "::1", "-p", "1883"}, want: []string{"mqtt://[::1]:1883"}},
		{name: "IPv6 without port", args: []string{"-h", "::1"}, want: []string{"mqtt://[::1]"}},
		{name: "-L overrides", args: []string{"-h", "ignored", "-p", "1", "-L", "ws://b:8080/mqtt"}, want: []string{"ws://b:8080/mqtt"}},
		{name: "--url", args: []string{"--url", "mqtts://b"}, want: []string{"mqtts://b"}},
		// mosquitto's -L: the path of an mqtt URL is the topic.
		{name: "topic in the path", args: []string{"-L", "mqtt://u:p@b:1883/a/b"}, want: []string{"mqtt://u:p@b:1883"}, wantTop: []string{"a/b"}},
		{name: "escaped topic", args: []string{"-L", "mqtts://b/a%20b%2Fc"}, want: []string{"mqtts://b"}, wantTop: []string{"a b/c"}},
		{name: "several servers", args: []string{"-L", "mqtt://a/t", "-L", "ws://b/mqtt", "-L", "mqtt://c/t"},
			want: []string{"mqtt://a", "ws://b/mqtt", "mqtt://c"}, wantTop: []string{"t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := newFlagSet("test")
			f := addConnFlags(fs, connKinds{}, nil)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if err := f.resolveURLs(); err != nil {
				t.Fatal(err)
			}
			got := append([]string{f.primary}, f.servers...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("URLs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantTop, f.urlTopics); diff != "" {
				t.Errorf("topics (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]mqtt.Version{
		"": 0, "3.1": mqtt.V31, "3": mqtt.V31, "3.1.1": mqtt.V311, "4": mqtt.V311, "5": mqtt.V5, "5.0": mqtt.V5,
		"mqttv31": mqtt.V31, "mqttv311": mqtt.V311, "mqttv5": mqtt.V5,
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
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantPassword := func(pw string) func(*testing.T, *wire.Connect) {
		return func(t *testing.T, c *wire.Connect) {
			t.Helper()
			if string(c.Password) != pw {
				t.Errorf("password %q, want %q", c.Password, pw)
			}
		}
	}
	u32 := func(n uint32) *uint32 { return &n }
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
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
		{name: "--pw", args: []string{"--pw", "mosquitto's"}, check: wantPassword("mosquitto's")},
		{name: "--password-file", args: []string{"--password-file", pwFile}, check: wantPassword("from a file")},
		{name: "--password-env", args: []string{"--password-env", "MQTT_PW"}, env: map[string]string{"MQTT_PW": "from the environment"},
			check: wantPassword("from the environment")},
		{name: "will", args: []string{"--will-topic", "status/c1", "--will-message", "gone", "--will-qos", "1", "--will-retain"},
			check: func(t *testing.T, c *wire.Connect) {
				want := &wire.Will{Topic: "status/c1", Payload: []byte("gone"), QoS: 1, Retain: true}
				if diff := cmp.Diff(want, c.Will); diff != "" {
					t.Errorf("will (-want +got):\n%s", diff)
				}
			}},
		{name: "will with properties", args: []string{"--will-topic", "w", "--will-payload", "bye",
			"-D", "will", "content-type", "text/plain", "-D", "will", "user-property", "k", "v", "-D", "will", "will-delay-interval", "5"},
			check: func(t *testing.T, c *wire.Connect) {
				want := &wire.Will{Topic: "w", Payload: []byte("bye"), Properties: &wire.Properties{
					ContentType: "text/plain", WillDelay: 5, UserProperties: []wire.UserProperty{{Key: "k", Value: "v"}}}}
				if diff := cmp.Diff(want, c.Will); diff != "" {
					t.Errorf("will (-want +got):\n%s", diff)
				}
			}},
		{name: "-c", args: []string{"-c"}, check: func(t *testing.T, c *wire.Connect) {
			if c.CleanStart || c.Properties.SessionExpiry == nil || *c.Properties.SessionExpiry != 0xFFFFFFFF {
				t.Errorf("clean start %v, session expiry %v; want a session kept for ever", c.CleanStart, c.Properties.SessionExpiry)
			}
		}},
		{name: "MQTT.js --no-clean -x 300", args: []string{"--no-clean", "-x", "300"}, check: func(t *testing.T, c *wire.Connect) {
			if diff := cmp.Diff(u32(300), c.Properties.SessionExpiry); c.CleanStart || diff != "" {
				t.Errorf("clean start %v, session expiry (-want +got):\n%s", c.CleanStart, diff)
			}
		}},
		{name: "-D connect", args: []string{"-D", "connect", "user-property", "app", "culex", "-D", "connect", "receive-maximum", "7",
			"-D", "connect", "topic-alias-maximum", "3", "-D", "connect", "maximum-packet-size", "4096"},
			check: func(t *testing.T, c *wire.Connect) {
				p := c.Properties
				if p == nil || p.ReceiveMaximum != 7 || p.TopicAliasMaximum != 3 || p.MaximumPacketSize != 4096 ||
					!cmp.Equal(p.UserProperties, []wire.UserProperty{{Key: "app", Value: "culex"}}) {
					t.Errorf("CONNECT properties %+v, want those of -D", p)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			args := append([]string{"pub", "-L", srv.URL, "-i", "c1", "-t", "x", "-m", "y"}, tt.args...)
			e := &env{lookupEnv: func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }}
			if r := runEnv(testContext(t), e, args...); r.code != 0 {
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
	if r := runMQTT(testContext(t), "", "pub", "-L", srv.URL, "-t", "x", "-m", "y", "-q", "1"); r.code != 0 {
		t.Fatalf("exit status %d: %s", r.code, r.stderr)
	}
	if r := runMQTT(testContext(t), "", "pub", "-L", srv.URL, "-V", "5", "-t", "x", "-m", "y"); r.code != 1 ||
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
	if r := runMQTT(ctx, "", "pub", "-L", srv.URL, "-u", "alice", "-P", "s3cret", "-t", "x", "-m", "y"); r.code != 0 {
		t.Errorf("right password: exit status %d: %s", r.code, r.stderr)
	}
	r := runMQTT(ctx, "", "pub", "-L", srv.URL, "-u", "alice", "-P", "guessed", "-t", "x", "-m", "y")
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

// TestWebSocket connects with -L and with --protocol ws, -h and -p.
func TestWebSocket(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := testContext(t)
	if r := runMQTT(ctx, "", "pub", "-L", srv.WSURL, "-t", "x", "-m", "y"); r.code != 0 {
		t.Errorf("-U %s: exit status %d: %s", srv.WSURL, r.code, r.stderr)
	}
	host, port, _ := strings.Cut(strings.TrimPrefix(strings.TrimSuffix(srv.WSURL, "/mqtt"), "ws://"), ":")
	if r := runMQTT(ctx, "", "pub", "--protocol", "ws", "-h", host, "-p", port, "-i", "ws1", "-t", "x", "-m", "y"); r.code != 0 {
		t.Errorf("--protocol ws: exit status %d: %s", r.code, r.stderr)
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
		{name: "--cafile", args: []string{"-L", plain, "--cafile", files.CA}},
		{name: "MQTT.js --ca", args: []string{"-L", plain, "--ca", files.CA}},
		{name: "unknown CA", args: []string{"-L", plain}, wantCode: 1, wantStderr: "certificate"},
		{name: "--insecure", args: []string{"-L", plain, "--insecure"}},
		{name: "--cafile not PEM", args: []string{"-L", plain, "--cafile", files.ClientKey}, wantCode: 1, wantStderr: "no PEM certificate"},
		{name: "--cafile missing", args: []string{"-L", plain, "--cafile", files.Dir + "/nope.crt"}, wantCode: 1, wantStderr: "nope.crt"},
		{name: "client certificate", args: []string{"-L", mutual, "--cafile", files.CA, "--cert", files.ClientCert, "--key", files.ClientKey}},
		{name: "no client certificate", args: []string{"-L", mutual, "--cafile", files.CA}, wantCode: 1},
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

// TestIDPrefix checks -I: the client ID is the prefix and the process ID.
func TestIDPrefix(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	id := "pre-" + strconv.Itoa(os.Getpid())
	if r := runMQTT(testContext(t), "", "pub", "-L", srv.URL, "-I", "pre-", "-t", "x", "-m", "y"); r.code != 0 {
		t.Fatalf("exit status %d: %s", r.code, r.stderr)
	}
	if n := len(records(srv, id, mqtttest.FromClient, wire.CONNECT)); n != 1 {
		t.Errorf("%d CONNECTs from %s, want 1", n, id)
	}
}

// TestServers checks that repeated -L are tried in order: a broker that is
// down is skipped for the next, and when all are down the one line of
// error names each.
func TestServers(t *testing.T) {
	t.Parallel()
	down := closedPortURL(t)
	srv := newServer(t)
	ctx := testContext(t)
	if r := runMQTT(ctx, "", "pub", "-L", down, "-L", srv.URL, "-i", "c1", "-t", "x", "-m", "y"); r.code != 0 {
		t.Fatalf("exit status %d: %s", r.code, r.stderr)
	}
	waitDisconnect(ctx, t, srv, "c1")
	if n := len(records(srv, "c1", mqtttest.FromClient, wire.PUBLISH)); n != 1 {
		t.Errorf("the second broker got %d PUBLISH packets, want 1", n)
	}
	down2 := closedPortURL(t)
	r := runMQTT(ctx, "", "pub", "-L", down, "--url", down2, "-t", "x", "-m", "y")
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, down) || !strings.Contains(r.stderr, down2) {
		t.Errorf("exit status %d, stderr %q; want 1 and one line naming both brokers", r.code, r.stderr)
	}
}

// closedPortURL returns the URL of a port where nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "mqtt://" + ln.Addr().String()
}

// TestDebug checks -d: a line for each packet, both ways, in order, on
// stderr, and never the password, whichever flag gave it.
func TestDebug(t *testing.T) {
	t.Parallel()
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cr3t-in-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, pw := range [][]string{{"-P", "s3cr3t"}, {"--password-file", pwFile}} {
		t.Run(pw[0], func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			args := append([]string{"pub", "-L", srv.URL, "-i", "dbg", "-u", "bob", "-t", "x", "-m", "hello", "-q", "2", "-d",
				"--will-topic", "w"}, pw...)
			r := runMQTT(testContext(t), "", args...)
			if r.code != 0 || r.stdout != "" {
				t.Fatalf("exit status %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			want := []string{
				`mqtt pub: sent CONNECT \(client ID "dbg", clean start, keep alive 60s, user "bob", password \(not shown\), will "w" QoS 0, 0 bytes, .*\)`,
				`mqtt pub: received CONNACK \(success.*\)`,
				`mqtt pub: sent PUBLISH \(id 1, QoS 2, topic "x", 5 bytes\)`,
				`mqtt pub: received PUBREC \(id 1, no matching subscribers\)`,
				`mqtt pub: sent PUBREL \(id 1, success\)`,
				`mqtt pub: received PUBCOMP \(id 1, success\)`,
				`mqtt pub: sent DISCONNECT \(success\)`,
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if len(lines) != len(want) {
				t.Fatalf("stderr has %d lines, want %d:\n%s", len(lines), len(want), r.stderr)
			}
			for i, re := range want {
				if !regexp.MustCompile("^" + re + "$").MatchString(lines[i]) {
					t.Errorf("line %d: %q does not match %q", i+1, lines[i], re)
				}
			}
			if strings.Contains(r.stderr, "s3cr3t") {
				t.Errorf("-d shows the password:\n%s", r.stderr)
			}
		})
	}
}

// TestUnixSocket connects with --unix to a broker on a unix socket.
func TestUnixSocket(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "mqtt") // short: a socket path has a limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Skipf("no unix sockets here: %v", err)
	}
	srv := mqtttest.NewUnstartedServer()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	ctx := testContext(t)
	if r := runMQTT(ctx, "", "pub", "--unix", path, "-i", "u1", "-t", "x", "-m", "over a socket"); r.code != 0 {
		t.Fatalf("exit status %d: %s", r.code, r.stderr)
	}
	waitDisconnect(ctx, t, srv, "u1")
	if ps := records(srv, "u1", mqtttest.FromClient, wire.PUBLISH); len(ps) != 1 {
		t.Errorf("the broker got %d PUBLISH packets, want 1", len(ps))
	}
}
