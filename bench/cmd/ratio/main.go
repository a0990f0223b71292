// Command ratio summarizes `go test -bench` output as ratios between culex
// and the projects it is compared with.
//
// A benchmark's name ends in the codec or client that ran it
// ("BenchmarkPublishEncode/1KiB/culex-v5"); the rest of the name is the
// operation. For each pair of names ("culex-v5" against "paho.golang") and
// each operation both ran, ratio prints the median ns/op, allocs/op and B/op
// over the runs (-count) of each, and the ratio of the first to the second:
// below 1 means the first is faster or allocates less.
//
// Usage:
//
//	go test -run '^$' -bench . -benchmem -count 5 | go run ./cmd/ratio
//	go run ./cmd/ratio [-pairs a=b,c=d] results.txt...
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

const defaultPairs = "culex-v5=paho.golang,culex-v311=paho.mqtt.golang"

func main() {
	pairs := flag.String("pairs", defaultPairs, "comma-separated `first=second` name pairs to compare")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: ratio [-pairs a=b,...] [file...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	ps, err := parsePairs(*pairs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ratio:", err)
		os.Exit(2)
	}
	res := newResults()
	if flag.NArg() == 0 {
		err = res.read(os.Stdin)
	}
	for _, name := range flag.Args() {
		if err != nil {
			break
		}
		var f *os.File
		if f, err = os.Open(name); err == nil {
			err = res.read(f)
			f.Close()
		}
	}
	if err == nil {
		err = res.print(os.Stdout, ps)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ratio:", err)
		os.Exit(1)
	}
}

type pair struct{ first, second string }

func parsePairs(s string) ([]pair, error) {
	var ps []pair
	for _, f := range strings.Split(s, ",") {
		a, b, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok || a == "" || b == "" {
			return nil, fmt.Errorf("pair %q is not first=second", f)
		}
		ps = append(ps, pair{a, b})
	}
	return ps, nil
}

// metrics holds every run's value of each measure of one benchmark.
type metrics struct {
	ns, allocs, bytes []float64
}

type key struct{ op, impl string }

type results struct {
	env  []string // goos, goarch, cpu lines, once each
	ops  []string // operations in the order first seen
	data map[key]*metrics
}

func newResults() *results { return &results{data: map[key]*metrics{}} }

// read parses benchmark result lines and keeps the environment lines.
func (r *results) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, p := range []string{"goos:", "goarch:", "cpu:"} {
			if strings.HasPrefix(line, p) && !slices.Contains(r.env, line) {
				r.env = append(r.env, line)
			}
		}
		op, impl, m, ok := parseLine(line)
		if !ok {
			continue
		}
		k := key{op, impl}
		d := r.data[k]
		if d == nil {
			d = &metrics{}
			r.data[k] = d
			if !slices.Contains(r.ops, op) {
				r.ops = append(r.ops, op)
			}
		}
		if v, ok := m["ns/op"]; ok {
			d.ns = append(d.ns, v)
		}
		if v, ok := m["allocs/op"]; ok {
			d.allocs = append(d.allocs, v)
		}
		if v, ok := m["B/op"]; ok {
			d.bytes = append(d.bytes, v)
		}
	}
	return sc.Err()
}

// parseLine parses a line such as
//
//	BenchmarkPublishEncode/1KiB/culex-v5-8   1000   123.4 ns/op   8.3 MB/s   0 B/op   0 allocs/op
//
// into its operation ("PublishEncode/1KiB"), the name after the last slash
// ("culex-v5") and its measures by unit.
func parseLine(line string) (op, impl string, m map[string]float64, ok bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
		return "", "", nil, false
	}
	if _, err := strconv.ParseUint(f[1], 10, 64); err != nil {
		return "", "", nil, false
	}
	name := strings.TrimPrefix(f[0], "Benchmark")
	// go test appends -GOMAXPROCS unless it is 1.
	if i := strings.LastIndexByte(name, '-'); i > 0 && isDigits(name[i+1:]) {
		name = name[:i]
	}
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return "", "", nil, false
	}
	m = map[string]float64{}
	for j := 2; j+1 < len(f); j += 2 {
		v, err := strconv.ParseFloat(f[j], 64)
		if err != nil {
			return "", "", nil, false
		}
		m[f[j+1]] = v
	}
	return name[:i], name[i+1:], m, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (r *results) print(w io.Writer, ps []pair) error {
	if len(r.data) == 0 {
		return errors.New("no benchmark results in the input")
	}
	for _, e := range r.env {
		fmt.Fprintln(w, e)
	}
	printed := false
	for _, p := range ps {
		var rows [][2]*metrics
		var ops []string
		for _, op := range r.ops {
			a, b := r.data[key{op, p.first}], r.data[key{op, p.second}]
			if a != nil && b != nil {
				rows = append(rows, [2]*metrics{a, b})
				ops = append(ops, op)
			}
		}
		if len(rows) == 0 {
			continue
		}
		printed = true
		width := 0
		for _, op := range ops {
			width = max(width, len(op))
		}
		fmt.Fprintf(w, "\nA = %s, B = %s: medians of %s; A/B below 1: A is faster or allocates less\n",
			p.first, p.second, runs(rows))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "%-*s\tA ns/op\tB ns/op\tA/B\tA allocs\tB allocs\tA/B\tA B/op\tB B/op\tA/B\t\n", width, "operation")
		var nsRatios []float64
		for i, row := range rows {
			a, b := row[0], row[1]
			an, bn := median(a.ns), median(b.ns)
			aa, ba := median(a.allocs), median(b.allocs)
			ab, bb := median(a.bytes), median(b.bytes)
			if an > 0 && bn > 0 {
				nsRatios = append(nsRatios, an/bn)
			}
			fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", width, ops[i],
				nsCell(a.ns), nsCell(b.ns), ratio(an, bn),
				count(aa), count(ba), ratio(aa, ba),
				count(ab), count(bb), ratio(ab, bb))
		}
		fmt.Fprintf(tw, "%-*s\t\t\t%s\t\t\t\t\t\t\t\n", width, "geomean", geoCell(nsRatios))
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if !printed {
		return errors.New("no operation was run by both names of a pair")
	}
	return nil
}

// runs says how many runs the medians are taken over.
func runs(rows [][2]*metrics) string {
	n := len(rows[0][0].ns)
	for _, r := range rows {
		if len(r[0].ns) != n || len(r[1].ns) != n {
			return "the runs"
		}
	}
	if n == 1 {
		return "1 run"
	}
	return strconv.Itoa(n) + " runs"
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// nsCell formats the median time with the largest deviation of a run from it.
func nsCell(v []float64) string {
	m := median(v)
	if math.IsNaN(m) {
		return "?"
	}
	dev := 0.0
	for _, x := range v {
		dev = max(dev, math.Abs(x-m))
	}
	var s string
	switch {
	case m < 10:
		s = strconv.FormatFloat(m, 'f', 2, 64)
	case m < 1000:
		s = strconv.FormatFloat(m, 'f', 1, 64)
	default:
		s = strconv.FormatFloat(m, 'f', 0, 64)
	}
	if len(v) > 1 && m > 0 {
		s += fmt.Sprintf(" ±%.0f%%", 100*dev/m)
	}
	return s
}

func count(v float64) string {
	if math.IsNaN(v) {
		return "?"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func ratio(a, b float64) string {
	switch {
	case math.IsNaN(a) || math.IsNaN(b):
		return "?"
	case a == 0 && b == 0:
		return "="
	case b == 0:
		return "inf"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func geoCell(r []float64) string {
	if len(r) == 0 {
		return "-"
	}
	sum := 0.0
	for _, x := range r {
		sum += math.Log(x)
	}
	return fmt.Sprintf("%.2f", math.Exp(sum/float64(len(r))))
}
