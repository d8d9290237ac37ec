#!/usr/bin/env bash
# gRPC C-core 1.51 as Debian 12 ships it (python3-grpcio, for Debian's own /usr/bin/python3: the
# python3 on PATH may be another Python). The oldest C-core gitmesh supports.
# .peers/bin/grpc-python-debian runs the interop peer (test/interop/python/peer.py) with it.
# Pin: scripts/peers/pins.json ("python3-grpcio").
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(node -p 'require("./scripts/peers/pins.json")["python3-grpcio"]')
launcher=.peers/bin/grpc-python-debian
installed() { [ "$(/usr/bin/python3 -c 'import grpc; print(grpc.__version__)' 2>/dev/null)" = "$version" ]; }
if ! installed; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq python3-grpcio >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3-grpcio >/dev/null; }
  installed || { echo "python3-grpcio is not $version: $(/usr/bin/python3 -c 'import grpc; print(grpc.__version__)' 2>&1)" >&2; exit 1; }
  echo "python3-grpcio $version installed"
fi
if [ ! -x "$launcher" ]; then
  cat > "$launcher" <<'LAUNCHER'
#!/bin/sh
here=$(dirname "$(readlink -f "$0")")
exec /usr/bin/python3 "$here/../../test/interop/python/peer.py" "$@"
LAUNCHER
  chmod +x "$launcher"
  echo "python3-grpcio $version: $launcher"
fi
