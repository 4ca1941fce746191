#!/usr/bin/env bash
# Every test of broker_seats: GoogleTest unit tests (ctest), a bounded
# libFuzzer run on the billing core, pg_regress
# (sql/, expected/), pg_isolation_regress (test/isolation/) against a
# throwaway cluster, and the TAP tests (test/t/, PostgreSQL::Test::Cluster).
# Assumes the extension is built and installed (make test does both).
# Prints a summary and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh

PGXS_DIR=$(dirname "$(/usr/lib/postgresql/15/bin/pg_config --pgxs)")/..
PG_REGRESS=$PGXS_DIR/test/regress/pg_regress
PG_ISOLATION_REGRESS=$PGXS_DIR/test/isolation/pg_isolation_regress
logs=$(mktemp -d /tmp/broker_seats_logs.XXXXXX)

declare -a summary
total_passed=0
total_failed=0
record() { # suite passed failed
  summary+=("$(printf '%-10s %4d passed, %d failed' "$1" "$2" "$3")")
  total_passed=$((total_passed + $2))
  total_failed=$((total_failed + $3))
}

# pg_regress and pg_isolation_regress print "All N tests passed." or
# "F of N tests failed."
record_regress() { # suite log
  local n f
  if n=$(grep -oE 'All [0-9]+ tests passed' "$2" | grep -oE '[0-9]+'); then
    record "$1" "$n" 0
  elif read -r f n < <(grep -oE '[0-9]+ of [0-9]+ tests failed' "$2" | awk '{print $1, $3}'); then
    record "$1" $((n - f)) "$f"
  else
    record "$1" 0 1
  fi
}

# 1. Unit tests of the pure C++ core.
bash scripts/run-unit.sh 2>&1 | tee "$logs/unit.log"
if read -r f n < <(grep -oE '[0-9]+ tests failed out of [0-9]+' "$logs/unit.log" | awk '{print $1, $6}'); then
  record unit $((n - f)) "$f"
else
  record unit 0 1
fi

# The libFuzzer target on the billing core, for a bounded time.
if bash scripts/run-fuzz.sh 2>&1 | tee "$logs/fuzz.log"; then
  record fuzz 1 0
else
  record fuzz 0 1
fi

# pg_isolation_regress of the specs in $2/specs against the running
# throwaway cluster, from a copy the postgres user owns.
run_isolation() { # suite dir
  local dir=$CLUSTER_DIR/work/$1 specs
  mkdir -p "$dir"
  cp -r "$2/specs" "$2/expected" "$dir/"
  chown -R "$PGUSER_OS" "$dir"
  specs=$(cd "$2/specs" && ls *.spec | sed 's/\.spec$//' | sort | tr '\n' ' ')
  (cd "$dir" && as_pg "$PG_ISOLATION_REGRESS" --host="$PGHOST" --port="$PGPORT" \
      --user=postgres --inputdir=. --outputdir=iso_out --dbname=broker_seats_isolation $specs) 2>&1 | tee "$logs/$1.log"
  record_regress "$1" "$logs/$1.log"
  cat "$dir/iso_out/regression.diffs" 2>/dev/null | head -300
}

# 2. pg_regress and isolation against one throwaway cluster, run from a copy
# the postgres user owns.
if cluster_start; then
  work=$CLUSTER_DIR/work
  mkdir -p "$work"
  cp -r sql expected "$work/"
  chown -R "$PGUSER_OS" "$work"

  regress_tests=$(cd sql && ls *.sql | sed 's/\.sql$//' | sort | tr '\n' ' ')
  (cd "$work" && as_pg "$PG_REGRESS" --host="$PGHOST" --port="$PGPORT" --user=postgres \
      --inputdir=. --outputdir=regress_out --dbname=broker_seats_regress $regress_tests) 2>&1 | tee "$logs/regress.log"
  record_regress regress "$logs/regress.log"
  cat "$work/regress_out/regression.diffs" 2>/dev/null | head -300

  run_isolation isolation test/isolation

  # The README's SQL blocks, as printed (test/readme/run_readme.py); every
  # command of the operations page, in order, without an error; and the
  # client page's snippets, each an excerpt of a test that runs.
  { PGUSER=postgres python3 test/readme/run_readme.py README.md
    PGUSER=postgres python3 test/readme/run_readme.py --no-output \
      --setup=test/readme/operacao_setup.sql docs/operacao.pt-BR.md
    python3 test/readme/check_excerpts.py docs/clients.md test/clients test/t README.md
  } 2>&1 | tee "$logs/readme.log"
  record readme "$(grep -cE '^ok [0-9]+' "$logs/readme.log")" \
    "$(grep -cE '^(not ok|Bail out)' "$logs/readme.log")"

  # Real drivers against the same cluster (test/clients/run.sh); a driver
  # whose package is missing is skipped, and says why.
  bash test/clients/run.sh 2>&1 | tee "$logs/clients.log"
  if read -r p f k < <(grep -oE '^clients: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$logs/clients.log" |
      awk '{print $2, $4, $6}'); then
    record clients "$p" "$f"
    [ "$k" -eq 0 ] || summary+=("           $k client(s) skipped: $(grep -E '# skip' "$logs/clients.log" | sed 's/.*# skip //' | tr '\n' ';')")
  else
    record clients 0 1
  fi
  cluster_stop
  trap - EXIT
else
  echo "could not start a cluster"
  record regress 0 1
fi

# The races that need the library preloaded (the block recorder), on a
# cluster of their own.
if cluster_start "shared_preload_libraries = 'broker_seats'" "broker_seats.database = 'broker_seats_isolation'" \
    "broker_seats.block_flush_interval = 100ms"; then
  mkdir -p "$CLUSTER_DIR/work"
  run_isolation isolation-preload test/isolation/preload
  cluster_stop
  trap - EXIT
else
  echo "could not start a cluster with the library preloaded"
  record isolation-preload 0 1
fi

# A prove run's counts: suite log.
record_prove() {
  if grep -q '^Result: PASS' "$2"; then
    record "$1" "$(grep -cE '^ok [0-9]+' "$2")" 0
  else
    record "$1" "$(grep -cE '^ok [0-9]+' "$2")" "$(grep -cE '^not ok' "$2" | sed 's/^0$/1/')"
  fi
}

# 3. TAP tests, each starting its own cluster.
bash scripts/run-tap.sh 2>&1 | tee "$logs/tap.log"
record_prove tap "$logs/tap.log"
# 4. The Citus suite (a coordinator and two workers per test), or one
# line saying why it is skipped.
bash scripts/run-citus.sh 2>&1 | tee "$logs/citus.log"
if grep -q '^citus: skipped' "$logs/citus.log"; then
  summary+=("$(grep '^citus: skipped' "$logs/citus.log")")
else
  record_prove citus "$logs/citus.log"
fi
rm -rf "$logs"

echo
echo "== broker_seats test summary"
printf '%s\n' "${summary[@]}"
echo "total: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
