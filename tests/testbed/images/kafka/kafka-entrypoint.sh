#!/bin/bash
# tansu broker on 0.0.0.0:9092, advertised as 127.0.0.1:9092 (the host reaches
# it through the published port, and so does this container itself), and a
# tansu proxy on 0.0.0.0:9093 that advertises kafka:9093 for the other
# containers of the network. As in the demo config, the INTERNAL:// and
# EXTERNAL:// entries of KAFKA_ADVERTISED_LISTENERS, when set, override both;
# the other KAFKA_* variables are ignored. Storage is in memory.
set -euo pipefail

if [ $# -gt 0 ]; then
	exec "$@"
fi

listener() { # NAME DEFAULT: host:port of NAME:// in KAFKA_ADVERTISED_LISTENERS
	local l
	for l in ${KAFKA_ADVERTISED_LISTENERS//,/ }; do
		case "$l" in "$1"://*) echo "${l#*://}"; return ;; esac
	done
	echo "$2"
}
external=$(listener EXTERNAL 127.0.0.1:9092)
internal=$(listener INTERNAL kafka:9093)

echo "kafka: broker on 0.0.0.0:${external##*:} advertised as $external;" \
	"proxy on 0.0.0.0:${internal##*:} advertised as $internal"
tansu proxy \
	--listener-url "tcp://0.0.0.0:${internal##*:}" \
	--advertised-listener-url "tcp://$internal" \
	--origin-url "tcp://127.0.0.1:${external##*:}" &
exec tansu broker \
	--cluster-id "${CLUSTER_ID:-devrig}" \
	--listener-url "tcp://0.0.0.0:${external##*:}" \
	--advertised-listener-url "tcp://$external" \
	--storage-engine memory://tansu/
