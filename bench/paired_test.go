package bench

import (
	"context"
	"slices"
	"testing"
	"time"
)

// The paired benchmarks time culex and the raw pump in one loop, one op of
// each in turn, so that whatever slows the machine for a while (another
// tenant of the host, a CPU clocking down, the broker's state) slows both
// alike. Run one after the other, as in BenchmarkRoundTrip, the two can
// meet different machines: raw's round trip moved between 42 and 71 µs from
// one run to the next on the one-CPU setup of README.md, within a run by a
// few percent. Their ratio is the measure of a latency target:
//
//	BenchmarkRoundTripPaired/culex-raw     ... culex-p50-µs raw-p50-µs culex/raw-p50
//	BenchmarkShortLivedJobPaired/culex-raw ...
//
// One op is one round trip (or job) of each: ns/op, allocs/op and
// client-µs/op are those of the pair.
//
// What one side leaves to run in the background runs during the other's
// op and is timed there: with one CPU, a write culex hands to its writer's
// goroutine runs while raw waits for its answer. Compare code that leaves
// the same work behind, or read the unpaired benchmarks beside these.

func BenchmarkRoundTripPaired(b *testing.B) {
	br := startBroker(b)
	b.Run("culex-raw", func(b *testing.B) {
		culexRT, stopCulex := culexContender{}.roundTrip(b, br.Addr, benchTopic("rtt"), benchPayload)
		defer stopCulex()
		rawRT, stopRaw := rawContender{}.roundTrip(b, br.Addr, benchTopic("rtt"), benchPayload)
		defer stopRaw()
		benchPaired(b, br, culexRT, rawRT)
	})
}

func BenchmarkShortLivedJobPaired(b *testing.B) {
	br := startBroker(b)
	b.Run("culex-raw", func(b *testing.B) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		culexTopic, rawTopic := benchTopic("job"), benchTopic("job")
		benchPaired(b, br,
			func() error { return culexContender{}.job(ctx, br.Addr, culexTopic, benchPayload) },
			func() error { return rawContender{}.job(ctx, br.Addr, rawTopic, benchPayload) })
	})
}

// benchPaired times b.N ops of culex and of raw, alternating which goes
// first, and reports the median of each and the ratio of the medians.
func benchPaired(b *testing.B, br *benchBroker, culex, raw func() error) {
	culexTimes := make([]time.Duration, b.N)
	rawTimes := make([]time.Duration, b.N)
	time1 := func(op func() error, into *time.Duration) {
		t := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		*into = time.Since(t)
	}
	b.ReportAllocs()
	cpu := startCPU(br)
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			time1(culex, &culexTimes[i])
			time1(raw, &rawTimes[i])
		} else {
			time1(raw, &rawTimes[i])
			time1(culex, &culexTimes[i])
		}
	}
	b.StopTimer()
	cpu.report(b)
	slices.Sort(culexTimes)
	slices.Sort(rawTimes)
	c50, r50 := percentile(culexTimes, 50), percentile(rawTimes, 50)
	b.ReportMetric(float64(c50)/1e3, "culex-p50-µs")
	b.ReportMetric(float64(r50)/1e3, "raw-p50-µs")
	if r50 > 0 {
		b.ReportMetric(float64(c50)/float64(r50), "culex/raw-p50")
	}
}
