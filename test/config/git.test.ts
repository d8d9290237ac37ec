// gitState, readCommitted, fetchRemote, upstreamCommit and GitPoller against real git
// repositories in temp dirs.
import assert from "node:assert/strict";
import { symlink } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  fetchRemote,
  gitState,
  gitStateOrError,
  GitPoller,
  isNotARepository,
  readCommitted,
  upstreamCommit,
  upstreamOf,
  type GitPollerOptions,
} from "../../src/config/git.js";
import { readDirectory, type SourceFile } from "../../src/config/source.js";
import { cloneRepo, commitAll, git, initBare, initRepo, removeTempDirs, tempDir, writeFiles } from "../support/git-repo.js";

after(removeTempDirs);

/** Rejects if the promise has not settled within ms (the overall bound on waiting for an event). */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const paths = (files: readonly SourceFile[]): string[] => files.map((f) => f.path);

/** Runs fn with extra environment variables for the git processes started meanwhile. */
async function withEnv<T>(vars: Readonly<Record<string, string>>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/**
 * Makes git treat every repository as owned by another user, as a checkout bind-mounted into a
 * container often is (git's own test suite switch), with no global or system safe.directory.
 */
const asAnotherOwner = <T>(fn: () => Promise<T>): Promise<T> =>
  withEnv({ GIT_TEST_ASSUME_DIFFERENT_OWNER: "1", GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" }, fn);

// git's stderr for the cases that must be told apart (git 2.39, LC_ALL=C).
const NOT_A_REPO = "fatal: not a git repository (or any of the parent directories): .git";
const NOT_A_REPO_BOUNDARY =
  "fatal: not a git repository (or any parent up to mount point /mnt)\nStopping at filesystem boundary (GIT_DISCOVERY_ACROSS_FILESYSTEM not set).";
const DUBIOUS =
  "fatal: detected dubious ownership in repository at '/srv/config'\nTo add an exception for this directory, call:\n\n\tgit config --global --add safe.directory /srv/config";

describe("gitState", () => {
  test("a directory outside any git work tree has no state, and that is not an error", async () => {
    const dir = await tempDir();
    const errors: string[] = [];
    assert.equal(await gitState(dir, (e) => errors.push(e)), undefined);
    assert.deepEqual(errors, []);
    assert.deepEqual(await gitStateOrError(dir), { ok: true, state: undefined });
  });

  test("gitStateOrError wraps the state of a repository", async () => {
    const repo = await initRepo();
    await writeFiles(repo, { "a.yaml": "a: 1\n" });
    const sha = await commitAll(repo);
    assert.deepEqual(await gitStateOrError(repo), { ok: true, state: { commit: sha, dirty: false, branch: "main" } });
  });

  test("git's stderr: only \"not a git repository\" means no repository; anything else is git failing", () => {
    assert.equal(isNotARepository(NOT_A_REPO), true);
    assert.equal(isNotARepository(NOT_A_REPO_BOUNDARY), true);
    assert.equal(isNotARepository(DUBIOUS), false, "dubious ownership is a refusal, not a missing repository");
    assert.equal(isNotARepository("fatal: bad object HEAD"), false);
    assert.equal(isNotARepository("error: object file .git/objects/ab/cd is empty\nfatal: loose object abcd is corrupt"), false);
    assert.equal(isNotARepository(""), false, "no message (a signal, git missing) is not \"no repository\"");
  });

  test("a checkout owned by another user: git's dubious-ownership message is surfaced, not \"not a repository\"", async (t) => {
    const repo = await initRepo();
    await writeFiles(repo, { "mesh/a.yaml": "a: 1\n" });
    await commitAll(repo);
    const dir = join(repo, "mesh");
    await asAnotherOwner(async () => {
      const state = await gitStateOrError(dir);
      if (state.ok) return t.skip("this git does not honor GIT_TEST_ASSUME_DIFFERENT_OWNER");
      assert.match(state.error, /detected dubious ownership in repository at .*safe\.directory/s);

      const errors: string[] = [];
      assert.equal(await gitState(dir, (e) => errors.push(e)), undefined);
      assert.equal(errors.length, 1);
      assert.match(errors[0] ?? "", /dubious ownership/);

      const read = await readCommitted(dir, "HEAD");
      assert.equal(read.ok, false);
      assert.match(read.ok ? "" : read.error, /^cannot use git in .*mesh: git rev-parse: fatal: detected dubious ownership/s);
      assert.doesNotMatch(read.ok ? "" : read.error, /not inside a git work tree/);

      const upstream = await upstreamOf(dir);
      assert.match(upstream.ok ? "" : upstream.error, /dubious ownership/);
    });
    assert.equal((await gitStateOrError(dir)).ok, true, "the same checkout is fine for its owner");
  });

  test("a repository without commits has no commit but has its branch", async () => {
    const repo = await initRepo();
    assert.deepEqual(await gitState(repo), { commit: undefined, dirty: false, branch: "main" });
  });

  test("a clean repository: HEAD's commit, not dirty", async () => {
    const repo = await initRepo();
    await writeFiles(repo, { "mesh/a.yaml": "a: 1\n" });
    const sha = await commitAll(repo);
    assert.deepEqual(await gitState(repo), { commit: sha, dirty: false, branch: "main" });
    assert.deepEqual(await gitState(join(repo, "mesh")), { commit: sha, dirty: false, branch: "main" });
  });

  test("modified, deleted and untracked YAML under the dir make it dirty", async () => {
    const repo = await initRepo();
    await writeFiles(repo, { "mesh/a.yaml": "a: 1\n", "mesh/b.yaml": "b: 1\n" });
    await commitAll(repo);
    const dir = join(repo, "mesh");

    await writeFiles(repo, { "mesh/a.yaml": "a: 2\n" });
    assert.equal((await gitState(dir))?.dirty, true, "modified");
    await git(repo, "checkout", "--", ".");
    assert.equal((await gitState(dir))?.dirty, false);

    await git(repo, "rm", "--quiet", "mesh/b.yaml");
    assert.equal((await gitState(dir))?.dirty, true, "deleted");
    await git(repo, "reset", "--quiet", "--hard");

    await writeFiles(repo, { "mesh/new/c.yml": "c: 1\n" });
    assert.equal((await gitState(dir))?.dirty, true, "untracked");
  });

  test("changes outside the config dir, non-YAML and hidden files do not make it dirty", async () => {
    const repo = await initRepo();
    await writeFiles(repo, { "mesh/a.yaml": "a: 1\n", "other/b.yaml": "b: 1\n", "top.yaml": "t: 1\n" });
    const sha = await commitAll(repo);
    await writeFiles(repo, {
      "other/b.yaml": "b: 2\n",
      "top.yaml": "t: 2\n",
      "meshy/c.yaml": "c: 1\n", // a sibling whose name starts with the dir's name
      "mesh/README.md": "notes\n",
      "mesh/.hidden/d.yaml": "d: 1\n",
    });
    assert.deepEqual(await gitState(join(repo, "mesh")), { commit: sha, dirty: false, branch: "main" });
    assert.equal((await gitState(repo))?.dirty, true, "the same changes are dirty for the whole repository");
  });

  test("a detached HEAD has no branch", async () => {
    const repo = await initRepo();
    await writeFiles(repo, { "a.yaml": "a: 1\n" });
    const sha = await commitAll(repo);
    await git(repo, "checkout", "--quiet", "--detach");
    assert.deepEqual(await gitState(repo), { commit: sha, dirty: false });
  });
});

describe("readCommitted", () => {
  test("reads exactly the committed ref, whatever the working tree and index hold", async () => {
    const repo = await initRepo();
    await writeFiles(repo, { "a.yaml": "v: 1\n", "gone.yaml": "g: 1\n" });
    const first = await commitAll(repo, "first");
    await git(repo, "tag", "v1");
    await git(repo, "rm", "--quiet", "gone.yaml");
    await writeFiles(repo, { "a.yaml": "v: 2\n", "b.yaml": "b: 2\n" });
    const second = await commitAll(repo, "second");
    // Uncommitted: a modified file, a staged new file, an untracked file, a deleted file.
    await writeFiles(repo, { "a.yaml": "v: working\n", "staged.yaml": "s: 1\n", "untracked.yaml": "u: 1\n" });
    await git(repo, "add", "staged.yaml");
    await git(repo, "rm", "--quiet", "--cached", "b.yaml");

    for (const ref of [first, "v1", first.slice(0, 10)]) {
      assert.deepEqual(await readCommitted(repo, ref), {
        ok: true,
        commit: first,
        files: [
          { path: "a.yaml", text: "v: 1\n" },
          { path: "gone.yaml", text: "g: 1\n" },
        ],
      });
    }
    assert.deepEqual(await readCommitted(repo, "main"), {
      ok: true,
      commit: second,
      files: [
        { path: "a.yaml", text: "v: 2\n" },
        { path: "b.yaml", text: "b: 2\n" },
      ],
    });
  });

  test("a subfolder: only its subtree, paths relative to it", async () => {
    const repo = await initRepo();
    await writeFiles(repo, {
      "top.yaml": "t: 1\n",
      "config/mesh/a.yaml": "a: 1\n",
      "config/mesh/routes/r.yml": "r: 1\n",
      "config/other/o.yaml": "o: 1\n",
    });
    const sha = await commitAll(repo);
    const read = await readCommitted(join(repo, "config/mesh"), "HEAD");
    assert.deepEqual(read, {
      ok: true,
      commit: sha,
      files: [
        { path: "a.yaml", text: "a: 1\n" },
        { path: "routes/r.yml", text: "r: 1\n" },
      ],
    });
  });

  test("hidden folders and files, non-YAML files and symlinks are excluded; otherwise the same as readDirectory", async () => {
    const repo = await initRepo();
    await writeFiles(repo, {
      ".github/workflows/ci.yaml": "on: push\n",
      ".hidden.yaml": "h: 1\n",
      "svc/.draft/x.yaml": "x: 1\n",
      "README.md": "# mesh\n",
      "a.yaml": "a: 1\n",
      "a/z.yaml": "z: 1\n",
      "a-b.yaml": "ab: 1\n",
      "svc/B.YML": "b: 1\n",
      "svc/multi.yaml": "---\na: 1\n---\nb: 2\n",
      "empty.yaml": "",
    });
    await symlink("a.yaml", join(repo, "link.yaml"));
    await commitAll(repo);
    assert.match(await git(repo, "ls-tree", "HEAD", "link.yaml"), /^120000 /, "committed as a symlink");
    const read = await readCommitted(repo, "HEAD");
    assert.ok(read.ok, JSON.stringify(read));
    assert.deepEqual(paths(read.files), ["a/z.yaml", "a-b.yaml", "a.yaml", "empty.yaml", "svc/B.YML", "svc/multi.yaml"]);
    // A committed symlink is only a link in git's objects: a committed ref does not follow it,
    // while the working tree does (docs/config.md). Everything else is the same.
    const checkout = (await readDirectory(repo)).filter((f) => f.path !== "link.yaml");
    assert.deepEqual(read.files, checkout, "the same files, texts and order as reading the checkout");
  });

  test("a ref that is not a commit is an error carrying git's message", async () => {
    const repo = await initRepo();
    await writeFiles(repo, { "a.yaml": "a: 1\n" });
    await commitAll(repo);
    const bad = await readCommitted(repo, "no-such-branch");
    assert.equal(bad.ok, false);
    assert.match(bad.ok ? "" : bad.error, /no-such-branch.*fatal: Needed a single revision/s);
    const option = await readCommitted(repo, "--output=/tmp/x");
    assert.equal(option.ok, false, "a ref that looks like an option is not taken as one");
    const blob = await readCommitted(repo, "HEAD:a.yaml");
    assert.equal(blob.ok, false, "a blob is not a commit");
  });

  test("a config dir missing from the commit, or no repository at all, is an error", async () => {
    const repo = await initRepo();
    await writeFiles(repo, { "a.yaml": "a: 1\n" });
    const first = await commitAll(repo);
    await writeFiles(repo, { "mesh/m.yaml": "m: 1\n" });
    await commitAll(repo);
    const missing = await readCommitted(join(repo, "mesh"), first);
    assert.equal(missing.ok, false);
    assert.match(missing.ok ? "" : missing.error, /has no directory "mesh\/"/);
    const notRepo = await readCommitted(await tempDir(), "HEAD");
    assert.equal(notRepo.ok, false);
    assert.match(notRepo.ok ? "" : notRepo.error, /is not inside a git work tree$/);
  });

  test("a commit with no config files reads as an empty list", async () => {
    const repo = await initRepo();
    await writeFiles(repo, { "README.md": "# nothing yet\n" });
    const sha = await commitAll(repo);
    assert.deepEqual(await readCommitted(repo, "HEAD"), { ok: true, commit: sha, files: [] });
  });
});

/** A bare remote, an author's clone that pushes to it, and the control plane's clone. */
async function remoteSetup(): Promise<{ remote: string; author: string; config: string; initial: string }> {
  const remote = await initBare();
  const author = await cloneRepo(remote);
  await writeFiles(author, { "mesh/a.yaml": "a: 1\n", "docs/readme.md": "x\n" });
  const initial = await commitAll(author, "initial");
  await git(author, "push", "--quiet", "origin", "main");
  const config = await cloneRepo(remote);
  return { remote, author, config, initial };
}

describe("fetchRemote and GitPoller", () => {
  test("fetchRemote returns the remote branch's commit and leaves the working tree alone", async () => {
    const { author, config, initial } = await remoteSetup();
    const dir = join(config, "mesh");
    assert.deepEqual(await fetchRemote(dir, "origin", "main"), { ok: true, commit: initial });

    await writeFiles(author, { "mesh/a.yaml": "a: 2\n" });
    const next = await commitAll(author);
    await git(author, "push", "--quiet", "origin", "main");
    assert.deepEqual(await fetchRemote(dir, "origin", "main"), { ok: true, commit: next });
    assert.equal(await git(config, "rev-parse", "HEAD"), initial, "HEAD did not move");
    assert.equal(await git(config, "status", "--porcelain"), "", "working tree untouched");
    assert.deepEqual(await readDirectory(dir), [{ path: "a.yaml", text: "a: 1\n" }]);
    assert.deepEqual(await readCommitted(dir, next), { ok: true, commit: next, files: [{ path: "a.yaml", text: "a: 2\n" }] });
  });

  test("fetchRemote reports an unknown remote or branch as an error", async () => {
    const { config } = await remoteSetup();
    const noBranch = await fetchRemote(config, "origin", "no-such-branch");
    assert.equal(noBranch.ok, false);
    assert.match(noBranch.ok ? "" : noBranch.error, /no-such-branch/);
    const noRemote = await fetchRemote(config, "nowhere", "main");
    assert.equal(noRemote.ok, false);
    assert.match(noRemote.ok ? "" : noRemote.error, /nowhere/);
  });

  test("upstreamOf names the remote and branch a clone's branch tracks", async () => {
    const { config } = await remoteSetup();
    assert.deepEqual(await upstreamOf(join(config, "mesh")), { ok: true, remote: "origin", branch: "main" });
    await git(config, "checkout", "--quiet", "-b", "local-only");
    assert.deepEqual(await upstreamOf(config), { ok: false, error: 'branch "local-only" has no upstream (git branch --set-upstream-to)' });
    await git(config, "checkout", "--quiet", "--detach");
    assert.deepEqual(await upstreamOf(config), { ok: false, error: "HEAD is not on a branch (detached)" });
    const plain = await tempDir();
    assert.deepEqual(await upstreamOf(plain), { ok: false, error: `${plain} is not inside a git repository` });
  });

  test("upstreamCommit fetches the upstream's commit, not the working tree's, and readCommitted reads exactly it", async () => {
    const { author, config, initial } = await remoteSetup();
    const dir = join(config, "mesh");
    // The clone's working tree: an untracked broken file and a local edit, neither ever pushed.
    await writeFiles(config, { "mesh/bad.yaml": "kind: [unclosed\n", "mesh/a.yaml": "a: local edit\n" });
    assert.deepEqual(await upstreamCommit(dir), { ok: true, remote: "origin", branch: "main", commit: initial });

    await writeFiles(author, { "mesh/a.yaml": "a: 2\n", "mesh/b.yaml": "b: 1\n" });
    const pushed = await commitAll(author, "pushed");
    await git(author, "push", "--quiet", "origin", "main");
    const upstream = await upstreamCommit(dir);
    assert.deepEqual(upstream, { ok: true, remote: "origin", branch: "main", commit: pushed }, "the upstream's new commit, not the clone's HEAD");
    assert.deepEqual(await readCommitted(dir, pushed), {
      ok: true,
      commit: pushed,
      files: [
        { path: "a.yaml", text: "a: 2\n" },
        { path: "b.yaml", text: "b: 1\n" },
      ],
    });
    assert.equal(await git(config, "rev-parse", "HEAD"), initial, "HEAD did not move");
    assert.deepEqual(paths(await readDirectory(dir)), ["a.yaml", "bad.yaml"], "the working tree is untouched");
  });

  test("upstreamCommit reports a missing upstream or an unreachable remote", async () => {
    const { config } = await remoteSetup();
    await git(config, "checkout", "--quiet", "-b", "local-only");
    const none = await upstreamCommit(config);
    assert.deepEqual(none, { ok: false, error: 'branch "local-only" has no upstream (git branch --set-upstream-to)' });
    await git(config, "checkout", "--quiet", "main");
    await git(config, "remote", "set-url", "origin", join(await tempDir(), "gone.git"));
    const unreachable = await upstreamCommit(config);
    assert.equal(unreachable.ok, false);
    assert.match(unreachable.ok ? "" : unreachable.error, /^git fetch: .*gone\.git/s);
  });

  test("GitPoller rejects an interval under 0.05 s (or not a usable number) at construction", () => {
    const options: GitPollerOptions = { dir: ".", remote: "origin", branch: "main", intervalSeconds: 1, onCommit() {}, onError() {} };
    for (const intervalSeconds of [0.049, 0, -1, Number.NaN, Number.POSITIVE_INFINITY, 3e6]) {
      assert.throws(
        () => new GitPoller({ ...options, intervalSeconds }),
        (e: unknown) => e instanceof RangeError && /intervalSeconds must be between 0\.05 and 2147483 seconds, got /.test(e.message),
        String(intervalSeconds),
      );
    }
    for (const intervalSeconds of [0.05, 1, 86_400]) assert.doesNotThrow(() => new GitPoller({ ...options, intervalSeconds }));
  });

  test("a push to the remote reaches onCommit with the new commit and its files", async () => {
    const { author, config, initial } = await remoteSetup();
    const seen: string[] = [];
    const errors: string[] = [];
    let delivered!: (files: SourceFile[]) => void;
    const pushedArrives = new Promise<SourceFile[]>((resolve) => (delivered = resolve));
    let pushed = "";
    const poller = new GitPoller({
      dir: join(config, "mesh"),
      remote: "origin",
      branch: "main",
      intervalSeconds: 0.1,
      since: initial,
      onCommit: (commit, files) => {
        seen.push(commit);
        if (commit === pushed) delivered(files);
      },
      onError: (e) => errors.push(e),
    });
    poller.start();
    try {
      await writeFiles(author, { "mesh/a.yaml": "a: 2\n", "mesh/routes/r.yaml": "r: 1\n", "docs/readme.md": "y\n" });
      pushed = await commitAll(author, "second");
      await git(author, "push", "--quiet", "origin", "main");
      const files = await within(20_000, "onCommit for the pushed commit", pushedArrives);
      assert.deepEqual(files, [
        { path: "a.yaml", text: "a: 2\n" },
        { path: "routes/r.yaml", text: "r: 1\n" },
      ]);
      assert.deepEqual(seen, [pushed], "the already-served commit is not reported");
      assert.equal(poller.commit, pushed);
      assert.deepEqual(errors, []);
      assert.equal(await git(config, "rev-parse", "HEAD"), initial, "the clone's HEAD did not move");
    } finally {
      await poller.stop();
    }
  });

  test("errors are reported and polling carries on; stop() ends it", async () => {
    const { config } = await remoteSetup();
    const errors: string[] = [];
    let twice!: () => void;
    const secondError = new Promise<void>((resolve) => (twice = resolve));
    const poller = new GitPoller({
      dir: config,
      remote: "origin",
      branch: "no-such-branch",
      intervalSeconds: 0.05,
      onCommit: () => assert.fail("no commit to report"),
      onError: (e) => {
        errors.push(e);
        if (errors.length === 2) twice();
      },
    });
    poller.start();
    await within(20_000, "a second error", secondError);
    await poller.stop();
    const count = errors.length;
    await poller.poll(); // a stopped poller does not fetch
    assert.equal(errors.length, count);
    assert.match(errors[0] ?? "", /no-such-branch/);
  });

  test("a poll in progress is joined, not overlapped; the first poll reports the current commit", async () => {
    const { config, initial } = await remoteSetup();
    const seen: string[] = [];
    const poller = new GitPoller({
      dir: config,
      remote: "origin",
      branch: "main",
      intervalSeconds: 60,
      onCommit: (commit, files) => void seen.push(`${commit} ${paths(files).join(",")}`),
      onError: (e) => assert.fail(e),
    });
    const a = poller.poll();
    const b = poller.poll();
    assert.equal(a, b, "the second call joins the first poll");
    await a;
    await poller.poll(); // same commit: nothing new
    await poller.stop();
    assert.deepEqual(seen, [`${initial} mesh/a.yaml`]);
  });

  test("a throwing onCommit is reported and the commit is not delivered again", async () => {
    const { config, initial } = await remoteSetup();
    const errors: string[] = [];
    let calls = 0;
    const poller = new GitPoller({
      dir: config,
      remote: "origin",
      branch: "main",
      intervalSeconds: 60,
      onCommit: () => {
        calls++;
        throw new Error("bad config");
      },
      onError: (e) => errors.push(e),
    });
    await poller.poll();
    await poller.poll();
    await poller.stop();
    assert.equal(calls, 1);
    assert.deepEqual(errors, [`onCommit failed for ${initial}: bad config`]);
  });
});
