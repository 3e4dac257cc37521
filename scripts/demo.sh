#!/usr/bin/env bash
# The main command: sets up, builds, and runs the example job as far as the
# project goes today: validates examples/webapp.yaml and places it on the
# nodes of examples/cluster.yaml. (Running it on a live local cluster arrives
# with the etcd control plane and the node agent.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
echo
echo "== ozy job validate examples/webapp.yaml"
build/ozy job validate examples/webapp.yaml
echo
echo "== ozy plan --cluster examples/cluster.yaml examples/webapp.yaml"
build/ozy plan --cluster examples/cluster.yaml examples/webapp.yaml
