#!/usr/bin/env bash
# Stops what tests/testbed/up.sh started: the devbox (its sshd, dockerd,
# registry, network namespace and veth pair, and the Include in root's
# ~/.ssh/config), the xfs and TCP dockerds (and the xfs mount), the
# dockerd, the registry. Keeps every cache (rootfs tarball, tansu, registry
# data, /var/lib/docker, the xfs image, the devbox's data and keys), so the
# next up.sh is fast.
set -euo pipefail

DIR=${DEVRIG_TESTBED_DIR:-$HOME/.cache/devrig-testbed}
RUN=$DIR/run

say() { printf 'testbed: %s\n' "$*"; }
# A process that ended but was not reaped yet (a zombie) counts as gone.
alive() { kill -0 "$1" 2>/dev/null && ! grep -qs '^[^ ]* ([^)]*) Z' "/proc/$1/stat"; }

# stop NAME PROGRAM: end the process whose pid up.sh wrote to run/NAME.pid,
# if it is still that program; SIGTERM, then SIGKILL after 30 s.
stop() {
  local name=$1 prog=$2 pidfile=$RUN/$1.pid pid
  if [ ! -f "$pidfile" ]; then
    say "$name: not started by up.sh"
    return 0
  fi
  pid=$(cat "$pidfile")
  if ! alive "$pid" || ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$prog"; then
    say "$name: not running"
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    alive "$pid" || break
    sleep 0.5
  done
  if alive "$pid"; then
    say "$name: still running after 30 s, killing"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  say "$name: stopped"
}

stop sshd-remote sshd
stop dockerd-remote dockerd
stop registry-remote docker-registry
if ip netns list 2>/dev/null | grep -qw devrig-remote; then
  ip netns del devrig-remote || true
  say "devbox: network namespace removed"
fi
# Its veth pair goes with the namespace; the host's end, should it linger:
if ip link show devrig-rh0 >/dev/null 2>&1; then
  ip link del devrig-rh0 || true
fi
ssh_config=$(getent passwd "$(id -un)" | cut -d: -f6)/.ssh/config
if grep -qxF "Include $DIR/ssh/config" "$ssh_config" 2>/dev/null; then
  grep -vxF "Include $DIR/ssh/config" "$ssh_config" >"$ssh_config.devrig-tmp" || true
  chmod 600 "$ssh_config.devrig-tmp"
  mv "$ssh_config.devrig-tmp" "$ssh_config"
  say "devbox: its Include left $ssh_config"
fi
# stop_isolated NAME NET: an engine of up.sh's start_isolated, its bridge
# and its FORWARD rules.
stop_isolated() {
  stop "dockerd-$1" dockerd
  if ip link show "devrig-${1}0" >/dev/null 2>&1; then
    ip link del "devrig-${1}0" || true
  fi
  for dir in -s -d; do
    while iptables -D FORWARD "$dir" "10.$2.0.0/15" -j ACCEPT 2>/dev/null; do :; done
  done
}

stop_isolated xfs 214
# The xfs image stays (the third engine's cache); only its mount goes.
if findmnt -n "$DIR/xfs" >/dev/null 2>&1; then
  umount "$DIR/xfs" && say "xfs: unmounted $DIR/xfs"
fi
stop_isolated tcp 212
stop dockerd dockerd
stop registry docker-registry
