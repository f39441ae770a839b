#!/usr/bin/env bash
# Proof under fire (issue #14): mkoba-load's mix scenario against release
# `mkoba serve` processes it starts itself, each run audited.
#   benches/mix.sh [duration_s] [concurrency]
# Runs, in one sitting: the mix on SQLite and on PostgreSQL (1 node), the
# mix on 3 PostgreSQL nodes, a crash run (SIGKILLs) on SQLite and on 3
# PostgreSQL nodes, PIN-confirmed transfers only (send money) next to raw
# argon2 (cargo bench --bench pin), and the RSS of `mkoba serve` after
# 100,000 distinct callers. PostgreSQL: MKOBA_BENCH_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/test); each run gets its own schema.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}; CONC=${2:-32}; SEED=${SEED:-20261130}
cargo build --release -q -p mkoba -p mkoba-simulators
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
BASE=${MKOBA_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
WORK=$(mktemp -d -t mkoba-mix.XXXXXX)
SCHEMAS=()
cleanup() {
    for s in "${SCHEMAS[@]}"; do psql "$BASE" -qc "DROP SCHEMA $s CASCADE" >/dev/null 2>&1 || true; done
    [[ -n ${SERVER:-} ]] && kill "$SERVER" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
pg() { local s=mix_$$_$1; psql "$BASE" -qc "CREATE SCHEMA $s"; SCHEMAS+=("$s"); echo "$BASE?options=-csearch_path%3D$s"; }
load() {  # name, then mkoba-load arguments
    local name=$1; shift
    mkdir -p "$WORK/$name"
    echo "== $name: mkoba-load --scenario mix --seed $SEED --duration-s $DURATION --concurrency $CONC $*"
    "$BIN/mkoba-load" --scenario mix --mkoba "$BIN/mkoba" --workdir "$WORK/$name" --seed "$SEED" \
        --duration-s "$DURATION" --concurrency "$CONC" --customers ${CUSTOMERS:-100} --report-dir "$WORK/$name" "$@" \
        || echo "!! $name: the audit failed (exit $?)"
}
load sqlite
load postgres --database-url "$(pg p1)"
load postgres-3-nodes --database-url "$(pg p3)" --nodes 3
load crash-sqlite --crash-kills 3
load crash-postgres-3-nodes --database-url "$(pg c3)" --nodes 3 --crash-kills 3
load pin-sqlite --mix send=1 --retry-share 0 --abandon-share 0 --wrong-pin-share 0 --end-event-share 0
echo "== argon2 alone, same sitting (cargo bench --bench pin)"
cargo bench -q --bench pin 2>/dev/null | tail -2

echo "== RSS of mkoba serve after 100,000 distinct callers (menu scenario, SQLite)"
REPO=$PWD; mkdir -p "$WORK/rss" && cd "$WORK/rss"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export MKOBA_WEBHOOK_TOKEN=bench-token MKOBA_LISTEN=127.0.0.1:$PORT MKOBA_LOG=warn
export MKOBA_RATE_LIMITS__PER_MSISDN_PER_MINUTE=1000000000 MKOBA_RATE_LIMITS__GLOBAL_PER_SECOND=1000000000
export MKOBA_RATE_LIMITS__PER_SOURCE_PER_SECOND=1000000000 MKOBA_RATE_LIMITS__PER_SOURCE_BURST=1000000000
"$BIN/mkoba" serve >"$WORK/rss/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
grep VmRSS "/proc/$SERVER/status" | sed 's/^/before: /'
# wrk (benches/ussd_menu.lua): two threads share out 254710000000 + i, i < PHONES, so after
# 100,000 sessions (200,000 requests) every number has dialled.
PHONES=100000 TOKEN=bench-token wrk -t2 -c32 -d"${RSS_DURATION:-30}s" -s "$REPO/benches/ussd_menu.lua" \
    "http://127.0.0.1:$PORT" | grep -E "requests in|Requests/sec"
grep -E "VmRSS|VmHWM" "/proc/$SERVER/status" | sed 's/^/after:  /'
