#!/usr/bin/env bash
# Plays the runbook in psql against a throwaway cluster (make demo).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh
cluster_start
cp scripts/demo.sql "$CLUSTER_DIR/demo.sql"
chown "$PGUSER_OS" "$CLUSTER_DIR/demo.sql"
cluster_psql -d postgres -f "$CLUSTER_DIR/demo.sql"
