#!/usr/bin/env bash
# Bench: `devenv sync` on a clone shaped like sentry's (the fixture of
# tests/provision.rs: config.ini's Node URL and sha256, packageManager with
# its sha512, .python-version, uv.lock with prek, .pre-commit-config.yaml),
# against a local HTTP server (python3 -m http.server) standing in for the
# Node mirror and the npm registry:
#
#   first sync   from nothing, per step (from `--json`), median of RUNS
#                fresh clones; PyPI's wheels come from a warm uv cache, so
#                what is timed is the install, not the network
#   no-op sync   nothing changed (hyperfine)         goal: < 50 ms, and no
#                request reaches the server
#
#   bash bench/sync.sh [RUNS]
#
# The archives, pnpm and uv are the tests' cache (~/.cache/devrig-test);
# when it is empty, the sentry-shaped test fills it first. Exits 1 when the
# no-op misses its goal or asks the network anything.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
node=22.11.0 pnpm=10.10.0 uv=0.13.9
cache=${XDG_CACHE_HOME:-$HOME/.cache}/devrig-test
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
if [ ! -f "$cache/node-dist/v$node/SHASUMS256.txt" ] || [ ! -d "$cache/pnpm-tarball-$pnpm" ] ||
  [ ! -x "$cache/uv-$uv/bin/uv" ]; then
  echo "bench: filling the test cache (tests/provision.rs)"
  (cd "$here" && cargo test --locked --quiet --test provision a_new_clone >/dev/null)
fi
cargo build --release --locked --quiet --manifest-path "$here/Cargo.toml"
devrig=$here/target/release/devrig

work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
www=$work/www
archive=node-v$node-linux-x64.tar.xz
mkdir -p "$www/node" "$www/registry/pnpm/-"
ln -s "$cache/node-dist/v$node/$archive" "$www/node/$archive"
ln -s "$cache/pnpm-tarball-$pnpm/pnpm-$pnpm.tgz" "$www/registry/pnpm/-/pnpm-$pnpm.tgz"
integrity=$(cat "$cache/pnpm-tarball-$pnpm/integrity")
printf '{"name": "pnpm", "version": "%s", "dist": {"tarball": "%s", "integrity": "%s"}}' \
  "$pnpm" "$url/registry/pnpm/-/pnpm-$pnpm.tgz" "$integrity" >"$www/registry/pnpm/$pnpm"
python3 -m http.server --bind 127.0.0.1 --directory "$www" "$port" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 50); do curl -sf -o /dev/null "$url/node/" 2>/dev/null && break; sleep 0.1; done

sha256=$(grep " $archive\$" "$cache/node-dist/v$node/SHASUMS256.txt" | cut -d' ' -f1)
sha512=$(python3 -c "import base64,sys; print(base64.b64decode(sys.argv[1][7:]).hex())" "$integrity")
read -r python python_version < <(python3 -c 'import sys; print(sys.executable, "%d.%d.%d" % sys.version_info[:3])')
mkdir -p "$work/bin"
ln -s "$python" "$work/bin/python3"
ln -s "$cache/uv-$uv/bin/uv" "$work/bin/uv"

# A fresh clone in $1.
clone() {
  local repo=$1
  mkdir -p "$repo/devenv"
  cp -r "$here/tests/fixtures/sentry-shaped/." "$repo/"
  cat >"$repo/devenv/config.ini" <<INI
[devenv]
minimum_version = 1.22.1

[venv.sentry]
python = $python_version
path = .venv

[node]
linux_x86_64 = $url/node/$archive
linux_x86_64_sha256 = $sha256
version = v$node
INI
  echo "$node" >"$repo/.node-version"
  echo "$python_version" >"$repo/.python-version"
  printf '{"name": "bench", "private": true, "packageManager": "pnpm@%s+sha512.%s"}\n' "$pnpm" "$sha512" >"$repo/package.json"
  printf 'PATH_add .devenv/bin\nsource .venv/bin/activate\n' >"$repo/.envrc"
  git -C "$repo" init -q
}

env_for() { # the isolated environment of one clone's syncs
  env -i PATH="$work/bin:/usr/bin:/bin" HOME="$work/home" DEVRIG_STATE_DIR="$work/state" \
    NPM_CONFIG_REGISTRY="$url/registry/" UV_CACHE_DIR="$cache/uv-cache" UV_PYTHON_DOWNLOADS=never \
    UV_NATIVE_TLS=1 ${SSL_CERT_FILE:+SSL_CERT_FILE=$SSL_CERT_FILE} npm_config_update_notifier=false "$@"
}
mkdir -p "$work/home"

for i in $(seq "$runs"); do
  clone "$work/clone$i"
  start=$(date +%s.%N)
  (cd "$work/clone$i" && env_for "$devrig" sync --json) >"$work/first$i.json"
  end=$(date +%s.%N)
  python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" "$start" "$end" >"$work/total$i"
done
python3 - "$work" "$runs" <<'PY'
import json, statistics, sys
work, runs = sys.argv[1], int(sys.argv[2])
per = {}
for i in range(1, runs + 1):
    for step in json.load(open(f"{work}/first{i}.json")):
        per.setdefault(step["name"], []).append(step["seconds"])
totals = [float(open(f"{work}/total{i}").read()) for i in range(1, runs + 1)]
print(f"first sync, median of {runs} fresh clones (seconds):")
for name, secs in per.items():
    print(f"  {name:<12} {statistics.median(secs):6.2f}")
print(f"  {'total':<12} {statistics.median(totals):6.2f}")
PY

repo=$work/clone1
before=$(wc -l <"$work/server.log")
(cd "$repo" && hyperfine -N --warmup 3 --runs 30 --export-json "$work/noop.json" \
  --command-name "no-op sync" "env -i PATH=$work/bin:/usr/bin:/bin HOME=$work/home DEVRIG_STATE_DIR=$work/state $devrig sync")
after=$(wc -l <"$work/server.log")
out=$(cd "$repo" && env_for "$devrig" sync 2>&1)
[ "$(grep -c 'skipped' <<<"$out")" = 6 ] || { echo "bench: the sync is not a no-op: $out" >&2; exit 1; }
median=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["results"][0]["median"]*1000, 1))' "$work/noop.json")
status=0
if [ "$before" != "$after" ]; then
  echo "goal: no-op sync asked the server $((after - before)) times MISSED (no request)"
  status=1
fi
if python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 50 else 1)" "$median"; then
  echo "goal: no-op sync ${median} ms (< 50 ms) ok, no request"
else
  echo "goal: no-op sync ${median} ms MISSED (< 50 ms)"
  status=1
fi
exit $status
