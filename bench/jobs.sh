#!/usr/bin/env bash
# The job queue's benchmark (see bench/README.md, "Job queue"): drains a
# no-op kind and measures jobs per second and enqueue-to-start latency,
# on SQLite (workers in-process, as `strata serve` runs them) and, when
# BENCH_POSTGRES_URL names a PostgreSQL server (a role that may create
# databases), on PostgreSQL with worker processes (as `strata worker`).
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS="${BENCH_JOBS:-20000}"
IDLE="${BENCH_IDLE:-300}"
target="${CARGO_TARGET_DIR:-target}"
"${CARGO:-cargo}" build --release -q -p strata-bench-jobs
bin="$target/release/strata-jobs-bench"

work="$(mktemp -d)"
db_name="strata_jobs_bench_$$"
cleanup() {
    rm -rf "$work"
    if [[ -n "${BENCH_POSTGRES_URL:-}" ]]; then
        psql "$BENCH_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $db_name" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

echo "| backend | workers | jobs | enqueued/s | drained jobs/s | idle wait p50 (ms) | p99 (ms) | max (ms) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for concurrency in 2 4; do
    rm -f "$work"/jobs.db*
    "$bin" run --database-url "sqlite://$work/jobs.db?mode=rwc" --jobs "$JOBS" \
        --processes 0 --concurrency "$concurrency" --idle "$IDLE"
done

if [[ -n "${BENCH_POSTGRES_URL:-}" ]]; then
    base="${BENCH_POSTGRES_URL%/*}"
    for shape in "0 4" "2 4" "2 8"; do
        read -r processes concurrency <<<"$shape"
        psql "$BENCH_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $db_name" -c "CREATE DATABASE $db_name"
        "$bin" run --database-url "$base/$db_name" --jobs "$JOBS" \
            --processes "$processes" --concurrency "$concurrency" --idle "$IDLE"
    done
else
    echo "(PostgreSQL skipped: set BENCH_POSTGRES_URL)" >&2
fi
