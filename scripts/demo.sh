#!/usr/bin/env bash
# The main command: sets up, builds, starts a local three-node cluster (a
# private etcd and three `ozy agent`s, each with its own podman service, on
# 127.0.0.1, .2 and .3) and runs the example job (examples/webapp.yaml) on it
# for real: pods under podman, images pulled from a registry, health checks,
# DNS. No public registry is reachable, so the job's two images are
# stand-ins built here from busybox and pushed to a private registry the
# demo starts (Debian's docker-registry): web-app-image answers HTTP on port
# 3000 (/healthcheck included) and postgres:13 just stays up. The job runs
# as examples/webapp.yaml says, with its images named in that registry; the
# nodes pull them. Waits for Ctrl-C when run in a terminal, then stops
# everything it started, pods and pulled images included; with --no-wait
# (or without a terminal) it stops at once.
set -euo pipefail
cd "$(dirname "$0")/.."
wait_for_ctrl_c=1
[[ ${1:-} == --no-wait || ! -t 0 ]] && wait_for_ctrl_c=0

scripts/setup.sh
scripts/build.sh
ozy=$PWD/build/ozy
export CONTAINERS_CONF=$PWD/config/containers.conf

work=$(mktemp -d /tmp/ozy-demo-XXXXXX)
pids=()
pulled=()
cleanup() {
  # Agents first, etcd last. A stopped agent leaves its pods running (the
  # next agent would adopt them): the demo removes its nodes' pods itself.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; wait "${pids[i]}" 2>/dev/null || true; done
  for node in node-a node-b node-c; do
    pods=$(podman pod ps -q --filter "label=ozy.node=$node" --filter label=ozy.managed-by=ozymandias)
    [[ -z $pods ]] || podman pod rm -f -t 0 $pods >/dev/null
  done
  for image in "${pulled[@]}"; do podman rmi -f "$image" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The registry the nodes pull from, on loopback, plain HTTP (the agents are
# told so with --insecure-registry).
registry=127.0.0.1:$(free_port)
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
  "$work/registry" "$registry" >"$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://$registry/v2/" >/dev/null 2>&1 && break; sleep 0.1; done

# Stand-in images (see above): built, pushed to the registry, and removed
# here again, so the nodes do not have them and pull them like real ones.
stand_in() {  # NAME CMD-JSON ROOT-SETUP
  local root=$work/image-root
  rm -rf "$root" && mkdir -p "$root/bin" "$root/tmp"
  cp /usr/bin/busybox "$root/bin/busybox"
  for l in sh httpd mkdir echo sleep cat ls nc wget; do ln -sf busybox "$root/bin/$l"; done
  eval "$3"
  tar -C "$root" -c . | podman import --change "CMD $2" - "localhost/$1" >/dev/null 2>&1
  podman push -q --tls-verify=false "localhost/$1" "$registry/$1" >/dev/null 2>&1
  podman rmi "localhost/$1" >/dev/null 2>&1 || true  # in use by a pod of an earlier run: it stays
  pulled+=("$registry/$1")
  echo "demo: pushed the stand-in image $registry/$1"
}
stand_in web-app-image:latest '["bin/rails"]' \
  'printf "#!/bin/sh\nmkdir -p /www && echo ok > /www/healthcheck && echo \"<h1>simple-webapp on \$(hostname)</h1>\" > /www/index.html\nexec httpd -f -p 3000 -h /www\n" > "$root/bin/rails"; chmod +x "$root/bin/rails"'
stand_in postgres:13 '["sh", "-c", "trap exit TERM; while :; do sleep 1; done"]' ':'
# The example job, its images named in the demo's registry.
sed -e "s|image: web-app-image|image: $registry/web-app-image|" -e "s|image: postgres:13|image: $registry/postgres:13|" \
  examples/webapp.yaml >"$work/webapp.yaml"
client_port=$(free_port) peer_port=$(free_port) dns_port=$(free_port)
etcd_url=http://127.0.0.1:$client_port
etcd --data-dir "$work/etcd" --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "default=http://127.0.0.1:$peer_port" >"$work/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "$etcd_url/health" >/dev/null 2>&1 && break; sleep 0.1; done

# One token for the whole cluster, as on real machines; the CLI finds it
# through OZY_TOKEN_FILE.
(umask 077 && openssl rand -hex 32 >"$work/token")
export OZY_TOKEN_FILE=$work/token

urls=()
n=0
for node in node-a node-b node-c; do
  n=$((n + 1))
  mkdir -m 700 "$work/$node"
  dns=()
  [[ $node == node-a ]] && dns=(--dns "127.0.0.1:$dns_port")
  "$ozy" agent --node "$node" --address "127.0.0.$n" --etcd "$etcd_url" --memory 16G --disk 200G \
    --shared-space 50G --listen 127.0.0.1:0 --data-dir "$work/$node" --shared-dir "$work/shared" --token-file "$work/token" \
    --containers-conf "$CONTAINERS_CONF" --stop-grace 2 --insecure-registry "$registry" --pod-network host "${dns[@]}" \
    >"$work/$node/out" 2>"$work/$node/log" &
  pids+=($!)
  for _ in $(seq 200); do grep -q "listening on" "$work/$node/out" 2>/dev/null && break; sleep 0.1; done
  urls+=("$(sed -n 's/.*listening on //p' "$work/$node/out")")
  [[ -n ${urls[-1]} ]] || { echo "demo: $node did not start:" >&2; cat "$work/$node/log" >&2; exit 1; }
done
export OZY_ADDR=${urls[0]}

run() { echo; echo "\$ $*"; "$@"; }
run "$ozy" node list
echo
echo "The example job (examples/webapp.yaml), its images in the demo's registry:"
run diff examples/webapp.yaml "$work/webapp.yaml" || true
run "$ozy" job run "$work/webapp.yaml"
echo
echo "Waiting for the instances to be healthy..."
healthy() { [[ $("$ozy" job status simple-webapp --output json | python3 -c \
  'import json,sys; print(sum(i["state"] == "healthy" for i in json.load(sys.stdin)["instances"]))') == 3 ]]; }
for _ in $(seq 300); do healthy && break; sleep 0.2; done
run "$ozy" job status simple-webapp
run podman pod ps --filter label=ozy.job=simple-webapp --format "table {{.Name}} {{.Status}} {{.NumberOfContainers}}"
run curl -s http://127.0.0.2/
command -v dig >/dev/null && run dig @127.0.0.1 -p "$dns_port" +short simple-webapp.ozy.local
OZY_ADDR=${urls[2]} run "$ozy" node list
echo
echo "A second copy of the job does not fit (host port 80 is taken on every node):"
sed 's/simple-webapp/simple-webapp-2/' "$work/webapp.yaml" >"$work/second.yaml"
run "$ozy" job plan "$work/second.yaml" || true
healthy || { echo "demo: the example job did not become healthy; agent logs are in $work" >&2; wait_for_ctrl_c=1; }

if ((wait_for_ctrl_c)); then
  echo
  echo "The cluster is up: OZY_ADDR=${urls[0]} OZY_TOKEN_FILE=$work/token build/ozy job status simple-webapp. Ctrl-C stops it."
  wait "${pids[0]}" || true
fi
healthy
