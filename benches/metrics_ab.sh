#!/usr/bin/env bash
# What metrics cost a USSD hop: two release servers side by side on fresh
# SQLite files, metrics on (port 18181) and off (18182), and wrk alternating
# between them in short runs, so the machine's drift hits both alike.
#   benches/metrics_ab.sh [rounds] [seconds per run]     (needs wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
ROUNDS=${1:-6}; SECS=${2:-4}
cargo build --release -q -p mkoba
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
W=$(mktemp -d -t mkoba-ab.XXXXXX)
export MKOBA_WEBHOOK_TOKEN=bench-token MKOBA_LOG=warn MKOBA_NOTIFY__WORKERS=false
export MKOBA_RATE_LIMITS__PER_MSISDN_PER_MINUTE=1000000000 MKOBA_RATE_LIMITS__GLOBAL_PER_SECOND=1000000000
export MKOBA_RATE_LIMITS__PER_SOURCE_PER_SECOND=1000000000 MKOBA_RATE_LIMITS__PER_SOURCE_BURST=1000000000
mkdir -p "$W/on" "$W/off"
(cd "$W/on" && MKOBA_METRICS__ENABLED=true MKOBA_LISTEN=127.0.0.1:18181 MKOBA_DATABASE_URL="sqlite://$W/on/m.db" exec "$BIN/mkoba" serve >/dev/null 2>&1) &
ON=$!
(cd "$W/off" && MKOBA_METRICS__ENABLED=false MKOBA_LISTEN=127.0.0.1:18182 MKOBA_DATABASE_URL="sqlite://$W/off/m.db" exec "$BIN/mkoba" serve >/dev/null 2>&1) &
OFF=$!
trap 'kill $ON $OFF 2>/dev/null || true; rm -rf "$W"' EXIT
for port in 18181 18182; do
    for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
done
for i in $(seq 1 "$ROUNDS"); do
    for port in 18181 18182; do
        side=$([[ $port == 18181 ]] && echo on || echo off)
        echo "$i $side $(PHONES=100 TOKEN=bench-token wrk -t2 -c64 -d"${SECS}s" -s "$REPO/benches/ussd_menu.lua" "http://127.0.0.1:$port" | tail -1)"
    done
done
