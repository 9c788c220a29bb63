#!/usr/bin/env bash
# The WebSocket's benchmark (see bench/README.md, "WebSocket"): a release
# server on SQLite with the Redis bus, SOCKETS sockets open on it, and user
# events published on its Redis channel from outside at RATE events/s, each
# to one user's sockets. Prints one table row per run: delivery latency from
# publish to the client's receipt, server memory per socket, server CPU.
#
#   bash bench/realtime.sh                       100 users x 10 sockets, 500 events/s (5,000 messages/s)
#   BENCH_REDIS_URL=redis://127.0.0.1:6379 BENCH_USERS=100 BENCH_SOCKETS_PER_USER=10 BENCH_RATE=500 bash bench/realtime.sh
#
# Needs a Redis server (BENCH_REDIS_URL, default redis://127.0.0.1:6379).
# Only 127.0.0.1 is used; every process started is stopped on exit.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
REDIS_URL="${BENCH_REDIS_URL:-redis://127.0.0.1:6379}"
USERS="${BENCH_USERS:-100}"
PER_USER="${BENCH_SOCKETS_PER_USER:-10}"
RATE="${BENCH_RATE:-500}"
SECONDS_RUN="${BENCH_SECONDS:-10}"
RUNS="${BENCH_RUNS:-3}"

[ "${BENCH_SKIP_BUILD:-0}" = 1 ] || (cd "$ROOT" && cargo build --release -q -p strata -p strata-bench-realtime)
BIN="$TARGET_DIR/release/strata"
BENCH="$TARGET_DIR/release/strata-realtime-bench"
# Both ends hold one descriptor per socket.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM

export APP_ENV=development APP__LOG__LEVEL=warn APP__RATE_LIMIT__ENABLED=false APP__AUTH__BCRYPT_COST=4 \
    APP__JOBS__WORKERS=0 APP__SERVER__WORKERS=1 APP__REDIS__URL="$REDIS_URL" \
    APP__REALTIME__MAX_SOCKETS_PER_USER="$PER_USER"

echo "| sockets | users | messages/s | delivered | closed | p50 (ms) | p99 (ms) | max (ms) | server KiB per socket | server CPU (% of a core) |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for run in $(seq 1 "$RUNS"); do
    prefix="strata-bench-$$-$run"
    port=$(free_port)
    APP__DATABASE__URL="sqlite://$WORK/rt-$run.db?mode=rwc" APP__REDIS__KEY_PREFIX="$prefix" PORT=$port \
        "$BIN" serve >"$WORK/server-$run.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
    "$BENCH" --server "http://127.0.0.1:$port" --pid "$SERVER_PID" --redis-url "$REDIS_URL" \
        --channel "$prefix:events" --users "$USERS" --sockets-per-user "$PER_USER" \
        --events-per-second "$RATE" --seconds "$SECONDS_RUN"
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
done
