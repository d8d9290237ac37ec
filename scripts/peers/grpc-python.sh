#!/usr/bin/env bash
# gRPC C-core, current release, through Python's grpcio in its own virtualenv (.peers/grpcio-venv).
# .peers/bin/grpc-python-current runs the interop peer (test/interop/python/peer.py) with it.
# Pin: scripts/peers/pins.json ("grpcio").
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(node -p 'require("./scripts/peers/pins.json").grpcio')
venv=.peers/grpcio-venv
launcher=.peers/bin/grpc-python-current
if [ -x "$launcher" ] && [ "$("$venv/bin/python" -c 'import grpc; print(grpc.__version__)' 2>/dev/null)" = "$version" ]; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "grpcio==$version"
cat > "$launcher" <<'LAUNCHER'
#!/bin/sh
here=$(dirname "$(readlink -f "$0")")
exec "$here/../grpcio-venv/bin/python" "$here/../../test/interop/python/peer.py" "$@"
LAUNCHER
chmod +x "$launcher"
echo "grpcio $version: $launcher"
