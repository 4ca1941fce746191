#!/usr/bin/env bash
# Plays the runbook in psql against a throwaway cluster (make demo).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh
# Preloaded, so that the block recorder keeps the refused attempts (SPEC §5).
cluster_start "shared_preload_libraries = 'broker_seats'" "broker_seats.block_flush_interval = 200ms"
cp scripts/demo.sql "$CLUSTER_DIR/demo.sql"
chown "$PGUSER_OS" "$CLUSTER_DIR/demo.sql"
cluster_psql -d postgres -f "$CLUSTER_DIR/demo.sql"
