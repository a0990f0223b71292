package mqtt_test

import (
	"context"
	"errors"
	"net"
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

// checkOnePrefix fails when an error reads "mqtt: " more than once.
func checkOnePrefix(t *testing.T, what string, err error) {
	t.Helper()
	if n := strings.Count(err.Error(), "mqtt: "); n != 1 {
		t.Errorf("%s: %q reads \"mqtt: \" %d times, want once", what, err, n)
	}
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

// A URL written without its scheme gets the fix, not the URL parser's
// jargon.
func TestURLWithoutScheme(t *testing.T) {
	_, err := mqtt.Dial(context.Background(), "127.0.0.1:1883", nil)
	if err == nil || !strings.Contains(err.Error(), "mqtt://127.0.0.1:1883") || !errors.Is(err, mqtt.ErrInvalid) {
		t.Fatalf("Dial(127.0.0.1:1883): %v, want ErrInvalid suggesting mqtt://127.0.0.1:1883", err)
	}
	checkOnePrefix(t, "URL without a scheme", err)
}

// answering listens on a free port and answers whatever it reads with
// answer, like a server of another protocol; it returns the address.
func answering(t *testing.T, answer string) string {
	t.Helper()
	ln := listenLocal(t)
	serveConns(ln, func(c net.Conn) {
		c.Read(make([]byte, 512))
		c.Write([]byte(answer))
		c.Read(make([]byte, 512)) // until the client closes
	})
	return ln.Addr().String()
}

// A server that does not speak MQTT is named as such, with what it said:
// an HTTP server, a TLS server (an alert record), a TLS port that closes on
// a plain CONNECT; and a TLS URL to a plain port says the port may not be
// TLS.
func TestWrongServerSaysSo(t *testing.T) {
	t.Parallel()
	httpAddr := answering(t, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
	alertAddr := answering(t, "\x15\x03\x01\x00\x02\x02\x46") // TLS alert: protocol version
	tlsBroker := mqtttest.NewTLSServer()
	t.Cleanup(tlsBroker.Close)
	plainBroker := mqtttest.NewServer()
	t.Cleanup(plainBroker.Close)

	for _, tc := range []struct {
		name, url string
		tls       bool
		want      []string
	}{
		{"HTTP server", "mqtt://" + httpAddr, false, []string{"did not answer with MQTT", "HTTP/1.1 400", "ws://"}},
		{"TLS alert", "mqtt://" + alertAddr, false, []string{"did not answer with MQTT", "mqtts://"}},
		{"TLS port in plain text", strings.Replace(tlsBroker.URL, "mqtts://", "mqtt://", 1), false, []string{"closed the connection before CONNACK", "mqtts://"}},
		{"plain port with TLS", strings.Replace(plainBroker.URL, "mqtt://", "mqtts://", 1), true, []string{"TLS handshake", "plain MQTT port"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &mqtt.DialOptions{Version: mqtt.V311}
			if tc.tls {
				o.TLSConfig = tlsBroker.ClientTLSConfig()
			}
			_, err := mqtt.Dial(testCtx(t), tc.url, o)
			if err == nil {
				t.Fatal("Dial succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Dial: %v; want it to say %q", err, w)
				}
			}
			checkOnePrefix(t, tc.name, err)
		})
	}
}

// A connection attempt that times out names the stage that did not finish:
// TCP connect, TLS handshake, WebSocket upgrade, or the wait for CONNACK.
func TestDialTimeoutNamesStage(t *testing.T) {
	t.Parallel()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, then says nothing
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	addr := silent.Addr().String()
	blockingDialer := func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	for _, tc := range []struct {
		url, stage string
		dialer     func(context.Context, string, string) (net.Conn, error)
	}{
		{"mqtt://" + addr, "TCP connect", blockingDialer},
		{"mqtts://" + addr, "TLS handshake", nil},
		{"ws://" + addr, "WebSocket upgrade", nil},
		{"mqtt://" + addr, "wait for CONNACK", nil},
	} {
		t.Run(tc.stage, func(t *testing.T) {
			t.Parallel()
			_, err := mqtt.Dial(context.Background(), tc.url, &mqtt.DialOptions{ConnectTimeout: 200 * time.Millisecond, Dialer: tc.dialer})
			if err == nil || !strings.Contains(err.Error(), "the "+tc.stage+" did not finish in time") || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Dial: %v, want the %s named as not finished in time", err, tc.stage)
			}
			checkOnePrefix(t, tc.stage, err)
		})
	}
}

// MQTT carries these durations in whole seconds; Go reads a bare number as
// nanoseconds. A value under a second (SessionExpiry: 3600 is 3.6µs, sent
// as 0: the session would be dropped) is refused with the fix, at Dial or
// Publish.
func TestDurationsUnderASecondRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    mqtt.DialOptions
		fix  string
	}{
		{"SessionExpiry", mqtt.DialOptions{KeepSession: true, SessionExpiry: 3600}, "3600 * time.Second"},
		{"KeepAlive", mqtt.DialOptions{KeepAlive: 30}, "30 * time.Second"},
		{"WillDelay", mqtt.DialOptions{Will: &mqtt.Message{Topic: "w"}, WillDelay: 5}, "5 * time.Second"},
		{"Will.MessageExpiry", mqtt.DialOptions{Will: &mqtt.Message{Topic: "w", MessageExpiry: 60}}, "60 * time.Second"},
		{"KeepAlive of half a second", mqtt.DialOptions{KeepAlive: 500 * time.Millisecond}, "time.Second or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d recordingDialer
			tc.o.Dialer = d.dial
			_, err := mqtt.Dial(context.Background(), "mqtt://broker.test", &tc.o)
			if !errors.Is(err, mqtt.ErrInvalid) || !strings.Contains(err.Error(), tc.fix) {
				t.Fatalf("Dial: %v, want ErrInvalid showing the fix %q", err, tc.fix)
			}
			if len(d.dialed()) != 0 {
				t.Error("Dial connected before refusing the option")
			}
			checkOnePrefix(t, tc.name, err)
		})
	}
}

// Durations go out rounded to the nearest second, every one alike: 1.5s is
// 2, 2.4s is 2.
func TestDurationsRounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o mqtt.DialOptions
		o.Version = mqtt.V5
		o.KeepAlive = 1500 * time.Millisecond
		o.KeepSession, o.ClientID = true, "rounded"
		o.SessionExpiry = 2400 * time.Millisecond
		o.Will = &mqtt.Message{Topic: "w", MessageExpiry: 2500 * time.Millisecond}
		o.WillDelay = 1500 * time.Millisecond
		conns := make(chan net.Conn, 1)
		o.Dialer = func(context.Context, string, string) (net.Conn, error) {
			a, b := net.Pipe()
			conns <- b
			return a, nil
		}
		o.NoReconnect = true
		dialed := async(func() error {
			c, err := mqtt.Dial(context.Background(), "mqtt://broker.test", &o)
			if err == nil {
				t.Cleanup(func() { c.Close() })
			}
			return err
		})
		p := &peer{t: t, v: wire.V5, conn: <-conns}
		p.r = wire.NewReader(p.conn, 0)
		connect := p.expect(wire.CONNECT).(*wire.Connect)
		p.send(&wire.Connack{})
		if err := <-dialed; err != nil {
			t.Fatal(err)
		}
		defer p.conn.Close()
		if connect.KeepAlive != 2 || *connect.Properties.SessionExpiry != 2 ||
			*connect.Will.Properties.MessageExpiry != 3 || connect.Will.Properties.WillDelay != 2 {
			t.Errorf("keep alive %d, session expiry %d, will expiry %d, will delay %d; want 2, 2, 3, 2",
				connect.KeepAlive, *connect.Properties.SessionExpiry, *connect.Will.Properties.MessageExpiry, connect.Will.Properties.WillDelay)
		}
	})
}
