#!/usr/bin/env bash
# Starts a PostgreSQL cluster of the tests' own, which the job-queue test may
# restart mid-run (the shared one on 5432 must never be restarted under other
# tests), and prints, on stdout and nothing else, the variables it reads:
#
#   eval "$(bash .ci/pg-restartable.sh)"
#   cargo test -p strata --test workers
#   bash .ci/pg-restartable.sh stop
#
#   export TEST_POSTGRES_RESTART_URL=postgres://strata:strata@127.0.0.1:PORT/postgres
#   export TEST_POSTGRES_RESTART_CMD='pg_ctlcluster VERSION strata_restart restart'
#
# The cluster (`strata_restart`, created with pg_createcluster on first use
# and kept for later runs) belongs to this script alone; `stop` stops it.
# Needs root or sudo (pg_ctlcluster switches to the postgres user).
#
# Its autovacuum launcher naps 1 s instead of 60: on PostgreSQL 15 every
# DROP DATABASE waits until each process has absorbed a signal barrier, and
# the launcher absorbs it only when its nap ends, so each test's cleanup
# waited up to a minute (the end-to-end suite spent 9 of its 10 minutes so).
#
# Environment: PG_RESTART_PORT (default 5433), PG_CLUSTER_NAME (default
# strata_restart; .ci/run starts a second one, strata_tests, for
# TEST_POSTGRES_URL, which nothing restarts).
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
sudo_prefix() { if [ "$(id -u)" = 0 ]; then echo ""; else echo "sudo "; fi; }

name="${PG_CLUSTER_NAME:-strata_restart}"
port="${PG_RESTART_PORT:-5433}"
version="$(ls /usr/lib/postgresql | sort -V | tail -1)"

if [ "${1:-}" = stop ]; then
  as_root pg_ctlcluster "$version" "$name" stop >&2 2>/dev/null || true
  exit 0
fi

if ! pg_lsclusters -h | awk -v v="$version" -v n="$name" '$1 == v && $2 == n { found = 1 } END { exit !found }'; then
  as_root pg_createcluster "$version" "$name" -p "$port" >/dev/null
fi
as_root pg_ctlcluster "$version" "$name" start >&2 2>/dev/null || true
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p "$port" && break; sleep 1; done
pg_isready -q -h 127.0.0.1 -p "$port"
as_root su postgres -c "psql -p $port -v ON_ERROR_STOP=1 -qc \"DO \\\$\\\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'strata') THEN
    CREATE ROLE strata LOGIN PASSWORD 'strata' CREATEDB;
  END IF;
END \\\$\\\$;\"" >&2
# authentication_timeout: a test that ends while its server is opening a pool
# connection freezes that client mid-handshake (the test's runtime is blocked
# dropping the database), and DROP DATABASE … WITH (FORCE) then waits for the
# backend stuck in authentication: 60 s by default, per such test.
as_root su postgres -c "psql -p $port -v ON_ERROR_STOP=1 -qc \"ALTER SYSTEM SET autovacuum_naptime = '1s'\" -c \"ALTER SYSTEM SET authentication_timeout = '3s'\" -c 'SELECT pg_reload_conf()'" >/dev/null

echo "export TEST_POSTGRES_RESTART_URL=postgres://strata:strata@127.0.0.1:$port/postgres"
echo "export TEST_POSTGRES_RESTART_CMD='$(sudo_prefix)pg_ctlcluster $version $name restart'"
