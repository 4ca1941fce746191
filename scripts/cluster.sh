#!/usr/bin/env bash
# Throwaway PostgreSQL 15 cluster for tests and the demo, run as the
# `postgres` OS user (initdb refuses root) on a private port and socket
# directory. Source it, then: cluster_start [extra postgresql.conf lines];
# cluster_psql ...; cluster_stop. It is stopped on exit.

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGUSER_OS=${PGUSER_OS:-postgres}

# Runs a command as the postgres OS user, in the current directory when that
# user may enter it (a checkout under /root is not), else in /tmp: programs
# like psql and pg_ctl otherwise warn that they cannot change directory.
as_pg() {
  if [ "$(id -un)" = "$PGUSER_OS" ]; then
    "$@"
  else
    runuser -u "$PGUSER_OS" -- sh -c 'cd "$0" 2>/dev/null || cd /tmp; exec "$@"' "$PWD" "$@"
  fi
}

free_port() {
  local port
  for port in $(seq 54320 54399); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && [ ! -e "/tmp/.s.PGSQL.$port" ] &&
      ! compgen -G "/tmp/broker_seats.*/.s.PGSQL.$port" >/dev/null; then
      echo "$port"
      return
    fi
  done
  echo 54399
}

cluster_start() {
  CLUSTER_DIR=$(mktemp -d /tmp/broker_seats.XXXXXX)
  chown "$PGUSER_OS" "$CLUSTER_DIR" 2>/dev/null || true
  chmod 755 "$CLUSTER_DIR"
  PGPORT=$(free_port)
  PGHOST=$CLUSTER_DIR
  export PGPORT PGHOST CLUSTER_DIR
  as_pg "$PGBIN/initdb" -D "$CLUSTER_DIR/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$CLUSTER_DIR/initdb.log" 2>&1 ||
    { cat "$CLUSTER_DIR/initdb.log"; return 1; }
  {
    echo "port = $PGPORT"
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$CLUSTER_DIR'"
    echo "fsync = off"
    echo "max_prepared_transactions = 10"
    echo "log_min_messages = warning"
    for line in "$@"; do echo "$line"; done
  } | as_pg tee -a "$CLUSTER_DIR/data/postgresql.conf" >/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w start >/dev/null ||
    { cat "$CLUSTER_DIR/server.log"; return 1; }
  trap cluster_stop EXIT
}

cluster_psql() {
  as_pg "$PGBIN/psql" -X -h "$PGHOST" -p "$PGPORT" -U postgres "$@"
}

cluster_stop() {
  if [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR/data" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    [ -n "${KEEP_CLUSTER:-}" ] || rm -rf "$CLUSTER_DIR"
  fi
}
