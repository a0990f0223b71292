package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// responder answers the requests on topic until the test ends: first, when
// decoy is set, with a message of other correlation data, which a
// requester must skip, then with "re: " and the request's payload, to the
// request's response topic, or to fixedTopic when it is set (MQTT 3.1.1
// has no response topic). It returns once subscribed.
func responder(t *testing.T, url, topic, fixedTopic string, decoy bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := mqtt.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Subscribe(ctx, mqtt.Filter{Topic: topic, QoS: mqtt.QoS1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
		c.Close()
	})
	go func() {
		defer close(done)
		for {
			m, err := s.Next(ctx)
			if err != nil {
				return
			}
			resp := mqtt.Message{Topic: m.ResponseTopic, Payload: append([]byte("re: "), m.Payload...), QoS: mqtt.QoS1,
				CorrelationData: m.CorrelationData, ContentType: "text/plain"}
			if fixedTopic != "" {
				resp = mqtt.Message{Topic: fixedTopic, Payload: resp.Payload, QoS: mqtt.QoS1} // 3.1.1: no properties
			}
			if decoy {
				c.Publish(ctx, mqtt.Message{Topic: resp.Topic, Payload: []byte("not yours"), QoS: mqtt.QoS1, CorrelationData: []byte("someone else")})
			}
			if err := c.Publish(ctx, resp); err != nil && ctx.Err() == nil {
				t.Errorf("responder: %v", err)
			}
		}
	}()
}

func TestReq(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	responder(t, srv.URL, "svc/echo", "", true)
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantStdout string
	}{
		{name: "own response topic", args: []string{"-m", "ping"}, wantStdout: "re: ping\n"},
		{name: "-e", args: []string{"-m", "ping", "-e", "replies/1"}, wantStdout: "re: ping\n"},
		{name: "-e -v", args: []string{"-m", "ping", "-e", "replies/2", "-v"}, wantStdout: "replies/2 re: ping\n"},
		{name: "-F", args: []string{"-m", "ping", "-F", "%C|%p|%q", "-q", "1"}, wantStdout: "text/plain|re: ping|1\n"},
		{name: "-s", args: []string{"-s", "-N"}, stdin: "from stdin\n", wantStdout: "re: from stdin\n"},
		{name: "-n", args: []string{"-n"}, wantStdout: "re: \n"},
		{name: "given correlation data", args: []string{"-m", "x", "-e", "replies/3", "--correlation-data", "mine", "-F", "%D %p"},
			wantStdout: "mine re: x\n"},
		{name: "-L topic", args: []string{"-m", "via url", "-L", srv.URL + "/svc/echo"}, wantStdout: "re: via url\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"req", "-L", srv.URL, "-t", "svc/echo", "-W", "10s"}, tt.args...)
			if tt.name == "-L topic" {
				args = append([]string{"req", "-W", "10s"}, tt.args...)
			}
			r := runMQTT(testContext(t), tt.stdin, args...)
			if r.code != 0 || r.stdout != tt.wantStdout || r.stderr != "" {
				t.Errorf("exit status %d, stdout %q, stderr %q; want 0 and %q", r.code, r.stdout, r.stderr, tt.wantStdout)
			}
		})
	}
}

// TestReqRequestProperties checks what the request carries: the response
// topic of -e, correlation data, the other properties given.
func TestReqRequestProperties(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	responder(t, srv.URL, "svc/echo", "", false)
	ctx := testContext(t)
	r := runMQTT(ctx, "", "req", "-L", srv.URL, "-i", "rq", "-t", "svc/echo", "-m", "x", "-e", "my/replies", "-q", "1",
		"--content-type", "text/plain", "-D", "k=v")
	if r.code != 0 {
		t.Fatalf("exit status %d: %s", r.code, r.stderr)
	}
	waitDisconnect(ctx, t, srv, "rq")
	ps := records(srv, "rq", mqtttest.FromClient, wire.PUBLISH)
	if len(ps) != 1 {
		t.Fatalf("%d PUBLISH packets, want 1", len(ps))
	}
	p := ps[0].(*wire.Publish)
	if p.QoS != 1 || p.Properties == nil || p.Properties.ResponseTopic != "my/replies" || len(p.Properties.CorrelationData) == 0 ||
		p.Properties.ContentType != "text/plain" || len(p.Properties.UserProperties) != 1 {
		t.Errorf("request %+v, properties %+v; want QoS 1, the response topic, correlation data, content type and user property", p, p.Properties)
	}
	subs := records(srv, "rq", mqtttest.FromClient, wire.SUBSCRIBE)
	if len(subs) != 1 || subs[0].(*wire.Subscribe).Filters[0].Topic != "my/replies" {
		t.Errorf("SUBSCRIBE %v, want one to my/replies", subs)
	}
}

func TestReqTimeout(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := testContext(t)
	for _, args := range [][]string{{"-W", "200ms"}, {"-W", "0.2", "-e", "r"}} {
		r := runMQTT(ctx, "", append([]string{"req", "-L", srv.URL, "-t", "nobody/home", "-m", "x"}, args...)...)
		if want := "mqtt req: no response within 200ms (-W)\n"; r.code != 1 || r.stderr != want || r.stdout != "" {
			t.Errorf("%v: exit status %d, stdout %q, stderr %q; want 1 and %q", args, r.code, r.stdout, r.stderr, want)
		}
	}
}

// TestReqMQTT311 checks req against a broker that speaks only 3.1.1: with
// -e the first message on it is the response; without, nothing is sent
// and the error says why.
func TestReqMQTT311(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mqtttest.Versions(wire.V311))
	responder(t, srv.URL, "svc/old", "old/replies", false)
	ctx := testContext(t)
	r := runMQTT(ctx, "", "req", "-L", srv.URL, "-t", "svc/old", "-m", "hi", "-e", "old/replies", "-W", "10s")
	if r.code != 0 || r.stdout != "re: hi\n" {
		t.Errorf("-e: exit status %d, stdout %q, stderr %q; want the response", r.code, r.stdout, r.stderr)
	}
	r = runMQTT(ctx, "", "req", "-L", srv.URL, "-i", "rq", "-t", "svc/old", "-m", "hi", "-W", "10s")
	if r.code != 1 || !regexp.MustCompile(`MQTT 3\.1\.1.*-e`).MatchString(r.stderr) {
		t.Errorf("without -e: exit status %d, stderr %q; want 1 and a word about -e", r.code, r.stderr)
	}
	if n := len(records(srv, "rq", mqtttest.FromClient, wire.PUBLISH)); n != 0 {
		t.Errorf("without -e, %d requests were sent", n)
	}
	if strings.Contains(r.stdout, "re:") {
		t.Errorf("stdout %q", r.stdout)
	}
}
