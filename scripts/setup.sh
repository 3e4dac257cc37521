#!/usr/bin/env bash
# Installs what Ozymandias needs to build and test on Debian 12, as root.
# Idempotent: packages already present are not fetched again.
set -euo pipefail

packages=(
  # toolchain: clang builds everything (libFuzzer needs it), g++ brings libstdc++
  cmake ninja-build clang libclang-rt-14-dev g++ pkg-config
  # libraries (see docs/internals.md for what each carries)
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  libboost-dev libssl-dev openssl libldns-dev
  # etcd: the server for tests, its .proto files (and their imports) for the
  # C++ gRPC stubs generated at build time
  etcd-server etcd-client protobuf-compiler protobuf-compiler-grpc libgrpc++-dev libprotobuf-dev
  golang-etcd-server-dev golang-github-gogo-protobuf-dev golang-github-grpc-ecosystem-grpc-gateway-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev python3 curl dnsutils
  # containers: podman with runc (crun fails here), its pause binary, and
  # busybox-static for the test images (config/containers.conf)
  podman runc catatonit busybox-static
  # image pulls: a local registry for the tests, htpasswd for its passwords
  docker-registry apache2-utils
  # the pod network (ip routes, iptables rules) and the test bed's hosts
  # (network namespaces, veths, bridges; sysctl), which a minimal Debian lacks
  iproute2 iptables procps
  # the ingress benchmark (bench/ingress.py): wrk is the client; nginx serves
  # the backend pods and is one of the proxies compared, haproxy the other.
  # (Debian 12's nginx-light is only nginx plus an echo module.)
  wrk nginx haproxy
  # metrics: prometheus-cpp's core keeps and formats them (its pull and push
  # parts are not linked); prometheus brings promtool, which checks the
  # format in the tests (its server is never run)
  prometheus-cpp-dev prometheus
)
# Packages that come with a system service the benchmarks run their own
# instances of (their own configs, loopback ports): installing them must not
# leave a service running or enabled (nginx's default site takes port 80).
services=(nginx haproxy prometheus)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: these Debian packages are missing: ${missing[*]}" >&2
    echo "setup: run this script as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d exiting 101 tells the packages' scripts not to start their
  # services (invoke-rc.d and deb-systemd-invoke ask it). Only if the machine
  # has no policy of its own, and only for the installation.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# scripts/setup.sh: no service starts while it installs packages\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Installed now: disable (and stop, should a policy have let it start) the
  # services, so they stay off across reboots too.
  for s in "${services[@]}"; do
    [[ " ${missing[*]} " == *" $s "* ]] || continue
    if [[ -d /run/systemd/system ]]; then
      systemctl disable --now --quiet "$s" 2>/dev/null || true
    else
      [[ -x /etc/init.d/$s ]] && /etc/init.d/"$s" stop >/dev/null 2>&1 || true
      update-rc.d "$s" disable >/dev/null 2>&1 || true
    fi
    echo "setup: the $s system service is disabled (the benchmarks and tests start their own where they need one)"
  done
fi
# Containers run in user namespaces (podman's userns=auto): container root is
# an unprivileged host uid taken from the subordinate ranges of the user
# "containers", which podman reads from /etc/subuid and /etc/subgid. Append
# the range only if that user has none, so an operator's own ranges stay.
for file in /etc/subuid /etc/subgid; do
  if ! grep -q '^containers:' "$file" 2>/dev/null; then
    if [[ $(id -u) -ne 0 ]]; then
      echo "setup: $file has no range for \"containers\"; run this script as root" >&2
      exit 1
    fi
    echo "containers:2147483647:2147483648" >>"$file"
    echo "setup: added the subordinate range of \"containers\" to $file"
  fi
done
# podman runs with the project's own configuration (runc, cgroupfs, rlimits
# within these hosts' limits); check that it works with it.
config="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/config/containers.conf"
if ! CONTAINERS_CONF="$config" podman info --format '{{.Host.OCIRuntime.Name}}' >/dev/null; then
  echo "setup: podman does not work with $config; see 'podman info' above" >&2
  exit 1
fi
echo "setup: all build and test dependencies are installed"
