// Headless Chromium (Debian's, through .peers/bin/chromium: scripts/peers/chromium.sh) driven by
// playwright-core, found and skipped or failed as every peer (peers.ts).
import type { TestContext } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { needPeer } from "./peers.js";

/** A launched browser, closed when the test ends; undefined when the test was skipped. */
export async function needBrowser(t: TestContext): Promise<Browser | undefined> {
  const path = needPeer(t, "chromium", "CHROMIUM_BIN");
  if (path === undefined) return undefined;
  // As root (CI, the fleet) Chromium needs --no-sandbox.
  const browser = await chromium.launch({ executablePath: path, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  t.after(() => browser.close());
  return browser;
}
