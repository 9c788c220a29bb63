#!/usr/bin/env bash
# Starts the OpenID provider the end-to-end tests sign in with
# (tests/oidc-provider/provider.mjs: the npm package oauth2-mock-server 8, a
# real provider on loopback) and prints, on stdout and nothing else, the
# variables the tests read:
#
#   eval "$(bash .ci/oidc-provider.sh)"
#   cargo test -p strata-tests --test oidc
#   kill "$OIDC_PROVIDER_PID"
#
# Installs the pinned package (tests/oidc-provider/package.json) with npm into
# a directory under $CARGO_TARGET_DIR, reused while the pin is unchanged;
# starts the provider in the background on 127.0.0.1; waits until it answers
# discovery; then prints
#
#   export TEST_OIDC_ISSUER=http://127.0.0.1:PORT OIDC_PROVIDER_PID=PID
#
# It never reuses or stops a server it did not start: a port already in use is
# an error. The provider's log is in the printed work directory.
#
# Environment:
#   OIDC_PROVIDER_PORT  the port (default 9400)
#   OIDC_PROVIDER_DIR   where the package is installed (default $CARGO_TARGET_DIR/oidc-provider)
#   CARGO_TARGET_DIR    cargo's target directory (default ./target)
#   CI                  when "true" and node or npm is missing, nodejs and npm are
#                       installed with apt-get (elsewhere the script says what to install)

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
DIR="${OIDC_PROVIDER_DIR:-$TARGET_DIR/oidc-provider}"
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
PORT="${OIDC_PROVIDER_PORT:-9400}"
HOST=127.0.0.1
SOURCE="$ROOT/tests/oidc-provider"

say() { echo "oidc-provider: $*" >&2; }
die() {
    say "$*"
    exit 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
accepts() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

[[ "$PORT" =~ ^[0-9]+$ ]] && ((10#$PORT >= 1 && 10#$PORT <= 65535)) || die "OIDC_PROVIDER_PORT must be a port number, got '$PORT'"
if accepts; then
    die "something already listens on $HOST:$PORT; stop it or choose another OIDC_PROVIDER_PORT"
fi

# --- Node and the pinned package --------------------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    if [[ "${CI:-}" == true ]]; then
        say "installing nodejs and npm"
        as_root apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends nodejs npm >&2
    else
        die "node and npm are needed (Node 20.19 or later; sudo apt-get install nodejs npm)"
    fi
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
((major >= 20)) || die "oauth2-mock-server 8 needs Node 20.19 or later, this is $(node --version)"

STAMP="$DIR/strata-package.json"
if [[ ! -d "$DIR/node_modules/oauth2-mock-server" ]] || ! cmp -s "$SOURCE/package.json" "$STAMP"; then
    say "installing $(grep -o '"oauth2-mock-server": "[^"]*"' "$SOURCE/package.json") into $DIR"
    mkdir -p "$DIR"
    cp "$SOURCE/package.json" "$DIR/package.json"
    (cd "$DIR" && npm install --no-audit --no-fund --silent --no-package-lock >&2)
    cp "$SOURCE/package.json" "$STAMP"
fi
cp "$SOURCE/provider.mjs" "$DIR/provider.mjs"

# --- The provider -----------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/strata-oidc-provider.XXXXXX")"
LOG="$WORK/provider.log"
# Detached from this script's stdout (or `$(…)` would wait for it) and from
# its session, so it outlives the script.
setsid node "$DIR/provider.mjs" "$HOST" "$PORT" </dev/null >"$LOG" 2>&1 &
PID=$!

for _ in $(seq 100); do
    if ! kill -0 "$PID" 2>/dev/null; then
        cat "$LOG" >&2
        die "the provider exited during start-up (log above)"
    fi
    if grep -q '^ready ' "$LOG" && accepts; then
        ISSUER="$(sed -n 's/^ready //p' "$LOG" | head -1)"
        say "listening on $HOST:$PORT (pid $PID), issuer $ISSUER, log $LOG"
        echo "export TEST_OIDC_ISSUER=$ISSUER OIDC_PROVIDER_PID=$PID"
        exit 0
    fi
    sleep 0.1
done
kill "$PID" 2>/dev/null || true
cat "$LOG" >&2
die "the provider did not accept connections on $HOST:$PORT within 10 s (log above)"
