#!/usr/bin/env bash
# Real-driver client tests: psycopg 2, psycopg 3, SQLAlchemy 1.4 (psycopg2
# dialect) and node-postgres against the installed broker_seats, as the
# application role crm_app (and as superuser postgres for the turnover,
# downgrade and upgrade). docs/clients.md shows their code.
#
#   bash test/clients/run.sh     # PGHOST (socket dir) / PGPORT of a running
#                                # server with superuser postgres, trust auth;
#                                # without them: a throwaway cluster
#                                # (scripts/cluster.sh), stopped at the end.
#
# Each test gets a fresh database broker_seats_clients (dropped at the end
# when everything passed). Roles crm_app and seats_* are cluster-wide and
# stay. Output: one TAP line per test, the test's own lines as "# ..."
# comments, and a last line "clients: P passed, F failed, S skipped"; the
# exit status is non-zero iff a test failed.
#
# Environment: PYTHON (an interpreter tried first), BROKER_SEATS_NODE_CACHE
# (where `npm install pg@8` goes and is reused; default
# /var/cache/broker_seats/node, outside the checkout), PGBIN.

set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DB=broker_seats_clients
NODE_CACHE=${BROKER_SEATS_NODE_CACHE:-/var/cache/broker_seats/node}

if [ -z "${PGHOST:-}" ] || [ -z "${PGPORT:-}" ]; then
  # shellcheck source=../../scripts/cluster.sh
  source "$root/scripts/cluster.sh"
  echo "# no PGHOST/PGPORT: starting a throwaway cluster"
  cluster_start || { echo "clients: could not start a throwaway cluster"; exit 1; }
  echo "# cluster at PGHOST=$PGHOST PGPORT=$PGPORT"
fi
export PGHOST PGPORT
export BROKER_SEATS_DB=$DB
unset PGUSER PGDATABASE PGOPTIONS PGSERVICE

psql_su() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U postgres "$@"; }

setup_db() {
  psql_su -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
    -c "CREATE DATABASE $DB" || return 1
  psql_su -d "$DB" <<'SQL' >/dev/null
SET client_min_messages = warning;
CREATE EXTENSION broker_seats;
SELECT seats.create_standard_roles();
CREATE TABLE crm_members(id bigserial primary key, org_id text not null, name text,
                         role text not null, active boolean not null default true);
SELECT seats.attach('crm_members');
SELECT seats.create_plan('imob-pro', 89.90, 'BRL', 'monthly');
SELECT seats.onboard('imobiliaria-sol', 'imob-pro', 2);
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crm_app') THEN CREATE ROLE crm_app LOGIN; END IF;
END $$;
GRANT seats_app TO crm_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON crm_members TO crm_app;
GRANT USAGE, SELECT ON SEQUENCE crm_members_id_seq TO crm_app;
SQL
}

# The first interpreter that imports all the modules named, or nothing.
find_python() {
  local py imports
  imports=$(printf 'import %s;' "$@")
  for py in ${PYTHON:-} /usr/bin/python3 python3; do
    command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c "$imports" >/dev/null 2>&1; then echo "$py"; return 0; fi
  done
  return 1
}

# node-postgres 8 in the cache directory: reused when present, else installed.
NODE_SKIP=""
prepare_node() {
  command -v node >/dev/null 2>&1 || { NODE_SKIP="node not found"; return 1; }
  if node -e "process.exit(require('$NODE_CACHE/node_modules/pg/package.json').version.startsWith('8.') ? 0 : 1)" \
    2>/dev/null; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || { NODE_SKIP="npm not found (and no pg@8 in $NODE_CACHE)"; return 1; }
  mkdir -p "$NODE_CACHE" 2>/dev/null || { NODE_SKIP="cannot create $NODE_CACHE"; return 1; }
  local log="$NODE_CACHE/npm-install.log"
  if ! (cd "$NODE_CACHE" && timeout 300 npm install --no-audit --no-fund --prefix "$NODE_CACHE" pg@8) >"$log" 2>&1; then
    NODE_SKIP="npm install pg@8 into $NODE_CACHE failed: $(grep -m1 -i 'err' "$log" || tail -n1 "$log")"
    return 1
  fi
  return 0
}

n=0 passed=0 failed=0 skipped=0
echo "1..4"

run_test() {  # name file command...
  local name=$1 file=$2 out rc
  shift 2
  n=$((n + 1))
  if ! out=$(setup_db 2>&1); then
    printf '%s\n' "$out" | sed -e 's/^/# /'
    echo "not ok $n - $name ($file): database setup failed"
    failed=$((failed + 1))
    return
  fi
  out=$(cd "$here" && "$@" 2>&1)
  rc=$?
  [ -n "$out" ] && printf '%s\n' "$out" | sed -e '/^#/!s/^/# /'
  if [ $rc -eq 0 ]; then
    echo "ok $n - $name ($file)"
    passed=$((passed + 1))
  else
    echo "not ok $n - $name ($file), exit status $rc"
    failed=$((failed + 1))
  fi
}

skip_test() {  # name reason
  n=$((n + 1))
  echo "ok $n # skip $1: $2"
  skipped=$((skipped + 1))
}

if py=$(find_python psycopg2); then
  run_test psycopg2 test_psycopg2.py "$py" test_psycopg2.py
else
  skip_test psycopg2 "cannot import psycopg2 (tried ${PYTHON:+$PYTHON, }/usr/bin/python3, python3)"
fi

if py=$(find_python psycopg); then
  run_test "psycopg 3" test_psycopg3.py "$py" test_psycopg3.py
else
  skip_test "psycopg 3" "cannot import psycopg (tried ${PYTHON:+$PYTHON, }/usr/bin/python3, python3)"
fi

if py=$(find_python sqlalchemy psycopg2); then
  run_test SQLAlchemy test_sqlalchemy.py "$py" test_sqlalchemy.py
else
  skip_test SQLAlchemy "cannot import sqlalchemy and psycopg2 (tried ${PYTHON:+$PYTHON, }/usr/bin/python3, python3)"
fi

if prepare_node; then
  run_test node-postgres test_node_pg.js env NODE_PATH="$NODE_CACHE/node_modules" node test_node_pg.js
else
  skip_test node-postgres "$NODE_SKIP"
fi

if [ $failed -eq 0 ]; then
  psql_su -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
elif [ -z "${CLUSTER_DIR:-}" ]; then
  echo "# database $DB kept for inspection"
fi
echo "clients: $passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
