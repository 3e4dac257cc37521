#!/usr/bin/env bash
# Installs Ozymandias on this machine as a node: the `ozy` binary in
# /usr/local/bin, the agent's systemd unit, and a default configuration in
# /etc/ozy (never overwritten: an existing file is left as it is). Builds
# first unless --no-build; runs scripts/setup.sh for what the agent needs
# (podman, runc, etcd client tools). It does not start the agent: edit
# /etc/ozy/agent.toml, then `systemctl enable --now ozy-agent`.
# See docs/operations.md#running-on-real-machines.
set -euo pipefail
cd "$(dirname "$0")/.."
build=1
[[ ${1:-} == --no-build ]] && build=0
[[ $(id -u) == 0 ]] || { echo "install.sh: run as root" >&2; exit 1; }

scripts/setup.sh
if ((build)); then scripts/build.sh; fi
[[ -x build/ozy ]] || { echo "install.sh: no build/ozy; run scripts/build.sh" >&2; exit 1; }

install -m 0755 build/ozy /usr/local/bin/ozy
install -d -m 0755 /usr/local/share/doc/ozy
install -m 0644 docs/*.md /usr/local/share/doc/ozy/
install -m 0644 packaging/ozy-agent.service /etc/systemd/system/ozy-agent.service
install -d -m 0755 /etc/ozy
install -d -m 0700 /var/lib/ozy
# Configuration is the operator's once written: only what is missing.
[[ -e /etc/ozy/agent.toml ]] || install -m 0644 packaging/agent.toml /etc/ozy/agent.toml
[[ -e /etc/ozy/containers.conf ]] || install -m 0644 config/containers.conf /etc/ozy/containers.conf
if [[ ! -e /etc/ozy/token ]]; then
  (umask 077 && openssl rand -hex 32 >/etc/ozy/token)
  echo "install.sh: made /etc/ozy/token; copy it to every node of the cluster (mode 0600)"
fi
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  systemctl daemon-reload
fi
echo "install.sh: installed /usr/local/bin/ozy and ozy-agent.service; edit /etc/ozy/agent.toml," \
  "then: systemctl enable --now ozy-agent"
