#!/usr/bin/env bash
# Installs the Debian packages broker_seats needs to build and test, and
# any more named as arguments (scripts/build-citus.sh), only those missing, so a second run is quick and offline. Quiet: one line, the
# apt log in /tmp/broker_seats-apt.log; VERBOSE=1 shows apt's output.
set -euo pipefail

packages=(
  postgresql-15 postgresql-client-15 postgresql-server-dev-15 postgresql-contrib
  libboost-date-time-dev
  cmake libgtest-dev libbenchmark-dev
  libipc-run-perl python3
  postgresql-15-cron
  clang-14 llvm-14-dev clang libclang-rt-14-dev
  # The client, pooler and exporter tests (docs/clients.md, docs/monitoring).
  python3-psycopg2 python3-psycopg python3-sqlalchemy pgbouncer prometheus-postgres-exporter curl
)
# node-postgres comes from npm (test/clients/run.sh); node and npm from
# Debian unless a node is already there (NodeSource's conflicts with them).
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
log=/tmp/broker_seats-apt.log
echo "installing ${#missing[@]} Debian packages: ${missing[*]} (log: $log)"
export DEBIAN_FRONTEND=noninteractive
# Packages with services (postgresql-15's cluster 15/main, pgbouncer, the
# exporter) would start them from their postinst. Nothing here uses them
# (tests and the demo run their own throwaway servers): a policy-rc.d that
# refuses starts keeps them stopped, unless the machine already has one.
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  own_policy=1
fi
cleanup() { [ -z "$own_policy" ] || $SUDO rm -f "$policy"; }
trap cleanup EXIT
run() {
  if [ -n "${VERBOSE:-}" ]; then "$@"; else "$@" >>"$log" 2>&1 || { tail -30 "$log"; return 1; }; fi
}
run $SUDO apt-get update -qq
run $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "installed."
