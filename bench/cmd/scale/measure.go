package main

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
)

// Mem is the memory of this process (and of the broker, when it runs on
// the same machine) at one moment.
type Mem struct {
	// RSS is the resident set size (VmRSS of /proc/self/status): what the
	// process costs the machine, runtime overhead and all. 0 where /proc
	// does not exist.
	RSS uint64 `json:"rss"`
	// HeapInuse and StackInuse are the runtime's: bytes in spans holding
	// heap objects, and bytes of goroutine stacks.
	HeapInuse  uint64 `json:"heapInuse"`
	StackInuse uint64 `json:"stackInuse"`
	Goroutines int    `json:"goroutines"`
	// BrokerRSS is the broker's resident set size, when it is a process
	// this program started (mosquitto, or mqtttest in a child process).
	BrokerRSS uint64 `json:"brokerRSS,omitempty"`
}

// PerClient is a Mem less the one before any client was opened, divided by
// the number of clients.
type PerClient struct {
	RSS        float64 `json:"rss"`
	HeapInuse  float64 `json:"heapInuse"`
	StackInuse float64 `json:"stackInuse"`
	Goroutines float64 `json:"goroutines"`
	BrokerRSS  float64 `json:"brokerRSS,omitempty"`
}

// perClient returns (m - base) / n.
func (m Mem) perClient(base Mem, n int) PerClient {
	d := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	p := PerClient{
		RSS:        d(m.RSS, base.RSS),
		HeapInuse:  d(m.HeapInuse, base.HeapInuse),
		StackInuse: d(m.StackInuse, base.StackInuse),
		Goroutines: (float64(m.Goroutines) - float64(base.Goroutines)) / float64(n),
	}
	if m.BrokerRSS != 0 && base.BrokerRSS != 0 {
		p.BrokerRSS = d(m.BrokerRSS, base.BrokerRSS)
	}
	return p
}

// sampler reads memory, of this process and of the broker process pid
// (0: none).
type sampler struct{ brokerPID int }

// settled returns the memory after a garbage collection that also returns
// freed memory to the system, so that what is left is what the program
// holds, not what the collector has not got round to yet.
func (s sampler) settled() Mem {
	runtime.GC()
	debug.FreeOSMemory()
	return s.now()
}

// now returns the memory as it is, garbage and all.
func (s sampler) now() Mem {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := Mem{
		RSS:        vmRSS("self"),
		HeapInuse:  ms.HeapInuse,
		StackInuse: ms.StackInuse,
		Goroutines: runtime.NumGoroutine(),
	}
	if s.brokerPID != 0 {
		m.BrokerRSS = vmRSS(strconv.Itoa(s.brokerPID))
	}
	return m
}

// vmRSS returns the VmRSS of /proc/PROC/status in bytes, 0 if it cannot be
// read.
func vmRSS(proc string) uint64 {
	f, err := os.Open("/proc/" + proc + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "VmRSS:	   12345 kB"
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0
		}
		kb, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}
