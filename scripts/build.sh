#!/usr/bin/env bash
# Builds and installs the extension (make all install), quietly: one line,
# the compiler's output in build/make.log (shown when it fails, or with
# VERBOSE=1).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${VERBOSE:-}" ]; then
  make --no-print-directory all && make --no-print-directory install
  exit
fi
mkdir -p build
log=build/make.log
if make --no-print-directory all >"$log" 2>&1 && make --no-print-directory install >>"$log" 2>&1; then
  warnings=$(grep -c 'warning:' "$log" || true)
  echo "built and installed broker_seats ($warnings compiler warnings; log: $log)"
else
  tail -40 "$log"
  echo "build failed; the whole log is $log"
  exit 1
fi
