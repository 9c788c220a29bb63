#!/usr/bin/env bash
# Peak memory of a streamed user export at two sizes (issue: constant memory
# in the number of users). For each size: a fresh SQLite database migrated by
# the release binary, accounts inserted directly (bcrypt for 100,000 accounts
# would take far longer than the export), one admin created with
# `strata create-admin`, then GET /api/v1/users/export streamed to /dev/null
# while the server's VmHWM is read.
#
#   bash bench/export_rss.sh             sizes 1000 and 100000
#   EXPORT_SIZES="1000 10000 100000" bash bench/export_rss.sh
#
# Only 127.0.0.1 is targeted; every process started is stopped on exit.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SIZES="${EXPORT_SIZES:-1000 100000}"
BIN="$TARGET_DIR/release/strata"

command -v curl >/dev/null || { echo "curl is required (apt-get install curl)" >&2; exit 1; }
[ "${BENCH_SKIP_BUILD:-0}" = 1 ] || (cd "$ROOT" && cargo build --release -q -p strata)

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM

export APP_ENV=development APP__LOG__LEVEL=warn APP__RATE_LIMIT__ENABLED=false APP__AUTH__BCRYPT_COST=4
PASSWORD="Admin12345"

echo "| accounts | export format | bytes | seconds | server VmHWM before MiB | VmHWM after MiB | growth MiB |"
echo "|---:|---|---:|---:|---:|---:|---:|"
for size in $SIZES; do
  for format in csv json; do
    db="$WORK/export-$size-$format.db"
    export DATABASE_URL="sqlite://$db?mode=rwc"
    "$BIN" migrate up >/dev/null
    python3 "$ROOT/bench/seed_users.py" "$db" "$size"
    STRATA_ADMIN_PASSWORD="$PASSWORD" "$BIN" create-admin --email "root@example.com" --username root >/dev/null
    port=$(free_port)
    PORT=$port APP__SERVER__WORKERS=1 "$BIN" serve >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
    token=$(curl -sf -X POST "http://127.0.0.1:$port/api/v1/auth/login" -H 'content-type: application/json' \
      -d "{\"username\":\"root\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    # Warm the server (pools, caches) so "before" is its steady state.
    curl -sf "http://127.0.0.1:$port/api/v1/users?limit=100" -H "authorization: Bearer $token" >/dev/null
    before=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$SERVER_PID/status")
    start=$(date +%s.%N)
    bytes=$(curl -sf "http://127.0.0.1:$port/api/v1/users/export?format=$format" -H "authorization: Bearer $token" | wc -c)
    end=$(date +%s.%N)
    after=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$SERVER_PID/status")
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
    python3 -c 'import sys; s,f,b,t0,t1,x,y=sys.argv[1:]; print(f"| {s} | {f} | {b} | {float(t1)-float(t0):.2f} | {x} | {y} | {float(y)-float(x):.1f} |")' \
      "$size" "$format" "$bytes" "$start" "$end" "$before" "$after"
  done
done
