#!/bin/sh
# Writes the bootstraps of compose.yaml's Envoy fleet into OUT (compose's gitmesh-init service
# runs it once gitmesh is up): for each workload a token for its identity, and a bootstrap that
# dials gitmesh's TLS port, verifies it against the mesh trust bundle, and sends the token.
#   GITMESH="node dist/src/cli/main.js" envoy-bootstrap/generate.sh STATE_DIR OUT
set -eu
STATE=$1
OUT=$2
GITMESH=${GITMESH:-gitmesh}
mkdir -p "$OUT"
cp "$STATE/trust-bundle.pem" "$OUT/trust-bundle.pem"

# name namespace service-account proxy labels workload-group
# Each token is bound to its WorkloadGroup: any replica of the group may use it (compose --scale),
# nothing else can, and it cannot claim a fixed WorkloadEntry's place.
while read -r name ns sa proxy labels group; do
  token=$($GITMESH token issue --state-dir "$STATE" --namespace "$ns" --service-account "$sa" --workload-group "$group")
  $GITMESH bootstrap --proxy "$proxy" --namespace "$ns" --service-account "$sa" --labels "$labels" \
    --workload-group "$group" --token "$token" --xds-ca-file /etc/gitmesh/trust-bundle.pem \
    --out "$OUT/$name.json"
done <<'WORKLOADS'
frontend demo frontend sidecar app=frontend,version=v1 frontend
api-v1 demo api sidecar app=api,version=v1 api-v1
api-v2 demo api sidecar app=api,version=v2 api-v2
ingress demo ingress gateway istio=ingressgateway ingressgateway
WORKLOADS
# Bootstraps hold tokens, so gitmesh writes them 0600. The ingress runs the envoyproxy/envoy image's
# entrypoint, which starts Envoy as its envoy user (uid 101): give it its file. (The sidecars run
# Envoy as root in the demo image.)
if [ "$(id -u)" = 0 ]; then chown 101 "$OUT/ingress.json"; fi
echo "bootstraps written to $OUT"
