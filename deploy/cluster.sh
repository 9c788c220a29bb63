#!/usr/bin/env bash
# A Strata cluster on loopback, as an operator runs one (docs/operations.md,
# "A cluster on one machine"): PostgreSQL, Redis, 3 `strata serve --no-workers`
# instances, 2 `strata worker` processes and nginx in front, each with its
# own log under $CLUSTER_DIR/logs.
#
#   bash deploy/cluster.sh start      (make cluster)
#   bash deploy/cluster.sh status
#   bash deploy/cluster.sh stop       (make cluster-stop)
#   bash deploy/cluster.sh strata ARGS…   a strata command with the cluster's environment
#
# It installs nothing; what it needs (Debian packages): postgresql,
# redis-server, nginx, curl, openssl. Strata is configured through the
# environment alone (written to $CLUSTER_DIR/strata.env), as on a platform
# like Railway; migrations run once as the release step, before the
# instances start. `stop` stops only what `start` started (its pid files).
#
# Environment:
#   STRATA_BIN       the strata binary (default: cargo build --release -p strata)
#   CLUSTER_DIR      state, logs and job files (default ./.cluster)
#   CLUSTER_PORT     nginx's port (default 8080); instances on the next 3 ports
#   CLUSTER_PG_PORT  PostgreSQL's port (default 5435)
#   CLUSTER_REDIS_PORT  Redis's port (default 6390)
#   CLUSTER_FRESH=1  start from an empty database and no job files
#   CLUSTER_RATE_PER_MINUTE  rate_limit.per_minute (default 600, so that the
#                    cluster test's traffic is not throttled; logins keep 5)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${CLUSTER_DIR:-$ROOT/.cluster}"
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
PORT="${CLUSTER_PORT:-8080}"
PG_PORT="${CLUSTER_PG_PORT:-5435}"
REDIS_PORT="${CLUSTER_REDIS_PORT:-6390}"
INSTANCES=3
WORKERS=2
PG_NAME=strata_cluster
LOGS="$DIR/logs"
PIDS="$DIR/pids"

die() {
    echo "cluster: $*" >&2
    exit 1
}
say() { echo "cluster: $*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

instance_port() { echo $((PORT + $1)); }
worker_metrics_port() { echo $((9190 + $1)); }

need() {
    local missing=()
    for cmd in pg_createcluster pg_ctlcluster redis-server redis-cli nginx curl openssl; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
    if ((${#missing[@]})); then
        die "missing: ${missing[*]} (sudo apt-get install postgresql redis-server nginx curl openssl)"
    fi
    if [ "$(id -u)" != 0 ] && ! sudo -n true 2>/dev/null; then
        die "PostgreSQL's cluster is managed with pg_ctlcluster: run as root or with passwordless sudo"
    fi
}

binary() {
    if [[ -n "${STRATA_BIN:-}" ]]; then
        [[ -x "$STRATA_BIN" ]] || die "STRATA_BIN=$STRATA_BIN is not executable"
        echo "$STRATA_BIN"
        return
    fi
    local target="${CARGO_TARGET_DIR:-$ROOT/target}"
    case "$target" in /*) ;; *) target="$ROOT/$target" ;; esac
    (cd "$ROOT" && "${CARGO:-cargo}" build --release -q -p strata) >&2
    echo "$target/release/strata"
}

pg_version() { ls /usr/lib/postgresql | sort -V | tail -1; }

wait_for() { # what, seconds, command...
    local what="$1" seconds="$2"
    shift 2
    for _ in $(seq 1 $((seconds * 10))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    die "$what did not come up within ${seconds}s (logs in $LOGS)"
}

alive() { [[ -f "$PIDS/$1" ]] && kill -0 "$(cat "$PIDS/$1")" 2>/dev/null; }

start_postgres() {
    local version
    version="$(pg_version)"
    if ! pg_lsclusters -h | awk -v v="$version" -v n="$PG_NAME" '$1 == v && $2 == n { f = 1 } END { exit !f }'; then
        as_root pg_createcluster "$version" "$PG_NAME" -p "$PG_PORT" >/dev/null
    fi
    as_root pg_ctlcluster "$version" "$PG_NAME" start 2>/dev/null || true
    echo "$version $PG_NAME" >"$PIDS/postgres.cluster"
    wait_for "PostgreSQL" 30 pg_isready -q -h 127.0.0.1 -p "$PG_PORT"
    as_root su postgres -c "psql -p $PG_PORT -v ON_ERROR_STOP=1 -qc \"DO \\\$\\\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'strata') THEN
        CREATE ROLE strata LOGIN PASSWORD 'strata';
      END IF;
    END \\\$\\\$;\"" >/dev/null
    if [[ "${CLUSTER_FRESH:-0}" = 1 ]]; then
        as_root su postgres -c "dropdb -p $PG_PORT --if-exists --force strata"
        rm -rf "$DIR/files"
    fi
    if ! as_root su postgres -c "psql -p $PG_PORT -tAc \"SELECT 1 FROM pg_database WHERE datname = 'strata'\"" | grep -q 1; then
        as_root su postgres -c "createdb -p $PG_PORT -O strata strata"
    fi
}

start_redis() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
        --pidfile "$PIDS/redis.pid" --logfile "$LOGS/redis.log" --dir "$DIR"
    wait_for "Redis" 10 redis-cli -p "$REDIS_PORT" ping
    # redis-server writes its pid file itself.
    cp "$PIDS/redis.pid" "$PIDS/redis" 2>/dev/null || true
}

write_env() {
    # A new secret per cluster, shared by every process of it.
    cat >"$DIR/strata.env" <<EOF
APP_ENV=production
APP__SERVER__HOST=127.0.0.1
DATABASE_URL=postgres://strata:strata@127.0.0.1:$PG_PORT/strata
JWT_SECRET=$(openssl rand -hex 32)
APP__REDIS__URL=redis://127.0.0.1:$REDIS_PORT
APP__RATE_LIMIT__TRUSTED_PROXIES=127.0.0.1
APP__RATE_LIMIT__PER_MINUTE=${CLUSTER_RATE_PER_MINUTE:-600}
APP__STORAGE__DIR=$DIR/files
APP__JOBS__WORKERS=2
APP__MAIL__TRANSPORT=log
APP__LOG__FORMAT=json
EOF
    mkdir -p "$DIR/files"
}

run_strata() { # name, args...
    local name="$1"
    shift
    (
        set -a
        # shellcheck disable=SC1091
        . "$DIR/strata.env"
        set +a
        exec "$STRATA" "$@"
    ) >>"$LOGS/$name.log" 2>&1 &
    echo $! >"$PIDS/$name"
}

# Starts one Strata process: instance-N (API on its port) or worker-N.
spawn() {
    local name="$1" n="${1##*-}"
    case "$name" in
    instance-[1-9]) (export PORT="$(instance_port "$n")" && run_strata "$name" serve --no-workers) ;;
    worker-[1-9]) run_strata "$name" worker --metrics-addr "127.0.0.1:$(worker_metrics_port "$n")" ;;
    *) die "no process named $name" ;;
    esac
}

healthy() {
    local name="$1" n="${1##*-}"
    case "$name" in
    instance-*) wait_for "$name" 30 curl -fsS "http://127.0.0.1:$(instance_port "$n")/health/ready" ;;
    worker-*) wait_for "$name" 30 curl -fsS "http://127.0.0.1:$(worker_metrics_port "$n")/health" ;;
    esac
}

start_nginx() {
    # The shipped configuration, with this cluster's ports.
    sed -e "s/listen 80;/listen 127.0.0.1:$PORT;/" \
        -e "s/server 127.0.0.1:8081 /server 127.0.0.1:$(instance_port 1) /" \
        -e "s/server 127.0.0.1:8082 /server 127.0.0.1:$(instance_port 2) /" \
        -e "s/server 127.0.0.1:8083 /server 127.0.0.1:$(instance_port 3) /" \
        "$ROOT/deploy/nginx/strata.conf" >"$DIR/strata.conf"
    cat >"$DIR/nginx.conf" <<EOF
pid $PIDS/nginx;
error_log $LOGS/nginx-error.log;
daemon on;
events {}
http {
    access_log $LOGS/nginx-access.log;
    client_body_temp_path $DIR/nginx-body;
    proxy_temp_path $DIR/nginx-proxy;
    include $DIR/strata.conf;
}
EOF
    nginx -p "$DIR" -c "$DIR/nginx.conf"
}

start() {
    need
    if alive nginx || alive instance-1; then
        die "already running (bash deploy/cluster.sh stop first)"
    fi
    mkdir -p "$LOGS" "$PIDS"
    STRATA="$(binary)"
    # Respawned processes run the same binary.
    echo "$STRATA" >"$DIR/strata.bin"
    say "PostgreSQL on $PG_PORT, Redis on $REDIS_PORT"
    start_postgres
    start_redis
    write_env
    say "release step: strata migrate up"
    (set -a && . "$DIR/strata.env" && set +a && "$STRATA" migrate up) >>"$LOGS/migrate.log" 2>&1 \
        || die "migrations failed (see $LOGS/migrate.log)"
    for n in $(seq 1 "$INSTANCES"); do spawn "instance-$n"; done
    for n in $(seq 1 "$WORKERS"); do spawn "worker-$n"; done
    for n in $(seq 1 "$INSTANCES"); do healthy "instance-$n"; done
    for n in $(seq 1 "$WORKERS"); do healthy "worker-$n"; done
    start_nginx
    wait_for "nginx" 10 curl -fsS "http://127.0.0.1:$PORT/health/ready"
    say "up: http://127.0.0.1:$PORT (instances $(instance_port 1)-$(instance_port "$INSTANCES"), workers' metrics on $(worker_metrics_port 1)-$(worker_metrics_port "$WORKERS")); logs in $LOGS"
}

stop_pid() { # name
    local name="$1" pid
    [[ -f "$PIDS/$name" ]] || return 0
    pid="$(cat "$PIDS/$name")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDS/$name"
}

stop() {
    [[ -d "$PIDS" ]] || { say "nothing to stop"; return 0; }
    if [[ -f "$PIDS/nginx" ]]; then
        nginx -p "$DIR" -c "$DIR/nginx.conf" -s quit 2>/dev/null || stop_pid nginx
        for _ in $(seq 1 50); do [[ -f "$PIDS/nginx" ]] || break; sleep 0.1; done
        rm -f "$PIDS/nginx"
    fi
    for name in instance-1 instance-2 instance-3 worker-1 worker-2; do stop_pid "$name"; done
    if [[ -f "$PIDS/redis.pid" ]]; then
        redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || stop_pid redis.pid
        rm -f "$PIDS/redis.pid" "$PIDS/redis"
    fi
    if [[ -f "$PIDS/postgres.cluster" ]]; then
        read -r version name <"$PIDS/postgres.cluster"
        as_root pg_ctlcluster "$version" "$name" stop 2>/dev/null || true
        rm -f "$PIDS/postgres.cluster"
    fi
    say "stopped"
}

status() {
    for name in instance-1 instance-2 instance-3 worker-1 worker-2 nginx; do
        if alive "$name"; then echo "$name: up (pid $(cat "$PIDS/$name"))"; else echo "$name: down"; fi
    done
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && echo "redis: up" || echo "redis: down"
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && echo "postgres: up" || echo "postgres: down"
}

# Fault injection for the cluster test: `kill NAME` (SIGKILL), `respawn NAME`
# (start it again, wait until healthy), `restart-redis`, `restart-postgres`
# (or its halves `stop-postgres` and `start-postgres`).
case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
kill)
    [[ -n "${2:-}" ]] && alive "$2" || die "$2 is not running"
    kill -KILL "$(cat "$PIDS/$2")"
    ;;
respawn)
    [[ -n "${2:-}" ]] || die "respawn what?"
    alive "$2" && die "$2 is running"
    STRATA="$(cat "$DIR/strata.bin")"
    spawn "$2"
    healthy "$2"
    ;;
restart-redis)
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    sleep "${3:-1}"
    start_redis
    ;;
restart-postgres | stop-postgres | start-postgres)
    read -r version name <"$PIDS/postgres.cluster"
    as_root pg_ctlcluster "$version" "$name" "${1%-postgres}"
    ;;
strata)
    # Any strata command with the cluster's environment, as an operator
    # runs one-off tasks (`strata create-admin`, `strata backup`, …).
    shift
    [[ -f "$DIR/strata.bin" ]] || die "the cluster was never started"
    set -a && . "$DIR/strata.env" && set +a
    exec "$(cat "$DIR/strata.bin")" "$@"
    ;;
*) die "usage: bash deploy/cluster.sh start|stop|status|kill NAME|respawn NAME|restart-redis|restart-postgres|stop-postgres|start-postgres|strata ARGS…" ;;
esac
