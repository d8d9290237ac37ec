#!/usr/bin/env bash
# grpc-go from the Go module proxy, built with the machine's Go toolchain into the interop peer
# (test/interop/go, whose go.mod and go.sum are committed): .peers/bin/grpc-go-peer.
# Pin: scripts/peers/pins.json ("grpc-go"), which must be go.mod's google.golang.org/grpc version.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(node -p 'require("./scripts/peers/pins.json")["grpc-go"]')
src=test/interop/go
binary=.peers/bin/grpc-go-peer
stamp=.peers/grpc-go.stamp
grep -q "google.golang.org/grpc $version\$" "$src/go.mod" || { echo "$src/go.mod does not require google.golang.org/grpc $version (pins.json)" >&2; exit 1; }
sum=$(cat "$src"/go.mod "$src"/go.sum "$src"/*.go | sha256sum | cut -d' ' -f1)
if [ -x "$binary" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then
  exit 0
fi
(cd "$src" && go build -o "../../../$binary" .)
echo "$sum" > "$stamp"
echo "grpc-go $version: $binary"
