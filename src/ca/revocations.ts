// Revoked tokens: STATE_DIR/ca/revoked-tokens/ID.json, one file per token (0600, written
// atomically). One file each means concurrent `gitmesh token revoke` runs never lose one another's
// entry; the set of revoked ids is the directory's file names, so an entry whose contents cannot
// be read still revokes its token (failing closed).
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { removeAbandonedTemps, writeFileAtomic } from "../common/files.js";
import { caDir } from "./store.js";
import { TOKEN_CLOCK_SKEW_MS, TOKEN_ID, type TokenBinding } from "./token.js";
import type { CaFileProblem } from "./validate.js";

export const revocationsDir = (stateDir: string): string => join(caDir(stateDir), "revoked-tokens");

/** One revocation. Only the id is sure; the rest is known when the token itself was given. */
export interface RevocationEntry {
  readonly id: string;
  /** ISO time. */
  readonly revokedAt: string;
  readonly namespace?: string;
  readonly serviceAccount?: string;
  readonly binding?: TokenBinding;
  /** ISO time the token expires at: after that the entry may be pruned (the token is refused anyway). */
  readonly expiresAt?: string;
}

const ENTRY = /^((?:v1-)?[0-9a-f]{32})\.json$/;

/** Records a revocation durably. Throws on a malformed id (the CLI checks first) and on I/O errors. */
export async function recordRevocation(stateDir: string, entry: RevocationEntry): Promise<void> {
  if (!TOKEN_ID.test(entry.id)) throw new Error(`bug: "${entry.id}" is not a token id`);
  await writeFileAtomic(join(revocationsDir(stateDir), `${entry.id}.json`), JSON.stringify(entry, null, 2) + "\n", 0o600);
}

type Listed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: CaFileProblem };

async function revokedIds(stateDir: string): Promise<Listed<string[]>> {
  const dir = revocationsDir(stateDir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { ok: true, value: [] };
    const why = code === "ENOTDIR" ? "is not a directory" : code === "EACCES" ? "cannot be read (permission denied)" : (e as Error).message;
    return { ok: false, problem: { code: "REVOCATIONS_UNREADABLE", file: dir, message: `${why}: it holds the revoked tokens (one ID.json each); put it back from a backup, and check that gitmesh may read it` } };
  }
  return { ok: true, value: names.flatMap((n) => ENTRY.exec(n)?.[1] ?? []).sort() };
}

/** Every revocation, oldest first; an entry that cannot be read is listed by its id alone. */
export async function listRevocations(stateDir: string): Promise<Listed<RevocationEntry[]>> {
  const ids = await revokedIds(stateDir);
  if (!ids.ok) return ids;
  const entries: RevocationEntry[] = [];
  for (const id of ids.value) {
    const text = await readFile(join(revocationsDir(stateDir), `${id}.json`), "utf8").catch(() => undefined);
    let entry: RevocationEntry = { id, revokedAt: "" };
    try {
      const parsed = JSON.parse(text ?? "") as Partial<RevocationEntry>;
      if (parsed.id === id && typeof parsed.revokedAt === "string") entry = parsed as RevocationEntry;
    } catch {
      // The id alone: the token stays revoked.
    }
    entries.push(entry);
  }
  return { ok: true, value: entries.sort((a, b) => a.revokedAt.localeCompare(b.revokedAt) || a.id.localeCompare(b.id)) };
}

/** Removes entries of tokens that expired (with the clock skew allowed): they are refused anyway. Returns their ids. */
export async function pruneRevocations(stateDir: string, now: Date = new Date()): Promise<string[]> {
  const listed = await listRevocations(stateDir);
  if (!listed.ok) return [];
  await removeAbandonedTemps(revocationsDir(stateDir), (t) => ENTRY.test(t));
  const expired = listed.value.filter((e) => e.expiresAt !== undefined && Date.parse(e.expiresAt) + TOKEN_CLOCK_SKEW_MS < now.getTime());
  for (const e of expired) await rm(join(revocationsDir(stateDir), `${e.id}.json`), { force: true });
  return expired.map((e) => e.id);
}

/**
 * The revoked token ids as last read from the state directory. The running server checks every
 * new stream against it, and reloads it (at each resync) to close the streams of tokens revoked
 * since.
 */
export interface Revocations {
  isRevoked(id: string): boolean;
  /** How many ids are revoked. */
  readonly size: number;
  /**
   * Reads the directory again. `added` are the ids revoked since the last read (whose open
   * streams are to be closed). On a problem the list last read stays in force.
   */
  reload(): Promise<{ readonly ok: true; readonly added: readonly string[] } | { readonly ok: false; readonly problem: CaFileProblem }>;
}

class RevocationList implements Revocations {
  private ids: ReadonlySet<string>;

  constructor(
    private readonly stateDir: string,
    ids: readonly string[],
  ) {
    this.ids = new Set(ids);
  }

  isRevoked(id: string): boolean {
    return this.ids.has(id);
  }

  get size(): number {
    return this.ids.size;
  }

  async reload(): Promise<{ ok: true; added: string[] } | { ok: false; problem: CaFileProblem }> {
    const read = await revokedIds(this.stateDir);
    if (!read.ok) return read;
    const added = read.value.filter((id) => !this.ids.has(id));
    this.ids = new Set(read.value);
    return { ok: true, added };
  }
}

/** The revocation list of a state directory, read now. */
export async function openRevocations(stateDir: string): Promise<Listed<Revocations>> {
  const ids = await revokedIds(stateDir);
  return ids.ok ? { ok: true, value: new RevocationList(stateDir, ids.value) } : ids;
}
