#!/usr/bin/env bash
# Builds the pure C++ core with CMake and runs its GoogleTest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# Sanitizers off unless CMAKE_ARGS turns them on: the choice is cached in
# build/, and a later run (or make bench, which reuses build/) must not
# inherit an earlier sanitized one.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBROKER_SEATS_SANITIZE=OFF ${CMAKE_ARGS:-} >/dev/null
cmake --build build -j2 >/dev/null
ctest --test-dir build --output-on-failure
