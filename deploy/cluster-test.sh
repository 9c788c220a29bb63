#!/usr/bin/env bash
# make cluster-test: a fresh cluster (deploy/cluster.sh), the fault test
# (deploy/cluster_test.py, at most 5 minutes), and the cluster stopped
# whatever happened. On failure the processes' logs are kept in .cluster/logs.
set -uo pipefail
cd "$(dirname "$0")/.."
trap 'bash deploy/cluster.sh stop' EXIT
CLUSTER_FRESH=1 bash deploy/cluster.sh start || exit 1
timeout 300 python3 deploy/cluster_test.py
