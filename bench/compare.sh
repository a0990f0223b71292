#!/usr/bin/env bash
# compare.sh runs this module's benchmarks several times and prints, per
# operation, culex's median ns/op, allocs/op and B/op next to the paho
# project's, with their ratio (cmd/ratio).
#
#   ./compare.sh                      # the codec benchmarks, 5 runs of 300ms each
#   COUNT=10 BENCHTIME=1s ./compare.sh
#   BENCH=PublishEncode ./compare.sh  # only the benchmarks matching PublishEncode
#   BENCH=. ./compare.sh              # every benchmark of the module
#   ./compare.sh -cpu 1               # further arguments go to go test
#
# The raw output is kept in $OUT (a temporary file unless set) for benchstat.
set -euo pipefail
cd "$(dirname "$0")"

count=${COUNT:-5}
benchtime=${BENCHTIME:-300ms}
codec='^Benchmark(Publish|Connect|Subscribe)(Encode|Decode)$'
bench=${BENCH:-$codec}
out=${OUT:-$(mktemp "${TMPDIR:-/tmp}/culex-bench.XXXXXX")}

echo "go test -run '^\$' -bench '$bench' -benchmem -count $count -benchtime $benchtime $*" >&2
if ! go test -run '^$' -bench "$bench" -benchmem -count "$count" -benchtime "$benchtime" "$@" >"$out"; then
	cat "$out" >&2
	exit 1
fi
echo "raw results: $out" >&2
go run ./cmd/ratio "$out"
