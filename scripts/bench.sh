#!/usr/bin/env bash
# Builds and runs the benchmarks; figures go to stdout (see docs/scheduling.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/bench/placement_bench "$@"
