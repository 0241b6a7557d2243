#!/bin/bash
# Profiles `concord up` while the benchmark's clients search the directory:
# runs the directory scenario with N people (default 100,000) and records a
# perf profile of the `concord up` process during the first timed run, then
# draws a flame graph of it.
#
#   cargo build --release -p concord -p concord-bench
#   cargo install inferno --root .tools/inferno
#   tests/bench/profiles/profile-directory.sh /tmp/prof NAME [N]   # writes NAME-directory.svg here
#
# Needs perf (kernel.perf_event_paranoid <= 2 for a process of your own).
set -u
OUT=${1:-/tmp/concord-profile}
NAME=${2:-now}
PEOPLE=${3:-100000}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BIN=${BIN:-$ROOT/target/release}
HERE=$ROOT/tests/bench/profiles
FLAME=${FLAME:-$ROOT/.tools/inferno/bin}
mkdir -p "$OUT"
"$BIN/concord-bench" --concord "$BIN/concord" --scenarios directory --directory-subjects "$PEOPLE" --runs 1 \
  --query-secs 15 --out "$OUT/bench" > "$OUT/bench.log" 2>&1 &
BENCH=$!
until grep -q "directory run 1/" "$OUT/bench.log"; do
  sleep 0.2
  kill -0 $BENCH 2>/dev/null || break
done
pid=$(pgrep -f "concord up --no-simulate" | head -1)
[ -n "$pid" ] && perf record -F 299 --call-graph dwarf,32768 -p "$pid" -o "$OUT/directory.data" -- sleep 10 \
  > "$OUT/directory.perf.log" 2>&1
wait $BENCH
perf script -i "$OUT/directory.data" 2>/dev/null | "$FLAME/inferno-collapse-perf" > "$OUT/directory.folded"
"$FLAME/inferno-flamegraph" --title "concord up: directory search ($NAME, $PEOPLE people)" "$OUT/directory.folded" \
  > "$HERE/$NAME-directory.svg"
grep -E '^\| (name and date|searches that|directory store)' "$OUT/bench/results.md"
