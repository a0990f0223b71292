package mqtt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
	"github.com/google/go-cmp/cmp"
)

// responder answers every request on topic with its payload in upper case,
// on the request's response topic and with its correlation data, until ctx
// ends.
func responder(ctx context.Context, t *testing.T, url, topic string) {
	t.Helper()
	c := dialT(t, url, &mqtt.DialOptions{ClientID: "responder"})
	s, err := c.Subscribe(ctx, mqtt.Filter{Topic: topic, QoS: mqtt.QoS1})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			m, err := s.Next(ctx)
			if err != nil {
				return
			}
			if m.ResponseTopic == "" {
				t.Errorf("request without a response topic: %+v", m)
				continue
			}
			c.Publish(ctx, mqtt.Message{Topic: m.ResponseTopic, QoS: mqtt.QoS1,
				Payload: bytes.ToUpper(m.Payload), CorrelationData: m.CorrelationData})
		}
	}()
}

// Request publishes with a response topic and correlation data of its own
// (MQTT 5.0 section 4.10) and returns the response that carries the same
// correlation data; concurrent requests each get their own.
func TestRequest(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx := testCtx(t)
	responder(ctx, t, srv.URL, "svc/upper")
	c := dialT(t, srv.URL, &mqtt.DialOptions{ClientID: "requester"})

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			payload := fmt.Sprintf("request %d", i)
			resp, err := c.Request(ctx, mqtt.Message{Topic: "svc/upper", QoS: mqtt.QoS1, Payload: []byte(payload)})
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			if want := strings.ToUpper(payload); string(resp.Payload) != want {
				t.Errorf("request %d: response %q, want %q", i, resp.Payload, want)
			}
		})
	}
	wg.Wait()

	// Correlation data of the caller's own is kept, and must be unique
	// among the requests waiting.
	resp, err := c.Request(ctx, mqtt.Message{Topic: "svc/upper", Payload: []byte("mine"), CorrelationData: []byte("id-1")})
	if err != nil || string(resp.CorrelationData) != "id-1" || string(resp.Payload) != "MINE" {
		t.Fatalf("request with correlation data: %+v, %v", resp, err)
	}
}

// A request nobody answers fails with ctx's error; a later one goes through.
// Two requests waiting with the same correlation data are refused.
func TestRequestUnanswered(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx := testCtx(t)
	c := dialT(t, srv.URL, &mqtt.DialOptions{ClientID: "requester"})

	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if _, err := c.Request(short, mqtt.Message{Topic: "svc/nobody", Payload: []byte("?")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered request: %v, want context.DeadlineExceeded", err)
	}

	waiting := async(func() error {
		_, err := c.Request(ctx, mqtt.Message{Topic: "svc/nobody", CorrelationData: []byte("same")})
		return err
	})
	// Registered before it publishes: once the server has the PUBLISH, a
	// second request with the same correlation data is refused.
	if _, err := srv.WaitPacket(ctx, func(r mqtttest.Record) bool {
		p, ok := r.Packet.(*wire.Publish)
		return ok && r.Dir == mqtttest.FromClient && string(p.Properties.CorrelationData) == "same"
	}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Request(ctx, mqtt.Message{Topic: "svc/nobody", CorrelationData: []byte("same")})
	if err == nil || !strings.Contains(err.Error(), "same correlation data") {
		t.Fatalf("second request with the same correlation data: %v, want it refused", err)
	}
	c.Close()
	if err := <-waiting; !errors.Is(err, mqtt.ErrClosed) {
		t.Fatalf("request waiting when the client closed: %v, want ErrClosed", err)
	}
}

// Request needs MQTT 5.0: response topic and correlation data are its
// properties.
func TestRequestNeedsV5(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx := testCtx(t)
	c := dialT(t, srv.URL, &mqtt.DialOptions{Version: mqtt.V311})
	if _, err := c.Request(ctx, mqtt.Message{Topic: "svc"}); err == nil || !strings.Contains(err.Error(), "5.0") {
		t.Fatalf("request over 3.1.1: %v, want an error saying it needs 5.0", err)
	}
}

// A first Request racing Close ends either way, and leaves no goroutine
// behind (the leak check after the tests would say).
func TestRequestRacingClose(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx := testCtx(t)
	for range 20 {
		c := dialT(t, srv.URL, nil)
		done := async(func() error {
			_, err := c.Request(ctx, mqtt.Message{Topic: "svc/nobody"})
			return err
		})
		c.Close()
		if err := <-done; !errors.Is(err, mqtt.ErrClosed) {
			t.Fatalf("request racing Close: %v, want ErrClosed", err)
		}
	}
}

// serve has c subscribe to f, which the scripted peer p grants, and runs
// r.Serve on the Subscription; the returned channel has Serve's error.
func (p *peer) serve(ctx context.Context, c *mqtt.Client, r *mqtt.Responder, f mqtt.Filter) <-chan error {
	p.t.Helper()
	s, _ := p.subscribe(c, f)
	return async(func() error { return r.Serve(ctx, s) })
}

// request is a request as a requester's server forwards it.
func request(id uint16, qos byte, payload string) *wire.Publish {
	return &wire.Publish{Topic: "svc", QoS: qos, PacketID: id, Payload: []byte(payload),
		Properties: &wire.Properties{ResponseTopic: "reply/" + payload, CorrelationData: []byte("c-" + payload)}}
}

// Requests answered by Responder.Serve through mqtttest, with Request on
// the other side (MQTT 5.0 section 4.10): each response carries its
// request's correlation data; a handler's error comes back as the user
// property "error" instead of a response that never comes; a message
// without a Response Topic is no request and never reaches the handler.
func TestResponder(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	ctx := testCtx(t)
	service := dialT(t, srv.URL, &mqtt.DialOptions{ClientID: "service"})
	var mu sync.Mutex
	var seen []string
	r := &mqtt.Responder{Handler: func(ctx context.Context, req mqtt.Message) ([]byte, error) {
		mu.Lock()
		seen = append(seen, string(req.Payload))
		mu.Unlock()
		if bytes.HasPrefix(req.Payload, []byte("fail")) {
			return []byte("ignored"), errors.New("cannot \xffdo " + string(req.Payload))
		}
		return bytes.ToUpper(req.Payload), nil
	}}
	requests, err := service.Subscribe(ctx, mqtt.Filter{Topic: "svc/+", QoS: mqtt.QoS1})
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, stop := context.WithCancel(ctx)
	served := async(func() error { return r.Serve(serveCtx, requests) })

	c := dialT(t, srv.URL, &mqtt.DialOptions{ClientID: "requester"})
	if err := c.Publish(ctx, mqtt.Message{Topic: "svc/a", QoS: mqtt.QoS1, Payload: []byte("no response topic")}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			payload := fmt.Sprintf("request %d", i)
			resp, err := c.Request(ctx, mqtt.Message{Topic: "svc/a", QoS: mqtt.QoS1, Payload: []byte(payload)})
			if err != nil || string(resp.Payload) != strings.ToUpper(payload) || len(resp.UserProperties) != 0 {
				t.Errorf("request %d: %q %v, %v", i, resp.Payload, resp.UserProperties, err)
			}
		})
	}
	wg.Wait()
	resp, err := c.Request(ctx, mqtt.Message{Topic: "svc/b", Payload: []byte("fail me"), CorrelationData: []byte("mine")})
	if err != nil {
		t.Fatal(err)
	}
	want := []mqtt.UserProperty{{Key: "error", Value: "cannot \uFFFDdo fail me"}}
	if len(resp.Payload) != 0 || string(resp.CorrelationData) != "mine" || !cmp.Equal(want, resp.UserProperties) {
		t.Errorf("response to a failed request: payload %q, correlation %q, properties %v; want none, \"mine\", %v",
			resp.Payload, resp.CorrelationData, resp.UserProperties, want)
	}
	mu.Lock()
	for _, s := range seen {
		if s == "no response topic" {
			t.Error("the handler got a message without a response topic")
		}
	}
	if len(seen) != 21 {
		t.Errorf("the handler answered %d requests, want 21", len(seen))
	}
	mu.Unlock()

	stop()
	if err := <-served; !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve = %v, want context.Canceled", err)
	}
	if _, err := srv.WaitPacket(ctx, func(rec mqtttest.Record) bool {
		u, ok := rec.Packet.(*wire.Unsubscribe)
		return ok && rec.ClientID == "service" && cmp.Equal(u.Topics, []string{"svc/+"})
	}); err != nil {
		t.Fatalf("no UNSUBSCRIBE after Serve stopped: %v", err)
	}
}

// MaxConcurrent bounds the handlers running at once; the requests beyond
// wait in the Subscription, QoS 1 ones unacknowledged (MQTT-4.3.2-4), so
// that the client's Receive Maximum holds the server back, and are
// answered, in order, as handlers return. The answer goes to the Response
// Topic, with the Correlation Data and the QoS of the request.
func TestResponderConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		var mu sync.Mutex
		running, most := 0, 0
		release := make(chan struct{})
		r := &mqtt.Responder{MaxConcurrent: 3, Handler: func(ctx context.Context, req mqtt.Message) ([]byte, error) {
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			<-release
			mu.Lock()
			running--
			mu.Unlock()
			return append([]byte("re: "), req.Payload...), nil
		}}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		served := p.serve(ctx, c, r, mqtt.Filter{Topic: "svc", QoS: mqtt.QoS1})
		rec := p.record()
		for i := range 5 {
			p.send(request(uint16(i+1), 1, fmt.Sprint(i)))
		}
		if diff := cmp.Diff([]string{"PUBACK 1", "PUBACK 2", "PUBACK 3"}, rec.sent()); diff != "" {
			t.Errorf("acknowledged with 3 handlers busy (-want +got):\n%s", diff)
		}
		mu.Lock()
		if running != 3 {
			t.Errorf("%d handlers running, want MaxConcurrent 3", running)
		}
		mu.Unlock()
		release <- struct{}{}
		synctest.Wait()
		// One of the three requests taken is answered; then the fourth
		// is taken.
		resp, ok := rec.next().(*wire.Publish)
		if !ok || !strings.HasPrefix(resp.Topic, "reply/") {
			t.Fatalf("after one handler returned the client sent %+v, want its response", resp)
		}
		x := strings.TrimPrefix(resp.Topic, "reply/")
		var corr []byte
		if resp.Properties != nil {
			corr = resp.Properties.CorrelationData
		}
		if string(resp.Payload) != "re: "+x || resp.QoS != 1 || string(corr) != "c-"+x {
			t.Errorf("response %q QoS %d correlation %q on %s, want %q QoS 1 correlation %q", resp.Payload, resp.QoS, corr, resp.Topic, "re: "+x, "c-"+x)
		}
		p.send(&wire.Puback{PacketID: resp.PacketID})
		if diff := cmp.Diff([]string{"PUBACK 4"}, rec.sent()); diff != "" {
			t.Errorf("once the response was acknowledged (-want +got):\n%s", diff)
		}
		close(release)
		cancel()
		if err := <-served; !errors.Is(err, context.Canceled) {
			t.Errorf("Serve = %v", err)
		}
		if most != 3 {
			t.Errorf("at most %d handlers ran at once, want 3", most)
		}
	})
}

// Serve stops cleanly: when its ctx ends, the handlers' ctx ends, Serve
// waits for them, does not publish what they return, and unsubscribes
// without waiting for the UNSUBACK; when the client closes, the handlers'
// ctx ends too, even while every handler is busy, and Serve returns
// ErrClosed. synctest (and TestMain, for the other tests) fail if a
// goroutine is left.
func TestResponderStops(t *testing.T) {
	for _, how := range []string{"ctx", "close"} {
		t.Run(how, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
				started, stopping, finish := make(chan struct{}, 2), make(chan struct{}, 2), make(chan struct{})
				// Both busy: Serve waits for one of them to return.
				r := &mqtt.Responder{MaxConcurrent: 2, Handler: func(ctx context.Context, req mqtt.Message) ([]byte, error) {
					started <- struct{}{}
					<-ctx.Done()
					stopping <- struct{}{}
					<-finish
					return []byte("too late"), nil
				}}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				served := p.serve(ctx, c, r, mqtt.Filter{Topic: "svc"})
				rec := p.record()
				p.send(request(0, 0, "a"), request(0, 0, "b"))
				<-started
				<-started
				if how == "ctx" {
					cancel()
				} else {
					go c.Close()
				}
				<-stopping
				<-stopping
				synctest.Wait()
				select {
				case err := <-served:
					t.Fatalf("Serve returned %v before its handlers", err)
				default:
				}
				close(finish)
				err := <-served
				if how == "ctx" {
					if !errors.Is(err, context.Canceled) {
						t.Fatalf("Serve = %v, want context.Canceled", err)
					}
					if diff := cmp.Diff([]string{"UNSUBSCRIBE [svc]"}, rec.sent()); diff != "" {
						t.Errorf("after Serve stopped (-want +got):\n%s", diff)
					}
					if c.Err() != nil {
						t.Errorf("the client ended: %v", c.Err())
					}
				} else if !errors.Is(err, mqtt.ErrClosed) {
					t.Fatalf("Serve = %v, want ErrClosed", err)
				}
			})
		})
	}
}

// Serve needs MQTT 5.0 and a Handler: without them it returns at once and
// leaves the Subscription alone.
func TestResponderInvalid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V311, &wire.Connack{}, nil)
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "svc"})
		r := p.record()
		ctx := context.Background()
		if err := (&mqtt.Responder{}).Serve(ctx, s); !errors.Is(err, mqtt.ErrInvalid) {
			t.Errorf("Serve without a Handler: %v, want ErrInvalid", err)
		}
		h := func(context.Context, mqtt.Message) ([]byte, error) { return nil, nil }
		if err := (&mqtt.Responder{Handler: h}).Serve(ctx, s); !errors.Is(err, mqtt.ErrInvalid) || !strings.Contains(err.Error(), "5.0") {
			t.Errorf("Serve over 3.1.1: %v, want ErrInvalid naming MQTT 5.0", err)
		}
		if got := r.sent(); len(got) != 0 {
			t.Errorf("sent %v", got)
		}
		p.send(&wire.Publish{Topic: "svc", Payload: []byte("still mine")})
		expectNext(t, s, "still mine")
	})
}
