#!/usr/bin/env bash
# Strata's schema fuzzer: Schemathesis against a freshly started server.
#
#   bash fuzz/run.sh [extra schemathesis run options]      (or: make fuzz)
#
# Installs the pinned Schemathesis (fuzz/requirements.txt) into a virtual environment,
# reused while the pins are unchanged; starts `strata serve` on a free port of 127.0.0.1
# with a fresh database; creates an administrator and logs in; then runs every check
# (`--checks all`) through all four phases (examples, coverage, fuzzing, stateful) as that
# administrator, with a fixed seed and a bounded number of examples. Exits non-zero on any
# failure and then prints the server's log. Only the server started here is ever stopped.
# Extra arguments go to `schemathesis run`, e.g. `--include-path-regex '^/api/v1/items'`.
#
# Environment:
#   STRATA_BIN          the strata binary to test (default: cargo build --release -p strata,
#                       then $CARGO_TARGET_DIR/release/strata)
#   CARGO_TARGET_DIR    cargo's target directory (default ./target)
#   FUZZ_DATABASE_URL   a postgres:// URL of an empty database to use (given to the server as
#                       DATABASE_URL); default: a new SQLite file in a temporary directory
#   FUZZ_SEED           Schemathesis seed (default 1)
#   FUZZ_MAX_EXAMPLES   examples per operation and phase (default 100)
#   FUZZ_WORKERS        concurrent Schemathesis workers (default 1; more is faster but the
#                       order of requests, and so a stateful failure, is less reproducible)
#   FUZZ_VENV           the virtual environment (default $CARGO_TARGET_DIR/fuzz-venv)
#   FUZZ_REPORT_DIR     when set, JUnit and NDJSON reports are written there
#   FUZZ_KEEP=1         keep the temporary directory (database, server log)

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
CARGO="${CARGO:-cargo}"
SEED="${FUZZ_SEED:-1}"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-100}"
WORKERS="${FUZZ_WORKERS:-1}"
VENV="${FUZZ_VENV:-$TARGET_DIR/fuzz-venv}"
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
REQUIREMENTS="$ROOT/fuzz/requirements.txt"
CONFIG="$ROOT/fuzz/schemathesis.toml"
HOST=127.0.0.1

die() {
    echo "fuzz: $*" >&2
    exit 1
}

for n in "$SEED" "$MAX_EXAMPLES" "$WORKERS"; do
    [[ "$n" =~ ^[0-9]+$ ]] || die "expected a whole number, got '$n' (see the variables at the top of fuzz/run.sh)"
done
((MAX_EXAMPLES >= 1 && WORKERS >= 1)) || die "FUZZ_MAX_EXAMPLES and FUZZ_WORKERS must be at least 1"
command -v python3 >/dev/null 2>&1 || die "python3 is not installed (sudo apt-get install python3 python3-venv)"
command -v curl >/dev/null 2>&1 || die "curl is not installed (sudo apt-get install curl)"
if [[ -n "${FUZZ_DATABASE_URL:-}" ]]; then
    case "$FUZZ_DATABASE_URL" in
    postgres://* | postgresql://*) ;;
    *) die "FUZZ_DATABASE_URL must be a postgres:// URL" ;;
    esac
fi

# --- Cleanup: the server started here is stopped on exit, Ctrl-C included ---
WORK="$(mktemp -d "${TMPDIR:-/tmp}/strata-fuzz.XXXXXX")"
LOG="$WORK/server.log"
SERVER_PID=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n "$SERVER_PID" ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if ((status != 0)) && [[ -s "$LOG" ]]; then
        echo "fuzz: ---- server log ($LOG) ----" >&2
        # Without the terminal colours of the pretty log format.
        sed 's/\x1b\[[0-9;]*m//g' "$LOG" >&2
        echo "fuzz: ---- end of server log ----" >&2
    fi
    if [[ "${FUZZ_KEEP:-0}" == 1 ]]; then
        echo "fuzz: kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'echo "fuzz: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

# --- Schemathesis, pinned, in its own virtual environment ------------------
SCHEMATHESIS_VERSION="$(sed -n 's/^schemathesis==//p' "$REQUIREMENTS")"
[[ -n "$SCHEMATHESIS_VERSION" ]] || die "$REQUIREMENTS does not pin schemathesis"
STAMP="$VENV/strata-requirements.txt"
if [[ ! -x "$VENV/bin/schemathesis" ]] || ! cmp -s "$REQUIREMENTS" "$STAMP"; then
    python3 -c 'import ensurepip, venv' 2>/dev/null \
        || die "python3 cannot create virtual environments (sudo apt-get install python3-venv)"
    echo "fuzz: installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv --clear "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$STAMP"
fi
installed="$("$VENV/bin/schemathesis" --version)"
[[ "$installed" == *" $SCHEMATHESIS_VERSION" ]] \
    || die "$VENV has '$installed', expected $SCHEMATHESIS_VERSION; delete $VENV and retry"

# --- The binary -------------------------------------------------------------
if [[ -z "${STRATA_BIN:-}" ]]; then
    echo "fuzz: building the release binary ($CARGO build --release -p strata)…"
    (cd "$ROOT" && "$CARGO" build --release -p strata)
    STRATA_BIN="$TARGET_DIR/release/strata"
fi
case "$STRATA_BIN" in
/*) ;;
*/*) STRATA_BIN="$PWD/$STRATA_BIN" ;;
*) STRATA_BIN="$(command -v "$STRATA_BIN" || echo "$STRATA_BIN")" ;;
esac
[[ -f "$STRATA_BIN" && -x "$STRATA_BIN" ]] || die "STRATA_BIN=$STRATA_BIN is not an executable file"

# --- The server: test settings, a fresh database, no rate limits ------------
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
BASE="http://$HOST:$PORT"

# Nothing from the caller's environment reaches the server's settings but what is set here.
strata_env=(env -u DATABASE_URL -u PORT -u JWT_SECRET -u RUST_LOG)
while IFS= read -r name; do
    strata_env+=(-u "$name")
done < <(compgen -e | grep '^APP__' || true)
strata_env+=(
    APP_ENV=test
    APP_CONFIG_DIR="$ROOT/config"
    APP__SERVER__HOST="$HOST"
    APP__SERVER__PORT="$PORT"
    APP__RATE_LIMIT__ENABLED=false
    # Outlives the slowest run: the fuzzer logs in once.
    APP__AUTH__ACCESS_TTL_SECS=3600
)
if [[ -n "${FUZZ_DATABASE_URL:-}" ]]; then
    strata_env+=(DATABASE_URL="$FUZZ_DATABASE_URL")
    DB_DESCRIPTION="PostgreSQL (FUZZ_DATABASE_URL)"
else
    strata_env+=(APP__DATABASE__URL="sqlite://$WORK/fuzz.db?mode=rwc")
    DB_DESCRIPTION="SQLite ($WORK/fuzz.db)"
fi

echo "fuzz: starting $STRATA_BIN serve on $BASE, $DB_DESCRIPTION"
(cd "$WORK" && exec "${strata_env[@]}" "$STRATA_BIN" serve) >"$LOG" 2>&1 &
SERVER_PID=$!
ready=0
for _ in $(seq 600); do
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited during start-up"
    if curl -fsS -o /dev/null --max-time 2 "$BASE/health/ready" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.1
done
((ready == 1)) || die "the server was not ready within 60 s"

# --- An administrator, and its access token ---------------------------------
# A random password: the schema's examples (e.g. "Secret123") must never be the admin's,
# or DELETE /users/me and PUT /auth/password could take the fuzzer's account away.
ADMIN_USERNAME=fuzz_admin
ADMIN_PASSWORD="Fz1$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
(cd "$WORK" && exec "${strata_env[@]}" STRATA_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    "$STRATA_BIN" create-admin --email fuzz-admin@example.com --username "$ADMIN_USERNAME") \
    >>"$LOG" 2>&1 || die "strata create-admin failed"
login="$(curl -sS --max-time 30 -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$ADMIN_USERNAME\",\"password\":\"$ADMIN_PASSWORD\"}")" || die "login request failed"
TOKEN="$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["access_token"])' "$login" 2>/dev/null)" \
    || die "login answered without an access token: $login"
role="$(curl -fsS --max-time 30 "$BASE/api/v1/users/me" -H "Authorization: Bearer $TOKEN" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["role"])')" || die "GET /api/v1/users/me failed"
[[ "$role" == admin ]] || die "the fuzzer's account has role '$role', expected admin"

# --- Schemathesis -----------------------------------------------------------
st_args=(
    --config-file "$CONFIG"
    run "$BASE/openapi.json"
    --checks all
    --phases examples,coverage,fuzzing,stateful
    --seed "$SEED"
    --max-examples "$MAX_EXAMPLES"
    --workers "$WORKERS"
    --header "Authorization: Bearer $TOKEN"
)
if [[ -n "${FUZZ_REPORT_DIR:-}" ]]; then
    mkdir -p "$FUZZ_REPORT_DIR"
    st_args+=(--report junit,ndjson --report-dir "$(cd "$FUZZ_REPORT_DIR" && pwd)")
fi
st_args+=("$@")

echo "fuzz: schemathesis $SCHEMATHESIS_VERSION, seed $SEED, $MAX_EXAMPLES examples, $WORKERS worker(s)"
echo "fuzz: schemathesis ${st_args[*]/#Authorization: Bearer */Authorization: Bearer ***}"
started=$SECONDS
status=0
# From the temporary directory: whatever Schemathesis writes next to itself is thrown away.
# fuzz/hooks.py gives every request a fresh Idempotency-Key (the reason is in that file).
(cd "$WORK" && SCHEMATHESIS_HOOKS="$ROOT/fuzz/hooks.py" exec "$VENV/bin/schemathesis" "${st_args[@]}") || status=$?
echo "fuzz: schemathesis finished in $((SECONDS - started)) s with exit status $status"
kill -0 "$SERVER_PID" 2>/dev/null || { echo "fuzz: the server died during the run" >&2; status=1; }
exit "$status"
