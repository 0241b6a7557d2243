#!/bin/bash
# Profiles the `concord ledger` process catching up a 100,000-event stream
# from JetStream (the footprint scenario builds the log that way), and draws
# a flame graph of it.
#
#   cargo build --release -p concord -p concord-bench
#   cargo install inferno --root .tools/inferno
#   tests/bench/profiles/profile-ledger.sh /tmp/prof-ledger NAME   # writes NAME-ledger.svg here
#   ENGINE=fjall tests/bench/profiles/profile-ledger.sh ...          # the log on another engine
#
# Needs perf (kernel.perf_event_paranoid <= 2 for a process of your own).
set -u
OUT=${1:-/tmp/concord-profile-ledger}
NAME=${2:-now}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BIN=${BIN:-$ROOT/target/release}
ENGINE=${ENGINE:-redb}
HERE=$ROOT/tests/bench/profiles
FLAME=${FLAME:-$ROOT/.tools/inferno/bin}
mkdir -p "$OUT"
"$BIN/concord-bench" --concord "$BIN/concord" --events 100000 --scenarios footprint --runs 1 \
  --large-engines "$ENGINE" \
  --out "$OUT/bench" > "$OUT/bench.log" 2>&1 &
BENCH=$!
until grep -q "concord ledger appending" "$OUT/bench.log"; do
  sleep 0.2
  kill -0 $BENCH 2>/dev/null || exit 1
done
sleep 1
pid=$(pgrep -f "concord ledger --data" | head -1)
perf record -F 299 --call-graph dwarf,32768 -p "$pid" -o "$OUT/ledger.data" -- sleep 8 > "$OUT/perf.log" 2>&1
wait $BENCH
perf script -i "$OUT/ledger.data" 2>/dev/null | "$FLAME/inferno-collapse-perf" > "$OUT/ledger.folded"
"$FLAME/inferno-flamegraph" --title "concord ledger: catching up 100k events, $ENGINE ($NAME)" "$OUT/ledger.folded" \
  > "$HERE/$NAME-ledger.svg"
grep -E 'catching up|event log \(|ledger. peak' "$OUT/bench/results.md" | sort -u
