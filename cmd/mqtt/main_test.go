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

// runMQTT runs the command line args in-process with stdin as its input
// and an empty environment.
func runMQTT(ctx context.Context, stdin string, args ...string) result {
	return runEnv(ctx, &env{stdin: strings.NewReader(stdin)}, args...)
}

// runEnv runs the command line args in-process in e, whose stdout and
// stderr it sets; a nil lookupEnv is an empty environment.
func runEnv(ctx context.Context, e *env, args ...string) result {
	var out, errOut bytes.Buffer
	e.stdout, e.stderr = &out, &errOut
	if e.stdin == nil {
		e.stdin = strings.NewReader("")
	}
	if e.lookupEnv == nil {
		e.lookupEnv = func(string) (string, bool) { return "", false }
	}
	code := e.run(ctx, args)
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
	args = append([]string{"sub", "-L", srv.URL, "-i", id}, args...)
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

// TestUsage runs command lines that must end before connecting: there is
// no broker, and a command that tried to connect would fail with exit
// status 1, not the 0 or 2 wanted.
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
		{name: "help", args: []string{"help"}, wantCode: 0, wantStdout: `(?s)pub .*sub .*req .*bench .*version`},
		{name: "--help", args: []string{"--help"}, wantCode: 0, wantStdout: `usage: mqtt <command>`},
		{name: "help pub", args: []string{"help", "pub"}, wantCode: 0, wantStdout: `^usage: mqtt pub`},
		{name: "help req", args: []string{"help", "req"}, wantCode: 0, wantStdout: `^usage: mqtt req`},
		{name: "help format", args: []string{"help", "format"}, wantCode: 0, wantStdout: `%t  topic`},
		{name: "help properties", args: []string{"help", "properties"}, wantCode: 0, wantStdout: `-D connect user-property`},
		{name: "help unknown", args: []string{"help", "nope"}, wantCode: 2, wantStderr: `no command or topic "nope"`},
		{name: "unknown command", args: []string{"publish"}, wantCode: 2, wantStderr: `(?s)^mqtt: unknown command "publish".*usage: mqtt <command>`},
		{name: "version", args: []string{"version"}, wantCode: 0, wantStdout: `^mqtt \S+.*, github.com/culex-mqtt/mqtt, go\S+ \w+/\w+\n$`},
		{name: "--version", args: []string{"--version"}, wantCode: 0, wantStdout: `^mqtt `},
		{name: "pub -h", args: []string{"pub", "-h"}, wantCode: 0, wantStdout: `^usage: mqtt pub`},
		{name: "sub -help", args: []string{"sub", "-help"}, wantCode: 0, wantStdout: `^usage: mqtt sub`},
		{name: "bench --help", args: []string{"bench", "--help"}, wantCode: 0, wantStdout: `^usage: mqtt bench`},
		{name: "MQTT.js -H", args: []string{"pub", "-H"}, wantCode: 0, wantStdout: `^usage: mqtt pub`},
		// -h followed by a flag asks for help rather than connecting to
		// the host "-t".
		{name: "-h before a flag", args: []string{"pub", "-h", "-t", "x"}, wantCode: 0, wantStdout: `^usage: mqtt pub`},
		{name: "unknown flag", args: []string{"pub", "-z"}, wantCode: 2,
			wantStderr: `(?s)^mqtt pub: flag provided but not defined: -z\nusage: mqtt pub .*Run 'mqtt help pub'`},
		{name: "missing -t", args: []string{"pub", "-m", "x"}, wantCode: 2,
			wantStderr: `(?s)^mqtt pub: -t is required.*\nusage: mqtt pub -t topic`},
		{name: "sub missing -t", args: []string{"sub"}, wantCode: 2, wantStderr: `^mqtt sub: -t is required`},
		{name: "req missing -t", args: []string{"req", "-m", "x"}, wantCode: 2, wantStderr: `^mqtt req: -t is required`},
		{name: "no message", args: []string{"pub", "-t", "x"}, wantCode: 2, wantStderr: `^mqtt pub: no message`},
		{name: "req no message", args: []string{"req", "-t", "x"}, wantCode: 2, wantStderr: `^mqtt req: no message`},
		{name: "-m and -s", args: []string{"pub", "-t", "x", "-m", "a", "-s"}, wantCode: 2, wantStderr: `-m, -f, -s, -l and -n each give the message`},
		{name: "-l and -n", args: []string{"pub", "-t", "x", "-l", "-n"}, wantCode: 2, wantStderr: `each give the message`},
		{name: "-f and -m", args: []string{"pub", "-t", "x", "-f", "x", "-m", "y"}, wantCode: 2, wantStderr: `each give the message`},
		{name: "-l and --repeat", args: []string{"pub", "-t", "x", "-l", "--repeat", "2"}, wantCode: 2, wantStderr: `--repeat with -l`},
		{name: "bad qos", args: []string{"pub", "-t", "x", "-m", "a", "-q", "3"}, wantCode: 2, wantStderr: `-q 3 is not a QoS`},
		{name: "qos not a number", args: []string{"pub", "-t", "x", "-m", "a", "-q", "one"}, wantCode: 2, wantStderr: `"one" is not a whole number`},
		{name: "bad repeat", args: []string{"pub", "-t", "x", "-m", "a", "--repeat", "0"}, wantCode: 2, wantStderr: `--repeat 0`},
		{name: "bad version", args: []string{"pub", "-t", "x", "-m", "a", "-V", "6"}, wantCode: 2, wantStderr: `-V "6" is not an MQTT version`},
		{name: "bad protocol", args: []string{"pub", "-t", "x", "-m", "a", "--protocol", "http"}, wantCode: 2, wantStderr: `--protocol "http" is not a protocol`},
		{name: "bad URL", args: []string{"pub", "-t", "x", "-m", "a", "-L", "http://h/"}, wantCode: 2, wantStderr: `the scheme "http" is not`},
		{name: "URLs name two topics", args: []string{"pub", "-m", "a", "-L", "mqtt://a/t1", "-L", "mqtt://b/t2"}, wantCode: 2, wantStderr: `different topics`},
		{name: "bad keepalive", args: []string{"pub", "-t", "x", "-m", "a", "-k", "-1"}, wantCode: 2, wantStderr: `-k -1`},
		{name: "bad user property", args: []string{"pub", "-t", "x", "-m", "a", "-D", "novalue"}, wantCode: 2, wantStderr: `KEY=VALUE`},
		{name: "-D short of values", args: []string{"pub", "-t", "x", "-m", "a", "-D", "publish", "user-property", "k"}, wantCode: 2, wantStderr: `needs 2 value`},
		{name: "-D unknown property", args: []string{"pub", "-t", "x", "-m", "a", "-D", "publish", "topic-alias", "3"}, wantCode: 2, wantStderr: `cannot set this property`},
		{name: "-D publish in sub", args: []string{"sub", "-t", "x", "-D", "publish", "content-type", "a"}, wantCode: 2, wantStderr: `publishes no message`},
		{name: "-D with 3.1.1", args: []string{"pub", "-t", "x", "-m", "a", "-V", "3.1.1", "-D", "k=v"}, wantCode: 2, wantStderr: `need MQTT 5.0`},
		{name: "will without topic", args: []string{"pub", "-t", "x", "-m", "a", "--will-qos", "1"}, wantCode: 2, wantStderr: `need --will-topic`},
		{name: "will topic wildcard", args: []string{"pub", "-t", "x", "-m", "a", "--will-topic", "a/#"}, wantCode: 2, wantStderr: `--will-topic: topic "a/#" contains a wildcard`},
		{name: "TLS flag without TLS", args: []string{"pub", "-t", "x", "-m", "a", "--insecure"}, wantCode: 2, wantStderr: `need a TLS protocol`},
		{name: "cert without key", args: []string{"pub", "-t", "x", "-m", "a", "--protocol", "mqtts", "--cert", "c.pem"}, wantCode: 2, wantStderr: `--cert and --key go together`},
		{name: "positional argument", args: []string{"pub", "-t", "x", "-m", "a", "extra"}, wantCode: 2, wantStderr: `unexpected argument "extra"`},
		{name: "keep session without id", args: []string{"sub", "-t", "x", "-c"}, wantCode: 2, wantStderr: `-c needs -i`},
		{name: "-x without -c", args: []string{"sub", "-t", "x", "-x", "60"}, wantCode: 2, wantStderr: `-x needs -c`},
		{name: "-x 0", args: []string{"sub", "-t", "x", "-c", "-i", "a", "-x", "0"}, wantCode: 2, wantStderr: `-x "0"`},
		{name: "-i and -I", args: []string{"sub", "-t", "x", "-i", "a", "-I", "b"}, wantCode: 2, wantStderr: `-i and -I`},
		{name: "two password sources", args: []string{"pub", "-t", "x", "-m", "a", "-P", "p", "--password-env", "PW"}, wantCode: 2, wantStderr: `use one`},
		{name: "password variable unset", args: []string{"pub", "-t", "x", "-m", "a", "--password-env", "PW"}, wantCode: 2, wantStderr: `PW is not set`},
		{name: "bad timeout", args: []string{"sub", "-t", "x", "-W", "soon"}, wantCode: 2, wantStderr: `"soon" is not a duration`},
		{name: "bad retain handling", args: []string{"sub", "-t", "x", "--retain-handling", "3"}, wantCode: 2, wantStderr: `--retain-handling 3`},
		{name: "-R and --retained-only", args: []string{"sub", "-t", "x", "-R", "--retained-only"}, wantCode: 2, wantStderr: `contradict`},
		{name: "bad -F", args: []string{"sub", "-t", "x", "-F", "%t %z"}, wantCode: 2, wantStderr: `%z is not a conversion`},
		{name: "-F %m", args: []string{"sub", "-t", "x", "-F", "%m"}, wantCode: 2, wantStderr: `not available`},
		{name: "-F and --json", args: []string{"sub", "-t", "x", "-F", "%t", "--json"}, wantCode: 2, wantStderr: `--json is -F %j`},
		{name: "req -e wildcard", args: []string{"req", "-t", "x", "-m", "a", "-e", "r/+"}, wantCode: 2, wantStderr: `-e: topic "r/\+" contains a wildcard`},
		{name: "req 3.1.1 without -e", args: []string{"req", "-t", "x", "-m", "a", "-V", "3.1.1"}, wantCode: 2, wantStderr: `give the topic the response comes on with -e`},
		{name: "bench bad size", args: []string{"bench", "--size", "-1"}, wantCode: 2, wantStderr: `--size -1`},
		{name: "bench bad publishers", args: []string{"bench", "--publishers", "0"}, wantCode: 2, wantStderr: `--publishers 0`},
		{name: "bench bad connections", args: []string{"bench", "--connections", "0"}, wantCode: 2, wantStderr: `--connections 0`},
		{name: "bench bad count", args: []string{"bench", "-C", "0"}, wantCode: 2, wantStderr: `-C 0`},

		// Topics the protocol forbids are found before connecting.
		{name: "pub wildcard +", args: []string{"pub", "-t", "a/+/b", "-m", "x"}, wantCode: 2, wantStderr: `^mqtt pub: -t: topic "a/\+/b" contains a wildcard`},
		{name: "pub wildcard #", args: []string{"pub", "-t", "a/#", "-m", "x"}, wantCode: 2, wantStderr: `^mqtt pub: -t: topic "a/#" contains a wildcard`},
		{name: "pub topic not UTF-8", args: []string{"pub", "-t", "a\xffb", "-m", "x"}, wantCode: 2, wantStderr: `^mqtt pub: -t: topic`},
		{name: "sub misplaced #", args: []string{"sub", "-t", "a/#/b"}, wantCode: 2, wantStderr: `^mqtt sub: -t: topic filter "a/#/b"`},
		{name: "sub misplaced +", args: []string{"sub", "-t", "a/b+"}, wantCode: 2, wantStderr: `^mqtt sub: -t: topic filter "a/b\+"`},
		{name: "sub bad -T", args: []string{"sub", "-t", "a", "-T", "a#"}, wantCode: 2, wantStderr: `^mqtt sub: -T: topic filter`},
		{name: "bench wildcard", args: []string{"bench", "-t", "a/#"}, wantCode: 2, wantStderr: `^mqtt bench: -t: topic "a/#"`},

		// Flags of MQTT.js, or of mqtt before it followed mosquitto,
		// that now mean something else or nothing: the message says
		// what to write instead.
		{name: "MQTT.js -C protocol", args: []string{"pub", "-C", "ws"}, wantCode: 2, wantStderr: `not defined: -C; the protocol is --protocol`},
		{name: "MQTT.js -l protocol", args: []string{"sub", "-l", "ws"}, wantCode: 2, wantStderr: `not defined: -l; the protocol is --protocol`},
		{name: "MQTT.js -M", args: []string{"pub", "-t", "x", "-M"}, wantCode: 2, wantStderr: `a message per line of standard input is -l`},
		{name: "old -U URL", args: []string{"pub", "-U", "mqtt://x"}, wantCode: 2, wantStderr: `the broker's URL is -L`},
		{name: "old -e expiry", args: []string{"pub", "-e", "10"}, wantCode: 2, wantStderr: `the message expiry is --message-expiry`},
		{name: "old bench -n", args: []string{"bench", "-n", "10"}, wantCode: 2, wantStderr: `the number of messages is -C`},
		{name: "old bench -c", args: []string{"bench", "-c", "10"}, wantCode: 2, wantStderr: `--publishers`},
		{name: "old bench -s", args: []string{"bench", "-s", "10"}, wantCode: 2, wantStderr: `--size`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := tt.args
			// The pub NUL case cannot be written in a Go string literal
			// of the table without becoming the real byte; spell it out.
			for i, a := range args {
				args[i] = strings.ReplaceAll(a, `\x00`, "\x00")
			}
			// No broker: every case must end before connecting.
			r := runMQTT(testContext(t), "", args...)
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

// TestHelpListsEveryFlag keeps the help in step with the flags: each flag a
// command accepts, under each of its names, is in the command's help and
// in the table of "mqtt help".
func TestHelpListsEveryFlag(t *testing.T) {
	t.Parallel()
	all := runMQTT(testContext(t), "", "help").stdout
	for _, c := range commands {
		usage := c.usage()
		if !strings.HasPrefix(usage, "usage: mqtt "+c.name) {
			t.Errorf("mqtt %s: usage starts %q", c.name, usage[:min(len(usage), 30)])
		}
		fs, _ := c.flags()
		fs.VisitAll(func(f *flag.Flag) {
			want := dashed(f.Name)
			if len(f.Name) == 1 {
				want += ","
			}
			if !strings.Contains(usage, want) {
				t.Errorf("mqtt %s: flag %s is not in its help", c.name, want)
			}
			if !strings.Contains(all, want) {
				t.Errorf("mqtt help: flag %s of %s is not in the table", want, c.name)
			}
		})
	}
}

// TestFlagsKeepMosquittosMeaning checks the rule the flags follow on a few
// short flags that clashed before: where mosquitto_pub, mosquitto_sub or
// mosquitto_rr define a short flag, the command that has it means the same.
func TestFlagsKeepMosquittosMeaning(t *testing.T) {
	t.Parallel()
	want := map[string]map[string]string{ // command, flag, a word of its help
		"pub":   {"l": "each line", "n": "empty", "s": "standard input", "f": "FILE", "c": "session", "L": "URL", "d": "packet", "D": "property"},
		"sub":   {"C": "after N messages", "U": "unsubscribe", "T": "match", "R": "retained", "N": "line ending", "F": "FORMAT", "E": "subscribed", "c": "session"},
		"req":   {"e": "response", "W": "response", "n": "empty"},
		"bench": {"C": "messages", "W": "D"},
	}
	for _, c := range commands {
		fs, _ := c.flags()
		for name, word := range want[c.name] {
			spec := fs.byName[name]
			if spec == nil {
				t.Errorf("mqtt %s has no -%s", c.name, name)
				continue
			}
			if spec.origin&mosquittoFlag == 0 || !strings.Contains(spec.help+spec.arg, word) {
				t.Errorf("mqtt %s -%s: origin %q, help %q; want mosquitto's meaning (%q)", c.name, name, spec.origin.tag(), spec.help, word)
			}
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
