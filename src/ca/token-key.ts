// The token key: 256 random bits in STATE_DIR/ca/token-key (mode 0600), made on first use.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createFileAtomic, removeAbandonedTemps } from "../common/files.js";
import { caDir, tokenKeyFile } from "./store.js";
import type { CaFileProblem } from "./validate.js";

export const TOKEN_KEY_BYTES = 32;

export type TokenKeyResult = { readonly ok: true; readonly key: Buffer } | { readonly ok: false; readonly problem: CaFileProblem };

/**
 * The token key, made on first use. Created exclusively (createFileAtomic): when `serve` and
 * `token issue` start together, one key wins and both read it. A file that is not a key (or a
 * directory in its place) is a problem naming the path and the fix.
 */
export async function openTokenKey(stateDir: string): Promise<TokenKeyResult> {
  const path = tokenKeyFile(stateDir);
  await removeAbandonedTemps(caDir(stateDir), (t) => t === "token-key").catch(() => []);
  const existing = await readKey(path);
  if (existing !== undefined) return existing;
  try {
    await createFileAtomic(path, randomBytes(TOKEN_KEY_BYTES).toString("base64") + "\n", 0o600);
  } catch (e) {
    return { ok: false, problem: { code: "TOKEN_KEY_INVALID", file: path, message: `cannot be created (${(e as Error).message}): check that gitmesh may write ${caDir(stateDir)}` } };
  }
  return (await readKey(path)) ?? { ok: false, problem: { code: "TOKEN_KEY_INVALID", file: path, message: "vanished while being created: check what else writes the state directory" } };
}

/** openTokenKey for callers that cannot go on without the key: throws with the problem's text. */
export async function loadOrCreateTokenKey(stateDir: string): Promise<Buffer> {
  const r = await openTokenKey(stateDir);
  if (!r.ok) throw new Error(`${r.problem.file}: ${r.problem.message}`);
  return r.key;
}

const REPLACE = "remove it (gitmesh then makes a new key, and every token issued before stops working), or put the key back from a backup";

async function readKey(path: string): Promise<TokenKeyResult | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    const why = code === "EISDIR" ? "is a directory, not a token key" : code === "EACCES" ? "cannot be read (permission denied)" : (e as Error).message;
    return { ok: false, problem: { code: "TOKEN_KEY_INVALID", file: path, message: `${why}: ${REPLACE}` } };
  }
  const key = Buffer.from(text.trim(), "base64");
  if (key.length !== TOKEN_KEY_BYTES) return { ok: false, problem: { code: "TOKEN_KEY_INVALID", file: path, message: `is not a ${TOKEN_KEY_BYTES}-byte key: ${REPLACE}` } };
  return { ok: true, key };
}
