package mqtt

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// requester routes responses to Request calls by correlation data.
type requester struct {
	topic   string
	mu      sync.Mutex
	waiting map[string]chan Message
}

// Request publishes m as a request (MQTT 5.0 section 4.10) and blocks until
// the response arrives. It sets m's ResponseTopic to a topic of this
// client's own, subscribed on first use (a ResponseTopic in m is replaced:
// to answer elsewhere, Subscribe and Publish yourself), and its
// CorrelationData to a fresh value unless m has one; the responder publishes
// its answer to ResponseTopic with the same CorrelationData. Request needs
// MQTT 5.0.
func (c *Client) Request(ctx context.Context, m Message) (Message, error) {
	if v := c.Version(); v != V5 {
		return Message{}, invalidf("request", "it needs MQTT 5.0; the server speaks %v", v)
	}
	r, err := c.requester(ctx)
	if err != nil {
		return Message{}, err
	}
	if m.CorrelationData == nil {
		m.CorrelationData = []byte(randomHex(12))
	}
	m.ResponseTopic = r.topic
	key := string(m.CorrelationData)
	ch := make(chan Message, 1)
	r.mu.Lock()
	if _, dup := r.waiting[key]; dup {
		r.mu.Unlock()
		return Message{}, invalidf("request", "another request with the same correlation data is waiting")
	}
	r.waiting[key] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiting, key)
		r.mu.Unlock()
	}()
	if err := c.Publish(ctx, m); err != nil {
		return Message{}, err
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-ctx.Done():
		return Message{}, wrapf(ctx.Err(), "request to %q: sent, no response yet", m.Topic)
	case <-c.done:
		return Message{}, c.err
	}
}

// requester subscribes to the response topic on first use and starts the
// goroutine that hands responses to their requests. When subscribing fails
// (ctx ended, say), the next Request tries again.
func (c *Client) requester(ctx context.Context) (*requester, error) {
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	if c.req != nil {
		return c.req, nil
	}
	r := &requester{waiting: make(map[string]chan Message)}
	prefix := c.cn.Load().responseInfo
	if prefix == "" {
		prefix = "culex/response"
	}
	r.topic = prefix + "/" + c.ClientID() + "/" + randomHex(6)
	sub, err := c.Subscribe(ctx, Filter{Topic: r.topic, QoS: QoS1})
	if err != nil {
		return nil, wrapf(err, "request: subscribing to the response topic")
	}
	started := c.spawn(func() {
		for {
			m, err := sub.Next(context.Background())
			if err != nil {
				return
			}
			r.mu.Lock()
			ch := r.waiting[string(m.CorrelationData)]
			r.mu.Unlock()
			if ch != nil {
				select {
				case ch <- m:
				default:
				}
			}
		}
	})
	if !started {
		<-c.done // Close has begun: the error is set at once
		return nil, wrapf(c.err, "request")
	}
	c.req = r
	return r, nil
}

// Responder answers requests (MQTT 5.0 section 4.10): what Request sends,
// or any message with a Response Topic. Serve has Handler answer each
// request a Subscription receives; the answer goes to the request's
// Response Topic, with its Correlation Data and QoS. A Responder may serve
// several Subscriptions at once; its fields must not change meanwhile.
//
// The zero value with a Handler answers 16 requests at a time.
type Responder struct {
	// Handler answers one request: it returns the payload of the
	// response. It runs on a goroutine of Serve's, with a ctx that ends
	// when Serve's ctx ends or the client ends.
	//
	// When Handler returns an error, the response has no payload and the
	// user property "error" with the error's text (made valid UTF-8, at
	// most 4096 bytes), so that the requester learns at once that its
	// request failed rather than waiting for its ctx to end: Request
	// returns that response, whose UserProperties say so. A handler that
	// must not reveal its errors returns a payload of its own instead.
	Handler func(ctx context.Context, req Message) ([]byte, error)
	// MaxConcurrent bounds how many requests Handler answers at once;
	// the others wait in the Subscription (QoS 1 and 2 ones
	// unacknowledged, so that the client's Receive Maximum holds the
	// server back). 0 or negative: 16.
	MaxConcurrent int
}

// defaultMaxConcurrent is Responder.MaxConcurrent's default: enough for
// handlers that wait on a database or another service, few enough to
// bound the goroutines and memory one Serve holds.
const defaultMaxConcurrent = 16

// Serve answers the requests that s receives until ctx ends or the client
// ends, then unsubscribes s; like http.Server's Serve with its listener, it
// takes s over: nobody else should call s.Next meanwhile. Subscribing
// first, with Subscribe or SubscribeWith, tells the caller when requests
// can be served, and why not if the server refuses.
//
// Serve returns once it has stopped and every Handler it called has
// returned, with an error that wraps ctx's error or the client's, or
// ErrClosed when s was unsubscribed meanwhile. It needs MQTT 5.0, for the
// Response Topic, and a Handler: otherwise it returns an error matching
// ErrInvalid at once and leaves s alone.
//
// A request is acknowledged when Serve takes it from s for a Handler, and
// its response is published with the Handler's ctx: when Serve stops,
// responses not yet sent are not sent. A message without a Response Topic
// is no request: nobody waits for an answer. Serve does not pass it to
// Handler; it logs it (DialOptions.Logger) and goes on. A response that
// cannot be published (the Response Topic is no valid topic name, the
// server refuses it) is logged too.
//
// When ctx ends, Serve unsubscribes s without waiting for the server's
// UNSUBACK: requests that arrive meanwhile are dropped (Client.Dropped),
// and those s had received but Serve had not taken go to the next
// Subscribe that matches them.
func (r *Responder) Serve(ctx context.Context, s *Subscription) error {
	c := s.c
	if r.Handler == nil {
		return invalidf("serve", "Responder.Handler is nil")
	}
	if v := c.Version(); v != V5 {
		return invalidf("serve", "requests need MQTT 5.0; the server speaks %v", v)
	}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel) // c.ctx ends with the client
	defer stop()

	n := r.MaxConcurrent
	if n <= 0 {
		n = defaultMaxConcurrent
	}
	slots := make(chan struct{}, n)
	var wg sync.WaitGroup
	var err error
	for err == nil {
		select {
		case slots <- struct{}{}:
		case <-hctx.Done():
			err = hctx.Err()
			continue
		}
		var req Message
		if req, err = s.Next(hctx); err != nil {
			break
		}
		if req.ResponseTopic == "" {
			<-slots
			c.logInfo("serve: a message without a response topic is no request; not answered", "topic", req.Topic)
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			r.answer(hctx, c, req)
		}()
	}
	cancel()
	wg.Wait()
	what := "serve"
	if f := s.Filters(); len(f) > 0 {
		what = fmt.Sprintf("serve %q", f[0].Topic)
	}
	if cerr := c.Err(); cerr != nil {
		return wrapf(cerr, "%s", what)
	}
	if err == ErrClosed {
		return wrapf(err, "%s: unsubscribed", what)
	}
	c.unsubscribeLater(s)
	return wrapf(err, "%s: stopped", what)
}

// answer has the Handler answer req and publishes the response.
func (r *Responder) answer(ctx context.Context, c *Client, req Message) {
	payload, err := r.Handler(ctx, req)
	resp := Message{Topic: req.ResponseTopic, Payload: payload, QoS: req.QoS, CorrelationData: req.CorrelationData}
	if err != nil {
		resp.Payload = nil
		resp.UserProperties = []UserProperty{{Key: "error", Value: errorText(err)}}
	}
	if err := c.Publish(ctx, resp); err != nil {
		c.logInfo("serve: answering a request", "topic", req.Topic, "response_topic", req.ResponseTopic, "error", err)
	}
}

// errorText is err's text as an MQTT string may carry it: valid UTF-8
// without U+0000 (MQTT-1.5.4-1, MQTT-1.5.4-2), at most 4096 bytes.
func errorText(err error) string {
	s := strings.ToValidUTF8(err.Error(), "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) > 4096 {
		s = strings.ToValidUTF8(s[:4096], "")
	}
	return s
}
