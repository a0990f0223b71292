package mqtt_test

// Suite: benchmarks of the Stores under Publish.

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/persist"
)

// BenchmarkStore measures what the durable store costs a QoS 1 Publish:
// the same client against the same acknowledge-only server (ackServer), with
// the memory store and with persist.Open, for one publisher at a time and
// for 64 concurrent ones (whose Puts and Deletes the durable store commits
// in groups). ns/op is per message, so durable/memory is the price of
// durability:
//
//	go test -run '^$' -bench 'BenchmarkStore' -benchtime 2s -count 3
func BenchmarkStore(b *testing.B) {
	url := ackServer(b)
	stores := []struct {
		name string
		open func(b *testing.B) persist.Store
	}{
		{"memory", func(*testing.B) persist.Store { return persist.NewMemory() }},
		{"durable", func(b *testing.B) persist.Store {
			s, err := persist.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	for _, st := range stores {
		for _, publishers := range []int{1, 64} {
			b.Run(st.name+"/publishers="+strconv.Itoa(publishers), func(b *testing.B) {
				store := st.open(b)
				defer store.Close()
				ctx := context.Background()
				c, err := mqtt.Dial(ctx, url, &mqtt.DialOptions{Version: mqtt.V5, Store: store})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				m := mqtt.Message{Topic: "bench/store", QoS: mqtt.QoS1, Payload: make([]byte, 64)}
				b.ReportAllocs()
				b.SetBytes(int64(len(m.Payload)))
				b.ResetTimer()
				var next atomic.Int64
				var wg sync.WaitGroup
				for range publishers {
					wg.Go(func() {
						for next.Add(1) <= int64(b.N) {
							if err := c.Publish(ctx, m); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				if es, err := store.Load(persist.Outgoing); err != nil || len(es) != 0 {
					b.Fatalf("the store holds %d entries after every Publish returned (error %v)", len(es), err)
				}
			})
		}
	}
}
