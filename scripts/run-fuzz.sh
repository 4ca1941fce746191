#!/usr/bin/env bash
# Builds the core with clang, ASan and UBSan, and runs the libFuzzer target
# for a bounded time (FUZZ_SECONDS, default 20). Exits non-zero on a finding.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBROKER_SEATS_FUZZ=ON -DBROKER_SEATS_SANITIZE=ON >/dev/null
cmake --build build-fuzz -j2 --target proration_fuzz >/dev/null
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
./build-fuzz/proration_fuzz -max_total_time="${FUZZ_SECONDS:-20}" -print_final_stats=1 "$corpus" 2>&1 | tail -5
