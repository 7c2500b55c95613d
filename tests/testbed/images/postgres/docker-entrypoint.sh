#!/bin/bash
# The official postgres image's start-up, for Debian's PostgreSQL 15.
set -Eeuo pipefail

# `docker run IMAGE -c key=value`: the arguments are for postgres.
if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" != postgres ]; then
	exec "$@"
fi

# As root: own the data directory, then run as postgres.
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres:postgres '{}' +
	exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	: "${POSTGRES_USER:=postgres}"
	: "${POSTGRES_DB:=$POSTGRES_USER}"
	: "${POSTGRES_PASSWORD:=}"
	: "${POSTGRES_HOST_AUTH_METHOD:=}"
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		cat >&2 <<-'MSG'
			Error: Database is uninitialized and superuser password is not specified.
			       Set POSTGRES_PASSWORD to a non-empty value for the superuser, or
			       POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without a password.
		MSG
		exit 1
	fi
	echo "initdb: creating a cluster in $PGDATA"
	initdb_args=(--username="$POSTGRES_USER" --pgdata="$PGDATA")
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a word list
	if [ -n "$POSTGRES_PASSWORD" ]; then
		initdb "${initdb_args[@]}" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
			${POSTGRES_INITDB_ARGS:-} >/dev/null
	else
		initdb "${initdb_args[@]}" ${POSTGRES_INITDB_ARGS:-} >/dev/null
	fi
	echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
	method=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
	echo "host all all all $method" >>"$PGDATA/pg_hba.conf"

	# A server on the socket only, for the database and the init scripts.
	PGUSER=$POSTGRES_USER pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >/dev/null
	export PGUSER=$POSTGRES_USER PGPASSWORD=$POSTGRES_PASSWORD
	psql=(psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --dbname postgres)
	if [ "$POSTGRES_DB" != postgres ]; then
		"${psql[@]}" -q --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
	fi
	# shellcheck disable=SC1090 # sources the image user's own scripts
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
			*.sh) echo "running $f"; if [ -x "$f" ]; then "$f"; else source "$f"; fi ;;
			*.sql) echo "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
			*.sql.gz) echo "running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	unset PGPASSWORD
	echo "initdb: done; database $POSTGRES_DB, user $POSTGRES_USER"
fi

exec "$@"
