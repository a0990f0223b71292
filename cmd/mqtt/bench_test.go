package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

func TestBench(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		qos, size int
		ack       string // in the latency line; "" when there is none
	}{
		{name: "QoS 0", qos: 0, size: 64},
		{name: "QoS 1", qos: 1, size: 64, ack: "PUBACK"},
		{name: "QoS 2", qos: 2, size: 64, ack: "PUBCOMP"},
		{name: "untagged payload", qos: 1, size: 4, ack: "PUBACK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			ctx := testContext(t)
			r := runMQTT(ctx, "", "bench", "-L", srv.URL, "-i", "b", "-C", "200", "--publishers", "8",
				"-q", fmt.Sprint(tt.qos), "--size", fmt.Sprint(tt.size))
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit status %d, stderr %q", r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			want := fmt.Sprintf("bench: 200 messages of %d bytes, QoS %d, 8 publishers, topic \"culex/bench\", MQTT 5.0", tt.size, tt.qos)
			if lines[0] != want {
				t.Errorf("header %q, want %q", lines[0], want)
			}
			rateLine := regexp.MustCompile(`^(publish|end-to-end) +200 msgs +in \S+ +(\d+) msgs/s$`)
			wantLines := 3
			if tt.ack != "" {
				wantLines = 4
			}
			if len(lines) != wantLines {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), wantLines, r.stdout)
			}
			for _, l := range lines[1:3] {
				m := rateLine.FindStringSubmatch(l)
				if m == nil {
					t.Errorf("line %q does not match %v", l, rateLine)
					continue
				}
				if n, _ := strconv.Atoi(m[2]); n <= 0 {
					t.Errorf("line %q: rate %s", l, m[2])
				}
			}
			// The columns line up.
			if strings.Index(lines[1], "200") != strings.Index(lines[2], "200") {
				t.Errorf("columns not aligned:\n%s\n%s", lines[1], lines[2])
			}
			if tt.ack != "" {
				latency := regexp.MustCompile(`^latency +p50 (\S+) +p99 (\S+) +publish until ` + tt.ack + `$`)
				m := latency.FindStringSubmatch(lines[3])
				if m == nil {
					t.Fatalf("line %q does not match %v", lines[3], latency)
				}
				p50, err1 := time.ParseDuration(m[1])
				p99, err2 := time.ParseDuration(m[2])
				if err1 != nil || err2 != nil || p50 <= 0 || p99 < p50 {
					t.Errorf("p50 %s, p99 %s: want 0 < p50 <= p99", m[1], m[2])
				}
			}
			// Exactly the messages asked for were published, at -q.
			waitDisconnect(ctx, t, srv, "b-pub")
			ps := records(srv, "b-pub", mqtttest.FromClient, wire.PUBLISH)
			if len(ps) != 200 {
				t.Errorf("the broker got %d PUBLISH packets, want 200", len(ps))
			}
			for _, p := range ps {
				if p := p.(*wire.Publish); int(p.QoS) != tt.qos || len(p.Payload) != tt.size {
					t.Errorf("PUBLISH at QoS %d with %d bytes, want QoS %d and %d bytes", p.QoS, len(p.Payload), tt.qos, tt.size)
					break
				}
			}
		})
	}
}

// TestBenchIgnoresOtherMessages checks that the subscriber counts only the
// messages of its own run: a stranger's message on the topic does not
// complete the count early.
func TestBenchIgnoresOtherMessages(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	// Hold back every PUBLISH of the bench's publisher, and only that,
	// so that nothing of the run arrives.
	f := srv.Inject(func(r mqtttest.Record) bool {
		return r.Dir == mqtttest.FromClient && r.ClientID == "b-pub" && r.Packet.Type() == wire.PUBLISH
	}, mqtttest.Drop)
	defer f.Release()
	// A stranger publishes on the topic as soon as the bench subscribes.
	ctx := testContext(t)
	stranger := make(chan error, 1)
	go func() {
		_, err := srv.WaitPacket(ctx, func(r mqtttest.Record) bool {
			return r.ClientID == "b-sub" && r.Packet.Type() == wire.SUBACK
		})
		for i := 0; i < 5 && err == nil; i++ {
			err = srv.Publish(&wire.Publish{Topic: "culex/bench", Payload: []byte("not part of the run, twelve+ bytes")})
		}
		stranger <- err
	}()
	r := runMQTT(ctx, "", "bench", "-L", srv.URL, "-i", "b", "-C", "5", "-q", "0", "-W", "300ms")
	if err := <-stranger; err != nil {
		t.Fatalf("the stranger could not publish: %v", err)
	}
	want := "mqtt bench: only 0 of 5 messages arrived within 300ms (-W)\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("exit status %d, stderr %q; want 1 and %q", r.code, r.stderr, want)
	}
	if !regexp.MustCompile(`(?m)^end-to-end +0 msgs `).MatchString(r.stdout) {
		t.Errorf("stdout does not report 0 messages received:\n%s", r.stdout)
	}
}

func TestTally(t *testing.T) {
	t.Parallel()
	run := []byte("run-0001")
	msg := func(runID []byte, seq int) []byte {
		p := make([]byte, 16)
		tag(p, runID, seq)
		return p
	}
	tl := newTally(run, true, 3)
	steps := []struct {
		name    string
		payload []byte
		want    bool
	}{
		{"first", msg(run, 0), true},
		{"duplicate", msg(run, 0), false},
		{"second", msg(run, 2), true},
		{"another run", msg([]byte("run-0002"), 1), false},
		{"beyond the count", msg(run, 3), false},
		{"too short", []byte("run-0001"), false},
		{"third", msg(run, 1), true},
	}
	for _, s := range steps {
		if got := tl.add(s.payload); got != s.want {
			t.Errorf("%s: add = %v, want %v", s.name, got, s.want)
		}
	}
	untagged := newTally(run, false, 3)
	for i := range 2 { // the same payload twice: both count
		if !untagged.add([]byte("x")) {
			t.Errorf("an untagged tally did not count message %d", i+1)
		}
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for _, tt := range []struct {
		in   []time.Duration
		p    int
		want time.Duration
	}{
		{d, 50, 50}, {d, 99, 99}, {d, 100, 100}, {d[:1], 99, 1}, {d[:10], 50, 5}, {d[:10], 99, 10}, {nil, 50, 0},
	} {
		if got := percentile(tt.in, tt.p); got != tt.want {
			t.Errorf("percentile(%d values, %d) = %d, want %d", len(tt.in), tt.p, got, tt.want)
		}
	}
}
