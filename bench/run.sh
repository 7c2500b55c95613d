#!/usr/bin/env bash
# Benchmark: the demo stack (devservices/config.yml) brought up from stopped
# (volumes existing) to all-healthy, a no-op up, status and down, N times,
# for devrig beside getsentry's devservices 1.5.4 and docker compose 2.40,
# through ../shared/bench/compare.py. Prints medians and devrig's ratios.
#
#   bash bench/run.sh [RUNS] [--only devrig,devservices,compose]
#
# Images come from the testbed registry (tests/testbed/up.sh): the bench
# copy of the config names them there, so every tool pulls the same images.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
shift || true

bash "$here/tests/testbed/up.sh" >&2
cargo build --release --locked --quiet --manifest-path "$here/Cargo.toml"

work=${BENCH_DIR:-$HOME/.cache/devrig-bench/work}/devrig-demo
rm -rf "$work"
mkdir -p "$work/devservices"
# ghcr.io/getsentry/x:tag → 127.0.0.1:5000/getsentry/x:tag, as the registry mirror does.
sed -E 's#image: ghcr\.io/#image: 127.0.0.1:5000/#' "$here/devservices/config.yml" > "$work/devservices/config.yml"

compare=${SHARED_BENCH:-$here/../shared/bench}/compare.py
exec python3 "$compare" "$work" --runs "$runs" --devrig "$here/target/release/devrig" "$@"
