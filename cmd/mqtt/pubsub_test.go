package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
	"github.com/google/go-cmp/cmp"
)

// TestRoundTrip publishes with "mqtt pub" to a running "mqtt sub" at each
// QoS and protocol version.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		qos     byte
		version string // -V; "" for the default
	}{
		{name: "QoS 0", qos: 0},
		{name: "QoS 1", qos: 1},
		{name: "QoS 2", qos: 2},
		{name: "QoS 1 MQTT 3.1.1", qos: 1, version: "3.1.1"},
		{name: "QoS 2 MQTT 3.1", qos: 2, version: "3.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			ctx := testContext(t)
			q := fmt.Sprint(tt.qos)
			var v []string
			if tt.version != "" {
				v = []string{"-V", tt.version}
			}
			done := startSub(ctx, t, srv, "sub1", append([]string{"-t", "test/topic", "-q", q, "-C", "1"}, v...)...)
			pub := runMQTT(ctx, "", append([]string{"pub", "-L", srv.URL, "-i", "pub1", "-t", "test/topic", "-m", "hello world", "-q", q}, v...)...)
			if pub.code != 0 || pub.stdout != "" || pub.stderr != "" {
				t.Errorf("pub: exit status %d, stdout %q, stderr %q; want 0 and silence", pub.code, pub.stdout, pub.stderr)
			}
			sub := wait(t, done)
			if sub.code != 0 || sub.stdout != "hello world\n" || sub.stderr != "" {
				t.Errorf("sub: exit status %d, stdout %q, stderr %q; want 0 and the payload", sub.code, sub.stdout, sub.stderr)
			}

			// Both commands ended with DISCONNECT rather than just
			// closing, and the broker saw the message at the QoS of -q.
			waitDisconnect(ctx, t, srv, "sub1")
			waitDisconnect(ctx, t, srv, "pub1")
			ps := records(srv, "pub1", mqtttest.FromClient, wire.PUBLISH)
			if len(ps) != 1 || ps[0].(*wire.Publish).QoS != tt.qos {
				t.Errorf("the broker got %v from pub, want one PUBLISH at QoS %d", ps, tt.qos)
			}
		})
	}
}

// TestSubVerbose checks -v's "topic payload" lines, with two -t filters.
func TestSubVerbose(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := testContext(t)
	done := startSub(ctx, t, srv, "sub1", "-t", "a/+", "-t", "b", "-v", "-C", "2", "-q", "1")
	for _, m := range [][2]string{{"a/x", "one"}, {"b", "two words"}} {
		if r := runMQTT(ctx, "", "pub", "-L", srv.URL, "-t", m[0], "-m", m[1], "-q", "1"); r.code != 0 {
			t.Fatalf("pub: exit status %d: %s", r.code, r.stderr)
		}
	}
	r := wait(t, done)
	if want := "a/x one\nb two words\n"; r.code != 0 || r.stdout != want {
		t.Errorf("exit status %d, stdout %q; want 0 and %q", r.code, r.stdout, want)
	}
}

// TestPubCount checks that --repeat publishes the message that many times,
// and no more.
func TestPubCount(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := testContext(t)
	done := startSub(ctx, t, srv, "sub1", "-t", "n", "-C", "3", "-q", "1")
	if r := runMQTT(ctx, "", "pub", "-L", srv.URL, "-i", "pub1", "-t", "n", "-m", "again", "--repeat", "3", "-q", "1"); r.code != 0 {
		t.Fatalf("pub: exit status %d: %s", r.code, r.stderr)
	}
	if r := wait(t, done); r.stdout != "again\nagain\nagain\n" {
		t.Errorf("sub printed %q, want three messages", r.stdout)
	}
	waitDisconnect(ctx, t, srv, "pub1")
	if n := len(records(srv, "pub1", mqtttest.FromClient, wire.PUBLISH)); n != 3 {
		t.Errorf("the broker got %d PUBLISH packets, want 3", n)
	}
}

// TestRetained publishes a retained message with nobody listening; a later
// sub receives it.
func TestRetained(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := testContext(t)
	if r := runMQTT(ctx, "", "pub", "-L", srv.URL, "-t", "status/door", "-m", "open", "-r", "-q", "1"); r.code != 0 {
		t.Fatalf("pub: exit status %d: %s", r.code, r.stderr)
	}
	r := runMQTT(ctx, "", "sub", "-L", srv.URL, "-t", "status/#", "-v", "-C", "1", "-W", "10s")
	if r.code != 0 || r.stdout != "status/door open\n" {
		t.Errorf("sub: exit status %d, stdout %q, stderr %q; want the retained message", r.code, r.stdout, r.stderr)
	}
	// --retain-handling 2: no retained messages on subscribe.
	r = runMQTT(ctx, "", "sub", "-L", srv.URL, "-t", "status/#", "--retain-handling", "2", "-C", "1", "-W", "200ms")
	if r.code != 1 || r.stdout != "" {
		t.Errorf("sub --retain-handling 2: exit status %d, stdout %q; want 1 and nothing", r.code, r.stdout)
	}
}

// TestPubStdin checks that -s sends standard input, all of it, byte for
// byte, as one message.
func TestPubStdin(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	input := "line 1\nline 2\n\x00\xff binary\n"
	ctx := testContext(t)
	ps := publishRecorded(ctx, t, srv, input, "-t", "in", "-s", "-q", "1")
	if len(ps) != 1 {
		t.Fatalf("the broker got %d PUBLISH packets, want 1", len(ps))
	}
	if diff := cmp.Diff(input, string(ps[0].(*wire.Publish).Payload)); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}

// TestPubLines checks that -l, and MQTT.js's --multiline, publish each
// line of standard input as a message, in order, without its "\n" (but
// with a "\r" before it), an empty line as an empty message, the last line
// without a line ending too: what mosquitto_pub -l does (see
// TestInteropPub).
func TestPubLines(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"-l", "--multiline", "--stdin-line"} {
		t.Run(flag, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			ctx := testContext(t)
			ps := publishRecorded(ctx, t, srv, "one\ntwo \r\n\n\x00three", "-t", "lines", flag, "-q", "2")
			var got []string
			for _, p := range ps {
				got = append(got, string(p.(*wire.Publish).Payload))
			}
			if diff := cmp.Diff([]string{"one", "two \r", "", "\x00three"}, got); diff != "" {
				t.Errorf("payloads (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPubProperties checks the MQTT 5.0 message property flags.
func TestPubProperties(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := testContext(t)
	ps := publishRecorded(ctx, t, srv, "", "-t", "req", "-m", "{}", "-q", "1",
		"--message-expiry", "90s", "--content-type", "application/json", "--payload-utf8",
		"--response-topic", "resp/1", "--correlation-data", "c-42")
	if len(ps) != 1 {
		t.Fatalf("the broker got %d PUBLISH packets, want 1", len(ps))
	}
	got := ps[0].(*wire.Publish).Properties
	ninety := uint32(90)
	want := &wire.Properties{MessageExpiry: &ninety, ContentType: "application/json", PayloadFormat: 1,
		ResponseTopic: "resp/1", CorrelationData: []byte("c-42")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("properties (-want +got):\n%s", diff)
	}
	if r := runMQTT(ctx, "", "pub", "-L", srv.URL, "-t", "req", "-m", "x", "--message-expiry", "500ms"); r.code != 2 {
		t.Errorf("--message-expiry 500ms: exit status %d, want 2 (usage): %s", r.code, r.stderr)
	}
}

// TestPubEmptyMessage checks that -m "" sends an empty payload, with which
// -r clears a retained message.
func TestPubEmptyMessage(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := testContext(t)
	ps := publishRecorded(ctx, t, srv, "", "-t", "e", "-m", "", "-r")
	if len(ps) != 1 || len(ps[0].(*wire.Publish).Payload) != 0 || !ps[0].(*wire.Publish).Retain {
		t.Errorf("the broker got %v, want one empty retained PUBLISH", ps)
	}
}

// TestPubUserProperties checks -D, in its short form and in mosquitto's,
// on MQTT 5.0, and that a broker that speaks only 3.1.1 gets nothing.
func TestPubUserProperties(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := testContext(t)
	ps := publishRecorded(ctx, t, srv, "", "-t", "p", "-m", "x", "-D", "unit=C", "-D", "src=a=b",
		"-D", "publish", "user-property", "long form", "with spaces", "--property", "publish", "content-type", "text/plain")
	if len(ps) != 1 || ps[0].(*wire.Publish).Properties == nil {
		t.Fatalf("the broker got %v, want one PUBLISH with properties", ps)
	}
	want := &wire.Properties{ContentType: "text/plain", UserProperties: []wire.UserProperty{
		{Key: "unit", Value: "C"}, {Key: "src", Value: "a=b"}, {Key: "long form", Value: "with spaces"}}}
	if diff := cmp.Diff(want, ps[0].(*wire.Publish).Properties); diff != "" {
		t.Errorf("properties (-want +got):\n%s", diff)
	}
	old := newServer(t, mqtttest.Versions(wire.V311))
	r := runMQTT(ctx, "", "pub", "-L", old.URL, "-t", "p", "-m", "x", "-D", "unit=C")
	if r.code != 1 || !strings.Contains(r.stderr, "MQTT 5.0") {
		t.Errorf("-D to a 3.1.1 broker: exit status %d, stderr %q; want 1 and a word about MQTT 5.0", r.code, r.stderr)
	}
	for _, p := range old.Packets() {
		if p.Packet.Type() == wire.PUBLISH {
			t.Errorf("the 3.1.1 broker got a PUBLISH: %v", p.Packet)
		}
	}
}

// TestUsageErrorBeforeConnecting checks that mistakes the command line
// shows, a topic the protocol forbids among them, end the command with
// exit status 2 before it connects: the broker sees no connection.
func TestUsageErrorBeforeConnecting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{name: "pub wildcard +", args: []string{"pub", "-t", "a/+/b", "-m", "x"}},
		{name: "pub wildcard #", args: []string{"pub", "-t", "sensors/#", "-m", "x"}},
		{name: "sub misplaced #", args: []string{"sub", "-t", "a/#/b"}},
		{name: "sub misplaced +", args: []string{"sub", "-t", "a/b+"}},
		{name: "req response topic", args: []string{"req", "-t", "a", "-m", "x", "-e", "b/#"}},
		{name: "will topic", args: []string{"sub", "-t", "a", "--will-topic", "+"}},
		{name: "bench topic", args: []string{"bench", "-t", "#"}},
		{name: "bad -F", args: []string{"sub", "-t", "a", "-F", "%m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			args := append(append([]string{}, tt.args...), "-L", srv.URL, "-i", "c1")
			r := runMQTT(testContext(t), "", args...)
			if r.code != 2 || !strings.Contains(r.stderr, "\nusage: mqtt ") {
				t.Errorf("exit status %d, stderr %q; want 2 and the usage", r.code, r.stderr)
			}
			if n := len(srv.Packets()); n != 0 {
				t.Errorf("the broker saw %d packets, want none", n)
			}
		})
	}
}

// TestSubTimeout checks -W: with -C, an error when the messages did not
// come; without it, a normal end.
func TestSubTimeout(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := testContext(t)
	r := runMQTT(ctx, "", "sub", "-L", srv.URL, "-t", "quiet", "-C", "1", "-W", "100ms")
	if want := "mqtt sub: timed out after 100ms with 0 of 1 messages\n"; r.code != 1 || r.stderr != want {
		t.Errorf("-C 1 -W 100ms: exit status %d, stderr %q; want 1 and %q", r.code, r.stderr, want)
	}
	r = runMQTT(ctx, "", "sub", "-L", srv.URL, "-t", "quiet", "--timeout", "0.1")
	if r.code != 0 || r.stderr != "" {
		t.Errorf("-W 0.1: exit status %d, stderr %q; want 0", r.code, r.stderr)
	}
}

// TestSubInterrupt stops a sub by its context, as SIGINT does: it exits 0
// after a DISCONNECT.
func TestSubInterrupt(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx, cancel := context.WithCancel(testContext(t))
	done := startSub(ctx, t, srv, "sub1", "-t", "forever")
	cancel()
	r := wait(t, done)
	if r.code != 0 || r.stderr != "" {
		t.Errorf("exit status %d, stderr %q; want 0", r.code, r.stderr)
	}
	waitDisconnect(testContext(t), t, srv, "sub1")
}

// TestSubKeepSession checks -c: a QoS 1 message published while the
// subscriber is away is delivered when it comes back with the same -i.
func TestSubKeepSession(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := testContext(t)
	r := runMQTT(ctx, "", "sub", "-L", srv.URL, "-i", "keeper", "-c", "-t", "jobs", "-q", "1", "-W", "10ms")
	if r.code != 0 {
		t.Fatalf("first sub: exit status %d: %s", r.code, r.stderr)
	}
	if r := runMQTT(ctx, "", "pub", "-L", srv.URL, "-t", "jobs", "-m", "while you were away", "-q", "1"); r.code != 0 {
		t.Fatalf("pub: exit status %d: %s", r.code, r.stderr)
	}
	r = runMQTT(ctx, "", "sub", "-L", srv.URL, "-i", "keeper", "-c", "-t", "jobs", "-q", "1", "-C", "1", "-W", "10s")
	if r.code != 0 || r.stdout != "while you were away\n" {
		t.Errorf("second sub: exit status %d, stdout %q, stderr %q; want the queued message", r.code, r.stdout, r.stderr)
	}
	for _, c := range records(srv, "keeper", mqtttest.FromClient, wire.CONNECT) {
		if c.(*wire.Connect).CleanStart {
			t.Error("a CONNECT of sub -c asked for a clean start")
		}
	}
}

// TestSubReconnect cuts the subscriber's connection: sub says so on stderr,
// reconnects, subscribes again (its clean session is gone) and receives
// what is published after.
func TestSubReconnect(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := testContext(t)
	done := startSub(ctx, t, srv, "sub1", "-t", "news", "-q", "1", "-C", "1")
	srv.CloseClientConnections()
	n := 0
	if _, err := srv.WaitPacket(ctx, func(r mqtttest.Record) bool {
		if r.ClientID == "sub1" && r.Dir == mqtttest.ToClient && r.Packet.Type() == wire.SUBACK {
			n++
		}
		return n == 2
	}); err != nil {
		t.Fatalf("waiting for sub to subscribe again: %v", err)
	}
	if r := runMQTT(ctx, "", "pub", "-L", srv.URL, "-t", "news", "-m", "after the cut", "-q", "1"); r.code != 0 {
		t.Fatalf("pub: exit status %d: %s", r.code, r.stderr)
	}
	r := wait(t, done)
	if r.code != 0 || r.stdout != "after the cut\n" {
		t.Errorf("exit status %d, stdout %q; want 0 and the message", r.code, r.stdout)
	}
	if !regexp.MustCompile(`^mqtt sub: connection lost: .*; reconnecting in \S+ \(attempt 1\)\n$`).MatchString(r.stderr) {
		t.Errorf("stderr %q, want one line about reconnecting", r.stderr)
	}
}

// TestSubNoReconnect checks that --no-reconnect makes a lost connection the
// end, with exit status 1.
func TestSubNoReconnect(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := testContext(t)
	done := startSub(ctx, t, srv, "sub1", "-t", "news", "--no-reconnect")
	srv.CloseClientConnections()
	r := wait(t, done)
	if r.code != 1 || !strings.Contains(r.stderr, "connection lost") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("exit status %d, stderr %q; want 1 and one line saying the connection was lost", r.code, r.stderr)
	}
}

// TestPubConnectionLost checks that pub fails, rather than waits, when the
// broker cuts the connection before acknowledging.
func TestPubConnectionLost(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Inject(func(r mqtttest.Record) bool {
		return r.Dir == mqtttest.FromClient && r.Packet.Type() == wire.PUBLISH
	}, mqtttest.CloseConn)
	r := runMQTT(testContext(t), "", "pub", "-L", srv.URL, "-t", "x", "-m", "y", "-q", "1")
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("exit status %d, stderr %q; want 1 and one line", r.code, r.stderr)
	}
}

// publishRecorded runs mqtt pub as client pub1 against srv with stdin and
// args, checks that it succeeds and disconnects, and returns the PUBLISH
// packets the broker received from it.
func publishRecorded(ctx context.Context, t *testing.T, srv *mqtttest.Server, stdin string, args ...string) []wire.Packet {
	t.Helper()
	r := runMQTT(ctx, stdin, append([]string{"pub", "-L", srv.URL, "-i", "pub1"}, args...)...)
	if r.code != 0 {
		t.Fatalf("exit status %d: %s", r.code, r.stderr)
	}
	waitDisconnect(ctx, t, srv, "pub1")
	return records(srv, "pub1", mqtttest.FromClient, wire.PUBLISH)
}

// TestSubUnsubscribeOnly checks -U without -t: sub unsubscribes (from a
// kept session, typically) and exits, subscribing to nothing.
func TestSubUnsubscribeOnly(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := testContext(t)
	r := runMQTT(ctx, "", "sub", "-L", srv.URL, "-i", "u1", "-c", "-U", "old/#", "-U", "older")
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("exit status %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	waitDisconnect(ctx, t, srv, "u1")
	us := records(srv, "u1", mqtttest.FromClient, wire.UNSUBSCRIBE)
	if len(us) != 1 || !cmp.Equal(us[0].(*wire.Unsubscribe).Topics, []string{"old/#", "older"}) {
		t.Errorf("UNSUBSCRIBE %v, want one for old/# and older", us)
	}
	if n := len(records(srv, "u1", mqtttest.FromClient, wire.SUBSCRIBE)); n != 0 {
		t.Errorf("%d SUBSCRIBE packets, want none", n)
	}
}

// TestQuiet checks --quiet: a failure says nothing, but its exit status;
// a mistake on the command line is still explained.
func TestQuiet(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	r := runMQTT(ctx, "", "pub", "-L", closedPortURL(t), "-t", "x", "-m", "y", "--quiet")
	if r.code != 1 || r.stderr != "" {
		t.Errorf("exit status %d, stderr %q; want 1 and nothing", r.code, r.stderr)
	}
	r = runMQTT(ctx, "", "pub", "-t", "x", "--quiet")
	if r.code != 2 || !strings.Contains(r.stderr, "no message") {
		t.Errorf("exit status %d, stderr %q; want 2 and the mistake", r.code, r.stderr)
	}
}
