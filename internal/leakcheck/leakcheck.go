// Package leakcheck fails a test binary whose tests leave goroutines behind.
package leakcheck

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

// Main runs the tests, then, if they passed, waits up to five seconds for the
// number of goroutines to fall back to what it was before them, and fails
// the run with every goroutine's stack if it does not. Call it from TestMain.
func Main(m *testing.M) {
	before := Count()
	code := m.Run()
	if code == 0 {
		if n := Settle(before, 5*time.Second); n > before {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			fmt.Fprintf(os.Stderr, "goroutine leak: %d goroutines before the tests, %d after\n%s\n", before, n, buf)
			code = 1
		}
	}
	os.Exit(code)
}

// Settle waits up to limit for the goroutine count (Count) to drop to want
// and returns the last count seen.
func Settle(want int, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	for {
		n := Count()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Count returns the number of goroutines, less those the js/wasm runtime
// keeps for JavaScript events once one has called into Go (Node.js calls
// back for every file operation): they stay parked in runtime.handleEvent
// for good, and belong to no test.
func Count() int {
	n := runtime.NumGoroutine()
	if runtime.GOOS != "js" {
		return n
	}
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("runtime.handleEvent(")) {
			n--
		}
	}
	return n
}
