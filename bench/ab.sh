#!/usr/bin/env bash
# Side-by-side A/B of Strata and the floor on one route: both servers pinned
# to one core, wrk on the other alternating between them, and the median of
# the per-pair throughput ratios. Less sensitive to drift on a shared VM than
# one long run of each. See bench/README.md ("The edge against the floor").
#
#   bash bench/ab.sh                 (after `make bench` or a release build)
#
# Environment: AB_PATH (default /health), AB_ROUNDS (6), AB_SECONDS (4),
# BENCH_SERVER_CPU / BENCH_CLIENT_CPU (0 / 1), CARGO_TARGET_DIR.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ROUTE="${AB_PATH:-/health}"
ROUNDS="${AB_ROUNDS:-6}"
SECONDS_PER_RUN="${AB_SECONDS:-4}"
SERVER_CPU="${BENCH_SERVER_CPU:-0}"
CLIENT_CPU="${BENCH_CLIENT_CPU:-1}"

for tool in wrk taskset python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "ab: $tool is not installed (see bench/README.md)" >&2; exit 1; }
done
for bin in strata strata-floor; do
    [[ -x "$TARGET_DIR/release/$bin" ]] || { echo "ab: build first: cargo build --release -p strata -p strata-bench-floor" >&2; exit 1; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/strata-ab.XXXXXX")"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

STRATA_PORT="$(free_port)"
FLOOR_PORT="$(free_port)"

(cd "$ROOT" && exec env -u RUST_LOG -u DATABASE_URL -u PORT -u JWT_SECRET APP_ENV=development \
    APP_CONFIG_DIR="$ROOT/config" APP__SERVER__HOST=127.0.0.1 APP__SERVER__PORT="$STRATA_PORT" \
    APP__SERVER__WORKERS=1 APP__LOG__LEVEL=warn APP__RATE_LIMIT__ENABLED=false \
    APP__DATABASE__URL="sqlite://$WORK/ab.db?mode=rwc" \
    taskset -c "$SERVER_CPU" "$TARGET_DIR/release/strata" serve) >"$WORK/strata.log" 2>&1 &
PIDS+=($!)
PORT="$FLOOR_PORT" taskset -c "$SERVER_CPU" "$TARGET_DIR/release/strata-floor" >"$WORK/floor.log" 2>&1 &
PIDS+=($!)

for p in "$STRATA_PORT" "$FLOOR_PORT"; do
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$p/health" >/dev/null 2>&1 && break
        sleep 0.1
    done
    taskset -c "$CLIENT_CPU" wrk -t1 -c32 -d2s "http://127.0.0.1:$p$ROUTE" >/dev/null # warm-up
done

rate() { taskset -c "$CLIENT_CPU" wrk -t1 -c32 -d"${SECONDS_PER_RUN}s" "http://127.0.0.1:$1$ROUTE" | awk '/Requests\/sec/ {print $2}'; }
echo "ab: $ROUTE, $ROUNDS pairs of ${SECONDS_PER_RUN}s (strata req/s, floor req/s, ratio)"
for _ in $(seq "$ROUNDS"); do
    echo "$(rate "$STRATA_PORT") $(rate "$FLOOR_PORT")"
done | python3 -c '
import statistics, sys
ratios = []
for line in sys.stdin:
    a, b = map(float, line.split())
    ratios.append(a / b)
    print(f"{a:10.0f} {b:10.0f}  {a / b:.3f}")
print(f"median ratio {statistics.median(ratios):.3f}")'
