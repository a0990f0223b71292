package mqtt_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/wire"
)

// expectNext fails unless s hands out exactly the payloads want, in order,
// and then has nothing more.
func expectNext(t *testing.T, s *mqtt.Subscription, want ...string) {
	t.Helper()
	for _, w := range want {
		m, err := s.Next(context.Background())
		if err != nil || string(m.Payload) != w {
			t.Fatalf("Next = %q, %v; want %q", m.Payload, err, w)
		}
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if m, err := s.Next(done); err == nil {
		t.Fatalf("Next = %q, want nothing more", m.Payload)
	}
}

// A Subscription whose application does not call Next keeps at most
// DialOptions.MaxQueuedBytes of QoS 0 messages (16 MiB by default, counting
// topic and payload): the newest, which do not fit, are dropped and counted
// in Subscription.Dropped. QoS 1 and 2 messages are not dropped (the
// client's Receive Maximum bounds them) and do not count.
func TestQoS0QueueBoundedByBytes(t *testing.T) {
	const size = 64 << 10
	for _, tc := range []struct {
		name  string
		opt   int
		limit int
	}{
		{"default", 0, 16 << 20},
		{"1MiB", 1 << 20, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, p := dialPeer(t, wire.V311, &wire.Connack{}, &mqtt.DialOptions{MaxQueuedBytes: tc.opt})
				s, _ := p.subscribe(c, mqtt.Filter{Topic: "t", QoS: mqtt.QoS1})
				payload := make([]byte, size)
				const n = 1000
				for i := range n {
					payload[0], payload[1] = byte(i>>8), byte(i)
					p.send(&wire.Publish{Topic: "t", Payload: payload})
				}
				// QoS 1 messages beyond the bound are kept.
				for i := range 3 {
					p.send(&wire.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: "t", Payload: payload})
				}
				p.send(&wire.Pingresp{}) // read after the last PUBLISH
				synctest.Wait()
				fit := tc.limit / (size + len("t"))
				if got := s.Dropped(); got != n-fit {
					t.Errorf("Dropped() = %d, want %d", got, n-fit)
				}
				for i := range fit {
					m, err := s.Next(context.Background())
					if err != nil || m.QoS != mqtt.QoS0 || int(m.Payload[0])<<8|int(m.Payload[1]) != i {
						t.Fatalf("Next %d: QoS %d message %d, %v; want the first %d QoS 0 messages, in order", i, m.QoS, int(m.Payload[0])<<8|int(m.Payload[1]), err, fit)
					}
				}
				for i := range 3 {
					m, err := s.Next(context.Background())
					if err != nil || m.QoS != mqtt.QoS1 {
						t.Fatalf("Next: QoS %d, %v; want QoS 1 message %d", m.QoS, err, i+1)
					}
				}
				expectNext(t, s)
			})
		})
	}
}

// A QoS 0 message larger than DialOptions.MaxQueuedBytes is still queued
// when no other QoS 0 message waits, so that such messages are not all
// lost; the next one that does not fit is dropped.
func TestQoS0LargerThanTheBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialPeer(t, wire.V5, &wire.Connack{}, &mqtt.DialOptions{MaxQueuedBytes: 10})
		s, _ := p.subscribe(c, mqtt.Filter{Topic: "t"})
		big := make([]byte, 100)
		p.send(&wire.Publish{Topic: "t", Payload: append(big, '1')}, &wire.Publish{Topic: "t", Payload: append(big, '2')})
		p.send(&wire.Pingresp{}) // read after the last PUBLISH
		synctest.Wait()
		if got := s.Dropped(); got != 1 {
			t.Errorf("Dropped() = %d, want 1", got)
		}
		expectNext(t, s, string(append(big, '1')))
		p.send(&wire.Publish{Topic: "t", Payload: append(big, '3')})
		expectNext(t, s, string(append(big, '3')))
	})
}
