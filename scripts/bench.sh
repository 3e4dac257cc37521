#!/usr/bin/env bash
# Builds and runs the benchmarks; figures go to stdout (see docs/scheduling.md
# and docs/operations.md). As root: the last five run podman.
#   placement_bench      the placement engine, against the lower bound
#   plan_bench           planning a 10,000-instance submission, no I/O
#   submit_bench         API-to-etcd submission, against raw etcd transactions
#   submit_to_healthy    job run to every instance healthy, against raw podman
#   deploy               a rolling deploy of 10 instances, against its floor
#                        (raw podman's start to healthy plus min_healthy_time)
#   pod_network          pod to pod across two test-bed hosts, against the
#                        hosts' own path (docs/network.md)
#   ingress              HTTP through the agent's ingress, against nginx,
#                        HAProxy and no proxy, over the same pods (before
#                        the agent has an ingress: bench/ingress.py --no-ingress)
#   metrics              the agent's CPU at rest scraped every second against
#                        not scraped, and its memory with 100 instances
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/bench/placement_bench
build/bench/plan_bench
build/bench/submit_bench build/ozy
bench/submit_to_healthy.py build/ozy
bench/deploy.py build/ozy
bench/pod_network.py build/ozy
bench/ingress.py build/ozy
bench/metrics.py build/ozy
