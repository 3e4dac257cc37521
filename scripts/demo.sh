#!/usr/bin/env bash
# The main command: sets up, builds, and starts a three-node cluster on three
# test-bed hosts (scripts/testbed.sh: each host its own network namespace on a
# bridge, with its own podman), then runs the example job
# (examples/webapp.yaml) on it for real: one pod per host, images pulled by
# each host from a registry, health checks, the pod network across hosts
# (each node leases a subnet of 10.244.0.0/16 and routes the others') and
# DNS. A private etcd and the registry run in the root namespace on the test
# bed's bridge address, which every host reaches; one `ozy agent` runs in
# each host, on the host's own address.
#
# No public registry is reachable, so the job's two images are stand-ins
# built here from busybox and pushed to a private registry the demo starts
# (Debian's docker-registry): web-app-image answers HTTP on port 3000
# (/healthcheck included) and postgres:13 just stays up. The job runs as
# examples/webapp.yaml says, with its images named in that registry.
#
# Waits for Ctrl-C when run in a terminal, then stops everything it started
# (the agents, the test bed with every pod and pulled image in it, etcd, the
# registry, its files); with --no-wait (or without a terminal) it stops at
# once. The exit code says whether the job became healthy. OZY_BIN=PATH runs
# that ozy binary instead of building build/ozy (for working on this script).
set -euo pipefail
cd "$(dirname "$0")/.."
wait_for_ctrl_c=1
[[ ${1:-} == --no-wait || ! -t 0 ]] && wait_for_ctrl_c=0

scripts/setup.sh
if [[ -n ${OZY_BIN:-} ]]; then
  ozy=$(realpath "$OZY_BIN")
else
  scripts/build.sh
  ozy=$PWD/build/ozy
fi
export CONTAINERS_CONF=$PWD/config/containers.conf
testbed=$PWD/scripts/testbed.sh

# Everything lives under $work: under /tmp, which the hosts' mount namespaces
# share with the root one, so agents' data dirs, the shared volumes' root and
# the token are at the same path in every host.
work=$(mktemp -d /tmp/ozy-demo-XXXXXX)
tb=$work/testbed
agents=()    # each `testbed.sh exec` replaced itself with its agent: these are the agents' pids
services=()  # the registry and etcd, in the root namespace
# shellcheck disable=SC2317 # run by the EXIT trap
stop() {  # PID: SIGTERM, then SIGKILL if it is still there after 15 s
  local tries
  kill "$1" 2>/dev/null || return 0
  for ((tries = 0; tries < 150; tries++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  # A second Ctrl-C must not cut the cleanup short; the commands run from here
  # inherit the ignored signals.
  trap '' INT TERM HUP
  set +e
  # Agents first: a stopped agent leaves its pods running (the next agent
  # would adopt them), and with no agent left none starts a pod again. Then
  # the test bed, whose `down` removes every host's pods, images and podman
  # state with it; then etcd and the registry, then the files.
  local i left=0
  for ((i = ${#agents[@]} - 1; i >= 0; i--)); do stop "${agents[i]}"; done
  if [[ -e $tb/made ]]; then "$testbed" down --state "$tb" || left=1; fi
  for ((i = ${#services[@]} - 1; i >= 0; i--)); do stop "${services[i]}"; done
  if ((left)); then
    # Removing $work now could reach into the namespaces still mounted in it.
    echo "demo: the test bed in $tb is not fully removed (see above): run $testbed down --state $tb, then rm -rf $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
# On a signal, exit (and so clean up) once the command running now returns.
trap 'exit 130' INT TERM HUP
# Ctrl-C in a terminal signals the whole foreground process group. etcd, the
# registry and the agents run in sessions of their own (setsid), so that it
# reaches this script only and the cleanup stops them in its order. (setsid
# does not fork here: a script's background job leads no process group, so
# $! is the process itself.)

# Shows a command as one would type it from the repository, then runs it.
run() {
  local shown=() a
  for a in "${@//$PWD\//}"; do
    if [[ $a == *[[:space:]]* ]]; then a="'$a'"; fi
    shown+=("$a")
  done
  echo
  echo "\$ ${shown[*]}"
  "$@"
}
# Runs a command inside a host: tb_exec HOST CMD...
tb_exec=("$testbed" --state "$tb" exec)

"$testbed" up 3 --state "$tb"
bridge=$("$testbed" --state "$tb" bridge-addr)
host_addr=()
for n in 1 2 3; do host_addr[n]=$("$testbed" --state "$tb" addr "$n"); done

free_port() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$bridge"; }

# The registry the nodes pull from, plain HTTP (the agents are told so with
# --insecure-registry).
registry=$bridge:$(free_port)
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
  "$work/registry" "$registry" >"$work/registry.yml"
setsid docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
services+=($!)
for _ in $(seq 100); do curl -sf "http://$registry/v2/" >/dev/null 2>&1 && break; sleep 0.1; done

# Stand-in images (see above): built in the root namespace's podman, pushed
# to the registry and removed here again. Every host has its own podman
# storage, so each host pulls them from the registry like real ones.
stand_in() {  # NAME CMD-JSON ROOT-SETUP
  local root=$work/image-root
  rm -rf "$root" && mkdir -p "$root/bin" "$root/tmp"
  cp /usr/bin/busybox "$root/bin/busybox"
  for l in sh httpd mkdir echo sleep cat ls nc wget; do ln -sf busybox "$root/bin/$l"; done
  eval "$3"
  tar -C "$root" -c . | podman import --change "CMD $2" - "localhost/$1" >/dev/null 2>&1
  podman push -q --tls-verify=false "localhost/$1" "$registry/$1" >/dev/null 2>&1
  podman rmi "localhost/$1" >/dev/null 2>&1 || true
  echo "demo: pushed the stand-in image $registry/$1"
}
stand_in web-app-image:latest '["bin/rails"]' \
  'printf "#!/bin/sh\nmkdir -p /www && echo ok > /www/healthcheck && echo \"<h1>simple-webapp on \$(hostname)</h1>\" > /www/index.html\nexec httpd -f -p 3000 -h /www\n" > "$root/bin/rails"; chmod +x "$root/bin/rails"'
stand_in postgres:13 '["sh", "-c", "trap exit TERM; while :; do sleep 1; done"]' ':'
# The example job, its images named in the demo's registry.
sed -e "s|image: web-app-image|image: $registry/web-app-image|" -e "s|image: postgres:13|image: $registry/postgres:13|" \
  examples/webapp.yaml >"$work/webapp.yaml"

client_port=$(free_port) peer_port=$(free_port)
etcd_url=http://$bridge:$client_port
setsid etcd --data-dir "$work/etcd" --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "default=http://127.0.0.1:$peer_port" >"$work/etcd.log" 2>&1 &
services+=($!)
etcd_pid=$!
for _ in $(seq 100); do curl -sf "$etcd_url/health" >/dev/null 2>&1 && break; sleep 0.1; done

# One token for the whole cluster, as on real machines; the CLI finds it
# through OZY_TOKEN_FILE.
(umask 077 && openssl rand -hex 32 >"$work/token")
export OZY_TOKEN_FILE=$work/token

# One agent per host, on the host's address. The API and etcd are plain HTTP
# (--insecure-http, --insecure-etcd): they are reachable only on the test
# bed's bridge, which nothing outside this machine reaches. The first agent
# finds no pod network in etcd and makes the default one (--pod-network auto);
# each agent answers DNS on its host's port 53, and its pods ask it there.
urls=()
for n in 1 2 3; do
  node=node-$n
  addr=${host_addr[n]}
  mkdir -m 700 "$work/$node"
  setsid "${tb_exec[@]}" "$n" "$ozy" agent --node "$node" --address "$addr" --listen "$addr:7700" --etcd "$etcd_url" \
    --insecure-http --insecure-etcd --pod-network auto --dns "$addr:53" --ingress "$addr:8080" --token-file "$work/token" \
    --containers-conf "$CONTAINERS_CONF" --insecure-registry "$registry" --memory 16G --disk 200G \
    --shared-space 50G --data-dir "$work/$node" --shared-dir "$work/shared" --stop-grace 2 \
    >"$work/$node/out" 2>"$work/$node/log" &
  agents+=($!)
  for _ in $(seq 200); do grep -q "listening on" "$work/$node/out" 2>/dev/null && break; sleep 0.1; done
  urls+=("$(sed -n 's/.*listening on //p' "$work/$node/out")")
  [[ -n ${urls[-1]} ]] || { echo "demo: $node did not start in host $n:" >&2; cat "$work/$node/log" >&2; exit 1; }
done
export OZY_ADDR=${urls[0]}
echo
echo "Three hosts on the bridge $bridge: ${host_addr[1]}, ${host_addr[2]} and ${host_addr[3]}, one agent each."
echo "etcd and the registry listen on $bridge. Each node has leased a pod subnet:"
run "$ozy" network show --etcd "$etcd_url" --insecure-etcd
run "$ozy" node list
echo
echo "The example job (examples/webapp.yaml), its images in the demo's registry:"
run diff examples/webapp.yaml "$work/webapp.yaml" || true
run "$ozy" job run "$work/webapp.yaml"
echo
echo "Waiting for the instances to be healthy (each host pulls both images first)..."
instances() { "$ozy" job status simple-webapp --output json 2>/dev/null; }
healthy() { [[ $(instances | python3 -c \
  'import json,sys; print(sum(i["state"] == "healthy" for i in json.load(sys.stdin)["instances"]))' 2>/dev/null) == 3 ]]; }
started=$SECONDS
while ! healthy && ((SECONDS - started < 240)); do sleep 0.5; done
healthy && echo "All three healthy after $((SECONDS - started)) s."
# The id or the pod address of the instance on node-N.
instance_on() {  # N FIELD
  instances | python3 -c 'import json,sys; v = next(i[sys.argv[2]] for i in json.load(sys.stdin)["instances"] if i["node"] == sys.argv[1]); print("" if v is None else v)' \
    "node-$1" "$2" 2>/dev/null || true
}
run "$ozy" job status simple-webapp
for n in 1 2 3; do
  run "${tb_exec[@]}" "$n" podman pod ps --filter label=ozy.job=simple-webapp --format "table {{.Name}} {{.Status}} {{.NumberOfContainers}}"
done
echo
echo "Every host has its own podman storage and pulled the images itself:"
run "${tb_exec[@]}" 2 podman images --format "{{.Repository}}:{{.Tag}}"
echo
echo "From host 1: the instance on host 3 by its pod address, then host 3's port 80:"
run "${tb_exec[@]}" 1 curl -s --max-time 5 "http://$(instance_on 3 podIp):3000/" || true
run "${tb_exec[@]}" 1 curl -s --max-time 5 "http://${host_addr[3]}/" || true
echo
echo "Every node's ingress (port 8080) serves the job by its default host name, wherever its instances run:"
for n in 1 2 3; do
  run curl -s --max-time 5 -H 'Host: simple-webapp.ozy.local' "http://${host_addr[n]}:8080/" || true
done
echo
echo "The cluster DNS, asked in host 1: one pod address per host subnet:"
run "${tb_exec[@]}" 1 dig "@${host_addr[1]}" +short simple-webapp.ozy.local || true
echo
echo "Pod to pod across hosts: the app on host 1 fetches from the instance on host 2 by name:"
run "${tb_exec[@]}" 1 podman exec "ozy-simple-webapp-$(instance_on 1 id).node-1.app" \
  wget -qO- "http://$(instance_on 2 id).simple-webapp.ozy.local:3000/" || true
echo
echo "Any node's API answers, host 3's too:"
run env "OZY_ADDR=${urls[2]}" "$ozy" node list
echo
echo "A second copy of the job does not fit (host port 80 is taken on every node):"
sed 's/simple-webapp/simple-webapp-2/' "$work/webapp.yaml" >"$work/second.yaml"
run "$ozy" job plan "$work/second.yaml" || true

status=0
if ! healthy; then
  status=1
  echo "demo: the example job did not become healthy. The end of each agent's log:" >&2
  for n in 1 2 3; do echo "--- node-$n" >&2; tail -n 20 "$work/node-$n/log" >&2; done
fi
if ((wait_for_ctrl_c)); then
  echo
  echo "The cluster is up: OZY_ADDR=${urls[0]} OZY_TOKEN_FILE=$work/token $ozy job status simple-webapp"
  echo "In a host: $testbed --state $tb exec 1 podman ps. Ctrl-C stops it and removes everything."
  trap 'exit $status' INT TERM HUP
  wait "$etcd_pid" || true
  echo "demo: etcd stopped" >&2
  status=1
fi
exit "$status"
