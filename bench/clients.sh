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
# MQTT.js (mqttjs/bench.js) runs in a node process of its own after the test
# binary in every round, each shape against a private mosquitto that this
# script starts with broker_test.go's configuration. It is skipped, with a
# message, without node or mqttjs/node_modules (cd mqttjs && npm ci).
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
# node runs on $CLIENT_CPU and its mosquitto on $BROKER_CPU the same way, and
# bench.js checks them likewise.
set -euo pipefail
cd "$(dirname "$0")"

rounds=${ROUNDS:-3}
benchtime=${BENCHTIME:-1s}
bench=${BENCH:-'Throughput|RoundTrip|ShortLivedJob'}
out=${OUT:-$(mktemp "${TMPDIR:-/tmp}/culex-clients.XXXXXX")}
bin=$(mktemp "${TMPDIR:-/tmp}/culex-clients-test.XXXXXX")
mqttjs_pid= # the mosquitto of MQTT.js, while one runs
mqttjs_dir=
cleanup() {
	mqttjs_stop_broker
	rm -f "$bin"
}
trap cleanup EXIT
# The mosquitto started for MQTT.js runs in the background, which ignores
# SIGINT: exit, so that cleanup stops it.
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# run is the command the test binary runs under; mode heads the table.
case ${CPU:-} in
'')
	run=()
	node_run=()   # MQTT.js's node
	broker_run=() # and its mosquitto
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
	node_run=(taskset -c "$client_cpu")
	broker_run=(taskset -c "$broker_cpu")
	export CULEX_BENCH_BROKER_CPU=$broker_cpu CULEX_BENCH_CLIENT_CPU=$client_cpu
	mode="one CPU each: the broker (mosquitto) on CPU $broker_cpu, the test process (every client) on CPU $client_cpu with GOMAXPROCS=1"
	pinning="" # the test binary prints what it found
	;;
*)
	echo "clients.sh: CPU=$CPU: only CPU=1 (one CPU for the broker, one for the clients) or no CPU (nothing pinned)" >&2
	exit 2
	;;
esac

# MQTT.js cannot be a contender inside the Go test binary, whose loop runs
# one op at a time in Go: bench.js runs every shape in node, in a process of
# its own. The Go benchmarks start a mosquitto per shape and it dies with the
# test binary, so the MQTT.js step starts its own for each shape, with the
# configuration of broker_test.go's brokerConfig, line for line.
mqttjs_shapes=(QoS0Throughput QoS1Throughput QoS2Throughput RoundTrip RoundTripNoDelay ShortLivedJob)
mqttjs_skip=
if ! command -v node >/dev/null; then
	mqttjs_skip="node is not installed"
elif [ ! -d mqttjs/node_modules/mqtt ]; then
	mqttjs_skip="bench/mqttjs/node_modules is missing: cd bench/mqttjs && npm ci"
elif ! command -v mosquitto >/dev/null; then
	mqttjs_skip="mosquitto is not installed"
fi
if [ -n "$mqttjs_skip" ] && [ -z "${SUMMARIZE:-}" ]; then echo "clients.sh: MQTT.js skipped: $mqttjs_skip" >&2; fi

# mqttjs_wants SHAPE: whether $bench selects SHAPE's mqtt.js line, as go test
# matches it (each /-separated part against the name's part; bash's regular
# expressions stand in for Go's).
mqttjs_wants() {
	local top=${bench%%/*} sub=
	if [[ $bench == */* ]]; then
		sub=${bench#*/}
		sub=${sub%%/*}
	fi
	[[ Benchmark$1 =~ $top ]] && { [ -z "$sub" ] || [[ mqtt.js =~ $sub ]]; }
}

# mqttjs_start_broker [LINE...] starts mosquitto as broker_test.go does (the
# extra configuration lines before the listener, on a free port of
# 127.0.0.1, pinned under CPU=1) and waits until it accepts connections; it
# sets mqttjs_pid and mqttjs_addr.
mqttjs_start_broker() {
	local attempt port line i log=
	for attempt in 1 2 3 4 5; do
		mqttjs_dir=$(mktemp -d "${TMPDIR:-/tmp}/culex-clients-mqttjs.XXXXXX")
		port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close() })')
		{
			echo "# Generated by culex bench; private to one benchmark."
			if [ "$(id -u)" = 0 ]; then echo "user root"; fi
			echo "allow_anonymous true"
			echo "persistence false"
			echo "max_inflight_messages 0"
			echo "max_queued_messages 0"
			echo "max_queued_bytes 0"
			echo "log_dest file $mqttjs_dir/mosquitto.log"
			echo "log_type error"
			echo "log_type warning"
			echo "log_type notice"
			echo "log_type information"
			echo "connection_messages false"
			for line in "$@"; do echo "$line"; done
			echo "listener $port 127.0.0.1"
		} >"$mqttjs_dir/mosquitto.conf"
		# taskset executes mosquitto in its place: $! is mosquitto's PID.
		(cd "$mqttjs_dir" && exec "${broker_run[@]}" mosquitto -c mosquitto.conf >out 2>&1) &
		mqttjs_pid=$!
		mqttjs_addr=127.0.0.1:$port
		# "running" is logged once the listener is bound; the connection
		# then proves the port is this broker's.
		for i in $(seq 1000); do
			kill -0 "$mqttjs_pid" 2>/dev/null || break
			if grep -qs ' running' "$mqttjs_dir/mosquitto.log" && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				return 0
			fi
			sleep 0.01
		done
		# Most likely the port was taken meanwhile: try another.
		log=$(cat "$mqttjs_dir/out" "$mqttjs_dir/mosquitto.log" 2>/dev/null || true)
		mqttjs_stop_broker
	done
	echo "clients.sh: mosquitto for MQTT.js did not start:" >&2
	echo "$log" >&2
	exit 1
}

# mqttjs_stop_broker stops the broker, if one runs, and removes its directory.
mqttjs_stop_broker() {
	if [ -n "$mqttjs_pid" ]; then
		kill -TERM "$mqttjs_pid" 2>/dev/null || true
		wait "$mqttjs_pid" 2>/dev/null || true
	fi
	if [ -n "$mqttjs_dir" ]; then rm -rf "$mqttjs_dir"; fi
	mqttjs_pid= mqttjs_dir=
}

# mqttjs_round appends the MQTT.js lines of one round to $out: each shape
# that $bench selects, against a broker of its own, as the Go benchmarks
# have it. bench.js exits non-zero when a run loses a message or stalls,
# and then so does this script.
mqttjs_round() {
	local shape pin=()
	if [ -n "${broker_cpu:-}" ]; then pin=(--broker-cpu "$broker_cpu" --client-cpu "$client_cpu"); fi
	for shape in "${mqttjs_shapes[@]}"; do
		mqttjs_wants "$shape" || continue
		if [ "$shape" = RoundTripNoDelay ]; then
			mqttjs_start_broker "set_tcp_nodelay true"
		else
			mqttjs_start_broker
		fi
		"${node_run[@]}" node mqttjs/bench.js --benchtime "$benchtime" --broker-pid "$mqttjs_pid" "${pin[@]}" "$mqttjs_addr" "$shape" >>"$out"
		mqttjs_stop_broker
	done
}

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
		if [ -z "$mqttjs_skip" ]; then
			echo "round $i of $rounds: ${node_run[*]}${node_run[*]:+ }node mqttjs/bench.js --benchtime $benchtime, each shape against a mosquitto of its own${broker_run[*]:+ under ${broker_run[*]}}" >&2
			mqttjs_round
		fi
	done
	if [ -n "$mqttjs_skip" ]; then echo "clients.sh: MQTT.js skipped: $mqttjs_skip" >&2; fi
fi
echo "raw results: $out" >&2

awk -v mode="$mode" '
/^# (round|cpu pressure: some|pinning)/ { notes[++nnotes] = $0 }
# bench.js, run once per shape, prints what pinning it found each time: the
# same line, kept once.
/^# mqtt.js pinning/ && !($0 in seenNote) { seenNote[$0] = 1; notes[++nnotes] = $0 }

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
	# clients, 6 MQTT.js (mqttjs/bench.js); the ratios below use these
	# positions.
	nc = split("raw raw-unbatched culex paho.mqtt.golang paho.golang mqtt.js", clients, " ")
	print ""
	print "Mode: " mode "."
	print ""
	print "| shape | metric | raw | raw-unbatched | culex | paho.mqtt.golang | paho.golang | mqtt.js | culex / raw | culex / best paho | culex / mqtt.js |"
	print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
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
			r3 = (m[6] != "" && m[3] != "" && m[6] > 0) ? sprintf("%.2f", m[3] / m[6]) : "-"
			print line " | " r1 " | " r2 " | " r3 " |"
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
	print "Costs (medians): allocs/op, CPU of the client process (client-µs/op: the test binary; node for mqtt.js, which reports no allocations) and of the broker (broker-µs/op) per op."
	print ""
	print "| shape | client | allocs/op | B/op | client-µs/op | broker-µs/op |"
	print "|---|---|---:|---:|---:|---:|"
	for (s = 1; s <= nshapes; s++) {
		shape = shapes[s]
		for (c = 1; c <= nc; c++) {
			k = shape SUBSEP clients[c] SUBSEP
			if (count[k "allocs/op"] == 0 && count[k "client-µs/op"] == 0) continue
			print "| " shape " | " clients[c] " | " fmtv(median(k "allocs/op")) " | " fmtv(median(k "B/op")) " | " fmtv(median(k "client-µs/op")) " | " fmtv(median(k "broker-µs/op")) " |"
		}
	}
	print ""
	print "Ratios: for msgs/s higher is better (target >= 0.95 of raw); for p50/p99 lower is better (target <= 1.15 x raw; with CPU=1, 1.1)."
	print ""
	for (i = 1; i <= nnotes; i++) print notes[i]
}
' "$out"
