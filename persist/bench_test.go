package persist

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkPutDelete measures one Put of a 100-byte value followed by its
// Delete, per op, with 1 and 64 goroutines. For the durable store every
// Put and Delete waits for an fsync, so the 64-goroutine numbers show how
// much group commit shares those fsyncs.
func BenchmarkPutDelete(b *testing.B) {
	value := make([]byte, 100)
	for _, im := range impls {
		for _, workers := range []int{1, 64} {
			b.Run(im.name+"/goroutines="+strconv.Itoa(workers), func(b *testing.B) {
				s := im.open(b)
				defer s.Close()
				b.ReportAllocs()
				b.SetBytes(int64(len(value)))
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for g := range workers {
					wg.Go(func() {
						for k := 0; next.Add(1) <= int64(b.N); k++ {
							id := uint16(g*1000 + k%1000)
							if err := s.Put(Outgoing, id, value); err != nil {
								b.Error(err)
								return
							}
							if err := s.Delete(Outgoing, id); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			})
		}
	}
}
