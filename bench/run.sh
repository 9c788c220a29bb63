#!/usr/bin/env bash
# Strata's load benchmark. See bench/README.md.
#
#   bash bench/run.sh            (or: make bench)
#
# Builds the release binaries, starts Strata and the floor server pinned to
# one CPU, seeds Strata through its HTTP API, drives each scenario with wrk
# pinned to another CPU, and writes bench/results/<UTC timestamp>.{json,md}
# and bench/results/latest.md. Only 127.0.0.1 is ever targeted. It installs
# nothing; every process it starts is stopped on exit, Ctrl-C included.
#
# Environment:
#   BENCH_DURATION           seconds per scenario, "10" or "10s" (default 10)
#   BENCH_CONNECTIONS        wrk connections (default 32)
#   BENCH_LOGIN_CONNECTIONS  connections of the login client (default 4)
#   BENCH_PAIRS              alternating floor/Strata runs of health and me (default 5;
#                            the report shows the median run and the median ratio)
#   BENCH_WARMUP             warm-up seconds before each scenario (default 2; 0 = none)
#   BENCH_DATABASE_URL       a postgres://…@127.0.0.1/… URL of a dedicated database
#                            (its schema is dropped and recreated); default: a fresh SQLite file
#   BENCH_LEAK_CHECK=1       run the scenario list 3 times and report RSS after each round
#   BENCH_SERVER_CPU / BENCH_CLIENT_CPU   CPUs for the servers / wrk (default 0 / 1)
#   BENCH_SKIP_BUILD=1       reuse existing release binaries
#   BENCH_KEEP=1             keep the temporary directory (logs, raw wrk output)
#   CARGO_TARGET_DIR         where the release binaries are built (default ./target)

set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BENCH="$ROOT/bench"
SCENARIOS="$BENCH/scenarios"

DURATION="${BENCH_DURATION:-10}"
DURATION="${DURATION%s}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
LOGIN_CONNECTIONS="${BENCH_LOGIN_CONNECTIONS:-4}"
PAIRS="${BENCH_PAIRS:-5}"
WARMUP="${BENCH_WARMUP:-2}"
WARMUP="${WARMUP%s}"
LEAK_CHECK="${BENCH_LEAK_CHECK:-0}"
SERVER_CPU="${BENCH_SERVER_CPU:-0}"
CLIENT_CPU="${BENCH_CLIENT_CPU:-1}"
HOST=127.0.0.1

die() {
    echo "bench: $*" >&2
    exit 1
}

for n in "$DURATION" "$CONNECTIONS" "$LOGIN_CONNECTIONS" "$PAIRS" "$WARMUP" "$SERVER_CPU" "$CLIENT_CPU"; do
    [[ "$n" =~ ^[0-9]+$ ]] || die "expected a whole number, got '$n' (see the variables at the top of bench/run.sh)"
done
((DURATION >= 1)) || die "BENCH_DURATION must be at least 1 second"
((CONNECTIONS >= 1 && LOGIN_CONNECTIONS >= 1)) || die "connections must be at least 1"
((PAIRS >= 1)) || die "BENCH_PAIRS must be at least 1"

# --- Prerequisites: checked, never installed ------------------------------
missing=0
if ! command -v wrk >/dev/null 2>&1; then
    echo "bench: wrk is not installed. Install it with:  sudo apt-get install wrk" >&2
    echo "       (or build it from https://github.com/wg/wrk)" >&2
    missing=1
fi
if ! command -v taskset >/dev/null 2>&1; then
    echo "bench: taskset is not installed. It is part of util-linux:  sudo apt-get install util-linux" >&2
    missing=1
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "bench: python3 is not installed (seeding and the report use its standard library):" >&2
    echo "       sudo apt-get install python3" >&2
    missing=1
fi
if ! command -v cargo >/dev/null 2>&1 && [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    echo "bench: cargo is not installed; see https://rustup.rs" >&2
    missing=1
fi
((missing == 0)) || exit 1

CPUS="$(nproc --all 2>/dev/null || getconf _NPROCESSORS_ONLN)"
if ((SERVER_CPU >= CPUS || CLIENT_CPU >= CPUS)); then
    die "this machine has $CPUS CPU(s); set BENCH_SERVER_CPU and BENCH_CLIENT_CPU to existing ones"
fi
if ((SERVER_CPU == CLIENT_CPU)); then
    echo "bench: warning: server and load generator share CPU $SERVER_CPU; numbers will be pessimistic" >&2
fi

DATABASE_URL_FOR_BENCH="${BENCH_DATABASE_URL:-}"
if [[ -n "$DATABASE_URL_FOR_BENCH" ]]; then
    case "$DATABASE_URL_FOR_BENCH" in
    postgres://*@127.0.0.1[:/]* | postgresql://*@127.0.0.1[:/]* | postgres://*@localhost[:/]* | postgresql://*@localhost[:/]*) ;;
    *) die "BENCH_DATABASE_URL must be a postgres:// URL on 127.0.0.1 or localhost" ;;
    esac
fi

# --- Cleanup: every process started here is stopped on exit ---------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/strata-bench.XXXXXX")"
PIDS=()
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
        echo "bench: kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

forget_pid() {
    local gone=$1 kept=() pid
    for pid in "${PIDS[@]}"; do
        [[ "$pid" == "$gone" ]] || kept+=("$pid")
    done
    PIDS=("${kept[@]}")
}

# --- Build ------------------------------------------------------------------
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    echo "bench: building release binaries (cargo build --release -p strata -p strata-bench-floor)…"
    (cd "$ROOT" && cargo build --release --quiet -p strata -p strata-bench-floor)
fi
# What is being measured, taken before the run (the tree may change meanwhile).
GIT_COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
GIT_DIRTY=False
[[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]] && GIT_DIRTY=True
STRATA_BIN="$TARGET_DIR/release/strata"
FLOOR_BIN="$TARGET_DIR/release/strata-floor"
[[ -x "$STRATA_BIN" && -x "$FLOOR_BIN" ]] || die "missing $STRATA_BIN or $FLOOR_BIN; build them or unset BENCH_SKIP_BUILD"

# Strata's environment: development settings, one worker, quiet logs.
strata_env=(
    env -u RUST_LOG -u DATABASE_URL -u PORT -u JWT_SECRET
    APP_ENV=development
    APP_CONFIG_DIR="$ROOT/config"
    APP__SERVER__HOST="$HOST"
    APP__SERVER__WORKERS=1
    APP__SERVER__SHUTDOWN_TIMEOUT_SECS=2
    APP__LOG__LEVEL=warn
    APP__RATE_LIMIT__ENABLED=false
)
if [[ -n "$DATABASE_URL_FOR_BENCH" ]]; then
    DB_URL="$DATABASE_URL_FOR_BENCH"
    DB_KIND=postgres
    echo "bench: recreating the schema of $(sed -E 's#//[^@]*@#//…@#' <<<"$DB_URL") (strata migrate fresh)"
    (cd "$ROOT" && "${strata_env[@]}" APP__DATABASE__URL="$DB_URL" "$STRATA_BIN" migrate fresh >/dev/null)
else
    DB_URL="sqlite://$WORK/bench.db?mode=rwc"
    DB_KIND=sqlite
fi

wait_ready() { # pid port name log
    local pid=$1 port=$2 name=$3 log=$4
    for _ in $(seq 300); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "bench: $name exited during start-up; its log:" >&2
            tail -n 40 "$log" >&2 || true
            exit 1
        fi
        if python3 - "$port" <<'EOF' 2>/dev/null; then
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=1)
c.request("GET", "/health")
sys.exit(0 if c.getresponse().status == 200 else 1)
EOF
            return 0
        fi
        sleep 0.1
    done
    die "$name did not answer /health on port $port within 30 s (log: $log)"
}

STRATA_PORT="$(free_port)"
echo "bench: starting Strata on $HOST:$STRATA_PORT (CPU $SERVER_CPU, 1 worker, $DB_KIND)"
(cd "$ROOT" && exec "${strata_env[@]}" APP__SERVER__PORT="$STRATA_PORT" APP__DATABASE__URL="$DB_URL" \
    taskset -c "$SERVER_CPU" "$STRATA_BIN" serve) >"$WORK/strata.log" 2>&1 &
STRATA_PID=$!
PIDS+=("$STRATA_PID")
wait_ready "$STRATA_PID" "$STRATA_PORT" Strata "$WORK/strata.log"

FLOOR_PORT="$(free_port)"
echo "bench: starting the floor server on $HOST:$FLOOR_PORT (CPU $SERVER_CPU, 1 worker)"
PORT="$FLOOR_PORT" taskset -c "$SERVER_CPU" "$FLOOR_BIN" >"$WORK/floor.log" 2>&1 &
FLOOR_PID=$!
PIDS+=("$FLOOR_PID")
wait_ready "$FLOOR_PID" "$FLOOR_PORT" "the floor server" "$WORK/floor.log"

STRATA_URL="http://$HOST:$STRATA_PORT"
FLOOR_URL="http://$HOST:$FLOOR_PORT"

kib() { # pid field -> KiB from /proc/PID/status
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# --- Seed -------------------------------------------------------------------
echo "bench: seeding 10,000 items and 1,000 posts with 3 comments each through the API…"
SEED_HWM_BEFORE="$(kib "$STRATA_PID" VmHWM)"
taskset -c "$CLIENT_CPU" python3 "$BENCH/seed.py" "$STRATA_URL" "$WORK/seed" 10000 1000 3
# The catalog (issue #15): an administrator made by the CLI, as an operator would.
ADMIN_PASSWORD="Bench$(python3 -c 'import secrets; print(secrets.token_hex(12))')1"
(cd "$ROOT" && "${strata_env[@]}" APP__DATABASE__URL="$DB_URL" STRATA_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    "$STRATA_BIN" create-admin --email bench-admin@example.com --username bench_admin) >>"$WORK/strata.log" 2>&1 ||
    die "strata create-admin failed (log: $WORK/strata.log)"
taskset -c "$CLIENT_CPU" python3 "$BENCH/seed_catalog.py" "$STRATA_URL" "$WORK/seed" bench_admin "$ADMIN_PASSWORD" 1000
STARTUP_HWM="$SEED_HWM_BEFORE"
SEED_HWM="$(kib "$STRATA_PID" VmHWM)"

# --- Scenarios --------------------------------------------------------------
mkdir -p "$WORK/out"
ROWS="$WORK/rows.jsonl"
: >"$ROWS"
export BENCH_LUA_DIR="$SCENARIOS" BENCH_ITEM_IDS="$WORK/seed/item_ids.txt" BENCH_PRODUCT_IDS="$WORK/seed/product_ids.txt"

# wrk_start OUT_JSON OUT_TXT SECONDS CONNECTIONS TIMEOUT WRK_ARGS...: starts wrk
# pinned to the client CPU in the background; its pid is in WRK_PID and PIDS.
wrk_start() {
    local out=$1 txt=$2 secs=$3 conns=$4 timeout=$5
    shift 5
    BENCH_OUT="$out" taskset -c "$CLIENT_CPU" wrk -t1 -c"$conns" -d"${secs}s" --timeout "${timeout}s" --latency "$@" >"$txt" 2>&1 &
    WRK_PID=$!
    PIDS+=("$WRK_PID")
}

# wrk_wait PID: waits for a wrk started by wrk_start and returns its status.
# (Waiting on a background job keeps Ctrl-C and SIGTERM handled at once.)
wrk_wait() {
    local status=0
    wait "$1" || status=$?
    forget_pid "$1"
    return "$status"
}

# wrk_run: wrk_start, then wrk_wait.
wrk_run() {
    wrk_start "$@"
    wrk_wait "$WRK_PID"
}

# "busy total proc": user+nice+system ticks of the server CPU, all its ticks,
# and the ticks process PID spent. Busy ticks the server did not spend are
# CPU time another process took on the server's core.
cpu_ticks() { # pid
    local cpu proc
    cpu="$(awk -v c="cpu$SERVER_CPU" '$1 == c { print $2 + $3 + $4, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)"
    proc="$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0)"
    echo "$cpu ${proc:-0}"
}

# Percent of the server CPU used by other processes between two cpu_ticks.
foreign_pct() { # "before" "after"
    awk -v a="$1" -v b="$2" 'BEGIN {
        split(a, x, " "); split(b, y, " ");
        total = y[2] - x[2]; other = (y[1] - x[1]) - (y[3] - x[3]);
        if (other < 0) other = 0;
        printf "%.1f", (total > 0 ? 100 * other / total : 0) }'
}

# scenario ROUND NAME SERVER(strata|floor) CONNECTIONS WARM(0|1) WRK_ARGS...
scenario() {
    local round=$1 name=$2 server=$3 conns=$4 warm=$5
    shift 5
    local pid=$STRATA_PID
    [[ "$server" == floor ]] && pid=$FLOOR_PID
    if [[ "$warm" == 1 ]] && ((WARMUP > 0)); then
        wrk_run /dev/null /dev/null "$WARMUP" "$conns" 10 "$@" || true
    fi
    local out="$WORK/out/r$round-p$PAIR-$server-$name.json" before after
    before="$(cpu_ticks "$pid")"
    wrk_run "$out" "${out%.json}.txt" "$DURATION" "$conns" 10 "$@" ||
        die "wrk failed for $name; its output: $(cat "${out%.json}.txt")"
    after="$(cpu_ticks "$pid")"
    [[ -s "$out" ]] || die "wrk wrote no result for $name: $(cat "${out%.json}.txt")"
    record "$round" "$name" "$server" "$pid" "$out" "$conns" "$(foreign_pct "$before" "$after")"
}

record() { # ROUND NAME SERVER PID OUT_JSON CONNECTIONS [FOREIGN_CPU_PCT]
    local hwm rss
    hwm="$(kib "$4" VmHWM)"
    rss="$(kib "$4" VmRSS)"
    printf '{"round": %d, "pair": %d, "scenario": "%s", "server": "%s", "connections": %d, "vmhwm_kib": %d, "vmrss_kib": %d, "foreign_cpu_pct": %s, "wrk": %s}\n' \
        "$1" "$PAIR" "$2" "$3" "$6" "${hwm:-0}" "${rss:-0}" "${7:-null}" "$(tr -d '\n' <"$5")" >>"$ROWS"
    python3 - "$5" "$2" "$3" "${hwm:-0}" "${7:-?}" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
err = sum(r["errors"].values())
print(f"  {sys.argv[3]:>6} {sys.argv[2]:<20} {r['rps']:>10.1f} req/s   p50 {r['latency_ms']['p50']:7.2f} ms   "
      f"p99 {r['latency_ms']['p99']:7.2f} ms   errors {err}   VmHWM {int(sys.argv[4]) / 1024:.1f} MiB   "
      f"other load on the server CPU {sys.argv[5]}%")
EOF
}

AUTH=()
WRITER_AUTH=()
set_token() {
    AUTH=(-H "Authorization: Bearer $(cat "$WORK/seed/token")")
    WRITER_AUTH=(-H "Authorization: Bearer $(cat "$WORK/seed/token_writer")")
}

# The cursor of the 500th page of 20 in the default order: the next_cursor
# of the 499th.
deep_cursor() {
    curl -fsS "${AUTH[@]}" "$STRATA_URL/api/v1/items?limit=20&offset=9960" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["next_cursor"])'
}

# The catalog list's current ETag, for the 304 scenario.
catalog_tag() {
    curl -fsS -o /dev/null -D - "$STRATA_URL/api/v1/products?limit=20" |
        awk 'tolower($1) == "etag:" { sub(/\r$/, ""); print $2 }'
}

run_round() {
    local round=$1
    set_token
    echo "bench: round $round (${DURATION}s per scenario, $CONNECTIONS connections, 1 wrk thread)"
    local report="$SCENARIOS/report.lua"
    # The floor's routes right next to Strata's, alternating, so the ratios
    # compare like with like: one pair of 10 s runs moves by several percent
    # on a shared VM, the median of a few pairs much less (bench/README.md).
    local pair warm
    for pair in $(seq "$PAIRS"); do
        PAIR=$pair
        warm=$((pair == 1 ? 1 : 0))
        scenario "$round" health floor "$CONNECTIONS" "$warm" -s "$report" "$FLOOR_URL/health"
        scenario "$round" health strata "$CONNECTIONS" "$warm" -s "$report" "$STRATA_URL/health"
    done
    for pair in $(seq "$PAIRS"); do
        PAIR=$pair
        warm=$((pair == 1 ? 1 : 0))
        scenario "$round" me floor "$CONNECTIONS" "$warm" -s "$report" "${AUTH[@]}" "$FLOOR_URL/api/v1/users/me"
        scenario "$round" me strata "$CONNECTIONS" "$warm" -s "$report" "${AUTH[@]}" "$STRATA_URL/api/v1/users/me"
    done
    PAIR=1
    scenario "$round" list_items strata "$CONNECTIONS" 1 -s "$report" "${AUTH[@]}" "$STRATA_URL/api/v1/items?limit=20"
    # Issue #20: a title sort must cost what the date sort costs (one index walk).
    scenario "$round" list_items_by_title strata "$CONNECTIONS" 1 -s "$report" "${AUTH[@]}" "$STRATA_URL/api/v1/items?limit=20&sort=title"
    # The 500th page of 20 by keyset (issue #20): it must cost what the first page costs.
    scenario "$round" list_items_deep strata "$CONNECTIONS" 1 -s "$report" "${AUTH[@]}" "$STRATA_URL/api/v1/items?limit=20&cursor=$(deep_cursor)"
    scenario "$round" get_item strata "$CONNECTIONS" 1 -s "$SCENARIOS/get_item.lua" "${AUTH[@]}" "$STRATA_URL"
    scenario "$round" list_posts strata "$CONNECTIONS" 1 -s "$report" "$STRATA_URL/api/v1/posts?limit=20"
    # The same page through GraphQL (issue #18).
    scenario "$round" graphql_posts strata "$CONNECTIONS" 1 -s "$SCENARIOS/graphql_posts.lua" "$STRATA_URL/graphql"
    # The public catalog (issue #15): a page from the response cache, a 304
    # revalidation (the version read only), and a page under a new URL every
    # time (version, query, count, render, store).
    scenario "$round" list_products strata "$CONNECTIONS" 1 -s "$report" "$STRATA_URL/api/v1/products?limit=20"
    scenario "$round" list_products_304 strata "$CONNECTIONS" 1 -s "$report" \
        -H "If-None-Match: $(catalog_tag)" "$STRATA_URL/api/v1/products?limit=20"
    scenario "$round" list_products_miss strata "$CONNECTIONS" 1 -s "$SCENARIOS/list_products_miss.lua" "$STRATA_URL"
    # After the reads: every order moves the catalog version.
    scenario "$round" create_order strata "$CONNECTIONS" 1 -s "$SCENARIOS/create_order.lua" "${WRITER_AUTH[@]}" "$STRATA_URL"
    # As a second account: the first one keeps exactly its 10,000 seeded items
    # in every round, so list_items measures the same work each time.
    scenario "$round" create_item strata "$CONNECTIONS" 1 -s "$SCENARIOS/create_item.lua" "${WRITER_AUTH[@]}" "$STRATA_URL"
    scenario "$round" login strata "$LOGIN_CONNECTIONS" 0 -s "$SCENARIOS/login.lua" "$STRATA_URL"

    # /health while a second wrk keeps the login endpoint (bcrypt) saturated,
    # and just before, in the same server state, the idle baseline it is
    # compared with (the first `health` ran before create_item's writes).
    # A single p99 moves by 2-3x between runs on a shared VM, so the pair is
    # repeated like the floor pairs and the report takes the median ratio.
    # Each baseline waits for the hashes still queued from the previous login
    # client, so they cannot slow the idle run.
    for pair in $(seq "$PAIRS"); do
        PAIR=$pair
        sleep 2
        scenario "$round" health_before_login strata "$CONNECTIONS" 0 -s "$report" "$STRATA_URL/health"
        local bg="$WORK/out/r$round-p$pair-strata-login_background.json"
        wrk_start "$bg" "${bg%.json}.txt" "$((DURATION + 3))" "$LOGIN_CONNECTIONS" 30 \
            -s "$SCENARIOS/login.lua" "$STRATA_URL"
        local bg_pid=$WRK_PID
        sleep 1.5
        scenario "$round" health_during_login strata "$CONNECTIONS" 0 -s "$report" "$STRATA_URL/health"
        wrk_wait "$bg_pid" || die "the background login client failed: $(cat "${bg%.json}.txt")"
        if [[ -s "$bg" ]]; then
            record "$round" login_background strata "$STRATA_PID" "$bg" "$LOGIN_CONNECTIONS" >/dev/null
        fi
    done
    PAIR=1

    printf '{"round": %d, "scenario": "_round_end", "server": "strata", "vmhwm_kib": %d, "vmrss_kib": %d}\n' \
        "$round" "$(kib "$STRATA_PID" VmHWM)" "$(kib "$STRATA_PID" VmRSS)" >>"$ROWS"
    echo "bench: after round $round: Strata VmRSS $(($(kib "$STRATA_PID" VmRSS) / 1024)) MiB, VmHWM $(($(kib "$STRATA_PID" VmHWM) / 1024)) MiB"
}

ROUNDS=1
PAIR=1
[[ "$LEAK_CHECK" == 1 ]] && ROUNDS=3
for round in $(seq "$ROUNDS"); do
    if ((round > 1)); then
        # Access tokens live 15 minutes; log in again for every round.
        taskset -c "$CLIENT_CPU" python3 "$BENCH/seed.py" --token-only "$STRATA_URL" "$WORK/seed"
    fi
    run_round "$round"
done

# --- Report -----------------------------------------------------------------
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$BENCH/results"
python3 - "$WORK/meta.json" <<EOF
import datetime, json, os, platform, subprocess, sys

def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd="$ROOT").stdout.strip()
    except OSError:
        return ""

cpu = ""
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
mem_kib = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal:"))
json.dump({
    "timestamp": "$STAMP",
    "machine": {"cpus": $CPUS, "cpu_model": cpu, "memory_gib": round(mem_kib / 1048576, 1),
                "kernel": platform.release()},
    "git": {"commit": "$GIT_COMMIT", "dirty": $GIT_DIRTY},
    "strata_binary_built": datetime.datetime.fromtimestamp(
        os.path.getmtime("$STRATA_BIN"), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "rustc": sh("rustc", "--version"),
    "wrk": sh("wrk", "--version").splitlines()[0] if sh("wrk", "--version") else "",
    "database": "$DB_KIND",
    "duration_s": $DURATION, "warmup_s": $WARMUP,
    "connections": $CONNECTIONS, "login_connections": $LOGIN_CONNECTIONS, "pairs": $PAIRS,
    "server_cpu": $SERVER_CPU, "client_cpu": $CLIENT_CPU, "rounds": $ROUNDS,
    "seed": json.load(open("$WORK/seed/seed.json")),
    "strata_vmhwm_kib": {"after_startup": ${STARTUP_HWM:-0}, "after_seeding": ${SEED_HWM:-0}},
}, open(sys.argv[1], "w"))
EOF
if ! python3 "$BENCH/report.py" "$WORK/meta.json" "$ROWS" "$BENCH/results/$STAMP"; then
    # The work directory goes on exit; keep the measurements for a re-render.
    cp "$ROWS" "$BENCH/results/$STAMP.rows.jsonl"
    cp "$WORK/meta.json" "$BENCH/results/$STAMP.meta.json"
    die "the report failed; the raw rows are in bench/results/$STAMP.rows.jsonl (re-render: python3 bench/report.py bench/results/$STAMP.meta.json bench/results/$STAMP.rows.jsonl bench/results/$STAMP)"
fi
cp "$BENCH/results/$STAMP.md" "$BENCH/results/latest.md"
echo
echo "bench: wrote bench/results/$STAMP.json, bench/results/$STAMP.md and bench/results/latest.md"
