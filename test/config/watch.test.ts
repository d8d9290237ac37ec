// watchDirectory on a real temp directory: debouncing, maxWait, half-written files, filtering.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdir, open, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, test } from "node:test";
import { watchDirectory, type DirectoryWatch, type WatchOptions } from "../../src/config/watch.js";
import type { Logger } from "../../src/log.js";
import { removeTempDirs, tempDir } from "../support/git-repo.js";

after(removeTempDirs);

const TIMEOUT_MS = 20_000;

/** A watcher on a fresh temp dir that records onChange calls and lets a test wait for them. */
async function watched(options: Partial<Omit<WatchOptions, "onChange" | "logger">> = {}, onCall?: (paths: string[]) => void) {
  const dir = await tempDir("gitmesh-watch-");
  const calls: string[][] = [];
  const waiters: { until: (calls: string[][]) => boolean; resolve: () => void }[] = [];
  const rawListeners = new Set<(path: string) => void>();
  const logger: Logger = {
    debug: (message, fields) => {
      if (message === "config watch event") for (const l of rawListeners) l(String(fields?.path ?? ""));
    },
    info() {},
    warn() {},
    error: (message, fields) => assert.fail(`${message} ${JSON.stringify(fields)}`),
  };
  const watch: DirectoryWatch = watchDirectory(dir, {
    ...options,
    logger,
    onChange: (paths) => {
      onCall?.(paths);
      calls.push(paths);
      for (const w of [...waiters]) {
        if (!w.until(calls)) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    },
  });
  await watch.ready;
  /** Resolves once the calls so far satisfy the condition; fails the test after TIMEOUT_MS. */
  const waitFor = (what: string, until: (calls: string[][]) => boolean): Promise<void> => {
    if (until(calls)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; calls: ${JSON.stringify(calls)}`)), TIMEOUT_MS);
      waiters.push({
        until,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  };
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
  return { dir, calls, waitFor, sawRaw, close: () => watch.close() };
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
