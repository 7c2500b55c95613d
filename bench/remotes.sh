#!/usr/bin/env bash
# Bench: resolving a plan with 10 remote repos in 3 levels (kafka and redis
# shared by several), cold (empty dependency cache: every remote fetched over
# file://) and warm (cached), with hyperfine.
#
#   bash bench/remotes.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
cargo build --release --locked --quiet --manifest-path "$here/Cargo.toml"
devrig=$here/target/release/devrig

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
remotes=$work/remotes
mkdir -p "$remotes" "$work/repo/devservices"

# remote NAME DEPS...: a repo whose default mode runs its own service plus DEPS (remotes).
remote() {
  local name=$1; shift
  local dir=$work/src/$name
  mkdir -p "$dir/devservices"
  {
    printf 'x-sentry-service-config:\n  version: 0.1\n  service_name: %s\n  dependencies:\n' "$name"
    printf '    %s: {description: %s}\n' "$name" "$name"
    for dep in "$@"; do
      printf '    %s:\n      description: %s\n      remote: {repo_name: %s, branch: main, repo_link: "file://%s/%s.git"}\n' "$dep" "$dep" "$dep" "$remotes" "$dep"
    done
    printf '  modes:\n    default: [%s]\n' "$(IFS=,; echo "$name${*:+,$*}")"
    printf 'services:\n  %s:\n    image: %s:latest\n' "$name" "$name"
  } >"$dir/devservices/config.yml"
  git -C "$dir" init -q -b main && git -C "$dir" add -A
  git -C "$dir" -c user.name=bench -c user.email=bench@devrig.invalid commit -q -m fixture
  git clone -q --bare "$dir" "$remotes/$name.git"
  git -C "$remotes/$name.git" config uploadpack.allowFilter true
}
# level 3
remote kafka; remote redis; remote clickhouse; remote postgres
# level 2
remote snuba clickhouse kafka redis; remote relay kafka redis; remote taskbroker kafka postgres
remote symbolicator redis; remote vroom kafka
# level 1
remote chartcuterie snuba relay
deps=(snuba relay taskbroker symbolicator vroom chartcuterie)
{
  printf 'x-sentry-service-config:\n  version: 0.1\n  service_name: app\n  dependencies:\n'
  for dep in "${deps[@]}"; do
    printf '    %s:\n      description: %s\n      remote: {repo_name: %s, branch: main, repo_link: "file://%s/%s.git"}\n' "$dep" "$dep" "$dep" "$remotes" "$dep"
  done
  printf '  modes:\n    default: [%s]\n' "$(IFS=,; echo "${deps[*]}")"
} >"$work/repo/devservices/config.yml"

export DEVSERVICES_DEPENDENCIES_CACHE_DIR=$work/cache
cd "$work/repo"
"$devrig" config --json | python3 -c 'import json,sys; p=json.load(sys.stdin); print("projects:", len(p["projects"]), sorted(p["projects"]))'
hyperfine -N --warmup 1 --runs 10 --prepare "rm -rf $work/cache" --command-name cold "$devrig config --json"
"$devrig" config --json >/dev/null
hyperfine -N --warmup 5 --command-name warm "$devrig config --json"

# devservices 1.5.4 on the same files: it cannot fetch file:// remotes (only
# GitHub zipballs), so its cache is pre-filled and its own offline `up` path
# resolves the plan (tests/devservices_diff/resolve.py, as the differential
# test runs it; no container is started).
venv=${DEVRIG_TESTBED_DIR:-$HOME/.cache/devrig-testbed}/compose-2.40.3
if [ -x "$venv/bin/python" ] && [ -x "$venv/bin/devservices" ]; then
  dshome=$work/devservices-home
  for dir in "$work"/src/*; do
    mkdir -p "$dshome/.cache/sentry-devservices/dependencies/v1/$(basename "$dir")"
    cp -r "$dir/devservices" "$dshome/.cache/sentry-devservices/dependencies/v1/$(basename "$dir")/"
  done
  mkdir -p "$dshome/.docker/cli-plugins"
  ln -sf "$(ls "$venv"/lib/python3*/site-packages/compose/docker-compose | head -1)" "$dshome/.docker/cli-plugins/docker-compose"
  HOME=$dshome DEVSERVICES_DISABLE_SENTRY=1 hyperfine -N --warmup 1 --runs 5 --command-name "devservices (offline)" \
    "$venv/bin/python $here/tests/devservices_diff/resolve.py $work/repo default"
else
  echo "devservices 1.5.4 is not installed (bash tests/testbed/up.sh installs it); skipped its timing" >&2
fi
