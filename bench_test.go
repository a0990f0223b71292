package mqtt_test

// Suite: benchmarks of Publish.

import (
	"context"
	"testing"

	"github.com/culex-mqtt/mqtt"
)

// BenchmarkPublish measures the client's cost per Publish against a server
// that only acknowledges: allocations and CPU, sequential and with 64 in
// flight.
func BenchmarkPublish(b *testing.B) {
	url := ackServer(b)
	for _, bc := range []struct {
		name     string
		qos      mqtt.QoS
		parallel int
	}{
		{"QoS0", mqtt.QoS0, 1},
		{"QoS1", mqtt.QoS1, 1},
		{"QoS2", mqtt.QoS2, 1},
		{"QoS1/64inflight", mqtt.QoS1, 64},
		{"QoS2/64inflight", mqtt.QoS2, 64},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			c, err := mqtt.Dial(ctx, url, &mqtt.DialOptions{Version: mqtt.V5})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			m := mqtt.Message{Topic: "bench/topic", QoS: bc.qos, Payload: make([]byte, 64)}
			b.ReportAllocs()
			b.SetBytes(int64(len(m.Payload)))
			b.ResetTimer()
			if bc.parallel == 1 {
				for b.Loop() {
					if err := c.Publish(ctx, m); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism((bc.parallel + 1) / 2)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.Publish(ctx, m); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
