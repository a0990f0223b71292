package mqtt_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// Close ends pending calls with ErrClosed, a Publish waiting for the
// server's Receive Maximum included, and waits for its goroutines.
func TestClosePending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{Properties: &wire.Properties{ReceiveMaximum: 1}}, nil)
		ctx := context.Background()
		pub := async(func() error { return c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}) })
		p.expect(wire.PUBLISH)
		queued := async(func() error { return c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}) })
		synctest.Wait() // waiting for quota
		sub := async(func() error { _, err := c.Subscribe(ctx, mqtt.Filter{Topic: "t"}); return err })
		p.expect(wire.SUBSCRIBE)
		go func() {
			for {
				if _, err := p.r.ReadPacket(p.v); err != nil {
					return
				}
			}
		}()
		c.Close()
		for name, ch := range map[string]<-chan error{"publish": pub, "publish waiting for quota": queued, "subscribe": sub} {
			if err := <-ch; !errors.Is(err, mqtt.ErrClosed) {
				t.Errorf("%s: got %v, want ErrClosed", name, err)
			}
		}
		if err := c.Publish(ctx, mqtt.Message{Topic: "t"}); !errors.Is(err, mqtt.ErrClosed) {
			t.Errorf("publish after Close: %v", err)
		}
		c.Close() // twice is fine
		// synctest.Test fails if a goroutine of the client is left.
	})
}

// A server DISCONNECT ends the client with a *DisconnectError.
func TestServerDisconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		p.send(&wire.Disconnect{ReasonCode: wire.SessionTakenOver, Properties: &wire.Properties{ReasonString: "another client"}})
		<-c.Done()
		var de *mqtt.DisconnectError
		if !errors.As(c.Err(), &de) || de.ReasonCode != wire.SessionTakenOver || de.ReasonString != "another client" {
			t.Errorf("Err() = %v, want *DisconnectError session taken over", c.Err())
		}
	})
}

// Disconnect waits for the messages in flight before it sends DISCONNECT
// (MQTT-3.14.4-1: nothing after it); when its ctx ends first it disconnects
// anyway and says what it left.
func TestDisconnectDrains(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		ctx := context.Background()
		published := async(func() error { return c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}) })
		id := p.expect(wire.PUBLISH).(*wire.Publish).PacketID
		disconnected := async(func() error { return c.Disconnect(ctx) })
		synctest.Wait()
		select {
		case err := <-disconnected:
			t.Fatalf("Disconnect returned %v with a message in flight", err)
		default:
		}
		p.send(&wire.Puback{PacketID: id})
		p.expect(wire.DISCONNECT)
		if err := <-published; err != nil {
			t.Errorf("publish: %v", err)
		}
		if err := <-disconnected; err != nil {
			t.Errorf("disconnect: %v", err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, nil)
		published := async(func() error { return c.Publish(context.Background(), mqtt.Message{Topic: "t", QoS: mqtt.QoS1}) })
		p.expect(wire.PUBLISH) // never acknowledged
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		disconnected := async(func() error { return c.Disconnect(ctx) })
		p.expect(wire.DISCONNECT)
		if err := <-disconnected; !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "in flight") {
			t.Errorf("disconnect: %v, want an error naming the messages in flight and the deadline", err)
		}
		if err := <-published; !errors.Is(err, mqtt.ErrOutcomeUnknown) {
			t.Errorf("publish: %v, want ErrOutcomeUnknown", err)
		}
	})
}

// OnPacketSent and OnPacketReceived see every packet, in order (MQTT.js
// packetsend and packetreceive), acknowledgements included.
func TestTraceHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var seen []string
		record := func(dir string) func(wire.Packet) {
			return func(p wire.Packet) {
				mu.Lock()
				seen = append(seen, dir+p.Type().String())
				mu.Unlock()
			}
		}
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, &mqtt.DialOptions{
			OnPacketSent: record("->"), OnPacketReceived: record("<-"),
		})
		published := async(func() error {
			return c.Publish(context.Background(), mqtt.Message{Topic: "t", QoS: mqtt.QoS2})
		})
		id := p.expect(wire.PUBLISH).(*wire.Publish).PacketID
		p.send(&wire.Pubrec{PacketID: id})
		p.expect(wire.PUBREL)
		p.send(&wire.Pubcomp{PacketID: id})
		if err := <-published; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		want := []string{"->CONNECT", "<-CONNACK", "->PUBLISH", "<-PUBREC", "->PUBREL", "<-PUBCOMP"}
		if diff := cmp.Diff(want, seen); diff != "" {
			t.Errorf("packets the hooks saw (-want +got):\n%s", diff)
		}
	})
}

// The logger gets every packet at debug level and connection events at
// info, and never the password, nor the payloads.
func TestLoggerKeepsSecrets(t *testing.T) {
	t.Parallel()
	const user, password, payload = "operator", "hunter2-secret", "payload-secret"
	srv := mqtttest.NewServer(mqtttest.Authenticate(func(c *wire.Connect) wire.ReasonCode {
		if c.Username != user || string(c.Password) != password {
			return wire.BadUsernameOrPassword
		}
		return wire.Success
	}))
	t.Cleanup(srv.Close)
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := testCtx(t)
	c := dialT(t, srv.URL, &mqtt.DialOptions{Username: user, Password: []byte(password), Logger: logger})
	if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1, Payload: []byte(payload)}); err != nil {
		t.Fatal(err)
	}
	if err := c.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	logged := buf.String()
	for _, want := range []string{"type=CONNECT", "password_set=true", "type=CONNACK", "type=PUBLISH", "type=PUBACK", "type=DISCONNECT", "level=INFO"} {
		if !strings.Contains(logged, want) {
			t.Errorf("the log lacks %q:\n%s", want, logged)
		}
	}
	for _, secret := range []string{password, payload} {
		if strings.Contains(logged, secret) {
			t.Errorf("the log shows %q:\n%s", secret, logged)
		}
	}
}
