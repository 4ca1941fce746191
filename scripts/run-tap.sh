#!/usr/bin/env bash
# Runs the TAP tests of test/t with PostgreSQL::Test::Cluster (shipped by
# postgresql-server-dev-15), as the postgres OS user in a directory it owns.
set -euo pipefail
cd "$(dirname "$0")/.."
PGBIN=/usr/lib/postgresql/15/bin
PGXS_DIR=$(dirname "$($PGBIN/pg_config --pgxs)")/..
work=$(mktemp -d /tmp/broker_seats_tap.XXXXXX)
trap '[ -n "${KEEP_TAP:-}" ] || rm -rf "$work"' EXIT
# TAP_DIR=test/citus: the Citus suite (scripts/run-citus.sh), its tests in t/.
tap_dir=${TAP_DIR:-test/t}
cp -r "$tap_dir" "$work/"
[ -d test/bench ] && cp -r test/bench "$work/"
cp README.md "$work/"
# 008 reads the exporter queries; 009 checks META.json against the control
# file, the Makefile and the scripts.
cp META.json broker_seats.control Makefile "$work/"
mkdir -p "$work/docs" "$work/src"
cp -r docs/monitoring "$work/docs/"
cp -r src/sql "$work/src/"
if [ "$tap_dir" = test/t ]; then default_tests='t/*.pl'; else default_tests="$(basename "$tap_dir")/t/*.pl"; fi
tests=${*:-$default_tests}
# 009 runs `make install DESTDIR=...` in a copy of this checkout, built and
# up to date (make -q all; it never builds), which the postgres user can
# read wherever the checkout is. BROKER_SEATS_SRC= (empty) skips that.
src_dir=
if [ -f broker_seats.so ]; then
  src_dir=$work/checkout
  mkdir -p "$src_dir"
  cp -a Makefile broker_seats.control broker_seats.so broker_seats--*.sql src "$src_dir/"
fi
chown -R postgres "$work"
run() { if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi; }
(cd "$work" && run env PATH="$PGBIN:$PATH" PERL5LIB="$PGXS_DIR/test/perl" PG_REGRESS="$PGXS_DIR/test/regress/pg_regress" \
  TESTDIR="$work" BROKER_SEATS_SRC="${BROKER_SEATS_SRC-$src_dir}" PGHOST= PGPORT= prove --timer -v $tests)
