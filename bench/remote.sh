#!/usr/bin/env bash
# Benchmark: the demo stack (devservices/config.yml, 5 services and the
# example worker) on the test bed's devbox through SSH (DOCKER_HOST=
# ssh://devbox) beside the same stack on the local engine, same images
# (pulled on both engines by a first, untimed `up`): `up` from stopped
# (volumes kept) to all-healthy, a no-op `up`, `status` and `down`, RUNS
# times each, medians. Then the latency a forwarded port adds: redis PINGs
# through the forward on this machine's 127.0.0.1:6379 beside the same
# PINGs inside the devbox's namespace, straight to its published port; on
# one connection (the round trip) and one connection per PING (what a
# client that reconnects pays: a new SSH channel each time).
#
#   bash bench/remote.sh [RUNS] [PINGS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
pings=${2:-2000}

bash "$here/tests/testbed/up.sh" >&2
cargo build --release --locked --quiet --manifest-path "$here/Cargo.toml"
devrig=$here/target/release/devrig

work=${BENCH_DIR:-$HOME/.cache/devrig-bench/work}/devrig-remote
rm -rf "$work"
mkdir -p "$work/repo/devservices" "$work/run" "$work/state"
sed -E -e 's#image: ghcr\.io/#image: 127.0.0.1:5000/#' -e 's#service_name: devrig#service_name: benchremote#' \
  "$here/devservices/config.yml" >"$work/repo/devservices/config.yml"
# A runtime and state dir of the bench's own: its supervisor, SSH master
# and state stay out of the user's.
export XDG_RUNTIME_DIR=$work/run DEVRIG_STATE_DIR=$work/state

# times COMMAND…: the seconds COMMAND took, which must succeed.
seconds() {
  python3 - "$@" <<'PY'
import subprocess, sys, time
t = time.perf_counter()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
if r.returncode:
    sys.stderr.write(r.stderr.decode())
    sys.exit(r.returncode)
print(f"{time.perf_counter() - t:.3f}")
PY
}
median() { python3 -c 'import statistics, sys; print(f"{statistics.median(map(float, sys.argv[1:])):.3f}")' "$@"; }

declare -A result
for engine in local ssh; do
  case $engine in
    local) host=unix:///var/run/docker.sock ;;
    ssh) host=ssh://devbox ;;
  esac
  cd "$work/repo"
  # Images pulled and volumes made once, untimed.
  DOCKER_HOST=$host "$devrig" up -q >/dev/null
  DOCKER_HOST=$host "$devrig" down -q >/dev/null
  ups=() noops=() statuses=() downs=()
  for _ in $(seq 1 "$runs"); do
    ups+=("$(DOCKER_HOST=$host seconds "$devrig" up)")
    noops+=("$(DOCKER_HOST=$host seconds "$devrig" up)")
    statuses+=("$(DOCKER_HOST=$host seconds "$devrig" status)")
    downs+=("$(DOCKER_HOST=$host seconds "$devrig" down)")
  done
  result[$engine]="$(median "${ups[@]}") $(median "${noops[@]}") $(median "${statuses[@]}") $(median "${downs[@]}")"
done

# PING round trips: medians and 99th percentiles, in microseconds.
ping_loop() { # PORT COUNT MODE(one|each)
  python3 - "$@" <<'PY'
import socket, statistics, sys, time
port, count, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def connect():
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s
def ping(s):
    s.sendall(b"PING\r\n")
    got = b""
    while not got.endswith(b"\r\n"):
        got += s.recv(64)
    assert got == b"+PONG\r\n", got
times = []
s = connect() if mode == "one" else None
for _ in range(count):
    t = time.perf_counter()
    if mode == "each":
        s = connect()
    ping(s)
    if mode == "each":
        s.close()
    times.append((time.perf_counter() - t) * 1e6)
times.sort()
print(f"{statistics.median(times):.0f} (p99 {times[int(len(times) * 0.99) - 1]:.0f})")
PY
}
cd "$work/repo"
DOCKER_HOST=ssh://devbox "$devrig" up -q >/dev/null
forwarded_one=$(ping_loop 6379 "$pings" one)
forwarded_each=$(ping_loop 6379 "$((pings / 4))" each)
# The same script inside the devbox's namespace, where 127.0.0.1:6379 is
# the container's published port itself.
script=$(declare -f ping_loop)
direct_one=$(nsenter --net=/run/netns/devrig-remote bash -c "$script; ping_loop 6379 $pings one")
direct_each=$(nsenter --net=/run/netns/devrig-remote bash -c "$script; ping_loop 6379 $((pings / 4)) each")
DOCKER_HOST=ssh://devbox "$devrig" down -q >/dev/null

read -r lu ln ls ld <<<"${result[local]}"
read -r su sn ss sd <<<"${result[ssh]}"
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }
echo
echo "demo stack, medians of $runs runs (seconds)"
printf '| %-22s | %6s | %9s | %6s | %6s |\n' engine up "no-op up" status down
printf '| %-22s | %6s | %9s | %6s | %6s |\n' "local (unix socket)" "$lu" "$ln" "$ls" "$ld"
printf '| %-22s | %6s | %9s | %6s | %6s |\n' "ssh://devbox" "$su" "$sn" "$ss" "$sd"
printf '| %-22s | %6s | %9s | %6s | %6s |\n' "ssh / local" "$(ratio "$su" "$lu")" "$(ratio "$sn" "$ln")" "$(ratio "$ss" "$ls")" "$(ratio "$sd" "$ld")"
echo
echo "redis PING round trip, $pings PINGs (microseconds: median, 99th percentile)"
printf '| %-36s | %-14s | %-17s |\n' "" "one connection" "a connection each"
printf '| %-36s | %-14s | %-17s |\n' "direct, inside the devbox" "$direct_one" "$direct_each"
printf '| %-36s | %-14s | %-17s |\n' "through the forward, on this machine" "$forwarded_one" "$forwarded_each"
