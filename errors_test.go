package mqtt_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// This file holds the errors a program sorts outcomes by: a Publish ends in
// one of four ways (acknowledged, not sent, sent with no answer, refused),
// each matched by one test, and every error reads once "mqtt: ", says what
// happened and, where it can, what to do.

// outcome sorts a Publish error the way a request handler would.
func outcome(err error) string {
	var re *mqtt.ReasonError
	switch {
	case err == nil:
		return "acknowledged"
	case errors.As(err, &re):
		return "refused"
	case errors.Is(err, mqtt.ErrOutcomeUnknown):
		return "unknown"
	case errors.Is(err, mqtt.ErrNotSent):
		return "not sent"
	}
	return "unsorted"
}

// Every way a Publish fails before its packet is written matches ErrNotSent
// and never ErrOutcomeUnknown; those that are the caller's mistake match
// ErrInvalid too (a handler answers 400), the others do not (503: try
// again).
func TestPublishNotSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := dialPeer(t, wire.V5, &wire.Connack{Properties: &wire.Properties{
			MaximumPacketSize: 100, RetainAvailable: new(false), MaximumQoS: new(byte(1))}}, nil)
		ctx := context.Background()
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		for _, tc := range []struct {
			name    string
			ctx     context.Context
			m       mqtt.Message
			invalid bool
			is      error
		}{
			{"wildcard topic", ctx, mqtt.Message{Topic: "a/#"}, true, nil},
			{"empty topic", ctx, mqtt.Message{Topic: ""}, true, nil},
			{"QoS 3", ctx, mqtt.Message{Topic: "t", QoS: 3}, true, nil},
			{"QoS above the server's", ctx, mqtt.Message{Topic: "t", QoS: 2}, true, nil},
			{"retain unsupported", ctx, mqtt.Message{Topic: "t", Retain: true}, true, nil},
			{"over the server's maximum", ctx, mqtt.Message{Topic: "t", Payload: make([]byte, 200)}, true, mqtt.ErrPacketTooLarge},
			{"expiry under a second", ctx, mqtt.Message{Topic: "t", MessageExpiry: 60}, true, nil},
			{"ctx ended before", cancelled, mqtt.Message{Topic: "t", QoS: 1}, false, context.Canceled},
		} {
			err := c.Publish(tc.ctx, tc.m)
			if got := outcome(err); got != "not sent" {
				t.Errorf("%s: %v sorts as %q, want \"not sent\"", tc.name, err, got)
				continue
			}
			if errors.Is(err, mqtt.ErrInvalid) != tc.invalid {
				t.Errorf("%s: %v: matches ErrInvalid %v, want %v", tc.name, err, !tc.invalid, tc.invalid)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%s: %v does not match %v", tc.name, err, tc.is)
			}
			if tc.is == mqtt.ErrPacketTooLarge && !errors.Is(err, wire.ErrPacketTooLarge) {
				t.Errorf("%s: %v does not match wire.ErrPacketTooLarge", tc.name, err)
			}
			checkOnePrefix(t, tc.name, err)
		}
		c.Close()
		err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: 1})
		if outcome(err) != "not sent" || !errors.Is(err, mqtt.ErrClosed) || errors.Is(err, mqtt.ErrInvalid) {
			t.Errorf("after Close: %v, want ErrNotSent and ErrClosed, not ErrInvalid", err)
		}
		checkOnePrefix(t, "after Close", err)
	})
}

// Offline, a Publish that cannot be queued is not sent: with no offline
// queue at once (ErrNotConnected), with a full one when its ctx ends.
func TestPublishNotSentOffline(t *testing.T) {
	for _, tc := range []struct {
		name  string
		queue int
		is    error
	}{
		{"no offline queue", -1, mqtt.ErrNotConnected},
		{"offline queue full", 1, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mqtttest.NewServer()
			t.Cleanup(srv.Close)
			c := dialT(t, srv.URL, &mqtt.DialOptions{OfflineQueue: tc.queue, ReconnectDelay: time.Hour, OnConnectionLost: func(error) {}})
			srv.CloseClientConnections()
			ctx := testCtx(t)
			for c.Connected() {
				if !waitFor(5*time.Second, func() bool { return !c.Connected() }) {
					t.Fatal("the client did not notice the lost connection")
				}
			}
			var err error
			for range 2 { // the second finds the queue of one full
				short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				err = c.Publish(short, mqtt.Message{Topic: "t"})
				cancel()
				if err != nil {
					break
				}
			}
			if outcome(err) != "not sent" || !errors.Is(err, tc.is) || errors.Is(err, mqtt.ErrInvalid) {
				t.Errorf("Publish offline: %v, want ErrNotSent and %v, not ErrInvalid", err, tc.is)
			}
			checkOnePrefix(t, "offline", err)
		})
	}
}

// Sent, never answered: ErrOutcomeUnknown. While the client runs, delivery
// goes on and the error says so; once it has closed, nothing goes on, and
// the error says that instead.
func TestPublishOutcomeUnknown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		published := async(func() error { return c.Publish(ctx, mqtt.Message{Topic: "t", QoS: 1}) })
		p.expect(wire.PUBLISH)
		err := <-published
		if outcome(err) != "unknown" || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "goes on") {
			t.Errorf("ctx ended after the write: %v, want ErrOutcomeUnknown and the deadline, saying delivery goes on", err)
		}
		checkOnePrefix(t, "ctx ended after the write", err)

		published = async(func() error { return c.Publish(context.Background(), mqtt.Message{Topic: "t", QoS: 1}) })
		p.expect(wire.PUBLISH)
		c.Close()
		err = <-published
		if outcome(err) != "unknown" || !errors.Is(err, mqtt.ErrClosed) || strings.Contains(err.Error(), "goes on") {
			t.Errorf("closed after the write: %v, want ErrOutcomeUnknown and ErrClosed, not saying delivery goes on", err)
		}
		checkOnePrefix(t, "closed after the write", err)
	})
}

// Refused by the server: *ReasonError, nothing else.
func TestPublishRefusedOutcome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		published := async(func() error { return c.Publish(context.Background(), mqtt.Message{Topic: "t", QoS: 1}) })
		id := p.expect(wire.PUBLISH).(*wire.Publish).PacketID
		p.send(&wire.Puback{PacketID: id, ReasonCode: wire.NotAuthorized})
		err := <-published
		if outcome(err) != "refused" || errors.Is(err, mqtt.ErrNotSent) || errors.Is(err, mqtt.ErrOutcomeUnknown) {
			t.Errorf("refused: %v, want a *ReasonError alone", err)
		}
	})
}

// The other calls' errors read "mqtt: " once too, whatever they wrap.
func TestErrorsReadPrefixOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		ctx := context.Background()
		p.send(&wire.Disconnect{ReasonCode: wire.ServerShuttingDown})
		<-c.Done()
		checkOnePrefix(t, "Err after DISCONNECT", c.Err())
		_, err := c.Subscribe(ctx, mqtt.Filter{Topic: "t"})
		checkOnePrefix(t, "Subscribe", err)
		checkOnePrefix(t, "Unsubscribe", c.Unsubscribe(ctx, "t"))
		_, err = c.Request(ctx, mqtt.Message{Topic: "t"})
		checkOnePrefix(t, "Request", err)
		checkOnePrefix(t, "Reauthenticate", c.Reauthenticate(ctx))
	})
}
