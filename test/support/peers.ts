// Where the tests find the real peers scripts/peers.sh installs (.peers/bin), and what a test
// does when one is missing: under CI=true it fails, elsewhere it is skipped with one line that
// says how to install the peer.
import { accessSync, constants } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import type { TestContext } from "node:test";

/** The repository root (tests run from dist/test/..., compiled). */
export const REPO_ROOT = resolve(import.meta.dirname, "../../..");
export const PEERS_BIN = join(REPO_ROOT, ".peers", "bin");

const INSTALL = "npm run peers (scripts/peers.sh)";

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The path of a peer's executable: an explicit environment variable (ENVOY_BIN for envoy), then
 * .peers/bin/NAME, then PATH. Undefined when it is nowhere.
 */
export function findPeer(name: string, envVar?: string): string | undefined {
  const explicit = envVar === undefined ? undefined : process.env[envVar];
  if (explicit !== undefined && explicit !== "") return executable(explicit) ? explicit : undefined;
  const local = join(PEERS_BIN, name);
  if (executable(local)) return local;
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    if (dir !== "" && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * The peer, or: under CI=true a failed test (CI must run every peer), elsewhere a skipped one
 * with a single line saying how to install it. Callers return when this returns undefined.
 */
export function needPeer(t: TestContext, name: string, envVar?: string): string | undefined {
  const found = findPeer(name, envVar);
  if (found !== undefined) return found;
  const how = `${name} is not installed: run ${INSTALL}${envVar === undefined ? "" : ` or set ${envVar}`}`;
  if (process.env["CI"] === "true") throw new Error(`${how} (CI=true needs every peer)`);
  t.skip(how);
  return undefined;
}

/** The Envoy binary (ENVOY_BIN, .peers/bin/envoy, or PATH), as needPeer. */
export function needEnvoy(t: TestContext): string | undefined {
  return needPeer(t, "envoy", "ENVOY_BIN");
}
