#!/usr/bin/env bash
# Plays the runbook in psql against a throwaway cluster (make demo).
# KEEP=1 leaves the cluster running and prints how to connect.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh
# Preloaded, so that the block recorder keeps the refused attempts (SPEC §5).
cluster_start "shared_preload_libraries = 'broker_seats'" "broker_seats.block_flush_interval = 200ms"
cp scripts/demo.sql "$CLUSTER_DIR/demo.sql"
chown "$PGUSER_OS" "$CLUSTER_DIR/demo.sql"
cluster_psql -d postgres -f "$CLUSTER_DIR/demo.sql" 2>&1 | sed -E 's/^psql:[^:]+:[0-9]+: //'
if [ -n "${KEEP:-}" ]; then
  trap - EXIT
  echo
  echo "The demo's cluster is still running (database postgres, as it was left):"
  echo "  psql -h $PGHOST -p $PGPORT -U postgres postgres"
  echo "Stop and remove it with:"
  echo "  runuser -u $PGUSER_OS -- $PGBIN/pg_ctl -D $CLUSTER_DIR/data stop && rm -rf $CLUSTER_DIR"
fi
