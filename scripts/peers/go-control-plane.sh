#!/usr/bin/env bash
# go-control-plane, the performance peer of bench/side-by-side.ts: the small Go program in
# bench/peer (go.mod and go.sum committed), built from the Go module proxy with the machine's Go
# toolchain into .peers/bin/gcp-peer. Pin: scripts/peers/pins.json ("go-control-plane"), which
# must be go.mod's github.com/envoyproxy/go-control-plane version.
# No test uses it, so under CI=true it is skipped (building it compiles the Envoy API, ~1 min).
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(node -p 'require("./scripts/peers/pins.json")["go-control-plane"]')
src=bench/peer
binary=.peers/bin/gcp-peer
stamp=.peers/go-control-plane.stamp
grep -q "github.com/envoyproxy/go-control-plane $version\$" "$src/go.mod" || { echo "$src/go.mod does not require github.com/envoyproxy/go-control-plane $version (pins.json)" >&2; exit 1; }
if [ "${CI:-}" = "true" ] && [ "${GITMESH_BUILD_BENCH_PEERS:-}" != "1" ]; then
  echo "go-control-plane $version: skipped under CI=true (only the side-by-side bench uses it; GITMESH_BUILD_BENCH_PEERS=1 builds it)"
  exit 0
fi
sum=$(cat "$src"/go.mod "$src"/go.sum "$src"/*.go | sha256sum | cut -d' ' -f1)
if [ -x "$binary" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then
  exit 0
fi
mkdir -p .peers/bin
(cd "$src" && go build -o "../../$binary" .)
echo "$sum" > "$stamp"
echo "go-control-plane $version: $binary"
