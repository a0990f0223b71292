package bench

// The two Eclipse Paho clients as contenders, each used the way its
// documentation shows:
//
//   - paho.mqtt.golang (MQTT 3.1.1): Publish returns a token; 64 tokens are
//     kept outstanding and the oldest is waited for before the next publish.
//     Messages arrive in a handler given to Subscribe.
//   - paho.golang (MQTT 5.0), the low-level paho.Client over a net.Conn:
//     Publish blocks until the acknowledgement, so 64 goroutines publish,
//     as with culex. Messages arrive in an OnPublishReceived callback.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	pg "github.com/eclipse/paho.golang/paho"
	pmg "github.com/eclipse/paho.mqtt.golang"
)

// pahoMQTTContender is github.com/eclipse/paho.mqtt.golang.
type pahoMQTTContender struct{}

func (pahoMQTTContender) name() string { return "paho.mqtt.golang" }

func pmgDial(addr, id string, timeout time.Duration) (pmg.Client, error) {
	o := pmg.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(id).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectTimeout(timeout)
	c := pmg.NewClient(o)
	t := c.Connect()
	if !t.WaitTimeout(timeout) {
		return nil, errors.New("paho.mqtt.golang: no CONNACK in time")
	}
	if err := t.Error(); err != nil {
		return nil, err
	}
	return c, nil
}

func pmgMustDial(tb testing.TB, addr, prefix string) pmg.Client {
	tb.Helper()
	c, err := pmgDial(addr, clientID(prefix), 10*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func pmgWait(t pmg.Token) error {
	t.Wait()
	return t.Error()
}

func pmgStop(cs ...pmg.Client) func() {
	return func() {
		for _, c := range cs {
			c.Disconnect(250)
		}
	}
}

func (pahoMQTTContender) qos0(tb testing.TB, addr, topic string, payload []byte) (func(int) error, func()) {
	var got, want atomic.Int64
	done := make(chan error, 1)
	sub := pmgMustDial(tb, addr, "pmg-sub")
	handler := func(_ pmg.Client, _ pmg.Message) {
		if got.Add(1) == want.Load() {
			done <- nil
		}
	}
	if err := pmgWait(sub.Subscribe(topic, 0, handler)); err != nil {
		tb.Fatal(err)
	}
	pub := pmgMustDial(tb, addr, "pmg-pub")
	run := func(n int) error {
		want.Store(int64(n))
		var last pmg.Token
		for range n {
			last = pub.Publish(topic, 0, false, payload)
		}
		if err := pmgWait(last); err != nil {
			return err
		}
		return awaitAll(done, &got, n, func() {})
	}
	return run, pmgStop(pub, sub)
}

func (pahoMQTTContender) publishInflight(tb testing.TB, addr, topic string, payload []byte, qos byte) (func(int) error, func()) {
	pub := pmgMustDial(tb, addr, "pmg-pub")
	run := func(n int) error {
		var window [inflight]pmg.Token
		for i := range n {
			slot := &window[i%inflight]
			if *slot != nil {
				if err := pmgWait(*slot); err != nil {
					return err
				}
			}
			*slot = pub.Publish(topic, qos, false, payload)
		}
		for _, t := range window {
			if t != nil {
				if err := pmgWait(t); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return run, pmgStop(pub)
}

func (pahoMQTTContender) roundTrip(tb testing.TB, addr, topic string, payload []byte) (func() error, func()) {
	c := pmgMustDial(tb, addr, "pmg-rt")
	received := make(chan int, 1)
	handler := func(_ pmg.Client, m pmg.Message) { received <- len(m.Payload()) }
	if err := pmgWait(c.Subscribe(topic, 1, handler)); err != nil {
		tb.Fatal(err)
	}
	rt := func() error {
		if err := pmgWait(c.Publish(topic, 1, false, payload)); err != nil {
			return err
		}
		if <-received != len(payload) {
			return errors.New("paho.mqtt.golang: received a different message")
		}
		return nil
	}
	return rt, pmgStop(c)
}

func (pahoMQTTContender) job(ctx context.Context, addr, topic string, payload []byte) error {
	timeout := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	c, err := pmgDial(addr, clientID("pmg-job"), timeout)
	if err != nil {
		return err
	}
	err = pmgWait(c.Publish(topic, 1, false, payload))
	c.Disconnect(250)
	return err
}

// pahoGolangContender is github.com/eclipse/paho.golang's paho package.
type pahoGolangContender struct{}

func (pahoGolangContender) name() string { return "paho.golang" }

// pgOnPublish is a paho.golang message callback.
type pgOnPublish = func(pg.PublishReceived) (bool, error)

func pgDial(ctx context.Context, addr, id string, onPublish pgOnPublish) (*pg.Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	cfg := pg.ClientConfig{ClientID: id, Conn: conn}
	if onPublish != nil {
		cfg.OnPublishReceived = []pgOnPublish{onPublish}
	}
	c := pg.NewClient(cfg)
	ack, err := c.Connect(ctx, &pg.Connect{ClientID: id, CleanStart: true, KeepAlive: 60})
	if err != nil {
		conn.Close()
		return nil, err
	}
	if ack.ReasonCode != 0 {
		conn.Close()
		return nil, fmt.Errorf("paho.golang: CONNACK reason code %#x", ack.ReasonCode)
	}
	return c, nil
}

func pgMustDial(tb testing.TB, addr, prefix string, onPublish pgOnPublish) *pg.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgDial(ctx, addr, clientID(prefix), onPublish)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func pgSubscribe(tb testing.TB, c *pg.Client, topic string, qos byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := c.Subscribe(ctx, &pg.Subscribe{Subscriptions: []pg.SubscribeOptions{{Topic: topic, QoS: qos}}})
	if err != nil {
		tb.Fatal(err)
	}
	if len(ack.Reasons) != 1 || ack.Reasons[0] != qos {
		tb.Fatalf("paho.golang: SUBACK %v, want QoS %d granted", ack.Reasons, qos)
	}
}

func pgStop(cs ...*pg.Client) func() {
	return func() {
		for _, c := range cs {
			c.Disconnect(&pg.Disconnect{})
		}
	}
}

func (pahoGolangContender) qos0(tb testing.TB, addr, topic string, payload []byte) (func(int) error, func()) {
	var got, want atomic.Int64
	done := make(chan error, 1)
	sub := pgMustDial(tb, addr, "pg-sub", func(pg.PublishReceived) (bool, error) {
		if got.Add(1) == want.Load() {
			done <- nil
		}
		return true, nil
	})
	pgSubscribe(tb, sub, topic, 0)
	pub := pgMustDial(tb, addr, "pg-pub", nil)
	run := func(n int) error {
		want.Store(int64(n))
		ctx := context.Background()
		p := &pg.Publish{Topic: topic, QoS: 0, Payload: payload}
		for range n {
			if _, err := pub.Publish(ctx, p); err != nil {
				return err
			}
		}
		return awaitAll(done, &got, n, func() {})
	}
	return run, pgStop(pub, sub)
}

func (pahoGolangContender) publishInflight(tb testing.TB, addr, topic string, payload []byte, qos byte) (func(int) error, func()) {
	pub := pgMustDial(tb, addr, "pg-pub", nil)
	run := func(n int) error {
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout(n))
		defer cancel()
		return parallel(n, inflight, func() error {
			_, err := pub.Publish(ctx, &pg.Publish{Topic: topic, QoS: qos, Payload: payload})
			return err
		})
	}
	return run, pgStop(pub)
}

func (pahoGolangContender) roundTrip(tb testing.TB, addr, topic string, payload []byte) (func() error, func()) {
	received := make(chan int, 1)
	c := pgMustDial(tb, addr, "pg-rt", func(p pg.PublishReceived) (bool, error) {
		received <- len(p.Packet.Payload)
		return true, nil
	})
	pgSubscribe(tb, c, topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	rt := func() error {
		if _, err := c.Publish(ctx, &pg.Publish{Topic: topic, QoS: 1, Payload: payload}); err != nil {
			return err
		}
		select {
		case n := <-received:
			if n != len(payload) {
				return errors.New("paho.golang: received a different message")
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	stop := pgStop(c)
	return rt, func() { stop(); cancel() }
}

func (pahoGolangContender) job(ctx context.Context, addr, topic string, payload []byte) error {
	c, err := pgDial(ctx, addr, clientID("pg-job"), nil)
	if err != nil {
		return err
	}
	_, err = c.Publish(ctx, &pg.Publish{Topic: topic, QoS: 1, Payload: payload})
	if derr := c.Disconnect(&pg.Disconnect{}); err == nil {
		err = derr
	}
	return err
}
