#!/usr/bin/env bash
# Headless Chromium for the status page's test (test/admin/status-page.test.ts, driven by
# playwright-core: docs/decisions.md says why). On Debian, the chromium package; elsewhere (CI's
# Ubuntu runner, where apt's chromium is a snap stub) a Chromium or Chrome the machine already has.
# .peers/bin/chromium links the browser itself (Debian's /usr/bin/chromium is a wrapper script).
# Pin: scripts/peers/pins.json ("chromium": Debian 12's package, the reference browser).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .peers/bin
debian_browser=/usr/lib/chromium/chromium
if [ ! -x "$debian_browser" ] && grep -qi '^ID=debian' /etc/os-release 2>/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
fi
browser=""
if [ -x "$debian_browser" ]; then
  browser=$debian_browser
else
  for candidate in chromium chromium-browser google-chrome google-chrome-stable; do
    found=$(command -v "$candidate" 2>/dev/null || true)
    # A snap stub is not a browser a test can drive.
    if [ -n "$found" ] && ! readlink -f "$found" | grep -q '^/snap/'; then browser=$found; break; fi
  done
fi
if [ -z "$browser" ]; then
  echo "no Chromium: on Debian apt-get install chromium; elsewhere install Chromium or Chrome" >&2
  exit 1
fi
ln -sf "$browser" .peers/bin/chromium
echo "chromium: $("$browser" --headless --no-sandbox --version 2>/dev/null | tail -1) ($browser)"
