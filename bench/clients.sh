#!/usr/bin/env bash
# clients.sh runs the client benchmarks (client_test.go) in rounds and prints,
# per shape, the median over the rounds of each client and culex's ratio to
# the raw socket pump and to the better of the two paho clients.
#
#   ./clients.sh                        # 3 rounds, -benchtime 1s
#   ROUNDS=5 BENCHTIME=2s ./clients.sh
#   BENCH=RoundTrip ./clients.sh        # only the shapes matching RoundTrip
#   CPU=1 ./clients.sh                  # one CPU each for the broker and the clients
#   ./clients.sh -test.cpuprofile=x     # further arguments go to the test binary
#   SUMMARIZE='a b' ./clients.sh        # only the table, of raw outputs kept before (OUT)
#
# The test binary is built once; every round runs all shapes and clients, so
# the clients are interleaved in time and drift on a shared machine hits them
# alike. Needs mosquitto. The raw output is kept in $OUT (a temporary file
# unless set).
#
# By default nothing is pinned: the broker, the clients and the rest of the
# machine share every CPU. With CPU=1 the broker (mosquitto) runs on CPU
# $BROKER_CPU (0 unless set) and the test process, every client in it, on CPU
# $CLIENT_CPU (1 unless set) with GOMAXPROCS=1, both by taskset (util-linux):
# neither side can take CPU from the other, so a client's CPU per message
# costs it throughput directly and the broker has the same CPU for every
# client (other work on the machine still shares both). The benchmarks
# check in /proc that the pinning took (every thread of both processes) and
# fail if not; each round's "# pinning:" line records what they found.
set -euo pipefail
cd "$(dirname "$0")"

rounds=${ROUNDS:-3}
benchtime=${BENCHTIME:-1s}
bench=${BENCH:-'Throughput|RoundTrip|ShortLivedJob'}
out=${OUT:-$(mktemp "${TMPDIR:-/tmp}/culex-clients.XXXXXX")}
bin=$(mktemp "${TMPDIR:-/tmp}/culex-clients-test.XXXXXX")
trap 'rm -f "$bin"' EXIT

# run is the command the test binary runs under; mode heads the table.
case ${CPU:-} in
'')
	run=()
	mode="shared: nothing pinned; the broker, the clients and the rest of the machine share the $(nproc) CPUs"
	pinning="none asked (this shell's Cpus_allowed_list: $(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/self/status 2>/dev/null))"
	# Only CPU=1 pins: variables left in the environment must not.
	unset CULEX_BENCH_BROKER_CPU CULEX_BENCH_CLIENT_CPU
	;;
1)
	broker_cpu=${BROKER_CPU:-0}
	client_cpu=${CLIENT_CPU:-1}
	command -v taskset >/dev/null || { echo "clients.sh: CPU=1 needs taskset (util-linux)" >&2; exit 1; }
	run=(taskset -c "$client_cpu" env GOMAXPROCS=1)
	export CULEX_BENCH_BROKER_CPU=$broker_cpu CULEX_BENCH_CLIENT_CPU=$client_cpu
	mode="one CPU each: the broker (mosquitto) on CPU $broker_cpu, the test process (every client) on CPU $client_cpu with GOMAXPROCS=1"
	pinning="" # the test binary prints what it found
	;;
*)
	echo "clients.sh: CPU=$CPU: only CPU=1 (one CPU for the broker, one for the clients) or no CPU (nothing pinned)" >&2
	exit 2
	;;
esac

if [ -n "${SUMMARIZE:-}" ]; then
	# The table of raw outputs kept earlier: runs of two checkouts,
	# say, interleaved by hand (ROUNDS=1 OUT=... in turn).
	cat $SUMMARIZE >"$out"
else
	go test -c -o "$bin" .
	: >"$out"
	for i in $(seq "$rounds"); do
		echo "round $i of $rounds: ${run[*]}${run[*]:+ }$bin -test.run '^\$' -test.bench '$bench' -test.benchtime $benchtime $*" >&2
		# The machine's load before each round, for judging the noise.
		echo "# round $i: $(uptime)" >>"$out"
		[ -r /proc/pressure/cpu ] && sed "s/^/# cpu pressure: /" /proc/pressure/cpu >>"$out"
		[ -n "$pinning" ] && echo "# pinning: $pinning" >>"$out"
		"${run[@]}" "$bin" -test.run '^$' -test.bench "$bench" -test.benchtime "$benchtime" -test.benchmem "$@" >>"$out"
	done
fi
echo "raw results: $out" >&2

awk -v mode="$mode" '
/^# (round|cpu pressure: some|pinning)/ { notes[++nnotes] = $0 }

# Lines look like:
# BenchmarkQoS1Throughput/culex-2  31892  31572 ns/op  18.81 broker-µs/op ... 31674 msgs/s ...
/^Benchmark[A-Za-z0-9]+\/[^ \t]+[ \t]/ {
	name = $1
	sub(/^Benchmark/, "", name)
	sub(/-[0-9]+$/, "", name)
	shape = name; sub(/\/.*/, "", shape)
	client = name; sub(/^[^\/]*\//, "", client)
	if (shape ~ /Paired$/) {
		# culex and raw timed in one loop (paired_test.go): a table apart.
		if (!(shape in seenPaired)) { seenPaired[shape] = 1; paired[++npaired] = shape }
		for (i = 3; i + 1 <= NF; i += 2) {
			k = shape SUBSEP "pair" SUBSEP $(i + 1)
			vals[k, ++count[k]] = $i
		}
		next
	}
	if (!(shape in seenShape)) { seenShape[shape] = 1; shapes[++nshapes] = shape }
	for (i = 3; i + 1 <= NF; i += 2) {
		k = shape SUBSEP client SUBSEP $(i + 1)
		vals[k, ++count[k]] = $i
	}
}

function median(k,    n, i, j, t, a) {
	n = count[k]
	if (n == 0) return ""
	for (i = 1; i <= n; i++) a[i] = vals[k, i] + 0
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
	if (n % 2) return a[(n + 1) / 2]
	return (a[n / 2] + a[n / 2 + 1]) / 2
}

function fmtv(v) {
	if (v == "") return "-"
	if (v >= 100) return sprintf("%.0f", v)
	if (v >= 10) return sprintf("%.1f", v)
	return sprintf("%.2f", v)
}

function unitOf(shape) {
	return shape ~ /Throughput$/ ? "msgs/s" : "p50-µs"
}

END {
	# clients[1] is raw, the reference, clients[3] culex, 4 and 5 the paho
	# clients; the ratios below use these positions.
	nc = split("raw raw-unbatched culex paho.mqtt.golang paho.golang", clients, " ")
	print ""
	print "Mode: " mode "."
	print ""
	print "| shape | metric | raw | raw-unbatched | culex | paho.mqtt.golang | paho.golang | culex / raw | culex / best paho |"
	print "|---|---|---:|---:|---:|---:|---:|---:|---:|"
	for (s = 1; s <= nshapes; s++) {
		shape = shapes[s]
		for (p = 1; p <= 2; p++) {
			unit = unitOf(shape)
			if (p == 2) {
				if (unit == "msgs/s") continue
				unit = "p99-µs"
			}
			line = "| " shape " | " unit
			for (c = 1; c <= nc; c++) {
				m[c] = median(shape SUBSEP clients[c] SUBSEP unit)
				line = line " | " fmtv(m[c])
			}
			best = ""
			for (c = 4; c <= 5; c++) {
				if (m[c] == "") continue
				if (best == "" || (unit == "msgs/s" ? m[c] > best : m[c] < best)) best = m[c]
			}
			r1 = (m[1] != "" && m[3] != "" && m[1] > 0) ? sprintf("%.2f", m[3] / m[1]) : "-"
			r2 = (best != "" && m[3] != "" && best > 0) ? sprintf("%.2f", m[3] / best) : "-"
			print line " | " r1 " | " r2 " |"
		}
	}
	if (npaired > 0) {
		print ""
		print "Paired: culex and raw in one loop, one op of each in turn (medians of the rounds; the ratio of each round is of the p50s of that round)."
		print ""
		print "| shape | raw p50-µs | culex p50-µs | culex / raw | lowest, highest |"
		print "|---|---:|---:|---:|---|"
		for (s = 1; s <= npaired; s++) {
			k = paired[s] SUBSEP "pair" SUBSEP
			lo = hi = ""
			for (i = 1; i <= count[k "culex/raw-p50"]; i++) {
				v = vals[k "culex/raw-p50", i] + 0
				if (lo == "" || v < lo) lo = v
				if (hi == "" || v > hi) hi = v
			}
			print "| " paired[s] " | " fmtv(median(k "raw-p50-µs")) " | " fmtv(median(k "culex-p50-µs")) " | " sprintf("%.3f", median(k "culex/raw-p50")) " | " sprintf("%.3f, %.3f", lo, hi) " |"
		}
	}
	print ""
	print "Costs (medians): allocs/op, CPU of this process (client-µs/op) and of the broker (broker-µs/op) per op."
	print ""
	print "| shape | client | allocs/op | B/op | client-µs/op | broker-µs/op |"
	print "|---|---|---:|---:|---:|---:|"
	for (s = 1; s <= nshapes; s++) {
		shape = shapes[s]
		for (c = 1; c <= nc; c++) {
			k = shape SUBSEP clients[c] SUBSEP
			if (count[k "allocs/op"] == 0) continue
			print "| " shape " | " clients[c] " | " fmtv(median(k "allocs/op")) " | " fmtv(median(k "B/op")) " | " fmtv(median(k "client-µs/op")) " | " fmtv(median(k "broker-µs/op")) " |"
		}
	}
	print ""
	print "Ratios: for msgs/s higher is better (target >= 0.95 of raw); for p50/p99 lower is better (target <= 1.15 x raw; with CPU=1, 1.1)."
	print ""
	for (i = 1; i <= nnotes; i++) print notes[i]
}
' "$out"
