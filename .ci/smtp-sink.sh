#!/usr/bin/env bash
# Starts the SMTP sink that strata-mail's tests deliver to (crates/mail/tests/smtp_sink.py,
# a real aiosmtpd server) and prints, on stdout and nothing else, the variables they read:
#
#   eval "$(bash .ci/smtp-sink.sh)"
#   cargo test -p strata-mail
#   kill "$SMTP_SINK_PID"
#
# Installs the pinned aiosmtpd (crates/mail/tests/smtp_sink_requirements.txt) into a virtual
# environment, reused while the pins are unchanged; starts the sink in the background on
# 127.0.0.1, storing messages in a new temporary directory; waits until the port accepts
# connections; then prints
#
#   export TEST_SMTP_URL=smtp://127.0.0.1:PORT TEST_SMTP_SINK_DIR=DIR SMTP_SINK_PID=PID
#
# It never reuses or stops a server it did not start: a port already in use is an error.
# The sink's own log is DIR/../sink.log.
#
# Environment:
#   SMTP_SINK_PORT      the port (default 2525)
#   SMTP_SINK_VENV      the virtual environment (default $CARGO_TARGET_DIR/mail-venv)
#   CARGO_TARGET_DIR    cargo's target directory (default ./target)
#   CI                  when "true" and python3 cannot make a virtual environment, python3-venv
#                       is installed with apt-get (elsewhere the script says what to install)

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
VENV="${SMTP_SINK_VENV:-$TARGET_DIR/mail-venv}"
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
PORT="${SMTP_SINK_PORT:-2525}"
HOST=127.0.0.1
SINK="$ROOT/crates/mail/tests/smtp_sink.py"
REQUIREMENTS="$ROOT/crates/mail/tests/smtp_sink_requirements.txt"

# Everything but the final export line goes to stderr, so stdout can be eval'ed.
say() { echo "smtp-sink: $*" >&2; }
die() {
    say "$*"
    exit 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
accepts() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

[[ "$PORT" =~ ^[0-9]+$ ]] && ((10#$PORT >= 1 && 10#$PORT <= 65535)) || die "SMTP_SINK_PORT must be a port number, got '$PORT'"
# Loudly, rather than testing against whatever else answers there.
if accepts; then
    die "something already listens on $HOST:$PORT; stop it or choose another SMTP_SINK_PORT"
fi

# --- aiosmtpd, pinned, in its own virtual environment -----------------------
command -v python3 >/dev/null 2>&1 || die "python3 is not installed (sudo apt-get install python3 python3-venv)"
STAMP="$VENV/strata-requirements.txt"
if [[ ! -x "$VENV/bin/python" ]] || ! cmp -s "$REQUIREMENTS" "$STAMP"; then
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        if [[ "${CI:-}" == true ]]; then
            say "installing python3-venv"
            as_root apt-get update -qq >&2
            DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends python3-venv >&2
        else
            die "python3 cannot create virtual environments (sudo apt-get install python3-venv)"
        fi
    fi
    say "installing $(grep '^aiosmtpd==' "$REQUIREMENTS") into $VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv --clear "$VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS" >&2
    cp "$REQUIREMENTS" "$STAMP"
fi

# --- The sink ---------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/strata-smtp-sink.XXXXXX")"
DIR="$WORK/messages"
LOG="$WORK/sink.log"
mkdir -p "$DIR"
# Detached from this script's stdout (or `$(…)` would wait for the sink to end) and
# from its session, so it outlives the script.
setsid "$VENV/bin/python" "$SINK" --host "$HOST" --port "$PORT" "$DIR" </dev/null >"$LOG" 2>&1 &
PID=$!

for _ in $(seq 100); do
    if ! kill -0 "$PID" 2>/dev/null; then
        cat "$LOG" >&2
        die "the sink exited during start-up (log above)"
    fi
    if grep -q '^ready ' "$LOG" && accepts; then
        say "listening on $HOST:$PORT (pid $PID), messages in $DIR"
        echo "export TEST_SMTP_URL=smtp://$HOST:$PORT TEST_SMTP_SINK_DIR=$DIR SMTP_SINK_PID=$PID"
        exit 0
    fi
    sleep 0.1
done
kill "$PID" 2>/dev/null || true
cat "$LOG" >&2
die "the sink did not accept connections on $HOST:$PORT within 10 s (log above)"
