#!/bin/bash
# Without arguments: clickhouse-server as the clickhouse user. With arguments:
# run them (as the official image does).
set -euo pipefail

if [ $# -gt 0 ]; then
	exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
	mkdir -p /var/lib/clickhouse
	find /var/lib/clickhouse \! -user clickhouse -exec chown clickhouse:clickhouse '{}' +
	exec setpriv --reuid=clickhouse --regid=clickhouse --init-groups "${BASH_SOURCE[0]}"
fi

cd /var/lib/clickhouse
exec /usr/sbin/clickhouse-server --config-file=/etc/clickhouse-server/config.xml
