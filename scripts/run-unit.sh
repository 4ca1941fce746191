#!/usr/bin/env bash
# Builds the pure C++ core with CMake and runs its GoogleTest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo ${CMAKE_ARGS:-} >/dev/null
cmake --build build -j2 >/dev/null
ctest --test-dir build --output-on-failure
