#!/usr/bin/env bash
# Every test of broker_seats against a throwaway cluster: GoogleTest unit
# tests (ctest), pg_regress (sql/, expected/) and pg_isolation_regress
# (test/isolation/). Assumes the extension is built and installed (make test
# does both). Prints a summary and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source scripts/cluster.sh

PGXS_DIR=$(dirname "$(/usr/lib/postgresql/15/bin/pg_config --pgxs)")/..
PG_REGRESS=$PGXS_DIR/test/regress/pg_regress
PG_ISOLATION_REGRESS=$PGXS_DIR/test/isolation/pg_isolation_regress

declare -a summary
failed=0
record() { # name status
  summary+=("$(printf '%-14s %s' "$1" "$2")")
  [ "$2" = ok ] || failed=1
}

# 1. Unit tests of the pure C++ core.
if bash scripts/run-unit.sh; then record unit ok; else record unit FAILED; fi

# 2. A throwaway cluster; the suites run from a copy the postgres user owns.
cluster_start || { echo "could not start a cluster"; exit 1; }
work=$CLUSTER_DIR/work
mkdir -p "$work"
cp -r sql expected "$work/"
mkdir -p "$work/isolation" && cp -r test/isolation/specs test/isolation/expected "$work/isolation/"
chown -R "$PGUSER_OS" "$work"

regress_tests=$(cd sql && ls *.sql | sed 's/\.sql$//' | sort | tr '\n' ' ')
if (cd "$work" && as_pg "$PG_REGRESS" --host="$PGHOST" --port="$PGPORT" --user=postgres \
      --inputdir=. --outputdir=regress_out --dbname=broker_seats_regress $regress_tests); then
  record regress ok
else
  record regress FAILED
  cat "$work/regress_out/regression.diffs" 2>/dev/null | head -200
fi

iso_tests=$(cd test/isolation/specs && ls *.spec | sed 's/\.spec$//' | sort | tr '\n' ' ')
if (cd "$work/isolation" && as_pg "$PG_ISOLATION_REGRESS" --host="$PGHOST" --port="$PGPORT" \
      --user=postgres --inputdir=. --outputdir=iso_out --dbname=broker_seats_isolation $iso_tests); then
  record isolation ok
else
  record isolation FAILED
  cat "$work/isolation/iso_out/regression.diffs" 2>/dev/null | head -200
fi

# 3. TAP tests (PostgreSQL::Test::Cluster), each starting its own cluster.
if ls test/t/*.pl >/dev/null 2>&1; then
  if bash scripts/run-tap.sh; then record tap ok; else record tap FAILED; fi
fi

cluster_stop
trap - EXIT
echo
echo "== broker_seats test summary"
printf '%s\n' "${summary[@]}"
exit $failed
