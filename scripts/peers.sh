#!/usr/bin/env bash
# Installs every peer the tests drive (real Envoy, the gRPC xDS clients, ...) into .peers/, the
# project's git-ignored peer folder. Idempotent, and quick when everything is already there.
# Each peer has one script in scripts/peers/; its pinned version is in scripts/peers/pins.json.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .peers/bin
for step in scripts/peers/*.sh; do
  bash "$step"
done
