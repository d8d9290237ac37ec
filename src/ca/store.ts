// The CA's files in the state directory:
//   STATE_DIR/ca/rotation.json                  which authorities are trusted, which issues
//   STATE_DIR/ca/authorities/ID/ca-cert.pem     the signing certificate
//   STATE_DIR/ca/authorities/ID/ca-key.pem      its key (0600)
//   STATE_DIR/ca/authorities/ID/chain.pem       certificates above it up to the root (absent for a root)
//   STATE_DIR/ca/token-key                      the token signing key (0600)
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { issuingChain, type Authority } from "./authority.js";
import { writeFileAtomic } from "../common/files.js";
import { privateKeyPem } from "./keys.js";
import { parseRotation, type RotationState } from "./rotation.js";
import { validateCaFiles, type CaFileProblem, type CaLoadResult, type NamedText } from "./validate.js";

export const caDir = (stateDir: string): string => join(stateDir, "ca");
const authorityDir = (stateDir: string, id: string) => join(caDir(stateDir), "authorities", id);
const ROTATION = "rotation.json";

export async function saveAuthority(stateDir: string, a: Authority): Promise<void> {
  const dir = authorityDir(stateDir, a.id);
  await writeFileAtomic(join(dir, "ca-key.pem"), privateKeyPem(a.key), 0o600);
  await writeFileAtomic(join(dir, "ca-cert.pem"), a.cert.toString());
  if (issuingChain(a).length > 0) await writeFileAtomic(join(dir, "chain.pem"), [...a.intermediates, a.root].map((c) => c.toString()).join(""));
}

export async function removeAuthority(stateDir: string, id: string): Promise<void> {
  await rm(authorityDir(stateDir, id), { recursive: true, force: true });
}

/** Reads a file for validation; a missing or unreadable one is a problem naming it. */
export async function readNamed(file: string, problems: CaFileProblem[]): Promise<NamedText | undefined> {
  try {
    return { file, text: await readFile(file, "utf8") };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : code === "EACCES" ? "cannot be read (permission denied)" : (e as Error).message;
    problems.push({ code: "CA_FILE_UNREADABLE", file, message: `${why}: check the path and that gitmesh may read it` });
    return undefined;
  }
}

/** Reads and validates CA files from disk: a root (no chain) or an intermediate with its chain. */
export async function loadCaFiles(paths: { readonly cert: string; readonly key: string; readonly chain?: string }, now: Date): Promise<CaLoadResult> {
  const problems: CaFileProblem[] = [];
  const cert = await readNamed(paths.cert, problems);
  const key = await readNamed(paths.key, problems);
  const chain = paths.chain === undefined ? undefined : await readNamed(paths.chain, problems);
  if (cert === undefined || key === undefined || (paths.chain !== undefined && chain === undefined)) return { ok: false, problems };
  return validateCaFiles({ cert, key, ...(chain === undefined ? {} : { chain }) }, now);
}

/** A stored authority, checked as strictly as an imported one. */
export async function loadAuthority(stateDir: string, id: string, now: Date): Promise<CaLoadResult> {
  const dir = authorityDir(stateDir, id);
  const hasChain = await readFile(join(dir, "chain.pem")).then(
    () => true,
    () => false,
  );
  return loadCaFiles({ cert: join(dir, "ca-cert.pem"), key: join(dir, "ca-key.pem"), ...(hasChain ? { chain: join(dir, "chain.pem") } : {}) }, now);
}

export async function saveRotation(stateDir: string, s: RotationState): Promise<void> {
  await writeFileAtomic(join(caDir(stateDir), ROTATION), JSON.stringify({ version: 1, ...s }, null, 2) + "\n", 0o600);
}

/** The saved rotation state; `state: undefined` when no CA was made yet. */
export async function loadRotation(stateDir: string): Promise<{ ok: true; state: RotationState | undefined } | { ok: false; problem: CaFileProblem }> {
  const file = join(caDir(stateDir), ROTATION);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { ok: true, state: undefined };
    return { ok: false, problem: { code: "CA_FILE_UNREADABLE", file, message: `${(e as Error).message}: check that gitmesh may read it` } };
  }
  let state: RotationState | undefined;
  try {
    state = parseRotation(JSON.parse(text));
  } catch {
    state = undefined;
  }
  return state === undefined
    ? { ok: false, problem: { code: "CA_FILE_UNREADABLE", file, message: "is not a CA rotation state: restore it from a backup, or remove the ca directory to start a new CA" } }
    : { ok: true, state };
}
