// The trust domain a mesh was started with, recorded in its state directory: every workload
// certificate names it and every SAN check and principal compares with it, so starting the same
// mesh under another one would cut every proxy off. Whoever issues for the mesh (serve, ca init,
// cert issue) settles it here: the first records it, the rest must name the same one or none.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../common/files.js";
import { DEFAULT_TRUST_DOMAIN } from "../common/mesh-identity.js";

const FILE = "mesh-identity.json";

export type SettleResult = { readonly ok: true; readonly trustDomain: string } | { readonly ok: false; readonly error: string };

/** The trust domain recorded in the state directory, if one is. */
export async function recordedTrustDomain(stateDir: string): Promise<{ readonly ok: true; readonly trustDomain: string | undefined } | { readonly ok: false; readonly error: string }> {
  const path = join(stateDir, FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { ok: true, trustDomain: undefined };
    return { ok: false, error: `${path} cannot be read: ${(e as Error).message}` };
  }
  let saved: unknown;
  try {
    saved = (JSON.parse(text) as { trustDomain?: unknown }).trustDomain;
  } catch {
    saved = undefined;
  }
  if (typeof saved !== "string") return { ok: false, error: `${path} does not say which trust domain this mesh uses: restore it from a backup, or write {"trustDomain": "..."} with the one its certificates name` };
  return { ok: true, trustDomain: saved };
}

/**
 * The mesh's trust domain: the one recorded, which `wanted` (a --trust-domain flag) must equal
 * when given; recorded on first use (the flag's, else the default).
 */
export async function settleTrustDomain(stateDir: string, wanted: string | undefined): Promise<SettleResult> {
  const recorded = await recordedTrustDomain(stateDir);
  if (!recorded.ok) return recorded;
  const saved = recorded.trustDomain;
  const path = join(stateDir, FILE);
  if (saved === undefined) {
    const trustDomain = wanted ?? DEFAULT_TRUST_DOMAIN;
    await writeFileAtomic(path, JSON.stringify({ trustDomain }, null, 2) + "\n", 0o644);
    return { ok: true, trustDomain };
  }
  const trustDomain = wanted ?? saved;
  if (saved !== trustDomain) {
    return {
      ok: false,
      error: `--trust-domain ${trustDomain} conflicts with the trust domain this mesh was started with, ${saved} (${path}): every workload certificate and SAN check names it, so a change would cut every proxy off. Start with --trust-domain ${saved}, or use a new --state-dir for a new mesh`,
    };
  }
  return { ok: true, trustDomain };
}
