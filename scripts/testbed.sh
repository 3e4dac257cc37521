#!/usr/bin/env bash
# testbed.sh: N separate "hosts" on this one machine, for tests and the demo.
#
# A host is a network namespace with its own IPv4 address on a bridge in the
# root namespace, plus a persistent private mount namespace in which podman's
# state directories are the host's own. So a podman run in a host has its own
# images, pods and CNI networks, and processes in the root namespace (an etcd,
# a registry) are reachable from every host at the bridge address.
#
#   testbed.sh up N [--state DIR]        make hosts 1..N
#   testbed.sh exec [--state DIR] HOST CMD...
#                                        run CMD inside host HOST (its netns
#                                        and mount namespace, via nsenter)
#   testbed.sh addr [--state DIR] HOST   print host HOST's address
#   testbed.sh bridge-addr [--state DIR] print the bridge's address
#   testbed.sh copy-image [--state DIR] IMAGE HOST...
#                                        podman save IMAGE in the root
#                                        namespace and load it into each HOST
#   testbed.sh down [--state DIR]        remove everything `up` made
#
# DIR defaults to $OZY_TESTBED_STATE, else /tmp/ozy-testbed. `--state` may
# also come before the subcommand. Needs root.
#
# Every test bed takes a free 10.99.X.0/24 (X in 1..254) under a lock, so
# several can be up at once (CTest runs tests in parallel, a developer may run
# the demo meanwhile). Names derive from X: bridge "ozytbX", host netns
# "ozytbX-hI", root-side veth "ozytbXhI" (at most 12 characters; Linux allows
# 15). The bridge is 10.99.X.1, host I is 10.99.X.(10+I); hosts have no
# default route.
#
# `up` writes what it makes to DIR/made, one "KIND ARGS" line each, BEFORE
# making it; `down` undoes those lines in reverse order and nothing else, so it
# also cleans a half-failed `up`, and running it twice is harmless. A failed
# `up` runs `down` itself (trap).
#
# podman inside a host: `exec` enters the netns with nsenter --net (never
# `ip netns exec`: it remounts /sys and podman then finds no cgroups) and sets
# CONTAINERS_CONF to the project's config/containers.conf unless it is set.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
self="$repo/scripts/testbed.sh"
claims_dir=/run/ozy-testbed        # one file per taken /24, naming its state dir
lock_file=/run/ozy-testbed.lock
max_hosts=200                      # addresses .11 to .210

# The directories podman (CNI backend, runc) keeps its state in. Each host gets
# its own copy, bind-mounted in its mount namespace. /run/runc and /run/netns
# (the pods' network namespaces) are the host's own too, so `down` can find a
# host's containers without its podman, and pod netns never show in the root
# namespace's `ip netns`.
podman_dirs=(/var/lib/containers /run/containers /run/libpod /run/runc /run/netns /etc/cni/net.d /var/lib/cni)

die() {
  echo "testbed: $*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "$self" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

state=${OZY_TESTBED_STATE:-/tmp/ozy-testbed}
up_finished=0  # read by the EXIT trap of `up`

# --- the record -----------------------------------------------------------

record() { echo "$*" >>"$state/made"; }

load_state() {
  [[ -f $state/testbed.env ]] || die "no test bed is up in $state (run: $self up N --state $state)"
  # shellcheck source=/dev/null
  source "$state/testbed.env"
}

check_host() {
  if ! [[ $1 =~ ^[0-9]+$ ]] || (($1 < 1 || $1 > hosts)); then
    die "no host \"$1\" in $state (hosts are 1..$hosts)"
  fi
}

host_netns() { echo "ozytb${slot}-h$1"; }
host_mntns() { echo "$state/ns/h$1"; }
host_dir() { echo "$state/hosts/$1"; }
host_addr() { echo "10.99.${slot}.$((10 + $1))"; }

# Runs "$@" inside host $1. The namespace files are opened before nsenter
# enters any namespace, so the paths are resolved in the root namespace.
in_host() {
  local host=$1
  shift
  CONTAINERS_CONF=${CONTAINERS_CONF:-$repo/config/containers.conf} \
    exec nsenter --net="/run/netns/$(host_netns "$host")" --mount="$(host_mntns "$host")" \
    --wd="$PWD" -- "$@"
}

# --- up -------------------------------------------------------------------

# A /24 is free if nothing claims it and nothing on the machine uses it: no
# claim file (or a stale one whose state dir is gone), no bridge or netns of
# that name, no address or route in it. Called with the lock held.
slot_free() {
  local x=$1 claim="$claims_dir/$1"
  if [[ -e $claim ]]; then
    local owner
    owner=$(cat "$claim" 2>/dev/null || true)
    [[ -n $owner && -e $owner/made ]] && return 1
  fi
  # Outputs are captured before matching: under pipefail, `ip ... | grep -q`
  # can fail when grep stops reading early.
  local netns routes addrs
  netns=$(ip netns list)
  routes=$(ip -4 route show to match "10.99.$x.1")
  addrs=$(ip -4 -o addr show)
  ip link show "ozytb$x" &>/dev/null && return 1
  grep -q "^ozytb$x-h" <<<"$netns" && return 1
  [[ -z $(grep -v '^default' <<<"$routes" || true) ]] || return 1
  grep -q " 10\.99\.$x\." <<<"$addrs" && return 1
  return 0
}

claim_slot() {
  mkdir -p "$claims_dir"
  exec {lock_fd}>"$lock_file"
  flock "$lock_fd"
  # From a random start, so a slot just given back is seldom taken again at
  # once (a test checking that its test bed is gone would see the new one).
  local x k start=$((RANDOM % 254))
  for ((k = 0; k < 254; k++)); do
    x=$(((start + k) % 254 + 1))
    if slot_free "$x"; then
      record "claim $claims_dir/$x"
      echo "$state" >"$claims_dir/$x"
      slot=$x
      break
    fi
  done
  exec {lock_fd}>&-
  [[ -n ${slot:-} ]] || die "no free 10.99.X.0/24 left (see $claims_dir)"
}

# The body of a host's mount namespace, run once inside it by `unshare`:
# argv is the host dir then the podman dirs.
#
# The new namespace starts as a copy of the root one. First drop, lazily,
# the copied mounts that would pin other things alive: every nsfs mount (other
# hosts' network and mount namespaces) and whatever is mounted under podman's
# directories (root podman's container root filesystems). Then bind the host's
# own directories, and give it its own /dev/shm: podman's locks are one table
# per machine in shared memory there (libpod_lock) that every podman allocates
# from, and a host whose state is thrown away before podman removed its
# containers (a killed test) would leak its entries in the machine's table.
setup_mntns() {
  local dir=$1 target source
  shift
  findmnt -rn -o FSTYPE,TARGET | tac | while read -r fstype target; do
    local drop=0
    if [[ $fstype == nsfs ]]; then drop=1; fi
    for source in "$@"; do
      if [[ $target == "$source" || $target == "$source"/* ]]; then drop=1; fi
    done
    # A mount that cannot be dropped only pins what it holds a while longer.
    if ((drop)); then umount -l "$target" 2>/dev/null || true; fi
  done
  for target in "$@"; do
    source="$dir/${target#/}"
    # A target is missing only where podman never ran; it is podman's own dir.
    mkdir -p "$source" "$target"
    mount --bind "$source" "$target"
  done
  mount -t tmpfs -o mode=1777,size=64m "ozytb-shm" /dev/shm
}

make_host() {
  local i=$1 netns veth peer dir mntns
  netns=$(host_netns "$i")
  veth="ozytb${slot}h$i"
  peer="ozytb${slot}p$i"
  dir=$(host_dir "$i")
  mntns=$(host_mntns "$i")

  record "netns $netns"
  ip netns add "$netns"
  record "link $veth"
  ip link add "$veth" type veth peer name "$peer" netns "$netns"
  ip link set "$veth" master "$bridge" up
  ip -n "$netns" link set lo up
  ip -n "$netns" link set "$peer" name eth0
  ip -n "$netns" addr add "$(host_addr "$i")/24" dev eth0
  ip -n "$netns" link set eth0 up
  # No default route: a host reaches the test bed's /24 only, so nothing it
  # sends leaks off the machine (the root namespace forwards), and a name
  # lookup fails at once instead of waiting for an unreachable resolver.

  # Hosts route pod subnets (the pod network builds on this).
  nsenter --net="/run/netns/$netns" sysctl -q -w net.ipv4.ip_forward=1

  mkdir -p "$dir"
  touch "$mntns"
  record "mntns $mntns"
  unshare --mount="$mntns" --propagation private \
    bash -c "set -euo pipefail; $(declare -f setup_mntns); setup_mntns \"\$@\"" setup "$dir" "${podman_dirs[@]}"

  # For the test bed's own tests: fail half-way through host I, or die by
  # SIGKILL there as a crash would (then no trap runs and `down` must cope).
  case ${OZY_TESTBED_FAIL_AT:-} in
    "$i") die "failing while making host $i of $bridge, as OZY_TESTBED_FAIL_AT asks" ;;
    "$i:kill") kill -KILL $$ ;;
  esac
  record "podman $i"
}

cmd_up() {
  local n=${1:-}
  if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > max_hosts)); then
    die "up wants a number of hosts, 1..$max_hosts"
  fi
  [[ $(id -u) -eq 0 ]] || die "up needs root (network and mount namespaces)"
  [[ $state == /* && $state != *[[:space:]]* ]] || die "the state dir must be an absolute path without spaces: $state"
  if [[ -e $state ]]; then
    [[ -e $state/made ]] && die "a test bed is already up in $state (run: $self down --state $state)"
    [[ -d $state && -z $(ls -A "$state") ]] || die "$state exists and is not an empty directory"
  fi
  mkdir -p "$state"
  record "dir $state"
  # Whatever stops `up` half-way (an error, a signal) removes what it made.
  trap 'if ((!up_finished)); then echo "testbed: up failed; removing what it made" >&2; "$self" down --state "$state" >&2 || true; fi' EXIT
  trap 'exit 1' INT TERM HUP

  claim_slot
  bridge="ozytb$slot"
  bridge_addr="10.99.$slot.1"
  hosts=$n
  printf 'slot=%s\nhosts=%s\nbridge=%s\nbridge_addr=%s\n' "$slot" "$hosts" "$bridge" "$bridge_addr" \
    >"$state/testbed.env"
  record "link $bridge"
  ip link add "$bridge" type bridge
  ip addr add "$bridge_addr/24" dev "$bridge"
  ip link set "$bridge" up

  # unshare --mount=FILE needs FILE on a mount that is not shared (else the
  # namespace could propagate into itself); a private bind of ns/ makes sure.
  mkdir -p "$state/ns"
  record "mount $state/ns"
  mount --bind "$state/ns" "$state/ns"
  mount --make-private "$state/ns"

  local i
  for ((i = 1; i <= n; i++)); do make_host "$i"; done
  # shellcheck disable=SC2034 # read by the EXIT trap
  up_finished=1
  echo "testbed: $n hosts up in $state: bridge $bridge $bridge_addr, hosts $(host_addr 1)..$(host_addr "$n")"
}

# --- down -----------------------------------------------------------------

# PIDs in network namespace $1 or mount namespace file $2 (either may be
# gone), minus those named $3 (a comm, e.g. conmon) if given.
host_pids() {
  local netns=$1 mntns=$2 except=${3:-} ino="" p
  {
    ip netns pids "$netns" 2>/dev/null || true
    if findmnt -rn --mountpoint "$mntns" &>/dev/null; then
      ino=$(stat -L -c %i "$mntns")
      for p in /proc/[0-9]*; do
        [[ $(readlink "$p/ns/mnt" 2>/dev/null) == "mnt:[$ino]" ]] && echo "${p#/proc/}"
      done
    fi
  } | sort -u | while read -r p; do
    [[ -n $except && $(cat "/proc/$p/comm" 2>/dev/null) == "$except" ]] || echo "$p"
  done
}

# SIGTERM, then SIGKILL after 10 s, every process of a host; waits until the
# namespaces hold none (a zombie no longer counts: its namespaces are gone).
stop_host_processes() {
  local netns=$1 mntns=$2 except=${3:-} pids tries
  mapfile -t pids < <(host_pids "$netns" "$mntns" "$except")
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for ((tries = 0; tries < 200; tries++)); do
    mapfile -t pids < <(host_pids "$netns" "$mntns" "$except")
    ((${#pids[@]})) || return 0
    if ((tries == 100)); then kill -KILL "${pids[@]}" 2>/dev/null || true; fi
    sleep 0.1
  done
  echo "testbed: processes ${pids[*]} of $netns do not die" >&2
  return 1
}

# Removes a host's pods and containers with its own podman. Its other
# processes (an agent, a podman service) are stopped first so none of them
# starts a pod again; conmon is spared until podman has removed its container.
undo_podman() {
  local i=$1 netns mntns dir id
  netns=$(host_netns "$i")
  mntns=$(host_mntns "$i")
  dir=$(host_dir "$i")
  findmnt -rn --mountpoint "$mntns" &>/dev/null || return 0
  stop_host_processes "$netns" "$mntns" conmon || return 1
  if [[ -e /run/netns/$netns ]]; then
    (in_host "$i" podman pod rm --all --force --time 0 >/dev/null) || true
    (in_host "$i" podman rm --all --force --time 0 >/dev/null) || true
  fi
  # Whatever podman could not remove, runc can: its state is the host's own.
  for id in $(runc --root "$dir/run/runc" list -q 2>/dev/null); do
    echo "testbed: podman left container $id in host $i; removing it with runc" >&2
    runc --root "$dir/run/runc" delete --force "$id" || true
  done
  [[ -z $(runc --root "$dir/run/runc" list -q 2>/dev/null) ]]
}

undo_mntns() {
  local file=$1 i
  i=${file##*/h}
  findmnt -rn --mountpoint "$file" &>/dev/null || return 0
  stop_host_processes "$(host_netns "$i")" "$file" || return 1
  umount "$file"
}

undo_netns() {
  local netns=$1
  [[ -e /run/netns/$netns ]] || return 0
  stop_host_processes "$netns" /nonexistent || return 1
  ip netns delete "$netns"
}

undo_link() {
  if ip link show "$1" &>/dev/null; then ip link delete "$1"; fi
}

undo_mount() {
  if findmnt -rn --mountpoint "$1" &>/dev/null; then umount "$1"; fi
}

undo_claim() {
  [[ -e $1 ]] || return 0
  exec {lock_fd}>"$lock_file"
  flock "$lock_fd"
  # Only our own claim: a stale one may have been taken over since.
  if [[ $(cat "$1" 2>/dev/null) == "$state" ]]; then rm -f "$1"; fi
  exec {lock_fd}>&-
}

undo_dir() {
  [[ -d $1 ]] || return 0
  if grep -qF -e " $1/" -e " $1 " /proc/self/mountinfo; then
    echo "testbed: something is still mounted under $1; not removing it" >&2
    return 1
  fi
  rm -rf "$1"
}

cmd_down() {
  [[ $(id -u) -eq 0 ]] || die "down needs root"
  if [[ ! -f $state/made ]]; then
    echo "testbed: nothing to remove in $state"
    return 0
  fi
  # slot is needed to name a host's namespaces; a half-failed up may not have
  # written testbed.env, so read it from the record.
  slot=$(sed -n 's|^claim .*/\([0-9]*\)$|\1|p' "$state/made")
  local failed=0 kind arg
  while read -r kind arg; do
    # The claim and the state dir (which holds the record) go only if all
    # else went, so a second `down` can finish the job.
    if ((failed)) && [[ $kind == claim || $kind == dir ]]; then continue; fi
    if ! "undo_$kind" "$arg"; then
      echo "testbed: could not undo \"$kind $arg\"" >&2
      failed=1
    fi
  done < <(tac "$state/made")
  ((failed)) && die "some of the test bed in $state is left; see above, then run down again"
  echo "testbed: removed the test bed in $state"
}

# --- the rest -------------------------------------------------------------

cmd_copy_image() {
  local image=${1:-} i
  [[ -n $image && $# -ge 2 ]] || die "copy-image wants an image and host numbers"
  shift
  load_state
  for i in "$@"; do check_host "$i"; done
  for i in "$@"; do
    CONTAINERS_CONF=${CONTAINERS_CONF:-$repo/config/containers.conf} podman save "$image" |
      "$self" --state "$state" exec "$i" podman load -q >/dev/null ||
      die "cannot copy $image into host $i"
  done
}

# Leading options, then the subcommand; `--state DIR` may also follow it.
while [[ ${1:-} == --state ]]; do
  [[ $# -ge 2 ]] || usage
  state=$2
  shift 2
done
command=${1:-}
[[ -n $command ]] || usage
shift
while [[ ${1:-} == --state ]]; do
  [[ $# -ge 2 ]] || usage
  state=$2
  shift 2
done

case $command in
  up)
    n=${1:-}
    shift || true
    [[ ${1:-} == --state && $# -eq 2 ]] && state=$2 && shift 2
    [[ $# -eq 0 ]] || usage
    cmd_up "$n"
    ;;
  down)
    [[ $# -eq 0 ]] || usage
    cmd_down
    ;;
  exec)
    [[ $# -ge 2 ]] || usage
    load_state
    check_host "$1"
    in_host "$@"
    ;;
  addr)
    [[ $# -eq 1 ]] || usage
    load_state
    check_host "$1"
    host_addr "$1"
    ;;
  bridge-addr)
    [[ $# -eq 0 ]] || usage
    load_state
    echo "$bridge_addr"
    ;;
  copy-image) cmd_copy_image "$@" ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
