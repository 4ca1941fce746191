#!/usr/bin/env bash
# Installs the Debian packages broker_seats needs to build and test, only
# those missing, so a second run is quick and offline.
set -euo pipefail

packages=(
  postgresql-15 postgresql-client-15 postgresql-server-dev-15 postgresql-contrib
  libboost-date-time-dev
  cmake libgtest-dev libbenchmark-dev
  libipc-run-perl python3
  postgresql-15-cron
  clang-14 llvm-14-dev clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The server package starts a default cluster on 5432 through its postinst;
# we never use it (tests run their own cluster) and must not fight over ports.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
