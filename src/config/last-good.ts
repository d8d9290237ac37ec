import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { removeAbandonedTemps, writeFileAtomic } from "../common/files.js";
import type { ModelSource } from "./load.js";
import type { SourceFile } from "./source.js";

/**
 * The files of the last config that loaded without errors, kept in the state directory so a
 * restarted gitmesh whose checkout is broken still serves it (and never starts with nothing).
 */
export interface LastGood {
  /** Which config it is the last good one of: restored only for the same directory and ref. */
  readonly for: { readonly configDir: string; readonly ref: string | undefined };
  readonly source: ModelSource;
  readonly savedAt: string;
  readonly files: readonly SourceFile[];
}

const FILE = "last-good-config.json";

/**
 * Writes atomically (writeFileAtomic, 0600): a crash never leaves half a file, and the temporary
 * files of writers killed before (gitmesh serve killed mid-save) are removed first.
 */
export async function saveLastGood(stateDir: string, forConfig: LastGood["for"], source: ModelSource, files: readonly SourceFile[]): Promise<void> {
  const body: LastGood = { for: forConfig, source, savedAt: new Date().toISOString(), files };
  await writeFileAtomic(join(stateDir, FILE), JSON.stringify(body), 0o600);
}

/** The saved config, or undefined when there is none or it cannot be read (reported as a reason). */
export async function loadLastGood(stateDir: string): Promise<{ ok: true; value: LastGood } | { ok: false; reason: string }> {
  // Best effort: a directory that cannot be listed is reported by the read below.
  await removeAbandonedTemps(stateDir, (target) => target === FILE).catch(() => []);
  let text: string;
  try {
    text = await readFile(join(stateDir, FILE), "utf8");
  } catch (e) {
    return { ok: false, reason: (e as NodeJS.ErrnoException).code === "ENOENT" ? "none saved yet" : (e as Error).message };
  }
  try {
    const value = JSON.parse(text) as LastGood;
    if (!Array.isArray(value.files) || typeof value.source !== "object" || typeof value.for !== "object") return { ok: false, reason: `${FILE} is not a saved config` };
    return { ok: true, value };
  } catch (e) {
    return { ok: false, reason: `${FILE} is not valid JSON: ${(e as Error).message}` };
  }
}
