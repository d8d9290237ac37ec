#!/usr/bin/env bash
# promtool, from Debian's prometheus package: checks the /metrics exposition (names, help, types,
# label and value syntax) in test/admin/metrics-promtool.test.ts. Only the tool is used: the
# package's service is not started here. .peers/bin/promtool links it.
# Pin: scripts/peers/pins.json ("prometheus", Debian 12's version).
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(node -p 'require("./scripts/peers/pins.json")["prometheus"]')
installed() { dpkg-query -W -f='${Version}' prometheus 2>/dev/null | grep -q "^${version}"; }
if ! installed; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
  installed || { echo "prometheus is not $version: $(dpkg-query -W -f='${Version}' prometheus 2>&1)" >&2; exit 1; }
  echo "prometheus $version installed"
fi
ln -sf /usr/bin/promtool .peers/bin/promtool
