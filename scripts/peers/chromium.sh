#!/usr/bin/env bash
# Headless Chromium from Debian's chromium package: the status page's test (test/admin/
# status-page.test.ts) drives it with playwright-core (docs/decisions.md says why). Debian's
# /usr/bin/chromium is a wrapper script; .peers/bin/chromium links the browser itself.
# Pin: scripts/peers/pins.json ("chromium": the Debian release whose package is used).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x /usr/lib/chromium/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
  echo "chromium installed: $(/usr/lib/chromium/chromium --version 2>/dev/null || echo '?')"
fi
ln -sf /usr/lib/chromium/chromium .peers/bin/chromium
