// Watching the config directory: YAML file and directory changes, debounced into one onChange
// per burst (after quietMs of quiet, and never later than maxWaitMs after the burst's first event).
//
// The directory itself may be replaced while it is watched: moved away and back, deleted and
// recreated, or (git-sync, atomic deploys) a symlink switched to a new target. chokidar watches
// one tree and gives up on it when its root goes away, so the root is tracked separately: the
// parent directory is watched for the root's name, the root's own events are checked, and as a
// fallback its identity (real path, device and inode) is compared every rootCheckMs. When it
// has changed, the old tree's watcher is closed, a new one is started on the current tree, and
// onChange is called with [WHOLE_TREE] once that watcher is ready.
import { watch as watchFs, type FSWatcher as FsWatcher, type Stats } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { basename, dirname, relative, resolve, sep } from "node:path";
import { watch, type FSWatcher } from "chokidar";
import { after, type Timer } from "../common/timers.js";
import type { Logger } from "../log.js";

/** The path onChange reports, alone, when the whole directory may have changed (it was replaced). */
export const WHOLE_TREE = ".";

export interface WatchOptions {
  readonly quietMs?: number;
  readonly maxWaitMs?: number;
  /** How long a file's size must stay the same before its change counts (see below). */
  readonly stabilityMs?: number;
  /**
   * How often the directory's identity is checked as a fallback to the parent directory's
   * events (which can be missed, e.g. when the parent is itself replaced); 0 turns it off.
   */
  readonly rootCheckMs?: number;
  /**
   * Paths relative to dir, with forward slashes, sorted; files and directories. [WHOLE_TREE]
   * ("."), on its own, when the directory was replaced: everything in it may have changed.
   */
  readonly onChange: (changedPaths: string[]) => void;
  readonly logger: Logger;
}

export interface DirectoryWatch {
  /** Resolves once the initial scan is done: changes after this are reported. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

const YAML_FILE = /\.ya?ml$/i;

/** Which directory a path names right now: the same real path can be a new directory. */
interface Identity {
  readonly real: string;
  readonly dev: number;
  readonly ino: number;
}

async function identify(path: string): Promise<Identity | undefined> {
  try {
    const real = await realpath(path);
    const s = await stat(real);
    return s.isDirectory() ? { real, dev: s.dev, ino: s.ino } : undefined;
  } catch {
    return undefined; // missing (or a dangling symlink, or unreadable): there is no tree to watch
  }
}

const sameIdentity = (a: Identity, b: Identity): boolean => a.real === b.real && a.dev === b.dev && a.ino === b.ino;

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** "verify": re-arm if the identity changed. "rearm": re-arm whenever the root exists (it moved, so the old watcher may be dead). */
type CheckKind = "verify" | "rearm";

export function watchDirectory(dir: string, options: WatchOptions): DirectoryWatch {
  const { quietMs = 100, maxWaitMs = 2000, stabilityMs = 300, rootCheckMs = 5000, onChange, logger } = options;
  const root = resolve(dir);
  const hidden = (r: string): boolean => r.split("/").some((part) => part.startsWith("."));

  let pending = new Set<string>();
  let quietTimer: NodeJS.Timeout | undefined;
  let maxTimer: NodeJS.Timeout | undefined;
  let closed = false;
  let whenClosed!: () => void;
  const closing = new Promise<void>((r) => (whenClosed = r));

  const flush = (): void => {
    clearTimeout(quietTimer);
    clearTimeout(maxTimer);
    quietTimer = maxTimer = undefined;
    const paths = pending.has(WHOLE_TREE) ? [WHOLE_TREE] : [...pending].sort();
    pending = new Set();
    if (closed || paths.length === 0) return;
    logger.debug("config directory changed", { dir: root, paths: paths.length, wholeTree: paths[0] === WHOLE_TREE });
    try {
      onChange(paths);
    } catch (e) {
      logger.error("config change handler failed", { dir: root, error: message(e) });
    }
  };

  const enqueue = (r: string): void => {
    if (closed) return;
    pending.add(r);
    maxTimer ??= setTimeout(flush, maxWaitMs);
    clearTimeout(quietTimer);
    quietTimer = setTimeout(flush, quietMs);
  };

  // The tree being watched: undefined while the root is missing.
  let tree: { readonly id: Identity; readonly watcher: FSWatcher } | undefined;

  /** Starts a chokidar watcher on the tree at id.real; resolves once its initial scan is done. */
  const arm = async (id: Identity): Promise<void> => {
    const rel = (p: string): string => relative(id.real, p).split(sep).join("/");
    // Non-YAML files are dropped here when chokidar knows they are files; a path without stats
    // may be a directory, so it is kept and dropped in the event handler instead.
    const ignored = (p: string, stats?: Stats): boolean => {
      const r = rel(p);
      return r !== "" && (hidden(r) || (stats?.isFile() === true && !YAML_FILE.test(r)));
    };
    const watcher = watch(id.real, {
      ignored,
      ignoreInitial: true,
      // A file written in several chunks (a slow copy, an editor streaming a buffer, `cat > f`)
      // fires an event per chunk. awaitWriteFinish holds a file's event back until its size has
      // not changed for stabilityMs (polled every pollInterval), so a reload reads the whole file,
      // not its first half, even when the writer pauses between chunks for longer than quietMs.
      // Editors that save atomically (write a temp file, rename it over) and git checkouts give
      // one event for a complete file anyway. A writer that pauses for longer than stabilityMs
      // cannot be told apart from a finished file (Node has no close-after-write event), so that
      // rare case still reloads a partial file; the caller keeps the last good model then.
      awaitWriteFinish: { stabilityThreshold: stabilityMs, pollInterval: Math.max(10, Math.min(50, Math.floor(stabilityMs / 4))) },
    });
    tree = { id, watcher };
    const current = (): boolean => !closed && tree?.watcher === watcher;
    watcher.on("all", (event, path) => {
      if (!current()) return; // a replaced tree's last events
      const r = rel(path);
      if (r === "") {
        // The root itself went away (chokidar then stops watching it for good) or changed.
        check(event === "unlinkDir" || event === "unlink" ? "rearm" : "verify");
        return;
      }
      const isDir = event === "addDir" || event === "unlinkDir";
      if (r.startsWith("../") || hidden(r) || (!isDir && !YAML_FILE.test(r))) return;
      enqueue(r);
    });
    // Raw file system events, before awaitWriteFinish: useful to see what the watcher is seeing.
    watcher.on("raw", (event, path) => logger.debug("config watch event", { event, path }));
    watcher.on("error", (e) => {
      logger.warn("config watch error", { dir: root, error: message(e) });
      if (current()) check("verify");
    });
    await Promise.race([new Promise<void>((r) => watcher.once("ready", () => r())), closing]);
  };

  const disarm = async (): Promise<void> => {
    const old = tree;
    tree = undefined;
    await old?.watcher.close().catch((e: unknown) => logger.warn("config watch close failed", { dir: root, error: message(e) }));
  };

  /** Makes `tree` match what root names now; reports the whole tree when it was replaced. */
  const sync = async (kind: CheckKind, initial: boolean): Promise<void> => {
    const id = await identify(root);
    if (closed) return;
    if (id === undefined) {
      if (initial) logger.warn("config directory does not exist; waiting for it to appear", { dir: root });
      else if (tree !== undefined) logger.warn("config directory is gone; waiting for it to come back", { dir: root });
      await disarm();
      return;
    }
    if (tree !== undefined && kind === "verify" && sameIdentity(tree.id, id)) return;
    await disarm();
    await arm(id);
    if (closed || initial) return;
    logger.info("config directory replaced; watching it again", { dir: root, target: id.real });
    enqueue(WHOLE_TREE);
  };

  // Checks run one at a time; requests made meanwhile fold into one more check ("rearm" wins).
  let requested: CheckKind | undefined;
  let checking: Promise<void> | undefined;
  const drain = async (): Promise<void> => {
    while (requested !== undefined && !closed) {
      const kind = requested;
      requested = undefined;
      await sync(kind, false);
    }
  };
  const runChecks = (first: Promise<void>): void => {
    checking = first
      .then(drain)
      .catch((e: unknown) => logger.warn("config directory check failed", { dir: root, error: message(e) }))
      .finally(() => {
        checking = undefined;
        if (requested !== undefined && !closed) runChecks(Promise.resolve());
      });
  };
  const check = (kind: CheckKind): void => {
    if (closed) return;
    if (requested !== "rearm") requested = kind;
    if (checking === undefined) runChecks(Promise.resolve());
  };

  const ready = sync("verify", true).catch((e: unknown) => logger.warn("config watch failed to start", { dir: root, error: message(e) }));
  runChecks(ready);

  // The parent directory's entry for the root: a rename there is the root moved, deleted,
  // created or (a symlink) replaced.
  let parent: FsWatcher | undefined;
  try {
    const name = basename(root);
    parent = watchFs(dirname(root), (event, file) => {
      if (file === null || file === name) check(event === "rename" ? "rearm" : "verify");
    });
    parent.on("error", (e) => logger.warn("cannot watch the config directory's parent", { dir: root, error: message(e) }));
  } catch (e) {
    logger.warn("cannot watch the config directory's parent; a replaced directory is noticed by the periodic check only", { dir: root, error: message(e) });
  }
  const poll = rootCheckMs > 0 && Number.isFinite(rootCheckMs) ? setInterval(() => check("verify"), rootCheckMs) : undefined;
  poll?.unref();

  return {
    ready,
    async close() {
      closed = true;
      whenClosed();
      clearTimeout(quietTimer);
      clearTimeout(maxTimer);
      clearInterval(poll);
      parent?.close();
      await checking;
      await disarm();
    },
  };
}

/**
 * Watches the files git changes when a commit is made or checked out (git.ts, headFilesOf): a
 * commit of files already saved changes no file in the tree, so the tree's watcher sees nothing,
 * and the served config would be named "COMMIT-dirty" until the next resync. onChange is called
 * once per burst, after quietMs of quiet.
 */
export function watchGitHead(paths: readonly string[], options: { readonly onChange: () => void; readonly logger: Logger; readonly quietMs?: number }): DirectoryWatch {
  const { onChange, logger, quietMs = 100 } = options;
  let timer: Timer | undefined;
  let closed = false;
  const changed = () => {
    if (closed) return;
    timer?.cancel();
    timer = after(quietMs, () => {
      timer = undefined;
      if (!closed) onChange();
    });
  };
  const watcher = watch([...paths], { ignoreInitial: true, persistent: false, followSymlinks: false });
  watcher.on("all", changed);
  watcher.on("error", (e) => logger.warn("cannot watch git's HEAD; commits are seen at the next resync", { error: message(e) }));
  const ready = new Promise<void>((r) => watcher.once("ready", () => r()));
  return {
    ready,
    close: async () => {
      closed = true;
      timer?.cancel();
      await watcher.close();
    },
  };
}
