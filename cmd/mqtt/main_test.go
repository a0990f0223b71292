package main

import (
	"bytes"
	"context"
	"flag"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/internal/leakcheck"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// TestMain fails the run when a test leaves a command or a client running.
func TestMain(m *testing.M) { leakcheck.Main(m) }

// result is how a run of the command ended.
type result struct {
	code           int
	stdout, stderr string
}

// runMQTT runs the command line args in-process with stdin as its input.
func runMQTT(ctx context.Context, stdin string, args ...string) result {
	var out, errOut bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// testContext bounds a test, so that a command that fails to stop fails the
// test instead of hanging it.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newServer starts a fake broker for one test.
func newServer(t *testing.T, opts ...mqtttest.Option) *mqtttest.Server {
	t.Helper()
	srv := mqtttest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv
}

// startSub runs "mqtt sub" with args against srv as client id in the
// background and returns once the broker has acknowledged its subscription,
// so that what the test publishes next reaches it. The channel delivers the
// result when the command ends; ctx bounds it.
func startSub(ctx context.Context, t *testing.T, srv *mqtttest.Server, id string, args ...string) <-chan result {
	t.Helper()
	done := make(chan result, 1)
	args = append([]string{"sub", "-U", srv.URL, "-i", id}, args...)
	go func() { done <- runMQTT(ctx, "", args...) }()

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	subscribed := make(chan error, 1)
	go func() {
		_, err := srv.WaitPacket(wctx, func(r mqtttest.Record) bool {
			return r.ClientID == id && r.Dir == mqtttest.ToClient && r.Packet.Type() == wire.SUBACK
		})
		subscribed <- err
	}()
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatalf("waiting for %s to subscribe: %v", id, err)
		}
	case r := <-done:
		cancel()
		<-subscribed
		t.Fatalf("mqtt %s ended before it subscribed: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return done
}

// wait returns the result of a command started by startSub.
func wait(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("the command did not end")
		return result{}
	}
}

// waitDisconnect waits until the broker has read the DISCONNECT of client
// id. A command returns as soon as it has written its last packets; once the
// broker has read the DISCONNECT, it has recorded every packet before it.
func waitDisconnect(ctx context.Context, t *testing.T, srv *mqtttest.Server, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := srv.WaitPacket(ctx, func(r mqtttest.Record) bool {
		return r.ClientID == id && r.Dir == mqtttest.FromClient && r.Packet.Type() == wire.DISCONNECT
	})
	if err != nil {
		t.Fatalf("%s sent no DISCONNECT: %v", id, err)
	}
}

// records returns the packets of type typ that the broker saw in direction
// dir on the connections of client id.
func records(srv *mqtttest.Server, id string, dir mqtttest.Direction, typ wire.Type) []wire.Packet {
	var ps []wire.Packet
	for _, r := range srv.Packets() {
		if r.ClientID == id && r.Dir == dir && r.Packet.Type() == typ {
			ps = append(ps, r.Packet)
		}
	}
	return ps
}

func TestUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // a regular expression; "" wants it empty
		wantStderr string
	}{
		{name: "no arguments", args: nil, wantCode: 2, wantStderr: `usage: mqtt <command>`},
		{name: "help", args: []string{"help"}, wantCode: 0, wantStdout: `(?s)pub .*sub .*bench `},
		{name: "--help", args: []string{"--help"}, wantCode: 0, wantStdout: `usage: mqtt <command>`},
		{name: "help pub", args: []string{"help", "pub"}, wantCode: 0, wantStdout: `^usage: mqtt pub`},
		{name: "help unknown", args: []string{"help", "nope"}, wantCode: 2, wantStderr: `unknown command "nope"`},
		{name: "unknown command", args: []string{"publish"}, wantCode: 2, wantStderr: `(?s)^mqtt: unknown command "publish".*usage: mqtt <command>`},
		{name: "pub -h", args: []string{"pub", "-h"}, wantCode: 0, wantStdout: `^usage: mqtt pub`},
		{name: "sub -help", args: []string{"sub", "-help"}, wantCode: 0, wantStdout: `^usage: mqtt sub`},
		{name: "bench --help", args: []string{"bench", "--help"}, wantCode: 0, wantStdout: `^usage: mqtt bench`},
		// -h followed by a flag asks for help rather than connecting to
		// the host "-t".
		{name: "-h before a flag", args: []string{"pub", "-h", "-t", "x"}, wantCode: 0, wantStdout: `^usage: mqtt pub`},
		{name: "unknown flag", args: []string{"pub", "-x"}, wantCode: 2,
			wantStderr: `(?s)^mqtt pub: flag provided but not defined: -x\nusage: mqtt pub .*Run 'mqtt pub -help'`},
		{name: "missing -t", args: []string{"pub", "-m", "x"}, wantCode: 2,
			wantStderr: `(?s)^mqtt pub: -t is required.*\nusage: mqtt pub -t topic`},
		{name: "sub missing -t", args: []string{"sub"}, wantCode: 2, wantStderr: `^mqtt sub: -t is required`},
		{name: "no message", args: []string{"pub", "-t", "x"}, wantCode: 2, wantStderr: `^mqtt pub: no message`},
		{name: "-m and -s", args: []string{"pub", "-t", "x", "-m", "a", "-s"}, wantCode: 2, wantStderr: `-m, -s and -M each give the message`},
		{name: "-s and -M", args: []string{"pub", "-t", "x", "-s", "-M"}, wantCode: 2, wantStderr: `-m, -s and -M each give the message`},
		{name: "-M and -n", args: []string{"pub", "-t", "x", "-M", "-n", "2"}, wantCode: 2, wantStderr: `-n with -M`},
		{name: "bad qos", args: []string{"pub", "-t", "x", "-m", "a", "-q", "3"}, wantCode: 2, wantStderr: `-q 3 is not a QoS`},
		{name: "bad count", args: []string{"pub", "-t", "x", "-m", "a", "-n", "0"}, wantCode: 2, wantStderr: `-n 0`},
		{name: "bad version", args: []string{"pub", "-t", "x", "-m", "a", "-V", "6"}, wantCode: 2, wantStderr: `-V "6" is not an MQTT version`},
		{name: "bad protocol", args: []string{"pub", "-t", "x", "-m", "a", "-l", "http"}, wantCode: 2, wantStderr: `-l "http" is not a protocol`},
		{name: "bad keepalive", args: []string{"pub", "-t", "x", "-m", "a", "-k", "-1"}, wantCode: 2, wantStderr: `-k -1`},
		{name: "bad user property", args: []string{"pub", "-t", "x", "-m", "a", "-D", "novalue"}, wantCode: 2, wantStderr: `key=value`},
		{name: "will without topic", args: []string{"pub", "-t", "x", "-m", "a", "--will-qos", "1"}, wantCode: 2, wantStderr: `need --will-topic`},
		{name: "TLS flag without TLS", args: []string{"pub", "-t", "x", "-m", "a", "--insecure"}, wantCode: 2, wantStderr: `need a TLS protocol`},
		{name: "cert without key", args: []string{"pub", "-t", "x", "-m", "a", "-l", "mqtts", "--cert", "c.pem"}, wantCode: 2, wantStderr: `--cert and --key go together`},
		{name: "positional argument", args: []string{"pub", "-t", "x", "-m", "a", "extra"}, wantCode: 2, wantStderr: `unexpected argument "extra"`},
		{name: "keep session without id", args: []string{"sub", "-t", "x", "-c"}, wantCode: 2, wantStderr: `-c needs -i`},
		{name: "bad timeout", args: []string{"sub", "-t", "x", "-W", "soon"}, wantCode: 2, wantStderr: `"soon" is not a duration`},
		{name: "bad retain handling", args: []string{"sub", "-t", "x", "--retain-handling", "3"}, wantCode: 2, wantStderr: `--retain-handling 3`},
		{name: "bench bad size", args: []string{"bench", "-s", "-1"}, wantCode: 2, wantStderr: `-s -1`},
		{name: "bench bad concurrency", args: []string{"bench", "-c", "0"}, wantCode: 2, wantStderr: `-c 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// No broker: every case must end before connecting.
			r := runMQTT(testContext(t), "", tt.args...)
			if r.code != tt.wantCode {
				t.Errorf("exit status %d, want %d; stderr %q", r.code, tt.wantCode, r.stderr)
			}
			check := func(what, got, want string) {
				if want == "" {
					if got != "" {
						t.Errorf("%s = %q, want it empty", what, got)
					}
					return
				}
				if !regexp.MustCompile(want).MatchString(got) {
					t.Errorf("%s = %q, want a match for %q", what, got, want)
				}
			}
			check("stdout", r.stdout, tt.wantStdout)
			check("stderr", r.stderr, tt.wantStderr)
		})
	}
}

// TestUsageListsEveryFlag keeps the hand-written help in step with the
// flags: each flag a command accepts appears in its usage.
func TestUsageListsEveryFlag(t *testing.T) {
	t.Parallel()
	for _, c := range commands {
		fs, _ := c.flags()
		fs.VisitAll(func(f *flag.Flag) {
			want := "--" + f.Name
			if len(f.Name) == 1 {
				want = "-" + f.Name + ","
			}
			if !strings.Contains(c.usage, want) {
				t.Errorf("mqtt %s: flag %s is not in the usage", c.name, want)
			}
		})
		if !strings.HasPrefix(c.usage, "usage: mqtt "+c.name) {
			t.Errorf("mqtt %s: usage starts %q", c.name, c.usage[:min(len(c.usage), 30)])
		}
	}
}

func TestWantsHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"-h"}, true},
		{[]string{"-t", "x", "-h"}, true},
		{[]string{"-h", "-t", "x"}, true},
		{[]string{"-h", "broker", "-t", "x"}, false},
		{[]string{"--help", "-t", "x"}, true},
		{[]string{"-t", "x", "--", "-h"}, false},
		{[]string{"-h=broker"}, false},
	}
	for _, tt := range tests {
		if got := wantsHelp(tt.args); got != tt.want {
			t.Errorf("wantsHelp(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

func TestOneLine(t *testing.T) {
	t.Parallel()
	err := errorString("mqtt: connecting to mqtt://a:1883: refused\nmqtt: connecting to mqtt://b:1883: refused")
	want := "connecting to mqtt://a:1883: refused; connecting to mqtt://b:1883: refused"
	if got := oneLine(err); got != want {
		t.Errorf("oneLine = %q, want %q", got, want)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
