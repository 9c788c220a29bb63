# Strata developer commands. Every target works on a fresh machine with a Rust
# toolchain; `make test` also runs the PostgreSQL variants when
# TEST_POSTGRES_URL is set.

CARGO ?= cargo

.PHONY: run test check scaffold-check fmt clippy migrate openapi bench bench-jobs bench-realtime build release fuzz cluster cluster-stop cluster-test

## Serve on 127.0.0.1:8080 with SQLite (data/strata.db), migrations applied; docs at /docs
run:
	$(CARGO) run -p strata -- serve

## Every crate's tests: unit, repository (SQLite, + PostgreSQL with TEST_POSTGRES_URL), end-to-end
test:
	$(CARGO) test --workspace

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Formatting, lints as errors, then all tests
check: fmt clippy test

## Apply pending migrations to the configured database
migrate:
	$(CARGO) run -p strata -- migrate up

## Write the OpenAPI document to openapi.json
openapi:
	$(CARGO) run -q -p strata -- openapi > openapi.json
	@echo "wrote openapi.json"

build:
	$(CARGO) build --workspace

release:
	$(CARGO) build --release -p strata

## Load benchmark (see bench/README.md)
bench:
	bash bench/run.sh

## Job queue benchmark: jobs/s and enqueue-to-start latency (SQLite; PostgreSQL with BENCH_POSTGRES_URL)
bench-jobs:
	CARGO="$(CARGO)" bash bench/jobs.sh

## WebSocket benchmark: 1,000 sockets, 5,000 messages/s through Redis (needs a Redis server)
bench-realtime:
	bash bench/realtime.sh

## Schema fuzzing (Schemathesis, every check, fixed seed) against a fresh server as an admin.
## SQLite by default; FUZZ_DATABASE_URL=postgres://… for an empty PostgreSQL database;
## STRATA_BIN=… to test a given binary instead of a release build (see fuzz/run.sh)
fuzz:
	CARGO="$(CARGO)" bash fuzz/run.sh

## A cluster on loopback: PostgreSQL, Redis, 3 instances, 2 workers, nginx on :8080 (deploy/cluster.sh)
cluster:
	CARGO="$(CARGO)" bash deploy/cluster.sh start

cluster-stop:
	bash deploy/cluster.sh stop

## The cluster under faults (instance and worker SIGKILLs, Redis and PostgreSQL restarts)
cluster-test:
	CARGO="$(CARGO)" bash deploy/cluster-test.sh

# cargo xtask scaffold, one resource of each flavour, on a throw-away copy of
# the workspace, with that copy's fmt, clippy and tests of the generated code.
scaffold-check:
	bash .ci/scaffold-check.sh
