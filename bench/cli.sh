#!/usr/bin/env bash
# Bench: the timing goals of commands that need no engine, with hyperfine.
# The tests check what these commands do; how fast is measured here:
#
#   no-op sync   `devenv sync` with three steps and nothing changed (it runs
#                no step and no doctor check)              goal: < 500 ms
#   alias bomb   `devrig config` refusing a YAML alias bomb (10^13 nodes
#                if expanded): the expansion budget stops it   goal: < 10 s
#
#   bash bench/cli.sh
#
# Prints hyperfine's figures, then one line per goal; exits 1 when a median
# misses its goal.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
cargo build --release --locked --quiet --manifest-path "$here/Cargo.toml"
devrig=$here/target/release/devrig

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home DEVRIG_STATE_DIR=$work/state
mkdir -p "$HOME"

# The three steps of tests/sync.rs, synced once.
sync=$work/sync
mkdir -p "$sync/devservices" "$sync/deps/nested"
cp "$here/tests/fixtures/sync/three-steps.yml" "$sync/devservices/config.yml"
echo a >"$sync/a.txt"; echo b >"$sync/b.txt"; echo 1 >"$sync/deps/nested/lock"
(cd "$sync" && "$devrig" sync >/dev/null 2>&1)

# The alias bomb of tests/config_errors.rs.
bomb=$work/bomb
mkdir -p "$bomb/devservices"
{
  echo 'a: &a [x, x, x, x, x, x, x, x, x, x]'
  prev=a
  for i in $(seq 0 11); do
    refs=$(printf '*%s, ' "$prev" "$prev" "$prev" "$prev" "$prev" "$prev" "$prev" "$prev" "$prev" "$prev")
    echo "l$i: &l$i [${refs%, }]"
    prev=l$i
  done
} >"$bomb/devservices/config.yml"

# NAME DIR GOAL_MS COMMAND: times COMMAND in DIR; prints its median against the goal.
missed=0
goal() {
  local name=$1 dir=$2 goal_ms=$3; shift 3
  (cd "$dir" && hyperfine -N -i --warmup 3 --runs 20 --export-json "$work/$name.json" \
    --command-name "$name" "$*")
  local median
  median=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$work/$name.json")
  if ((median < goal_ms)); then
    echo "goal: $name ${median} ms (< $goal_ms ms) ok"
  else
    echo "goal: $name ${median} ms MISSED (< $goal_ms ms)"
    missed=1
  fi
}
# What is timed must be what the goal is about: a sync that skips every
# step, a config that is refused.
out=$(cd "$sync" && "$devrig" sync 2>&1)
[ "$(grep -c 'skipped (unchanged)' <<<"$out")" = 3 ] || { echo "bench: the sync is not a no-op: $out" >&2; exit 1; }
out=$(cd "$bomb" && "$devrig" config 2>&1) && { echo "bench: the alias bomb is accepted" >&2; exit 1; }
grep -q 'alias bomb' <<<"$out" || { echo "bench: the alias bomb is not refused as one: $out" >&2; exit 1; }
goal "no-op sync" "$sync" 500 "$devrig sync"
# -i above: the refusal exits 2, as it should.
goal "alias bomb" "$bomb" 10000 "$devrig config"
exit $missed
