#!/bin/bash
# Runs the bench's query+replay scenarios on a 100k log, recording perf profiles of `concord up`.
set -u
OUT=${1:-/tmp/prof/before}
BIN=${2:-/work/main/target/release}
mkdir -p $OUT
cd /work/main
$BIN/concord-bench --concord $BIN/concord --events 100000 --scenarios query,replay --runs 1 --query-secs 15 --out $OUT/bench > $OUT/bench.log 2>&1 &
BENCH=$!
rec() { # pattern name seconds
  until grep -q "$1" $OUT/bench.log; do sleep 0.2; kill -0 $BENCH 2>/dev/null || return; done
  PID=$(pgrep -f "concord up --no-simulate" | head -1)
  perf record -F 299 --call-graph dwarf,32768 -p $PID -o $OUT/$2.data -- sleep $3 > $OUT/$2.perf.log 2>&1
}
rec "SubjectTimeline on Concord (redb): run" timeline 10
rec "Search on Concord (redb): run" search 10
rec "ReplayService run 1" replay 15
wait $BENCH
