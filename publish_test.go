package mqtt_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/wire"
)

// sentRecorder is an OnPacketSent hook that keeps the types sent.
type sentRecorder struct {
	mu   sync.Mutex
	sent []wire.Type
}

func (r *sentRecorder) record(p wire.Packet) {
	r.mu.Lock()
	r.sent = append(r.sent, p.Type())
	r.mu.Unlock()
}

func (r *sentRecorder) types() []wire.Type {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wire.Type(nil), r.sent...)
}

// A negative MessageExpiry is a mistake, not "never expires" (that is 0):
// Publish refuses it before anything is sent, at every QoS.
func TestPublishNegativeMessageExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec sentRecorder
		c, _ := dialPeer(t, wire.V5, &wire.Connack{}, &mqtt.DialOptions{OnPacketSent: rec.record})
		for q := mqtt.QoS0; q <= mqtt.QoS2; q++ {
			err := c.Publish(context.Background(), mqtt.Message{Topic: "t", QoS: q, MessageExpiry: -time.Second})
			if err == nil || !strings.Contains(err.Error(), "MessageExpiry") || !strings.HasPrefix(err.Error(), "mqtt: ") {
				t.Errorf("%v: Publish: %v, want a refusal naming MessageExpiry", q, err)
			}
		}
		synctest.Wait()
		if sent := rec.types(); len(sent) != 1 {
			t.Errorf("packets sent: %v, want only CONNECT", sent)
		}
	})
}
