#!/bin/sh
# One workload: the demo app on 127.0.0.1 and its Envoy sidecar, which registers the container in
# its WorkloadGroup. The node id is the container's hostname, so replicas are told apart.
set -e
node /demo/app.mjs &
exec envoy -c "/etc/gitmesh/$BOOTSTRAP" --service-node "$(hostname)" --log-level warn
