package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
	"github.com/google/go-cmp/cmp"
)

// TestBench runs small benchmarks against the fake broker and checks the
// report line by line, and that exactly the messages asked for were
// published, at -q, spread over the connections.
func TestBench(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		qos, size   int
		connections int
		ack         string // in the publish latency line; "" when there is none
		e2e         bool   // an end-to-end latency line and its histogram
	}{
		{name: "QoS 0", qos: 0, size: 64, connections: 1, e2e: true},
		{name: "QoS 1", qos: 1, size: 64, connections: 1, ack: "PUBACK", e2e: true},
		{name: "QoS 2", qos: 2, size: 64, connections: 1, ack: "PUBCOMP", e2e: true},
		{name: "untagged payload", qos: 1, size: 4, connections: 1, ack: "PUBACK"},
		{name: "three connections", qos: 1, size: 16, connections: 3, ack: "PUBACK", e2e: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			ctx := testContext(t)
			r := runMQTT(ctx, "", "bench", "-L", srv.URL, "-i", "b", "-C", "200", "--publishers", "8",
				"--connections", fmt.Sprint(tt.connections), "-q", fmt.Sprint(tt.qos), "--size", fmt.Sprint(tt.size))
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit status %d, stderr %q", r.code, r.stderr)
			}
			report, hist, _ := strings.Cut(r.stdout, "\n\n")
			lines := strings.Split(report, "\n")
			conns := "1 connection"
			if tt.connections > 1 {
				conns = fmt.Sprintf("%d connections", tt.connections)
			}
			want := fmt.Sprintf("bench: 200 messages of %d bytes, QoS %d, 8 publishers on %s, topic \"culex/bench\", MQTT 5.0", tt.size, tt.qos, conns)
			if lines[0] != want {
				t.Errorf("header %q, want %q", lines[0], want)
			}
			wantLines := []*regexp.Regexp{
				regexp.MustCompile(`^publish +200 msgs +in \S+ +(\d+) msgs/s$`),
				regexp.MustCompile(`^end-to-end +200 msgs +in \S+ +(\d+) msgs/s$`),
			}
			latency := `^latency +p50 (\S+) +p90 (\S+) +p99 (\S+) +max (\S+) +`
			if tt.ack != "" {
				wantLines = append(wantLines, regexp.MustCompile(latency+`publish until `+tt.ack+`$`))
			}
			if tt.e2e {
				wantLines = append(wantLines, regexp.MustCompile(latency+`publish until received$`))
			}
			wantLines = append(wantLines, regexp.MustCompile(`^memory +\d+\.\d allocs/msg, \d+ B/msg \(both clients, this process\)$`))
			if len(lines) != 1+len(wantLines) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), 1+len(wantLines), r.stdout)
			}
			for i, re := range wantLines {
				l := lines[i+1]
				m := re.FindStringSubmatch(l)
				if m == nil {
					t.Errorf("line %q does not match %v", l, re)
					continue
				}
				if i < 2 {
					if n, _ := strconv.Atoi(m[1]); n <= 0 {
						t.Errorf("line %q: rate %s", l, m[1])
					}
					continue
				}
				if strings.HasPrefix(l, "latency") {
					checkPercentiles(t, l, m[1:5])
				}
			}
			// The columns line up.
			if strings.Index(lines[1], "200") != strings.Index(lines[2], "200") {
				t.Errorf("columns not aligned:\n%s\n%s", lines[1], lines[2])
			}
			what := "end-to-end latency of 200 messages:\n"
			if !tt.e2e {
				what = "publish latency of 200 messages:\n"
			}
			if !strings.HasPrefix(hist, what) {
				t.Errorf("after the report %q, want a histogram of %q", hist, what)
			}

			sum := 0
			for i := 1; i <= tt.connections; i++ {
				id := fmt.Sprintf("b-pub-%d", i)
				waitDisconnect(ctx, t, srv, id)
				ps := records(srv, id, mqtttest.FromClient, wire.PUBLISH)
				if tt.connections > 1 && len(ps) == 0 {
					t.Errorf("%s published nothing: the publishers did not take turns on the connections", id)
				}
				sum += len(ps)
				for _, p := range ps {
					if p := p.(*wire.Publish); int(p.QoS) != tt.qos || len(p.Payload) != tt.size {
						t.Errorf("PUBLISH at QoS %d with %d bytes, want QoS %d and %d bytes", p.QoS, len(p.Payload), tt.qos, tt.size)
						break
					}
				}
			}
			if sum != 200 {
				t.Errorf("the broker got %d PUBLISH packets, want 200", sum)
			}
		})
	}
}

// checkPercentiles checks that the latencies of a line are durations in
// order.
func checkPercentiles(t *testing.T, line string, s []string) {
	t.Helper()
	var prev time.Duration
	for _, v := range s {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d < prev {
			t.Errorf("line %q: want 0 < p50 <= p90 <= p99 <= max", line)
			return
		}
		prev = d
	}
}

// TestBenchJSON checks --json: one object with the fields its help
// promises, consistent with each other.
func TestBenchJSON(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	r := runMQTT(testContext(t), "", "bench", "-L", srv.URL, "-C", "50", "-q", "1", "--json", "--connections", "2")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit status %d, stderr %q", r.code, r.stderr)
	}
	if strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("stdout is %q, want one line", r.stdout)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v: %q", err, r.stdout)
	}
	want := map[string]any{"messages": 50.0, "size": 64.0, "qos": 1.0, "publishers": 16.0, "connections": 2.0,
		"topic": "culex/bench", "mqtt": "5.0", "sent": 50.0, "received": 50.0, "complete": true, "dropped": 0.0}
	for k, v := range want {
		if diff := cmp.Diff(v, got[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	for _, k := range []string{"publish_seconds", "publish_rate", "end_to_end_seconds", "end_to_end_rate", "allocs_per_msg", "bytes_per_msg"} {
		if v, ok := got[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive number", k, got[k])
		}
	}
	for _, k := range []string{"publish_latency_ms", "end_to_end_latency_ms"} {
		l, ok := got[k].(map[string]any)
		if !ok {
			t.Errorf("%s = %v, want an object", k, got[k])
			continue
		}
		if !(l["p50"].(float64) > 0 && l["p50"].(float64) <= l["p90"].(float64) && l["p90"].(float64) <= l["p99"].(float64) && l["p99"].(float64) <= l["max"].(float64)) {
			t.Errorf("%s = %v, want 0 < p50 <= p90 <= p99 <= max", k, l)
		}
	}
	if _, ok := got["error"]; ok {
		t.Errorf("error = %v in a complete run", got["error"])
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
		return r.Dir == mqtttest.FromClient && r.ClientID == "b-pub-1" && r.Packet.Type() == wire.PUBLISH
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

// TestBenchPartial checks that a run cut short by -W reports what it
// measured: here two of four QoS 1 messages are acknowledged and arrive,
// the other two never are, and the report and the JSON say so.
func TestBenchPartial(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	n := 0
	f := srv.Inject(func(r mqtttest.Record) bool {
		if r.Dir != mqtttest.FromClient || r.ClientID != "b-pub-1" || r.Packet.Type() != wire.PUBLISH {
			return false
		}
		n++ // the filter runs on the connection's goroutine, one at a time
		return n > 2
	}, mqtttest.Drop)
	defer f.Release()
	ctx := testContext(t)
	r := runMQTT(ctx, "", "bench", "-L", srv.URL, "-i", "b", "-C", "4", "--publishers", "1", "-q", "1", "-W", "500ms")
	want := "mqtt bench: only 2 of 4 messages arrived within 500ms (-W)\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("exit status %d, stderr %q; want 1 and %q", r.code, r.stderr, want)
	}
	for _, re := range []string{`(?m)^publish +2 msgs `, `(?m)^end-to-end +2 msgs `, `(?m)^latency +p50 .* publish until PUBACK$`} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("stdout does not match %s:\n%s", re, r.stdout)
		}
	}
	// The publisher left with DISCONNECT, without waiting for the
	// acknowledgements that were not coming.
	waitDisconnect(ctx, t, srv, "b-pub-1")

	r = runMQTT(ctx, "", "bench", "-L", srv.URL, "-i", "b", "-C", "4", "--publishers", "1", "-q", "1", "-W", "300ms", "--json")
	var got struct {
		Sent, Received int
		Complete       bool
		Error          string
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v: %q", err, r.stdout)
	}
	// The filter lets no PUBLISH of this second run through.
	if r.code != 1 || got.Sent != 0 || got.Received != 0 || got.Complete || got.Error != "timed out after 300ms" {
		t.Errorf("--json: exit status %d, %+v; want 1, nothing sent or received, and the timeout", r.code, got)
	}
}

// TestBenchProgress checks the live line on a terminal: it is drawn on
// stderr, over itself, and erased at the end; stdout has the report only.
func TestBenchProgress(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	r := runEnv(testContext(t), &env{terminal: true}, "bench", "-L", srv.URL, "-C", "20", "-q", "1")
	if r.code != 0 {
		t.Fatalf("exit status %d, stderr %q", r.code, r.stderr)
	}
	if !regexp.MustCompile(`^\r\d+/20 sent  \d+ received  \S+ msgs/s  \S+\x1b\[K`).MatchString(r.stderr) ||
		!strings.HasSuffix(r.stderr, "\r\x1b[K") {
		t.Errorf("stderr %q, want progress lines ending erased", r.stderr)
	}
	if strings.Contains(r.stdout, "\r") {
		t.Errorf("stdout %q has progress in it", r.stdout)
	}
	// Not on a terminal, nothing.
	if r := runMQTT(testContext(t), "", "bench", "-L", srv.URL, "-C", "20"); r.stderr != "" {
		t.Errorf("stderr %q off a terminal, want nothing", r.stderr)
	}
}

func TestHistogram(t *testing.T) {
	t.Parallel()
	var d []time.Duration
	for range 6 {
		d = append(d, 150*time.Microsecond)
	}
	for range 3 {
		d = append(d, 400*time.Microsecond)
	}
	d = append(d, 3*time.Millisecond)
	got := histogram(d, 12)
	want := "" +
		"≤ 200µs  6   60.0%  ████████████\n" +
		"≤ 500µs  3   30.0%  ██████\n" +
		"  ≤ 1ms  0    0.0%\n" +
		"  ≤ 2ms  0    0.0%\n" +
		"  ≤ 5ms  1   10.0%  ██\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("histogram (-want +got):\n%s", diff)
	}
	// A bucket far smaller than the largest still shows.
	d = make([]time.Duration, 1000)
	for i := range d {
		d[i] = time.Millisecond
	}
	d = append(d, 2*time.Millisecond)
	if got := histogram(d, 10); !strings.Contains(got, "≤ 2ms     1    0.1%  ▏\n") {
		t.Errorf("histogram:\n%s\nwant the bucket of one message shown", got)
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
		seq     int
	}{
		{"first", msg(run, 0), true, 0},
		{"duplicate", msg(run, 0), false, 0},
		{"second", msg(run, 2), true, 2},
		{"another run", msg([]byte("run-0002"), 1), false, 0},
		{"beyond the count", msg(run, 3), false, 0},
		{"too short", []byte("run-0001"), false, 0},
		{"third", msg(run, 1), true, 1},
	}
	for _, s := range steps {
		if seq, got := tl.add(s.payload); got != s.want || seq != s.seq {
			t.Errorf("%s: add = %d, %v, want %d, %v", s.name, seq, got, s.seq, s.want)
		}
	}
	untagged := newTally(run, false, 3)
	for i := range 2 { // the same payload twice: both count
		if _, ok := untagged.add([]byte("x")); !ok {
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
		{d, 50, 50}, {d, 90, 90}, {d, 99, 99}, {d, 100, 100}, {d[:1], 99, 1}, {d[:10], 50, 5}, {d[:10], 99, 10}, {nil, 50, 0},
	} {
		if got := percentile(tt.in, tt.p); got != tt.want {
			t.Errorf("percentile(%d values, %d) = %d, want %d", len(tt.in), tt.p, got, tt.want)
		}
	}
}
