// watchDirectory on a real temp directory: debouncing, maxWait, half-written files, filtering,
// and the directory itself being replaced (moved away and back, a symlink switched).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdir, open, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, test } from "node:test";
import { watchDirectory, WHOLE_TREE, type DirectoryWatch, type WatchOptions } from "../../src/config/watch.js";
import type { Logger } from "../../src/log.js";
import { removeTempDirs, tempDir } from "../support/git-repo.js";

after(removeTempDirs);

const TIMEOUT_MS = 20_000;

type WatchedOptions = Partial<Omit<WatchOptions, "onChange" | "logger">> & {
  /** The path to watch (prepared by the test); a fresh temp dir when absent. */
  readonly dir?: string;
};

/** A watcher that records onChange calls and warnings and lets a test wait for them. */
async function watched(options: WatchedOptions = {}, onCall?: (paths: string[]) => void) {
  const { dir: given, ...watchOptions } = options;
  const dir = given ?? (await tempDir("gitmesh-watch-"));
  const calls: string[][] = [];
  const warnings: string[] = [];
  const waiters: { until: () => boolean; resolve: () => void }[] = [];
  const wake = (): void => {
    for (const w of [...waiters]) {
      if (!w.until()) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  const rawListeners = new Set<(path: string) => void>();
  const logger: Logger = {
    debug: (message, fields) => {
      if (message === "config watch event") for (const l of rawListeners) l(String(fields?.path ?? ""));
    },
    info() {},
    warn: (message) => {
      warnings.push(message);
      wake();
    },
    error: (message, fields) => assert.fail(`${message} ${JSON.stringify(fields)}`),
  };
  const watch: DirectoryWatch = watchDirectory(dir, {
    ...watchOptions,
    logger,
    onChange: (paths) => {
      onCall?.(paths);
      calls.push(paths);
      wake();
    },
  });
  await watch.ready;
  /** Resolves once the condition holds (checked at each call and warning); fails the test after TIMEOUT_MS. */
  const waitUntil = (what: string, until: () => boolean): Promise<void> => {
    if (until()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}; calls: ${JSON.stringify(calls)}; warnings: ${JSON.stringify(warnings)}`)),
        TIMEOUT_MS,
      );
      waiters.push({
        until,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  };
  /** Resolves once the calls so far satisfy the condition; fails the test after TIMEOUT_MS. */
  const waitFor = (what: string, until: (calls: string[][]) => boolean): Promise<void> => waitUntil(what, () => until(calls));
  /** Resolves at the first raw file system event whose path contains name. */
  const sawRaw = (name: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no file system event for ${name}`)), TIMEOUT_MS);
      const l = (path: string): void => {
        if (!path.includes(name)) return;
        rawListeners.delete(l);
        clearTimeout(timer);
        resolve();
      };
      rawListeners.add(l);
    });
  return { dir, calls, warnings, waitFor, waitUntil, sawRaw, close: () => watch.close() };
}

test("a burst of 20 file writes is one onChange with every path", async () => {
  const w = await watched({ quietMs: 100 });
  try {
    const names = Array.from({ length: 20 }, (_, i) => `svc-${String(i).padStart(2, "0")}.yaml`);
    for (const name of names) await writeFile(join(w.dir, name), `name: ${name}\n`);
    await w.waitFor("the burst", (calls) => calls.length >= 1);
    assert.deepEqual(w.calls[0], names);
    // A later, separate change is the second call: nothing else was reported for the burst.
    await writeFile(join(w.dir, "sentinel.yaml"), "s: 1\n");
    await w.waitFor("the sentinel", (calls) => calls.some((c) => c.includes("sentinel.yaml")));
    assert.deepEqual(w.calls, [names, ["sentinel.yaml"]]);
  } finally {
    await w.close();
  }
});

test("a file written in chunks is reported once, when complete, even across a pause longer than quietMs", async () => {
  const full = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: reviews\nspec:\n  hosts: [reviews]\n";
  const half = full.slice(0, 40);
  let dir = "";
  const seen: string[] = [];
  const w = await watched({ quietMs: 100, stabilityMs: 1000 }, () => seen.push(readFileSync(join(dir, "chunked.yaml"), "utf8")));
  dir = w.dir;
  try {
    const file = await open(join(w.dir, "chunked.yaml"), "w");
    const seenFirstChunk = w.sawRaw("chunked.yaml");
    await file.write(half);
    await seenFirstChunk;
    // Idle: three quiet periods pass with the half file on disk, where a plain debounce would
    // already have reported it; the size-stability wait has not.
    await sleep(300);
    assert.deepEqual(w.calls, [], "nothing reported for the half-written file");
    await file.write(full.slice(half.length));
    await file.close();
    await w.waitFor("the complete file", (calls) => calls.length >= 1);
    assert.deepEqual(w.calls, [["chunked.yaml"]]);
    assert.deepEqual(seen, [full], "the file was complete when onChange ran");
  } finally {
    await w.close();
  }
});

test("maxWaitMs bounds a never-ending stream of changes", async () => {
  const w = await watched({ quietMs: 100, maxWaitMs: 300, stabilityMs: 50 });
  try {
    const names: string[] = [];
    const started = Date.now();
    for (let i = 0; Date.now() - started < 1000; i++) {
      const name = `stream-${String(i).padStart(3, "0")}.yaml`;
      names.push(name);
      await writeFile(join(w.dir, name), `i: ${i}\n`);
      await sleep(20); // pacing: one write every 20 ms, never 100 ms of quiet
    }
    const duringStream = w.calls.length;
    const last = names[names.length - 1] ?? "";
    await w.waitFor("the last file of the stream", (calls) => calls.some((c) => c.includes(last)));
    assert.ok(duringStream >= 2, `onChange fired ${duringStream} times during the 1 s stream; maxWait should force at least 2`);
    assert.deepEqual(w.calls.flat().sort(), names, "every file reported exactly once");
  } finally {
    await w.close();
  }
});

test("hidden, .git and non-YAML files are ignored; directories added and removed are reported", async () => {
  const w = await watched({ quietMs: 100, stabilityMs: 100 });
  try {
    await mkdir(join(w.dir, ".git"));
    await mkdir(join(w.dir, ".hidden"));
    await writeFile(join(w.dir, ".git", "HEAD.yaml"), "x\n");
    await writeFile(join(w.dir, ".hidden", "a.yaml"), "x\n");
    await writeFile(join(w.dir, ".dot.yaml"), "x\n");
    await writeFile(join(w.dir, "notes.txt"), "x\n");
    await writeFile(join(w.dir, "real.yml"), "r: 1\n");
    await w.waitFor("real.yml", (calls) => calls.length >= 1);
    assert.deepEqual(w.calls, [["real.yml"]]);

    // A directory's own event is not held back by the write-finish wait, so it may come in an
    // earlier call than its file: compare everything reported since the step began.
    const since = (n: number) => (calls: string[][]) => calls.slice(n).flat().sort();
    let n = w.calls.length;
    await mkdir(join(w.dir, "sub"));
    await writeFile(join(w.dir, "sub", "a.yaml"), "a: 1\n");
    await w.waitFor("sub and sub/a.yaml", (calls) => since(n)(calls).length >= 2);
    assert.deepEqual(since(n)(w.calls), ["sub", "sub/a.yaml"]);

    n = w.calls.length;
    await rm(join(w.dir, "sub"), { recursive: true });
    await w.waitFor("the removal of sub", (calls) => since(n)(calls).length >= 2);
    assert.deepEqual(since(n)(w.calls), ["sub", "sub/a.yaml"]);
  } finally {
    await w.close();
  }
});

/** Waits until a file written after a replacement is reported, proving the new tree is watched. */
async function reportsNewFile(w: Awaited<ReturnType<typeof watched>>, path: string): Promise<void> {
  const n = w.calls.length;
  await writeFile(path, "n: 1\n");
  const name = path.split("/").pop() ?? "";
  await w.waitFor(`${name} after the replacement`, (calls) => calls.slice(n).some((c) => c.includes(name)));
}

test("a directory moved away and back is watched again, and reported as a whole-tree change", async () => {
  const parent = await tempDir("gitmesh-watch-parent-");
  const dir = join(parent, "cfg");
  await mkdir(dir);
  // rootCheckMs 0: only the parent directory's events and the root's own events can notice.
  const w = await watched({ dir, quietMs: 50, stabilityMs: 50, rootCheckMs: 0 });
  try {
    await writeFile(join(dir, "a.yaml"), "a: 1\n");
    await w.waitFor("a.yaml", (calls) => calls.length >= 1);
    assert.deepEqual(w.calls, [["a.yaml"]]);

    let n = w.calls.length;
    await rename(dir, join(parent, "cfg.bak"));
    // Gone for long enough that the tree watcher has given up on it (the original bug).
    await w.waitUntil("the directory noticed gone", () => w.warnings.includes("config directory is gone; waiting for it to come back"));
    await writeFile(join(parent, "cfg.bak", "while-away.yaml"), "w: 1\n");
    await rename(join(parent, "cfg.bak"), dir);
    await w.waitFor("the whole-tree change", (calls) => calls.slice(n).some((c) => c[0] === WHOLE_TREE));
    // The move itself may be seen as a.yaml removed before the root is; the return is one
    // whole-tree change, and the moved-away copy's edit was not reported.
    assert.deepEqual(w.calls[w.calls.length - 1], [WHOLE_TREE]);
    assert.ok(!w.calls.flat().includes("while-away.yaml"), JSON.stringify(w.calls));

    await reportsNewFile(w, join(dir, "b.yaml"));

    // Moved away and straight back, before anything could be noticed in between.
    n = w.calls.length;
    await rename(dir, join(parent, "cfg.bak"));
    await rename(join(parent, "cfg.bak"), dir);
    await w.waitFor("a second whole-tree change", (calls) => calls.slice(n).some((c) => c[0] === WHOLE_TREE));
    await sleep(200); // let any late events of the swap settle
    n = w.calls.length;
    await reportsNewFile(w, join(dir, "c.yaml"));
    assert.deepEqual(w.calls.slice(n), [["c.yaml"]]);
  } finally {
    await w.close();
  }
});

test("a symlinked directory switched to a new target (as git-sync does) is followed to it", async () => {
  const parent = await tempDir("gitmesh-watch-parent-");
  await mkdir(join(parent, "rev1"));
  await mkdir(join(parent, "rev2"));
  const dir = join(parent, "cfg");
  await symlink("rev2", dir);
  const w = await watched({ dir, quietMs: 50, stabilityMs: 50, rootCheckMs: 0 });
  try {
    await writeFile(join(parent, "rev2", "x.yaml"), "x: 1\n");
    await w.waitFor("x.yaml in the first target", (calls) => calls.length >= 1);
    assert.deepEqual(w.calls, [["x.yaml"]]);

    // ln -sfn rev1 cfg.tmp && mv -T cfg.tmp cfg: an atomic switch of the link.
    await symlink("rev1", join(parent, "cfg.tmp"));
    await rename(join(parent, "cfg.tmp"), dir);
    await w.waitFor("the whole-tree change", (calls) => calls.some((c) => c[0] === WHOLE_TREE));
    assert.deepEqual(w.calls, [["x.yaml"], [WHOLE_TREE]]);

    await reportsNewFile(w, join(parent, "rev1", "y.yaml"));
    // The old target is no longer the config: its changes are not reported.
    const n = w.calls.length;
    await writeFile(join(parent, "rev2", "stale.yaml"), "s: 1\n");
    await rm(join(parent, "rev2"), { recursive: true });
    await reportsNewFile(w, join(parent, "rev1", "z.yaml"));
    assert.deepEqual(w.calls.slice(n), [["z.yaml"]]);
  } finally {
    await w.close();
  }
});

test("the periodic check notices a replacement the parent directory does not see (a link further along switched)", async () => {
  const parent = await tempDir("gitmesh-watch-parent-");
  await mkdir(join(parent, "links"));
  await mkdir(join(parent, "rev1"));
  await mkdir(join(parent, "rev2"));
  await symlink(join(parent, "rev1"), join(parent, "links", "current"));
  const dir = join(parent, "cfg");
  await symlink(join(parent, "links", "current"), dir); // cfg -> links/current -> rev1
  const w = await watched({ dir, quietMs: 50, stabilityMs: 50, rootCheckMs: 100 });
  try {
    await symlink(join(parent, "rev2"), join(parent, "links", "tmp"));
    await rename(join(parent, "links", "tmp"), join(parent, "links", "current"));
    await w.waitFor("the whole-tree change", (calls) => calls.some((c) => c[0] === WHOLE_TREE));
    assert.deepEqual(w.calls, [[WHOLE_TREE]]);
    await reportsNewFile(w, join(parent, "rev2", "a.yaml"));
  } finally {
    await w.close();
  }
});

test("a directory that does not exist yet is watched once it appears", async () => {
  const parent = await tempDir("gitmesh-watch-parent-");
  const dir = join(parent, "cfg");
  const w = await watched({ dir, quietMs: 50, stabilityMs: 50, rootCheckMs: 0 });
  try {
    assert.deepEqual(w.warnings, ["config directory does not exist; waiting for it to appear"]);
    await mkdir(dir);
    await w.waitFor("the whole-tree change", (calls) => calls.some((c) => c[0] === WHOLE_TREE));
    await reportsNewFile(w, join(dir, "a.yaml"));
  } finally {
    await w.close();
  }
});
