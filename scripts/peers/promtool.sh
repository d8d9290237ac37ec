#!/usr/bin/env bash
# promtool, from the distribution's prometheus package (Debian 12: 2.42.0; CI's Ubuntu has its
# own 2.x): checks the /metrics exposition and the documented alert rules in
# test/admin/metrics-promtool.test.ts. Only the tool is used; the package's service is not
# started here. .peers/bin/promtool links it.
# Pin: scripts/peers/pins.json ("prometheus": the Debian version used; any 2.x promtool works).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .peers/bin
if ! command -v promtool >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
  echo "prometheus $(dpkg-query -W -f='${Version}' prometheus) installed"
fi
version=$(promtool --version 2>&1 | head -1)
case "$version" in
  *"version 2."*) ;;
  *) echo "promtool is not a 2.x release: $version" >&2; exit 1 ;;
esac
# The binary itself, resolved (.peers/bin may be on PATH: never a link to the link).
ln -sf "$(readlink -f "$(command -v promtool)")" .peers/bin/promtool
