// Watching the config directory: YAML file and directory changes, debounced into one onChange
// per burst (after quietMs of quiet, and never later than maxWaitMs after the burst's first event).
import { relative, resolve, sep } from "node:path";
import { watch } from "chokidar";
import type { Stats } from "node:fs";
import type { Logger } from "../log.js";

export interface WatchOptions {
  readonly quietMs?: number;
  readonly maxWaitMs?: number;
  /** How long a file's size must stay the same before its change counts (see below). */
  readonly stabilityMs?: number;
  /** Paths relative to dir, with forward slashes, sorted; files and directories. */
  readonly onChange: (changedPaths: string[]) => void;
  readonly logger: Logger;
}

export interface DirectoryWatch {
  /** Resolves once the initial scan is done: changes after this are reported. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

const YAML_FILE = /\.ya?ml$/i;

export function watchDirectory(dir: string, options: WatchOptions): DirectoryWatch {
  const { quietMs = 100, maxWaitMs = 2000, stabilityMs = 300, onChange, logger } = options;
  const root = resolve(dir);
  const rel = (p: string): string => relative(root, p).split(sep).join("/");
  const hidden = (r: string): boolean => r.split("/").some((part) => part.startsWith("."));
  // Non-YAML files are dropped here when chokidar knows they are files; a path without stats
  // may be a directory, so it is kept and dropped in the event handler instead.
  const ignored = (p: string, stats?: Stats): boolean => {
    const r = rel(p);
    return r !== "" && (hidden(r) || (stats?.isFile() === true && !YAML_FILE.test(r)));
  };

  const watcher = watch(root, {
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

  let pending = new Set<string>();
  let quietTimer: NodeJS.Timeout | undefined;
  let maxTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const flush = (): void => {
    clearTimeout(quietTimer);
    clearTimeout(maxTimer);
    quietTimer = maxTimer = undefined;
    const paths = [...pending].sort();
    pending = new Set();
    if (closed || paths.length === 0) return;
    logger.debug("config directory changed", { dir: root, paths: paths.length });
    try {
      onChange(paths);
    } catch (e) {
      logger.error("config change handler failed", { dir: root, error: e instanceof Error ? e.message : String(e) });
    }
  };

  const record = (event: string, path: string): void => {
    const r = rel(path);
    const isDir = event === "addDir" || event === "unlinkDir";
    if (r === "" || r.startsWith("../") || hidden(r) || (!isDir && !YAML_FILE.test(r))) return;
    pending.add(r);
    maxTimer ??= setTimeout(flush, maxWaitMs);
    clearTimeout(quietTimer);
    quietTimer = setTimeout(flush, quietMs);
  };

  watcher.on("all", (event, path) => record(event, path));
  // Raw file system events, before awaitWriteFinish: useful to see what the watcher is seeing.
  watcher.on("raw", (event, path) => logger.debug("config watch event", { event, path }));
  watcher.on("error", (e) => logger.warn("config watch error", { dir: root, error: e instanceof Error ? e.message : String(e) }));

  const ready = new Promise<void>((resolveReady) => watcher.once("ready", () => resolveReady()));
  return {
    ready,
    async close() {
      closed = true;
      clearTimeout(quietTimer);
      clearTimeout(maxTimer);
      await watcher.close();
    },
  };
}
