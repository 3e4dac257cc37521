#!/usr/bin/env bash
# Installs podman and what the runtime tests need on Debian 12, as root.
# Idempotent: packages already present are not fetched again.
#
# podman itself is configured by the project's config/containers.conf (runc,
# cgroupfs, ulimits within the hosts' limits), named by CONTAINERS_CONF; this
# script writes no system-wide configuration.
set -euo pipefail

packages=(
  podman           # 4.3.1: `podman system service`, the libpod REST API
  runc             # the OCI runtime that works here (crun does not)
  catatonit        # the pause process of pod infra containers; only a Recommends of podman
  busybox-static   # the test image's only binary
  # (iptables and containernetworking-plugins, for published ports, come as
  # dependencies; as root no uidmap is needed)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup-podman: these Debian packages are missing: ${missing[*]}" >&2
    echo "setup-podman: run this script as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "setup-podman: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

config="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/config/containers.conf"
if ! CONTAINERS_CONF="$config" podman info --format '{{.Host.OCIRuntime.Name}}' >/dev/null; then
  echo "setup-podman: podman does not work with $config; see 'podman info' above" >&2
  exit 1
fi
echo "setup-podman: podman is installed; run it with CONTAINERS_CONF=$config"
