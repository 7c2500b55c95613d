#!/bin/bash
# The official redis image's start-up: `redis-server ARGS...` runs as the
# redis user in /data, listening on every interface without protected mode.
set -euo pipefail

# `docker run IMAGE --appendonly yes` or `docker run IMAGE /x/redis.conf`
if [ "${1:0:1}" = '-' ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = redis-server ]; then
	if [ "$(id -u)" = 0 ]; then
		find . \! -user redis -exec chown redis '{}' +
		exec setpriv --reuid=redis --regid=redis --init-groups "${BASH_SOURCE[0]}" "$@"
	fi
	case " $* " in
		*" --protected-mode "*) ;;
		*) set -- "$@" --protected-mode no ;;
	esac
	case " $* " in
		*" --bind "*) ;;
		*) set -- "$@" --bind 0.0.0.0 ;;
	esac
fi

# redis-server is PID 1 and shuts down on SIGTERM.
exec "$@"
