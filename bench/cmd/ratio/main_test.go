package main

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
cpu: Some CPU
BenchmarkPublishEncode/1KiB/culex-v5-2         	 100	  50.0 ns/op	  20000 MB/s	   0 B/op	   0 allocs/op
BenchmarkPublishEncode/1KiB/paho.golang-2      	 100	 500.0 ns/op	   2000 MB/s	 416 B/op	   9 allocs/op
BenchmarkPublishEncode/1KiB/culex-v5-2         	 100	  70.0 ns/op	  20000 MB/s	   0 B/op	   0 allocs/op
BenchmarkPublishEncode/1KiB/paho.golang-2      	 100	 700.0 ns/op	   2000 MB/s	 416 B/op	   9 allocs/op
BenchmarkPublishEncode/1KiB/culex-v5-2         	 100	  60.0 ns/op	  20000 MB/s	   0 B/op	   0 allocs/op
BenchmarkPublishEncode/1KiB/paho.golang-2      	 100	 600.0 ns/op	   2000 MB/s	 416 B/op	   9 allocs/op
BenchmarkConnectDecode/culex-v5                	 100	  30 ns/op	   4 B/op	   2 allocs/op
BenchmarkConnectDecode/paho.golang             	 100	  20 ns/op	   8 B/op	   8 allocs/op
BenchmarkConnectDecode/culex-v311              	 100	  30 ns/op	   4 B/op	   2 allocs/op
PASS
`

func TestRatio(t *testing.T) {
	r := newResults()
	if err := r.read(strings.NewReader(sample)); err != nil {
		t.Fatal(err)
	}
	ps, err := parsePairs(defaultPairs)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := r.print(&out, ps); err != nil {
		t.Fatal(err)
	}
	// Compare with the columns' padding squeezed to one space.
	var lines []string
	for _, l := range strings.Split(out.String(), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	got := strings.Join(lines, "\n")
	for _, want := range []string{
		"cpu: Some CPU",
		"A = culex-v5, B = paho.golang: medians of the runs;",
		// median 60 vs 600, largest deviation 10 ns
		"PublishEncode/1KiB 60.0 ±17% 600.0 ±17% 0.10 0 9 0.00 0 416 0.00\n",
		"ConnectDecode 30.0 20.0 1.50 2 8 0.25 4 8 0.50\n",
		"geomean 0.39\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "paho.mqtt.golang") {
		t.Errorf("printed a pair with no results:\n%s", got)
	}
}

func TestParseLine(t *testing.T) {
	for _, tc := range []struct{ line, op, impl string }{
		{"BenchmarkA/b/culex-v5-16 10 1 ns/op", "A/b", "culex-v5"},
		{"BenchmarkA/paho.mqtt.golang 10 1 ns/op", "A", "paho.mqtt.golang"},
	} {
		op, impl, m, ok := parseLine(tc.line)
		if !ok || op != tc.op || impl != tc.impl || m["ns/op"] != 1 {
			t.Errorf("parseLine(%q) = %q, %q, %v, %v", tc.line, op, impl, m, ok)
		}
	}
	for _, line := range []string{"BenchmarkNoSlash-2 10 1 ns/op", "ok  pkg 0.1s", "BenchmarkA/b --- FAIL"} {
		if _, _, _, ok := parseLine(line); ok {
			t.Errorf("parseLine(%q) accepted", line)
		}
	}
	if err := newResults().print(&bytes.Buffer{}, nil); err == nil {
		t.Error("no error for empty input")
	}
}
