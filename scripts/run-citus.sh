#!/usr/bin/env bash
# The Citus suite (test/citus): builds Citus from the source tarball named by
# CITUS_SRC (scripts/build-citus.sh) unless this PostgreSQL has it already,
# then runs the suite's TAP tests (a coordinator and two workers each).
# Without either it is skipped, with one line that says so: Citus is not in
# Debian's archive, and this project never carries its code.
set -euo pipefail
cd "$(dirname "$0")/.."
pkglibdir=$(/usr/lib/postgresql/15/bin/pg_config --pkglibdir)
if [ -n "${CITUS_SRC:-}" ] && [ -f "$CITUS_SRC" ]; then
  scripts/build-citus.sh
elif [ ! -f "$pkglibdir/citus.so" ]; then
  echo "citus: skipped: no Citus (set CITUS_SRC to a Citus 13 source tarball; docs/citus.md)"
  exit 0
fi
TAP_DIR=test/citus bash scripts/run-tap.sh "$@"
