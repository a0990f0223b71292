package mqtt_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/persist"
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

// A PUBLISH over the protocol's limit (a Remaining Length of at most
// 268,435,455 bytes, section 2.1.4) is ErrPacketTooLarge, as one over the
// server's Maximum Packet Size is (MQTT-3.2.2-15), even when the server set
// none; nothing is sent and nothing stays in the Store.
func TestPublishOverProtocolLimit(t *testing.T) {
	payload := make([]byte, 256<<20+1) // over the limit with any header; never written to, so hardly resident
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var rec sentRecorder
				store := persist.NewMemory()
				c, _ := dialPeer(t, v, &wire.Connack{}, &mqtt.DialOptions{OnPacketSent: rec.record, Store: store})
				for q := mqtt.QoS0; q <= mqtt.QoS2; q++ {
					err := c.Publish(context.Background(), mqtt.Message{Topic: "t", QoS: q, Payload: payload})
					if !errors.Is(err, mqtt.ErrPacketTooLarge) || !strings.HasPrefix(err.Error(), "mqtt: ") || strings.Contains(err.Error(), "mqtt: mqtt: ") {
						t.Errorf("%v: Publish: %v, want ErrPacketTooLarge", q, err)
					}
				}
				synctest.Wait()
				if sent := rec.types(); len(sent) != 1 {
					t.Errorf("packets sent: %v, want only CONNECT", sent)
				}
				if entries, _ := store.Load(persist.Outgoing); len(entries) != 0 {
					t.Errorf("the store holds %d messages", len(entries))
				}
			})
		})
	}
}
