#!/usr/bin/env bash
# Tries the README's two commands as a new user would: on a fresh Debian 12
# that has only make, g++ and git (a debootstrap'ed chroot), from a clone of
# this checkout's HEAD, `make demo` and then `make test`, and prints how long
# each took and how it ended. For maintainers; needs root and Debian's
# package mirror. Not part of `make test`.
#
#   sudo bash scripts/try-fresh-debian.sh [DIR]    # DIR: where the chroot goes
#                                                  # (default /srv/broker_seats-fresh12)
#
# DIR is made anew each time (about a minute), so nothing installed by an
# earlier try is there: REUSE=1 keeps it, to try a change again quickly.
#
# The chroot gets the host's extra CA certificates (/usr/local/share/ca-certificates),
# for networks whose proxy re-signs TLS (npm's registry). ../shared is not
# copied in, so the Citus suite is skipped, as on a user's machine.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=${1:-/srv/broker_seats-fresh12}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

[ "$(id -u)" -eq 0 ] || { echo "try-fresh-debian: needs root (debootstrap, chroot)"; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y -q debootstrap >/dev/null

# What is mounted under DIR, innermost first.
mounts_under() { awk -v r="$root/" 'index($2 "/", r) == 1 { print $2 }' /proc/mounts | sort -r; }
if [ -z "${REUSE:-}" ] && [ -e "$root" ]; then
  for m in $(mounts_under); do umount "$m"; done
  [ -z "$(mounts_under)" ] || { echo "try-fresh-debian: $root still has mounts"; exit 1; }
  rm -rf --one-file-system "$root"
fi
if [ ! -x "$root/usr/bin/g++" ]; then
  mkdir -p "$root"
  echo "debootstrap bookworm (minbase, make g++ git) into $root"
  debootstrap --variant=minbase --include=make,g++,git,ca-certificates bookworm "$root" "$mirror" \
    >"$root.debootstrap.log" 2>&1 || { tail -20 "$root.debootstrap.log"; exit 1; }
  cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  chroot "$root" update-ca-certificates >/dev/null 2>&1 || true
fi

mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
for m in proc sys dev dev/pts dev/shm; do
  if ! mountpoint -q "$root/$m"; then
    mount --bind "/$m" "$root/$m"
    mounted+=("$root/$m")
  fi
done

rm -rf "$root/root/project"
git clone -q "$here" "$root/root/project"
echo "clone of $(git -C "$here" log --oneline -1)"

in_chroot() {
  chroot "$root" env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    TERM=dumb LANG=C.UTF-8 NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    bash -c "cd /root/project && $1"
}
status=0
for target in demo test; do
  start=$(date +%s)
  if in_chroot "make $target" >"$root.$target.log" 2>&1; then rc=0; else rc=$?; status=1; fi
  echo "make $target: exit $rc in $(($(date +%s) - start)) s, $(wc -l <"$root.$target.log") lines (log: $root.$target.log)"
done
grep -E '^(total|[a-z-]+ +[0-9]+ passed|citus:|  +[0-9]+ client)' "$root.test.log" | awk '!seen[$0]++' || true
exit $status
