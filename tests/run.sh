#!/usr/bin/env bash
# The whole test suite, in two tiers:
#
#   1. no engine, no test bed: the unit tests, the CLI, config errors,
#      plans, remotes (real git repositories over file://), the toolchain
#      (doctor, sync, provision, fetch; these need python3 with venv, node,
#      npm and direnv on the machine, and reach the npm registry and PyPI
#      once to fill ~/.cache/devrig-test) and serve;
#   2. after tests/testbed/up.sh: the container tests on its engine and
#      registry, the supervised programs, and the differential tests against
#      the docker compose and devservices it installs.
#
# A test binary not named in TIER1 runs in tier 2: a new one must pass with
# no test bed at all to be moved up. Both tiers run even when the first
# fails; the exit status is non-zero when anything failed (a test, a build,
# the test bed).
#
#   bash tests/run.sh [-- TEST FILTERS…]
set -uo pipefail
cd "$(dirname "$0")/.."

TIER1=(cli config_errors plan remote sync doctor provision fetch serve service_names)
tier2=()
for file in tests/*.rs; do
  name=$(basename "$file" .rs)
  [[ " ${TIER1[*]} " == *" $name "* ]] || tier2+=("$name")
done
targets() { printf -- '--test %s ' "$@"; }

failed=0
# Tier 1 runs the machine's own python3, node, npm and git, and the real
# direnv, which a fresh machine lacks, and repacks Node archives with xz:
# those come first (Debian's packages, as the test bed installs them).
need=()
command -v direnv >/dev/null || need+=(direnv)
command -v xz >/dev/null || need+=(xz-utils)
if ((${#need[@]})); then
  echo "tests: installing ${need[*]} for the toolchain tests"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${need[@]}"; } >/dev/null ||
    { echo "tests: error: cannot install ${need[*]} (apt-get, as root)" >&2; failed=1; }
fi
echo "tests: tier 1, no engine: unit tests, ${TIER1[*]}"
# shellcheck disable=SC2046 # one word per target
cargo test --locked --no-fail-fast --lib $(targets "${TIER1[@]}") "$@" || failed=1

echo "tests: tier 2, the test bed: ${tier2[*]}"
if bash tests/testbed/up.sh; then
  # shellcheck disable=SC2046
  cargo test --locked --no-fail-fast $(targets "${tier2[@]}") "$@" || failed=1
else
  echo "tests: error: the test bed did not come up; tier 2 did not run" >&2
  failed=1
fi
exit $failed
