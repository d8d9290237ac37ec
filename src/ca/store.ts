// The CA's files in the state directory:
//   STATE_DIR/ca/rotation.json                  which authorities are trusted, which issues (the commit point)
//   STATE_DIR/ca/authorities/ID/ca-cert.pem     the signing certificate
//   STATE_DIR/ca/authorities/ID/ca-key.pem      its key (0600)
//   STATE_DIR/ca/authorities/ID/chain.pem       certificates above it up to the root (absent for a root)
//   STATE_DIR/ca/authorities/ID/pending         present until rotation.json has taken the authority in
//   STATE_DIR/ca/token-key                      the token signing key (0600)
//   STATE_DIR/ca/revoked-tokens/ID.json         one per revoked token (0600)
//   STATE_DIR/trust-bundle.pem                  every trusted root, for proxies to verify gitmesh with
//
// How a kill at any point is survived (test/ca/crash.test.ts kills gitmesh at each step):
// - every file is written by writeFileAtomic, whose temporary names carry the writer; a dead
//   writer's are removed on the next open (removeAbandonedTemps);
// - an authority is written whole into a staged directory, then renamed into place, marked
//   `pending` (with its writer) until rotation.json trusts it. A pending authority that nothing
//   trusts and whose writer is gone never issued a certificate: it is removed. One that
//   rotation.json trusts was committed: its marker is removed;
// - so an authority without the marker was once committed, and a missing rotation.json beside it
//   means the CA's state was lost: that is an error, never a reason to make a new root.
import { X509Certificate } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { issuingChain, type Authority } from "./authority.js";
import { createFileAtomic, parseWriter, pausePoint, removeAbandonedTemps, syncDir, tempPath, thisWriter, writeFileAtomic, writerIsGone } from "../common/files.js";
import { privateKeyPem } from "./keys.js";
import { parseRotation, type RotationState } from "./rotation.js";
import { validateCaFiles, type CaFileProblem, type CaLoadResult, type NamedText } from "./validate.js";

export const caDir = (stateDir: string): string => join(stateDir, "ca");
export const authoritiesDir = (stateDir: string): string => join(caDir(stateDir), "authorities");
const authorityDir = (stateDir: string, id: string) => join(authoritiesDir(stateDir), id);
export const rotationFile = (stateDir: string): string => join(caDir(stateDir), ROTATION);
export const tokenKeyFile = (stateDir: string): string => join(caDir(stateDir), TOKEN_KEY);
export const trustBundleFile = (stateDir: string): string => join(stateDir, TRUST_BUNDLE);

const ROTATION = "rotation.json";
const TOKEN_KEY = "token-key";
const TRUST_BUNDLE = "trust-bundle.pem";
const PENDING = "pending";
const AUTHORITY_FILES = ["ca-cert.pem", "ca-key.pem", "chain.pem", PENDING];
const AUTHORITY_ID = /^[0-9a-f]{16}$/;

/** The fix for a CA whose state is damaged, ending every such message. */
export function restoreOrReplace(what = "it"): string {
  return `restore ${what} from a backup, or replace the CA on purpose with gitmesh ca init --force (every proxy then needs the new trust bundle)`;
}

/**
 * Saves an authority whole, marked pending: staged in a directory of its own, renamed into place.
 * commitAuthority removes the mark once rotation.json trusts it.
 */
export async function saveAuthority(stateDir: string, a: Authority, crossSigned: readonly X509Certificate[] = []): Promise<void> {
  const dir = authorityDir(stateDir, a.id);
  const staging = tempPath(dir);
  await mkdir(staging, { recursive: true, mode: 0o700 });
  await writeFileAtomic(join(staging, PENDING), `${thisWriter()}\n`, 0o600);
  await writeFileAtomic(join(staging, "ca-key.pem"), privateKeyPem(a.key), 0o600);
  await writeFileAtomic(join(staging, "ca-cert.pem"), a.cert.toString());
  if (issuingChain(a).length > 0) await writeFileAtomic(join(staging, "chain.pem"), [...a.intermediates, a.root].map((c) => c.toString()).join(""));
  if (crossSigned.length > 0) await writeFileAtomic(join(staging, CROSS_SIGNED), crossSigned.map((c) => c.toString()).join(""));
  await pausePoint("ca:authority-staged");
  try {
    await rename(staging, dir);
  } catch (e) {
    // The same authority (the id is its certificate's fingerprint) is there already.
    if ((e as NodeJS.ErrnoException).code !== "ENOTEMPTY" && (e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    await rm(staging, { recursive: true, force: true });
  }
  await syncDir(authoritiesDir(stateDir));
}

/** The authority is trusted by the saved rotation state: it is no longer pending. */
export async function commitAuthority(stateDir: string, id: string): Promise<void> {
  await rm(join(authorityDir(stateDir, id), PENDING), { force: true });
  await syncDir(authorityDir(stateDir, id));
}

const CROSS_SIGNED = "cross-signed.pem";

/**
 * The authority's cross-signed certificates (cross-sign.ts), if it has any. Optional: a file that
 * is missing or unreadable only means proxies that trust just the old root must get the new bundle.
 */
export async function loadCrossSigned(stateDir: string, id: string): Promise<X509Certificate[]> {
  const text = await readFile(join(authorityDir(stateDir, id), CROSS_SIGNED), "utf8").catch(() => "");
  const out: X509Certificate[] = [];
  for (const pem of text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
    try {
      out.push(new X509Certificate(pem));
    } catch {
      // Not a certificate: left out, as a missing file would be.
    }
  }
  return out;
}

export async function removeAuthority(stateDir: string, id: string): Promise<void> {
  await rm(authorityDir(stateDir, id), { recursive: true, force: true });
}

/** An authority directory and whether it was ever committed. */
interface StoredAuthority {
  readonly id: string;
  /** committed: rotation.json took it in once; pending: not yet, its writer still working; abandoned: not yet, and its writer is gone. */
  readonly state: "committed" | "pending" | "abandoned";
}

async function listAuthorities(stateDir: string): Promise<StoredAuthority[]> {
  let names: string[];
  try {
    names = await readdir(authoritiesDir(stateDir));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const out: StoredAuthority[] = [];
  for (const id of names.filter((n) => AUTHORITY_ID.test(n)).sort()) {
    const marker = join(authorityDir(stateDir, id), PENDING);
    const [text, info] = await Promise.all([readFile(marker, "utf8").catch(() => undefined), stat(marker).catch(() => undefined)]);
    if (text === undefined || info === undefined) {
      out.push({ id, state: "committed" });
      continue;
    }
    // A marker that names no writer (never written so by gitmesh) is only trusted to be old.
    const writer = parseWriter(text) ?? { pid: 0, host: "unknown" };
    out.push({ id, state: writerIsGone(writer, info.mtimeMs) ? "abandoned" : "pending" });
  }
  return out;
}

/**
 * Clears what killed writers left: their temporary files and staged directories, abandoned
 * pending authorities nothing trusts (they never issued a certificate), and the pending marks of
 * trusted ones (committed, the mark not yet removed). Returns the authorities that remain.
 */
export async function removeLeftovers(stateDir: string, trusted: ReadonlySet<string>): Promise<StoredAuthority[]> {
  await removeAbandonedTemps(caDir(stateDir), (t) => t === ROTATION || t === TOKEN_KEY);
  await removeAbandonedTemps(stateDir, (t) => t === TRUST_BUNDLE);
  await removeAbandonedTemps(authoritiesDir(stateDir), (t) => AUTHORITY_ID.test(t));
  const remaining: StoredAuthority[] = [];
  for (const a of await listAuthorities(stateDir)) {
    if (a.state === "abandoned" && !trusted.has(a.id)) {
      await removeAuthority(stateDir, a.id);
      continue;
    }
    if (a.state !== "committed" && trusted.has(a.id)) await commitAuthority(stateDir, a.id);
    await removeAbandonedTemps(authorityDir(stateDir, a.id), (t) => AUTHORITY_FILES.includes(t));
    remaining.push(trusted.has(a.id) ? { id: a.id, state: "committed" } : a);
  }
  return remaining;
}

/** Reads a file for validation; a missing or unreadable one is a problem naming it, with `fix`. */
export async function readNamed(file: string, problems: CaFileProblem[], fix = "check the path and that gitmesh may read it"): Promise<NamedText | undefined> {
  try {
    return { file, text: await readFile(file, "utf8") };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : code === "EACCES" ? "cannot be read (permission denied)" : code === "EISDIR" ? "is a directory" : (e as Error).message;
    problems.push({ code: "CA_FILE_UNREADABLE", file, message: `${why}: ${fix}` });
    return undefined;
  }
}

/** Reads and validates CA files from disk: a root (no chain) or an intermediate with its chain. */
export async function loadCaFiles(paths: { readonly cert: string; readonly key: string; readonly chain?: string }, now: Date, fix?: string): Promise<CaLoadResult> {
  const problems: CaFileProblem[] = [];
  const cert = await readNamed(paths.cert, problems, fix);
  const key = await readNamed(paths.key, problems, fix);
  const chain = paths.chain === undefined ? undefined : await readNamed(paths.chain, problems, fix);
  if (cert === undefined || key === undefined || (paths.chain !== undefined && chain === undefined)) return { ok: false, problems };
  return validateCaFiles({ cert, key, ...(chain === undefined ? {} : { chain }) }, now);
}

/** A stored authority, checked as strictly as an imported one. */
export async function loadAuthority(stateDir: string, id: string, now: Date): Promise<CaLoadResult> {
  const dir = authorityDir(stateDir, id);
  const hasChain = await stat(join(dir, "chain.pem")).then(
    () => true,
    () => false,
  );
  const fix = `${ROTATION} trusts authority ${id}, whose files must all be there: ${restoreOrReplace(dir)}`;
  return loadCaFiles({ cert: join(dir, "ca-cert.pem"), key: join(dir, "ca-key.pem"), ...(hasChain ? { chain: join(dir, "chain.pem") } : {}) }, now, fix);
}

const rotationText = (s: RotationState) => JSON.stringify({ version: 1, ...s }, null, 2) + "\n";

export async function saveRotation(stateDir: string, s: RotationState): Promise<void> {
  await writeFileAtomic(rotationFile(stateDir), rotationText(s), 0o600);
}

/** The first rotation state, saved only if there is none: of concurrent creators one wins. */
export async function createRotation(stateDir: string, s: RotationState): Promise<boolean> {
  return createFileAtomic(rotationFile(stateDir), rotationText(s), 0o600);
}

/** The saved rotation state; `state: undefined` when no CA was made yet. */
export async function loadRotation(stateDir: string): Promise<{ ok: true; state: RotationState | undefined } | { ok: false; problem: CaFileProblem }> {
  const file = rotationFile(stateDir);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { ok: true, state: undefined };
    const why = code === "EISDIR" ? "is a directory, not the CA's rotation state" : code === "EACCES" ? "cannot be read (permission denied): check that gitmesh may read it, or" : (e as Error).message;
    return { ok: false, problem: { code: "CA_STATE_INVALID", file, message: `${why}: ${restoreOrReplace()}` } };
  }
  let state: RotationState | undefined;
  try {
    state = parseRotation(JSON.parse(text));
  } catch {
    state = undefined;
  }
  return state === undefined ? { ok: false, problem: { code: "CA_STATE_INVALID", file, message: `is not a CA rotation state: ${restoreOrReplace()}` } } : { ok: true, state };
}

/** A problem for authorities without the state that says which is trusted (rotation.json lost). */
export function stateMissing(stateDir: string, committed: readonly string[]): CaFileProblem {
  const n = committed.length;
  return {
    code: "CA_STATE_MISSING",
    file: rotationFile(stateDir),
    message: `is missing, but ${authoritiesDir(stateDir)} holds ${n} authorit${n === 1 ? "y" : "ies"} (${committed.join(", ")}): the CA's state was lost, and a new root would cut every proxy off; ${restoreOrReplace()}`,
  };
}

/**
 * Moves the CA's state (rotation.json, then the authorities) into ca/replaced-TIME/, for
 * `ca init --force`. Nothing is deleted. Returns where it went, or undefined when there was none.
 * Killed halfway, the state left is reported as damaged, and --force again finishes the move.
 */
export async function setAsideCa(stateDir: string, now: Date = new Date()): Promise<string | undefined> {
  const dest = join(caDir(stateDir), `replaced-${now.toISOString().replace(/[:.]/g, "-")}`);
  let moved = false;
  for (const name of [ROTATION, "authorities"]) {
    await mkdir(dest, { recursive: true, mode: 0o700 });
    try {
      await rename(join(caDir(stateDir), name), join(dest, name));
      moved = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }
  if (!moved) {
    await rm(dest, { recursive: true, force: true });
    return undefined;
  }
  await syncDir(caDir(stateDir));
  return dest;
}
