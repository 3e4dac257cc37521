#!/usr/bin/env bash
# The test command: sets up a fresh Debian 12 machine, builds, and runs every
# test (unit, CLI, bounded fuzzing). .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh "$@"
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 900
