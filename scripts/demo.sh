#!/usr/bin/env bash
# The main command: sets up, builds, starts a local three-node cluster (a
# private etcd and three `ozy agent`s on loopback) and runs the example job
# on it. Waits for Ctrl-C when run in a terminal, then stops everything it
# started; with --no-wait (or without a terminal) it stops at once.
#
# Today "runs" means placed and committed: every instance has its node. The
# node agent that starts the pods under podman is the next step (issue 4).
set -euo pipefail
cd "$(dirname "$0")/.."
wait_for_ctrl_c=1
[[ ${1:-} == --no-wait || ! -t 0 ]] && wait_for_ctrl_c=0

scripts/setup.sh
scripts/build.sh
ozy=$PWD/build/ozy

work=$(mktemp -d /tmp/ozy-demo-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
client_port=$(free_port) peer_port=$(free_port)
etcd_url=http://127.0.0.1:$client_port
etcd --data-dir "$work/etcd" --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "default=http://127.0.0.1:$peer_port" >"$work/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "$etcd_url/health" >/dev/null 2>&1 && break; sleep 0.1; done

urls=()
for node in node-a node-b node-c; do
  mkdir -p "$work/$node"
  "$ozy" agent --node "$node" --etcd "$etcd_url" --memory 16G --disk 200G --shared-space 50G \
    --listen 127.0.0.1:0 --data-dir "$work/$node" >"$work/$node/out" 2>"$work/$node/log" &
  pids+=($!)
  for _ in $(seq 100); do grep -q "listening on" "$work/$node/out" 2>/dev/null && break; sleep 0.1; done
  urls+=("$(sed -n 's/.*listening on //p' "$work/$node/out")")
done
export OZY_ADDR=${urls[0]}

run() { echo; echo "\$ $*"; "$@"; }
run "$ozy" node list
run "$ozy" job run examples/webapp.yaml
run "$ozy" job status simple-webapp
OZY_ADDR=${urls[2]} run "$ozy" node list
echo
echo "A second copy of the job does not fit (host port 80 is taken on every node):"
sed 's/simple-webapp/simple-webapp-2/' examples/webapp.yaml >"$work/second.yaml"
run "$ozy" job plan "$work/second.yaml" || true

if ((wait_for_ctrl_c)); then
  echo
  echo "The cluster is up: OZY_ADDR=${urls[0]} build/ozy job status. Ctrl-C stops it."
  wait "${pids[0]}" || true
fi
