#!/usr/bin/env bash
# What the ledger writer thread writes and spends per charge, read from
# /proc while `benches/charges.rs` runs (no tracing overhead):
#
#   benches/writer_io.sh target/release/deps/charges-<hash> [ENV=value ...]
#
# Runs the charges bench (SQLite, 64 clients, wrk) for 8 s, samples the
# writer thread's `wchar` and `syscw` (/proc/<pid>/task/<tid>/io) and CPU
# time, and the process's CPU time, between seconds 4 and 7, and divides by
# the charges made in those 3 s (the run's rate times 3).
set -euo pipefail
bin=$1; shift
log=$(mktemp)
env "$@" "$bin" --clients 64 --secs 8 --customers 256 --wrk >"$log" 2>&1 &
sleep 4
pid=$(pgrep -n -f "^$bin")
tid=$(grep -lx mkoba-writer /proc/"$pid"/task/*/comm | head -1 | cut -d/ -f5)
snap() {
  awk '/^wchar|^syscw/ {printf "%s ", $2}' /proc/"$pid"/task/"$tid"/io
  awk '{printf "%s ", $14 + $15}' /proc/"$pid"/task/"$tid"/stat
  awk '{printf "%s\n", $14 + $15}' /proc/"$pid"/stat
}
read -r w0 s0 c0 p0 < <(snap)
sleep 3
read -r w1 s1 c1 p1 < <(snap)
wait
rate=$(grep -o '[0-9]* charges/s' "$log" | tail -1 | cut -d' ' -f1)
tick=$(getconf CLK_TCK)
awk -v r="$rate" -v w=$((w1 - w0)) -v s=$((s1 - s0)) -v c=$((c1 - c0)) -v p=$((p1 - p0)) -v t="$tick" 'BEGIN {
  n = r * 3
  printf "charges/s %d  written/charge %.0f B  write calls/charge %.2f  writer CPU %.1f us/charge  process CPU %.1f us/charge\n",
    r, w / n, s / n, c * 1e6 / t / n, p * 1e6 / t / n
}'
tail -1 "$log"
rm -f "$log"
