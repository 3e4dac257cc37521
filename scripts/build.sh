#!/usr/bin/env bash
# Configures and builds into build/ (clang, RelWithDebInfo). Extra arguments
# go to cmake's configure step, e.g. -DOZY_FUZZ_SECONDS=10.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOZY_WERROR=ON "$@" >/dev/null
cmake --build build -j "$(nproc)"
