// The trust domain a mesh was started with, recorded in its state directory: every workload
// certificate names it and every SAN check and principal compares with it, so starting the same
// mesh under another one would cut every proxy off. A different --trust-domain is refused at start.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../common/files.js";

const FILE = "mesh-identity.json";

export type SettleResult = { readonly ok: true; readonly recorded: boolean } | { readonly ok: false; readonly error: string };

/** Records the trust domain on first start; later starts must name the same one. */
export async function settleTrustDomain(stateDir: string, trustDomain: string): Promise<SettleResult> {
  const path = join(stateDir, FILE);
  let text: string | undefined;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") return { ok: false, error: `${path} cannot be read: ${(e as Error).message}` };
  }
  if (text === undefined) {
    await writeFileAtomic(path, JSON.stringify({ trustDomain }, null, 2) + "\n", 0o644);
    return { ok: true, recorded: true };
  }
  let saved: unknown;
  try {
    saved = (JSON.parse(text) as { trustDomain?: unknown }).trustDomain;
  } catch {
    saved = undefined;
  }
  if (typeof saved !== "string") return { ok: false, error: `${path} does not say which trust domain this mesh uses: restore it from a backup, or write {"trustDomain": "..."} with the one its certificates name` };
  if (saved !== trustDomain) {
    return {
      ok: false,
      error: `--trust-domain ${trustDomain} conflicts with the trust domain this mesh was started with, ${saved} (${path}): every workload certificate and SAN check names it, so a change would cut every proxy off. Start with --trust-domain ${saved}, or use a new --state-dir for a new mesh`,
    };
  }
  return { ok: true, recorded: false };
}
