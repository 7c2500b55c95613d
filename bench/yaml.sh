#!/usr/bin/env bash
# Bench: reading large configs, release build, with hyperfine. Parsing must
# be linear in the file (issue 14 point 10: one mapping of 80k keys took
# 22 s when duplicate keys were found by scanning the keys before them), and
# a file over the size limit is refused before it is read.
#
#   20k, 80k   `devrig config` on a config with one mapping of that many
#              keys (1 MB, 3.9 MB)
#   linear     80k / 20k: four times the keys       goal: under 6 times the time
#   900k       the issue's file (44 MB, no aliases): refused by the size
#              limit, from its length                goal: < 100 ms
#   900k read  the same with DEVRIG_CONFIG_MAX_SIZE=64MB: parsed, planned
#              and printed                           goal: < 10 s
#
#   bash bench/yaml.sh
#
# Prints hyperfine's figures, then one line per goal; exits 1 when one is
# missed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
cargo build --release --locked --quiet --manifest-path "$here/Cargo.toml"
devrig=$here/target/release/devrig

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home DEVRIG_STATE_DIR=$work/state
mkdir -p "$HOME"

# KEYS: a repo whose config has a mapping of KEYS keys under `x-big`.
repo() {
  local dir=$work/k$1
  mkdir -p "$dir/devservices"
  {
    printf '%s\n' 'x-sentry-service-config:' '  version: 0.1' '  service_name: demo' \
      '  modes:' '    default: []' 'x-big:'
    awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "  key-%07d: value-of-the-key-number-%07d-pad\n", i, i }'
  } >"$dir/devservices/config.yml"
  echo "$dir"
}

# NAME RUNS DIR COMMAND…: hyperfine's median of COMMAND in DIR, in ms.
median_ms() {
  local name=$1 runs=$2 dir=$3; shift 3
  (cd "$dir" && hyperfine -N -i --warmup 1 --runs "$runs" --export-json "$work/$name.json" \
    --command-name "$name" "$*" >&2)
  python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$work/$name.json"
}

missed=0
verdict() { # NAME VALUE GOAL UNIT
  if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$2" "$3"; then
    echo "goal: $1 $2$4 (< $3$4) ok"
  else
    echo "goal: $1 $2$4 MISSED (< $3$4)"
    missed=1
  fi
}

k20=$(repo 20000)
k80=$(repo 80000)
k900=$(repo 900000)
# What is timed must be what the goal is about: accepted, or refused by size.
(cd "$k80" && "$devrig" config >/dev/null) || { echo "bench: the 80k-key config is refused" >&2; exit 1; }
out=$(cd "$k900" && "$devrig" config 2>&1) && { echo "bench: the 900k-key config is accepted" >&2; exit 1; }
grep -q 'over the limit' <<<"$out" || { echo "bench: the 900k-key config is not refused by size: $out" >&2; exit 1; }
(cd "$k900" && DEVRIG_CONFIG_MAX_SIZE=64MB "$devrig" config >/dev/null) \
  || { echo "bench: the 900k-key config is refused under a 64MB limit" >&2; exit 1; }

t20=$(median_ms 20k 10 "$k20" "$devrig" config)
t80=$(median_ms 80k 10 "$k80" "$devrig" config)
t900=$(median_ms 900k 20 "$k900" "$devrig" config)
t900r=$(median_ms 900k-read 3 "$k900" env DEVRIG_CONFIG_MAX_SIZE=64MB "$devrig" config)

echo "20k keys: $t20 ms; 80k keys: $t80 ms; 900k keys read: $t900r ms"
verdict "linear (80k/20k)" "$(python3 -c "print(round($t80 / max($t20, 1), 1))")" 6 "x"
verdict "900k refused by size" "$t900" 100 " ms"
verdict "900k read" "$t900r" 10000 " ms"
exit $missed
