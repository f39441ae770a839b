#!/usr/bin/env bash
# USSD throughput and latency: a release `mkoba serve` driven by `mkoba-load`
# from a second process, for non-PIN hops and for PIN-confirmed transfers.
#   benches/ussd.sh [sqlite|postgres] [duration_s] [concurrency]
# PostgreSQL: set MKOBA_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test);
# the script uses a schema of its own and drops it afterwards.
# MKOBA_METRICS__ENABLED=false runs the server without metrics (any MKOBA_ variable reaches it).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BACKEND=${1:-sqlite}; DURATION=${2:-10}; CONC=${3:-64}
CUSTOMERS=${CUSTOMERS:-100}
cargo build --release -q -p mkoba -p mkoba-simulators
cargo bench -q --bench pin --no-run 2>/dev/null
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
WORK=$(mktemp -d -t mkoba-bench.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SCHEMA=
export MKOBA_WEBHOOK_TOKEN=bench-token MKOBA_LISTEN=127.0.0.1:$PORT MKOBA_LOG=warn
export MKOBA_RATE_LIMITS__PER_MSISDN_PER_MINUTE=1000000000 MKOBA_RATE_LIMITS__GLOBAL_PER_SECOND=1000000000
# One load generator is one source address: lift the per-source limits too.
export MKOBA_RATE_LIMITS__PER_SOURCE_PER_SECOND=1000000000 MKOBA_RATE_LIMITS__PER_SOURCE_BURST=1000000000
export MKOBA_NOTIFY__WORKERS=false   # outbound SMS is not what is measured here
if [[ $BACKEND == postgres ]]; then
    BASE=${MKOBA_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
    SCHEMA=bench_$$
    psql "$BASE" -qc "CREATE SCHEMA $SCHEMA"
    export MKOBA_DATABASE_URL="$BASE?options=-csearch_path%3D$SCHEMA"
else
    export MKOBA_DATABASE_URL=sqlite://$WORK/mkoba.db
fi
cleanup() {
    [[ -n ${SERVER:-} ]] && kill "$SERVER" 2>/dev/null || true
    [[ -n $SCHEMA ]] && psql "$BASE" -qc "DROP SCHEMA $SCHEMA CASCADE" || true
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

echo "== set-up: 1 agent, $CUSTOMERS customers (mkoba-load's numbers 254710000000…)"
echo 2468 | "$BIN/mkoba" agent create --msisdn 0799000001 --name "Bench Agent" >/dev/null
"$BIN/mkoba" float issue --agent 0799000001 --amount 4,000,000 >/dev/null
for i in $(seq 0 $((CUSTOMERS - 1))); do
    printf '1357\n' | "$BIN/mkoba" customer register --msisdn "$(printf '2547%08d' $((10000000 + i)))" --name "Customer $i" --tier standard >/dev/null
done
"$BIN/mkoba" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
# Fund every customer with an agent deposit over USSD.
for i in $(seq 0 $((CUSTOMERS - 1))); do
    phone=$(printf '07%08d' $((10000000 + i)))
    "$BIN/mkoba-phone" --url "http://127.0.0.1:$PORT" --token bench-token --phone 0799000001 --inputs "1*$phone*30000*2468" >/dev/null
done
"$BIN/mkoba" account show 0710000000 | grep balance

echo "== non-PIN hops ($BACKEND, concurrency $CONC, ${DURATION}s)"
"$BIN/mkoba-load" --url "http://127.0.0.1:$PORT" --token bench-token --scenario menu \
    --concurrency "$CONC" --duration-s "$DURATION" --phone-prefix 25471 --phones "$CUSTOMERS"
if command -v wrk >/dev/null 2>&1; then
    echo "== non-PIN hops with wrk ($BACKEND, 2 threads, $CONC connections, ${DURATION}s)"
    if [[ ${PERF:-} == 1 ]]; then perf record -F 999 -g -p "$SERVER" -o /tmp/mkoba-perf.data -- sleep 5 >/dev/null 2>&1 & fi
    PHONES=$CUSTOMERS TOKEN=bench-token wrk -t2 -c"$CONC" -d"${DURATION}s" --latency -s "$REPO/benches/ussd_menu.lua" "http://127.0.0.1:$PORT" | tail -1
fi
echo "== PIN-confirmed transfers ($BACKEND, concurrency $CONC, ${DURATION}s)"
cpu() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }
SERVER_CPU_BEFORE=$(cpu)
if [[ ${PERF:-} == 2 ]]; then perf record -F 999 -g -p "$SERVER" -o /tmp/mkoba-perf2.data -- sleep 5 >/dev/null 2>&1 & fi
time "$BIN/mkoba-load" --url "http://127.0.0.1:$PORT" --token bench-token --scenario transfer \
    --concurrency "$CONC" --duration-s "$DURATION" --phone-prefix 25471 --phones "$CUSTOMERS" --pin 1357 --amount 10
echo "server CPU during the transfer run: $(( ($(cpu) - SERVER_CPU_BEFORE) / $(getconf CLK_TCK) )) s"
"$BIN/mkoba" ledger verify
kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true; SERVER=
echo "== argon2 alone, same sitting (cargo bench --bench pin)"
(cd "$REPO" && cargo bench -q --bench pin 2>/dev/null | tail -2)
