package mqtt_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt"
)

// Large messages, many at once, arrive whole and unmixed: the socket takes
// a write in parts (the non-blocking write hands the rest to the writer's
// goroutine) while other publishers keep adding to the buffer. Over TCP and
// TLS.
func TestLargeMessages(t *testing.T) {
	t.Parallel()
	for name, start := range servers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, o := start()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			sub := dialT(t, srv.URL, &mqtt.DialOptions{TLSConfig: o.TLSConfig})
			s, err := sub.Subscribe(ctx, mqtt.Filter{Topic: "big/#", QoS: mqtt.QoS1})
			if err != nil {
				t.Fatal(err)
			}
			pub := dialT(t, srv.URL, &mqtt.DialOptions{TLSConfig: o.TLSConfig})

			payload := func(g, i, size int) []byte {
				return bytes.Repeat([]byte(fmt.Sprintf("%d.%d;", g, i)), size/5)
			}
			const publishers, each = 6, 4
			var wg sync.WaitGroup
			for g := range publishers {
				wg.Go(func() {
					for i := range each {
						size := 256 << 10
						if g == 0 && i == 0 {
							size = 4 << 20
						}
						m := mqtt.Message{Topic: fmt.Sprintf("big/%d/%d", g, i), QoS: mqtt.QoS(1 + i%2), Payload: payload(g, i, size)}
						if err := pub.Publish(ctx, m); err != nil {
							t.Errorf("publish %d/%d: %v", g, i, err)
							return
						}
					}
				})
			}
			for range publishers * each {
				m, err := s.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var g, i int
				if _, err := fmt.Sscanf(m.Topic, "big/%d/%d", &g, &i); err != nil {
					t.Fatalf("topic %q", m.Topic)
				}
				size := 256 << 10
				if g == 0 && i == 0 {
					size = 4 << 20
				}
				if !bytes.Equal(m.Payload, payload(g, i, size)) {
					t.Fatalf("%s: %d bytes, not the %d published", m.Topic, len(m.Payload), size/5*len(fmt.Sprintf("%d.%d;", g, i)))
				}
			}
			wg.Wait()
		})
	}
}
