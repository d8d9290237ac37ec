// The agent's block in a hosts file: the lines between two markers are gitmesh's, everything else
// is the host's and is never changed. The file is replaced atomically (writeFileAtomic) when it
// can be; a file that is a mount point (a container's /etc/hosts, `ip netns exec`'s bind mount,
// systemd's ReadWritePaths=/etc/hosts under a read-only /etc) cannot be renamed over, and is then
// rewritten in place.
import { open, readFile, realpath, stat } from "node:fs/promises";
import { writeFileAtomic } from "../common/files.js";

export const BLOCK_BEGIN = "# BEGIN gitmesh agent: mesh service names (managed by gitmesh agent; edits here are replaced)";
export const BLOCK_END = "# END gitmesh agent";

/** The file's text with the block holding `lines`, or why the file cannot be edited safely. */
export type Spliced = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly problem: string };

/**
 * Puts `lines` between the markers: in place of the block when the file has one, else appended.
 * A file with a marker out of place (a BEGIN without its END, two blocks) is left alone: guessing
 * where the block ends could delete the host's own lines.
 */
export function spliceBlock(text: string, lines: readonly string[]): Spliced {
  const all = text === "" ? [] : text.replace(/\n$/, "").split("\n");
  const begins = all.flatMap((l, i) => (l.trim() === BLOCK_BEGIN ? [i] : []));
  const ends = all.flatMap((l, i) => (l.trim() === BLOCK_END ? [i] : []));
  const block = [BLOCK_BEGIN, ...lines, BLOCK_END];
  if (begins.length === 0 && ends.length === 0) return { ok: true, text: [...all, ...block].join("\n") + "\n" };
  const [begin] = begins;
  const [end] = ends;
  if (begins.length !== 1 || ends.length !== 1 || begin === undefined || end === undefined || end < begin) {
    return { ok: false, problem: `its gitmesh markers are out of place (${begins.length} BEGIN, ${ends.length} END line(s)); remove them and the lines between by hand, and the agent writes the block again` };
  }
  return { ok: true, text: [...all.slice(0, begin), ...block, ...all.slice(end + 1)].join("\n") + "\n" };
}

/** What an update did. */
export type HostsUpdate = { readonly t: "unchanged" } | { readonly t: "written"; readonly inPlace: boolean } | { readonly t: "refused"; readonly problem: string };

/** Errors that mean "cannot replace this file by rename" rather than "cannot write it at all". */
const NOT_RENAMEABLE = new Set(["EBUSY", "EXDEV", "EROFS", "EACCES", "EPERM"]);

/** Writes the block into the file (created if missing), only when its text changes. */
export async function updateHostsFile(path: string, lines: readonly string[]): Promise<HostsUpdate> {
  const before = await readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return "";
    throw e;
  });
  const spliced = spliceBlock(before, lines);
  if (!spliced.ok) return { t: "refused", problem: `${path}: ${spliced.problem}` };
  if (spliced.text === before) return { t: "unchanged" };
  const mode = ((await stat(path).catch(() => undefined))?.mode ?? 0o644) & 0o777;
  if (!(await isMountPoint(path))) {
    try {
      await writeFileAtomic(path, spliced.text, mode);
      return { t: "written", inPlace: false };
    } catch (e) {
      if (!NOT_RENAMEABLE.has((e as NodeJS.ErrnoException).code ?? "")) throw e;
    }
  }
  // Written whole from the start, then cut to length: a reader may meet the old tail for an
  // instant, never a missing file.
  const handle = await open(path, "r+");
  try {
    const bytes = Buffer.from(spliced.text);
    await handle.write(bytes, 0, bytes.length, 0);
    await handle.truncate(bytes.length);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { t: "written", inPlace: true };
}

/** Whether the file is itself mounted (bind-mounted) somewhere in this process's mount namespace. */
async function isMountPoint(path: string): Promise<boolean> {
  const real = await realpath(path).catch(() => undefined);
  if (real === undefined) return false;
  const mounts = await readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  // Field 5 is the mount point, with space, tab, newline and backslash escaped as octal.
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return mounts.split("\n").some((line) => unescape(line.split(" ")[4] ?? "") === real);
}
