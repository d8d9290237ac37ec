// The one atomic file write, and what it leaves behind when a writer is killed: every state file
// gitmesh keeps (CA, token key, revocations, trust bundle, last good config) goes through here.
import { randomBytes } from "node:crypto";
import { link, lstat, mkdir, open, readdir, rename, rm } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";

/**
 * Writes through a temporary file renamed over the target, flushed first: a crash leaves the
 * old file or the new one, never half of either. The file is created with `mode` (0600 for
 * keys), so it is never readable by others, not even for a moment. Temporary files of the same
 * target left by killed writers are removed first.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = await writeTemp(path, data, mode);
  try {
    await rename(tmp, path);
  } catch (e) {
    // A target that cannot be renamed over (a mount point, EBUSY) must not leave the temporary behind.
    await rm(tmp, { force: true });
    throw e;
  }
  await syncDir(dirname(path));
}

/**
 * Like writeFileAtomic, but only when `path` does not exist yet: of concurrent creators exactly
 * one wins (the file is hard-linked into place, which fails on an existing name). Returns
 * whether this call created it; when it did not, the existing file is left as it was.
 */
export async function createFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<boolean> {
  const tmp = await writeTemp(path, data, mode);
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  } finally {
    await rm(tmp, { force: true });
    await syncDir(dirname(path));
  }
}

async function writeTemp(path: string, data: string | Uint8Array, mode: number): Promise<string> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Each writer of a file clears what killed writers of the same file left (best effort).
  await removeAbandonedTemps(dirname(path), (target) => target === basename(path)).catch(() => []);
  const tmp = tempPath(path);
  const handle = await open(tmp, "wx", mode);
  try {
    await pausePoint(`write:${basename(path)}:opened`);
    await handle.writeFile(data);
    await handle.sync();
  } catch (e) {
    await handle.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await handle.close();
  await pausePoint(`write:${basename(path)}:written`);
  return tmp;
}

/** Makes a rename or a link in `dir` durable (a kill does not need it; a power cut does). */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Crash tests: with GITMESH_PAUSE_AT=STEP in the environment, the process stops at that step and
 * says so on stderr, so that a test can kill it there with SIGKILL, or let it go on with SIGUSR2
 * (test/ca/crash.test.ts). Steps: write:FILE:opened and write:FILE:written here, ca:... in src/ca.
 */
export async function pausePoint(step: string): Promise<void> {
  if (process.env["GITMESH_PAUSE_AT"] !== step) return;
  await new Promise<void>((resolve) => {
    const keepAlive = setInterval(() => {}, 1 << 30);
    process.once("SIGUSR2", () => {
      clearInterval(keepAlive);
      resolve();
    });
    process.stderr.write(`gitmesh: paused at ${step} (GITMESH_PAUSE_AT)\n`);
  });
}

// ---- what a killed writer leaves --------------------------------------------------------------

/** How long a temporary file or a pending directory may stand before it counts as abandoned. */
export const ABANDONED_AFTER_MS = 10 * 60_000;

const HOST = hostname().replace(/[^A-Za-z0-9-]/g, "-").slice(0, 63) || "host";

/** Who made a temporary file or a pending directory: enough to tell later that it died. */
export interface Writer {
  readonly pid: number;
  /** Absent in names written before the host was recorded. */
  readonly host?: string;
}

/** This process, as written into temporary names and pending markers: "PID@HOST". */
export function thisWriter(): string {
  return `${process.pid}@${HOST}`;
}

/** TARGET.PID@HOST.RANDOM.tmp: the writer is in the name, so its leftovers can be told from live work. */
export function tempPath(path: string): string {
  return `${path}.${thisWriter()}.${randomBytes(6).toString("hex")}.tmp`;
}

const TEMP_NAME = /^(.+?)\.(\d+)(?:@([A-Za-z0-9-]+))?(?:\.([0-9a-f]+))?\.tmp$/;

/** The target and writer of one of our temporary names (also the older TARGET.PID.tmp); undefined otherwise. */
export function parseTempName(name: string): { readonly target: string; readonly writer: Writer } | undefined {
  const m = TEMP_NAME.exec(name);
  if (m === null) return undefined;
  return { target: m[1]!, writer: { pid: Number(m[2]), ...(m[3] === undefined ? {} : { host: m[3] }) } };
}

/** "PID@HOST" as thisWriter() writes it; undefined for anything else. */
export function parseWriter(text: string): Writer | undefined {
  const m = /^(\d+)@([A-Za-z0-9-]+)$/.exec(text.trim());
  return m === null ? undefined : { pid: Number(m[1]), host: m[2]! };
}

/**
 * Whether the writer of something last modified at `mtimeMs` is certainly gone: it ran on this
 * host and its process no longer exists, or nothing touched it for ABANDONED_AFTER_MS (a writer in
 * another container sharing the state directory cannot be checked otherwise; no write takes that
 * long). A live writer's work is never taken for a leftover.
 */
export function writerIsGone(writer: Writer, mtimeMs: number, now: number = Date.now()): boolean {
  if (now - mtimeMs > ABANDONED_AFTER_MS) return true;
  if (writer.host !== undefined && writer.host !== HOST) return false;
  if (writer.pid === process.pid) return false;
  try {
    process.kill(writer.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * Removes from `dir` the temporary files (and staged directories) of ours whose target passes
 * `isTarget` and whose writer is gone (writerIsGone). Names that are not ours, and the work of
 * live writers, are left alone. Returns the names removed.
 */
export async function removeAbandonedTemps(dir: string, isTarget: (target: string) => boolean, now: number = Date.now()): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ENOTDIR") return [];
    throw e;
  }
  const removed: string[] = [];
  for (const name of names) {
    const temp = parseTempName(name);
    if (temp === undefined || !isTarget(temp.target)) continue;
    const info = await lstat(join(dir, name)).catch(() => undefined);
    if (info === undefined || !writerIsGone(temp.writer, info.mtimeMs, now)) continue;
    await rm(join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
