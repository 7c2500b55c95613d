#!/usr/bin/env bash
# Bench: `devrig snapshot save` and `restore` of a PostgreSQL database of a
# given size, beside recreating that database from scratch with a
# migration-like script, on each engine of the test bed: the default one
# (data root on ext4 here: plain copies) and the xfs one (reflinks).
#
#   bash bench/snapshot.sh [RUNS] [SIZES_MB...]     (default: 3 runs; 100 1024)
#
# The rebuild (what `make apply-migrations` and loading test data stand
# for): CREATE DATABASE, 200 migrations of one table and one index each,
# each in its own transaction, then rows in one table until the database
# has the size asked for, two ways: statement by statement (one INSERT per
# row from the client, a commit every 1000: the migration-like script) and
# in bulk (one INSERT … SELECT, indexes after: the fastest PostgreSQL can
# make the same bytes, a floor for any rebuild). Rebuilds are timed with
# the stack running; save and restore are the whole command, from stopping
# the container to it being ready again. Before each restore the database
# is dropped, and after it its rows are counted.
#
# Prints one table row per engine and size (medians of RUNS; the statement
# rebuild, which takes minutes, runs once), and exits 1 when restoring the
# largest size is not at least 10 times faster than the migration-like
# rebuild on some engine.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
shift || true
sizes=("$@")
((${#sizes[@]})) || sizes=(100 1024)

bash "$here/tests/testbed/up.sh" >/dev/null
cargo build --release --locked --quiet --manifest-path "$here/Cargo.toml"
devrig=$here/target/release/devrig

work=$(mktemp -d)
export HOME=$work/home DEVRIG_STATE_DIR=$work/state XDG_RUNTIME_DIR=$work/run \
  DEVRIG_REGISTRY_MIRROR=127.0.0.1:5000
mkdir -p "$HOME" "$work/repo/devservices"
cd "$work/repo"
project=snapbench-$$
cat >devservices/config.yml <<EOF
x-sentry-service-config:
  version: 0.1
  service_name: $project
  dependencies:
    postgres: {}
  modes:
    default: [postgres]
services:
  postgres:
    image: ghcr.io/getsentry/image-mirror-library-postgres:14-alpine
    environment:
      POSTGRES_HOST_AUTH_METHOD: trust
    healthcheck:
      test: pg_isready -h 127.0.0.1 -U postgres
      interval: 30s
    volumes: [postgres-data:/var/lib/postgresql/data]
volumes:
  postgres-data:
EOF
pg=$project-postgres-1

cleanup() {
  for host in unix:///var/run/docker.sock tcp://127.0.0.1:2376; do
    DOCKER_HOST=$host "$devrig" snapshot rm bench >/dev/null 2>&1 || true
    docker -H "$host" rm -f "$pg" >/dev/null 2>&1 || true
    docker -H "$host" volume rm "${project}_postgres-data" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(now)"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ratio() { python3 -c "print(f'{$1 / $2:.1f}')"; }
sql() { docker exec -i "$pg" psql -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }

# rows_for MB: rows of `events` that make a database of about MB.
rows_for() { echo $(($1 * 1024 * 1024 / 860)); }

# The schema: the database and 200 migrations of one table and one index
# each, each in its own transaction, and the table the data goes into.
schema() {
  echo "CREATE DATABASE app;"
  echo '\c app'
  for i in $(seq 1 200); do
    echo "BEGIN; CREATE TABLE m_$i (id bigserial PRIMARY KEY, name text NOT NULL, n int, created timestamptz DEFAULT now()); CREATE INDEX m_${i}_n ON m_$i (n); COMMIT;"
  done
  echo "CREATE TABLE events (id bigserial PRIMARY KEY, project int NOT NULL, message text NOT NULL, created timestamptz NOT NULL DEFAULT now());"
}

# Rebuild, bulk: the schema, then the rows in one INSERT … SELECT and the
# indexes after (PostgreSQL's fastest way to make this data).
bulk() {
  schema
  echo "INSERT INTO events (project, message) SELECT g % 97, repeat(md5(g::text), 10) FROM generate_series(1, $(rows_for "$1")) g;"
  echo "CREATE INDEX events_project ON events (project);"
  echo "CREATE INDEX events_created ON events (created);"
  echo "ANALYZE;"
}

# Rebuild, statement by statement: the schema and indexes, then one INSERT
# per row sent by the client, a commit every 1000 rows (how a data
# migration or a fixture loader writes). The server writes the statements;
# a second psql sends them back one by one.
statements() {
  local rows
  rows=$(rows_for "$1")
  schema | sql >/dev/null
  sql -d app -c 'CREATE INDEX events_project ON events (project); CREATE INDEX events_created ON events (created);' >/dev/null
  sql -d app -c "SELECT CASE WHEN g % 1000 = 1 THEN 'BEGIN; ' ELSE '' END
      || format('INSERT INTO events (project, message) VALUES (%s, %L);', g % 97, repeat(md5(g::text), 10))
      || CASE WHEN g % 1000 = 0 OR g = $rows THEN ' COMMIT;' ELSE '' END
    FROM generate_series(1, $rows) g" | sql -d app >/dev/null
  sql -d app -c 'ANALYZE' >/dev/null
}

printf '| engine | data root | size | rebuild, bulk | rebuild, statements | save | restore | statements / restore | bulk / restore |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
goal_missed=0
for host in unix:///var/run/docker.sock tcp://127.0.0.1:2376; do
  export DOCKER_HOST=$host
  fs=$(docker info --format '{{range .DriverStatus}}{{if eq (index . 0) "Backing Filesystem"}}{{index . 1}}{{end}}{{end}}')
  engine=default
  [ "$host" = tcp://127.0.0.1:2376 ] && engine=xfs
  "$devrig" up >/dev/null 2>&1
  for mb in "${sizes[@]}"; do
    rebuild=() statement=() save=() restore=()
    # Statement by statement takes minutes: once.
    sql -c 'DROP DATABASE IF EXISTS app' >/dev/null
    t=$(now)
    statements "$mb"
    statement+=("$(since "$t")")
    for _ in $(seq 1 "$runs"); do
      sql -c 'DROP DATABASE IF EXISTS app' >/dev/null
      t=$(now)
      bulk "$mb" | sql >/dev/null
      rebuild+=("$(since "$t")")
    done
    rows=$(sql -d app -c 'SELECT count(*) FROM events')
    for _ in $(seq 1 "$runs"); do
      t=$(now)
      "$devrig" snapshot save bench --force >/dev/null 2>&1
      save+=("$(since "$t")")
    done
    size=$("$devrig" snapshot list --json | python3 -c 'import json, sys; s = json.load(sys.stdin)["snapshots"][0]; print("%.0f MiB" % (s["size"] / 2**20))')
    method=$("$devrig" snapshot save bench --force --json 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["copies"][0]["method"])')
    for _ in $(seq 1 "$runs"); do
      sql -c 'DROP DATABASE app' >/dev/null
      t=$(now)
      "$devrig" snapshot restore bench >/dev/null 2>&1
      restore+=("$(since "$t")")
      [ "$(sql -d app -c 'SELECT count(*) FROM events')" = "$rows" ] || { echo "bench: restore lost rows" >&2; exit 1; }
    done
    r=$(median "${rebuild[@]}") m=$(median "${statement[@]}") s=$(median "${save[@]}") x=$(median "${restore[@]}")
    printf '| %s | %s | %s (%s) | %s s | %s s | %s s | %s s | %s× | %s× |\n' "$engine" "$fs" "$size" "$method" \
      "$r" "$m" "$s" "$x" "$(ratio "$m" "$x")" "$(ratio "$r" "$x")"
    if [ "$mb" = "${sizes[-1]}" ] && ! python3 -c "import sys; sys.exit(0 if $m / $x >= 10 else 1)"; then
      goal_missed=1
    fi
  done
  "$devrig" down >/dev/null 2>&1
done
if ((goal_missed)); then
  echo "bench: restoring ${sizes[-1]} MB was less than 10 times faster than the migration-like rebuild on some engine" >&2
  exit 1
fi
