#!/usr/bin/env bash
# Builds and installs Citus from the source tarball named by CITUS_SRC, for
# the Citus suite (test/citus/). Citus is not in Debian's archive and this
# project never carries its code: the tarball is outside the repository.
# Exits 0 with nothing done when Citus is already installed for this
# PostgreSQL at the tarball's version; 3 when there is no tarball.
#   CITUS_SRC=../shared/citus/citus-13.2.2.tar.gz scripts/build-citus.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
src=${CITUS_SRC:-}
if [ -z "$src" ] || [ ! -f "$src" ]; then
  echo "no Citus source tarball (CITUS_SRC=${src:-unset})"
  exit 3
fi
src=$(cd "$(dirname "$src")" && pwd)/$(basename "$src")
name=$(tar -tzf "$src" | sed -n "1s,/.*,,p")       # citus-13.2.2 (sed reads it all: no SIGPIPE)
version=${name#citus-}
# Debian's build dependencies of Citus (its README; libcurl is configured out).
"$here/scripts/install-deps.sh" liblz4-dev libzstd-dev libkrb5-dev libssl-dev autoconf flex

sharedir=$("$pg_config" --sharedir)
pkglibdir=$("$pg_config" --pkglibdir)
if [ -f "$pkglibdir/citus.so" ] && grep -q "^default_version = '${version%.*}" "$sharedir/extension/citus.control" 2>/dev/null \
   && [ -f "$pkglibdir/.citus-$version-built" ]; then
  exit 0
fi

build=${CITUS_BUILD_DIR:-$here/build/citus}
log=$build/build.log
rm -rf "$build"; mkdir -p "$build"
echo "building Citus $version from $src (log: $log)"
tar -xzf "$src" -C "$build"
cd "$build/$name"
# PostgreSQL 15.20 exports have_createdb_privilege() from
# commands/dbcommands.h, which Citus 13.2.2 redefines static for PG 15: the
# known build failure of ../shared/citus/README.md. Make it a declaration.
compat=src/include/pg_version_compat.h
if ! grep -q '^extern bool have_createdb_privilege(void);' "$compat"; then
  python3 - "$compat" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s2 = re.sub(r'static\s+inline\s+bool\s+have_createdb_privilege\s*\(\s*void\s*\)\s*\{.*?\n\}\n',
            'extern bool have_createdb_privilege(void);\n', s, count=1, flags=re.S)
if s2 == s:
    sys.exit("build-citus: have_createdb_privilege not found in " + p)
open(p, 'w').write(s2)
PY
fi
{
  ./configure PG_CONFIG="$pg_config" --without-libcurl
  make -j"$(nproc)"
  make install
} >"$log" 2>&1 || { tail -40 "$log"; exit 1; }
touch "$pkglibdir/.citus-$version-built"
echo "Citus $version installed into $pkglibdir"
