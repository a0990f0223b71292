package main

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// printReport writes r as a table for people.
func printReport(w io.Writer, r *Report) {
	fmt.Fprintf(w, "culex: %d clients against %s (%s), %s, GOMAXPROCS %d, %s",
		r.Clients, r.Broker, r.URL, r.Go, r.GOMAXPROCS, r.Date.Format("2006-01-02 15:04 MST"))
	if r.Commit != "" {
		fmt.Fprintf(w, ", commit %s", r.Commit)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)

	phase := func(name string, p Phase) {
		if p.Seconds == 0 {
			return
		}
		fmt.Fprintf(w, "%-10s %6.0f clients/s   %5.2f s, %d at once; one call p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
			name, p.PerSecond, p.Seconds, r.Parallel, p.P50ms, p.P99ms, p.Max)
	}
	phase("connect", r.Connect)
	phase("subscribe", r.Subscribe)
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "memory\tRSS\theap\tstacks\tgoroutines\t\tRSS/client\theap/client\tstacks/client\tgoroutines/client\tbroker RSS/client\t")
	row := func(name string, m Mem, gc bool) {
		if m == (Mem{}) {
			return
		}
		if gc {
			name += " (GC)"
		}
		p := m.perClient(r.Before, r.Clients)
		broker := ""
		if p.BrokerRSS != 0 {
			broker = kib(p.BrokerRSS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t\t%s\t%s\t%s\t%.2f\t%s\t\n", name,
			mib(m.RSS), mib(m.HeapInuse), mib(m.StackInuse), m.Goroutines,
			kib(p.RSS), kib(p.HeapInuse), kib(p.StackInuse), p.Goroutines, broker)
	}
	row("before", r.Before, true)
	row("idle, nobody in Next", r.Idle, true)
	row("idle, a reader each", r.IdleReaders, true)
	if b := r.Burst; b != nil {
		row("burst peak", b.Peak, false)
		row("burst end", b.After, false)
		row(fmt.Sprintf("%.0fs idle after", b.IdleSeconds), b.AfterIdle, false)
		row(fmt.Sprintf("%.0fs idle after", b.IdleSeconds), b.AfterIdleGC, true)
	}
	tw.Flush()
	fmt.Fprintln(w, "(GC): after runtime.GC and debug.FreeOSMemory. Per client: less \"before\", divided by the clients.")
	fmt.Fprintln(w)

	if b := r.Burst; b != nil {
		fmt.Fprintf(w, "burst      %d × %d B to each client, %d at a time, from %d publishers: %d of %d messages in %.1f s, %.0f msgs/s; %d of %d clients got all theirs\n",
			b.PerClient, b.Size, b.Chunk, b.Publishers, b.Received, b.Messages, b.Seconds, b.PerSecond, b.Complete, r.Clients)
		fmt.Fprintf(w, "           RSS %.0fs after, over idle with readers: %.2f× as it is, %.2f× after GC (target ≤ 1.5×)\n",
			b.IdleSeconds, b.RatioAfterIdle, b.RatioAfterIdleGC)
	}
	if f := r.FanOut; f != nil {
		fmt.Fprintf(w, "fan-out    one message to %d subscribers: %d received it, the last after %.1f ms (p50 %.1f ms)\n",
			r.Clients, f.Received, f.Maxms, f.P50ms)
	}
	if c := r.Close; c.Seconds > 0 {
		fmt.Fprintf(w, "close      %d clients disconnected in %.2f s (%d errors); goroutines %d before dialing, %d after closing: ",
			r.Clients, c.Seconds, c.Errors, c.GoroutinesBefore, c.GoroutinesAfter)
		if c.Leaked > 0 {
			fmt.Fprintf(w, "%d LEAKED\n", c.Leaked)
		} else {
			fmt.Fprintln(w, "none leaked")
		}
	}
	if r.ConnectionsLost > 0 || r.PublishersLost > 0 {
		fmt.Fprintf(w, "LOST       %d connections of the clients and %d of the publishers; the first: %s\n",
			r.ConnectionsLost, r.PublishersLost, r.FirstLoss)
	}
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func kib(b float64) string { return fmt.Sprintf("%.2f KiB", b/(1<<10)) }
