package mqtt_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

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

// syncBuffer is a bytes.Buffer for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
