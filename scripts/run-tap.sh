#!/usr/bin/env bash
# Runs the TAP tests of test/t with PostgreSQL::Test::Cluster (shipped by
# postgresql-server-dev-15), as the postgres OS user in a directory it owns.
set -euo pipefail
cd "$(dirname "$0")/.."
PGBIN=/usr/lib/postgresql/15/bin
PGXS_DIR=$(dirname "$($PGBIN/pg_config --pgxs)")/..
work=$(mktemp -d /tmp/broker_seats_tap.XXXXXX)
trap '[ -n "${KEEP_TAP:-}" ] || rm -rf "$work"' EXIT
cp -r test/t "$work/"
[ -d test/bench ] && cp -r test/bench "$work/"
cp README.md "$work/"
chown -R postgres "$work"
tests=${*:-t/*.pl}
run() { if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi; }
(cd "$work" && run env PATH="$PGBIN:$PATH" PERL5LIB="$PGXS_DIR/test/perl" PG_REGRESS="$PGXS_DIR/test/regress/pg_regress" \
  TESTDIR="$work" PGHOST= PGPORT= prove --timer -v $tests)
