package mqtt

import (
	"context"
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
