#!/bin/bash
# Profiles `concord up` on the read paths: runs the benchmark's query and
# replay scenarios on a 100,000-event log and records perf profiles of the
# `concord up` process during the GetEvent, SubjectTimeline and Search runs
# and the replay, then draws a flame graph of each.
#
#   cargo build --release -p concord -p concord-bench
#   cargo install inferno --root .tools/inferno
#   tests/bench/profiles/profile.sh /tmp/prof NAME   # writes NAME-<path>.svg here
#
# Needs perf (kernel.perf_event_paranoid <= 2 for a process of your own).
set -u
OUT=${1:-/tmp/concord-profile}
NAME=${2:-now}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BIN=$ROOT/target/release
HERE=$ROOT/tests/bench/profiles
FLAME=${FLAME:-$ROOT/.tools/inferno/bin}
mkdir -p "$OUT"
"$BIN/concord-bench" --concord "$BIN/concord" --events 100000 --scenarios query,replay --runs 1 \
  --query-secs 15 --out "$OUT/bench" > "$OUT/bench.log" 2>&1 &
BENCH=$!
record() { # log line to wait for, name, seconds
  until grep -q "$1" "$OUT/bench.log"; do
    sleep 0.2
    kill -0 $BENCH 2>/dev/null || return
  done
  local pid
  pid=$(pgrep -f "concord up --no-simulate" | head -1)
  perf record -F 299 --call-graph dwarf,32768 -p "$pid" -o "$OUT/$2.data" -- sleep "$3" > "$OUT/$2.perf.log" 2>&1
}
record "GetEvent on Concord (redb): run" get 8
record "SubjectTimeline on Concord (redb): run" timeline 10
record "Search on Concord (redb): run" search 10
record "ReplayService run 1" replay 15
wait $BENCH
for path in get timeline search replay; do
  [ -f "$OUT/$path.data" ] || continue
  perf script -i "$OUT/$path.data" 2>/dev/null | "$FLAME/inferno-collapse-perf" > "$OUT/$path.folded"
  "$FLAME/inferno-flamegraph" --title "concord up: $path ($NAME, 100k events)" "$OUT/$path.folded" \
    > "$HERE/$NAME-$path.svg"
done
grep -E '^\| (GetEvent|SubjectTimeline|Search|ReplayService)' "$OUT/bench/results.md" | sort -u
