// Reading the config from git: the working tree's state, committed refs read straight from git
// objects, and fetching a remote branch. Everything goes through the git CLI with execFile (an
// argument list, never a shell string). Expected failures (not a repo, unknown ref, network
// down) come back as results; nothing here throws for them.
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { isConfigFile, type SourceFile } from "./source.js";

export interface GitState {
  /** HEAD's sha; undefined in a repository with no commits yet. */
  readonly commit: string | undefined;
  /** The config directory's files differ from HEAD (modified, deleted, staged or untracked YAML). */
  readonly dirty: boolean;
  /** The checked-out branch; absent when HEAD is detached. */
  readonly branch?: string;
}

export type GitResult<T> = ({ ok: true } & T) | { ok: false; error: string };

/** A failed run keeps git's stderr and exit code apart, so callers can tell expected failures from real ones. */
type Run = { ok: true; stdout: Buffer } | { ok: false; error: string; stderr: string; code: number | string | undefined };

const FETCH_TIMEOUT_MS = 60_000;

/** setTimeout's longest delay: a longer poll interval would fire after 1 ms instead. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function run(cwd: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      "git",
      args,
      {
        cwd,
        encoding: "buffer",
        maxBuffer: 512 * 1024 * 1024,
        timeout: options.timeoutMs ?? 0,
        // No credential prompts from a background process; no index.lock taken by `status`
        // while a person is using git in the same repository; stable (English) error text.
        env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_OPTIONAL_LOCKS: "0", LC_ALL: "C" },
      },
      (err, stdout, stderr) => {
        if (err === null) return resolve({ ok: true, stdout });
        const text = stderr.toString("utf8").trim();
        const timedOut = err.killed === true && options.timeoutMs !== undefined;
        // ENOENT from spawn is git missing from PATH or cwd missing: say which path was involved.
        const spawnFailed = typeof err.code === "string" ? `${err.message} (in ${cwd})` : err.message;
        const why = timedOut ? `timed out after ${options.timeoutMs} ms` : text !== "" ? text : spawnFailed;
        resolve({ ok: false, error: `git ${args[0] ?? ""}: ${why}`, stderr: text, code: err.code ?? undefined });
      },
    );
    child.stdin?.on("error", () => {}); // git may exit before reading all of its input
    child.stdin?.end(options.input ?? "");
  });
}

const text = (r: { stdout: Buffer }): string => r.stdout.toString("utf8").trim();

/**
 * Whether git failed because the directory is not in a git repository at all, the expected
 * case for a config directory that is not under git, as opposed to git refusing or breaking
 * (an unsafe "dubious ownership" checkout, a corrupt repository, git missing), whose message
 * must reach the operator. Classified on git's stderr (git runs with LC_ALL=C).
 */
export function isNotARepository(stderr: string): boolean {
  // "fatal: not a git repository (or any of the parent directories): .git", and
  // "fatal: not a git repository (or any parent up to mount point /)" at a file system boundary.
  return /^fatal: not a git repository\b/im.test(stderr);
}

/**
 * dir's path inside its repository ("" at the top, else "sub/dir/"); undefined when dir is not
 * inside a work tree (no repository, or inside .git or a bare repository); an error when git
 * failed for any other reason.
 */
async function repoPrefix(dir: string): Promise<GitResult<{ prefix: string | undefined }>> {
  const r = await run(dir, ["rev-parse", "--is-inside-work-tree", "--show-prefix"]);
  if (!r.ok) return isNotARepository(r.stderr) ? { ok: true, prefix: undefined } : { ok: false, error: r.error };
  const [inside, prefix] = r.stdout.toString("utf8").split("\n");
  return { ok: true, prefix: inside === "true" ? (prefix ?? "") : undefined };
}

/**
 * The working tree's git state: `state` undefined when dir is not inside a git work tree (an
 * expected case), an error carrying git's own message when git failed for another reason, such
 * as "detected dubious ownership in repository" for a checkout owned by another user.
 */
export async function gitStateOrError(dir: string): Promise<GitResult<{ state: GitState | undefined }>> {
  const located = await repoPrefix(dir);
  if (!located.ok) return located;
  const { prefix } = located;
  if (prefix === undefined) return { ok: true, state: undefined };
  const [head, branch, status] = await Promise.all([
    run(dir, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]),
    run(dir, ["symbolic-ref", "--quiet", "--short", "HEAD"]),
    // "." limits status to dir's subtree; ignored files are listed too, because readDirectory
    // loads every YAML file whether git ignores it or not.
    run(dir, ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored=traditional", "--", "."]),
  ]);
  // With --quiet, "no commits yet" (rev-parse) and "detached" (symbolic-ref) fail silently with
  // exit code 1; anything with a message is git failing.
  for (const r of [head, branch]) if (!r.ok && (r.stderr !== "" || r.code !== 1)) return { ok: false, error: r.error };
  if (!status.ok) return { ok: false, error: status.error };
  const dirty = statusPaths(status.stdout).some((p) => p.startsWith(prefix) && isConfigFile(p.slice(prefix.length)));
  return { ok: true, state: { commit: head.ok ? text(head) : undefined, dirty, ...(branch.ok ? { branch: text(branch) } : {}) } };
}

/**
 * gitStateOrError without the error: undefined both outside a git work tree and when git
 * failed; onError, when given, receives git's message in the second case.
 */
export async function gitState(dir: string, onError?: (error: string) => void): Promise<GitState | undefined> {
  const r = await gitStateOrError(dir);
  if (r.ok) return r.state;
  onError?.(r.error);
  return undefined;
}

/**
 * The files git changes when a commit is made or checked out in dir's repository: HEAD and its
 * log (of the work tree's own git directory, a linked work tree's included), and the branches
 * (of the repository's common directory). Undefined outside a work tree.
 */
export async function headFilesOf(dir: string): Promise<string[] | undefined> {
  const r = await run(dir, ["rev-parse", "--absolute-git-dir", "--git-common-dir"]);
  if (!r.ok) return undefined;
  const [gitDir, common] = text(r).split("\n");
  if (gitDir === undefined || common === undefined) return undefined;
  const commonDir = resolve(dir, common);
  return [join(gitDir, "HEAD"), join(gitDir, "logs", "HEAD"), join(commonDir, "refs", "heads"), join(commonDir, "packed-refs")];
}

/** Paths (from the repository's top) in `status --porcelain -z` output, both sides of renames. */
function statusPaths(out: Buffer): string[] {
  const fields = out.toString("utf8").split("\0");
  const paths: string[] = [];
  for (let i = 0; i < fields.length; i++) {
    const entry = fields[i] ?? "";
    if (entry.length < 4) continue;
    paths.push(entry.slice(3));
    if (entry[0] === "R" || entry[0] === "C") paths.push(fields[++i] ?? ""); // the rename's source
  }
  return paths;
}

/** Resolves a branch, tag or sha to a commit sha. */
async function resolveCommit(dir: string, ref: string): Promise<GitResult<{ commit: string }>> {
  const r = await run(dir, ["rev-parse", "--verify", "--end-of-options", `${ref}^{commit}`]);
  return r.ok ? { ok: true, commit: text(r) } : { ok: false, error: `"${ref}" is not a commit: ${r.error}` };
}

/**
 * The config files of exactly the committed ref, from git objects (the working tree and index
 * are never looked at). Only dir's subtree, paths relative to dir, in readDirectory's order.
 */
export async function readCommitted(dir: string, ref: string): Promise<GitResult<{ commit: string; files: SourceFile[] }>> {
  const located = await repoPrefix(dir);
  if (!located.ok) return { ok: false, error: `cannot use git in ${dir}: ${located.error}` };
  const { prefix } = located;
  if (prefix === undefined) return { ok: false, error: `${dir} is not inside a git work tree` };
  const resolved = await resolveCommit(dir, ref);
  if (!resolved.ok) return resolved;
  const { commit } = resolved;
  // <commit>:<prefix> is dir's tree in that commit; --full-tree stops ls-tree from also
  // filtering by the directory git was started in.
  const tree = await run(dir, ["ls-tree", "-r", "-z", "--full-tree", "--end-of-options", `${commit}:${prefix}`]);
  if (!tree.ok) return { ok: false, error: `commit ${commit} has no directory "${prefix}": ${tree.error}` };
  const blobs: { path: string; sha: string }[] = [];
  for (const entry of tree.stdout.toString("utf8").split("\0")) {
    // "<mode> <type> <sha>\t<path>"; symlinks (120000) and submodules are skipped, as readDirectory does.
    const m = /^(\d+) blob ([0-9a-f]+)\t(.*)$/s.exec(entry);
    if (m === null || m[1] === "120000" || !isConfigFile(m[3] ?? "")) continue;
    blobs.push({ sha: m[2] ?? "", path: m[3] ?? "" });
  }
  blobs.sort((a, b) => comparePaths(a.path, b.path));
  const contents = await catBlobs(dir, blobs.map((b) => b.sha));
  if (!contents.ok) return contents;
  return { ok: true, commit, files: blobs.map((b, i) => ({ path: b.path, text: contents.texts[i] ?? "" })) };
}

/** Folder by folder, names compared as strings: the order readDirectory walks the working tree in. */
function comparePaths(a: string, b: string): number {
  const as = a.split("/");
  const bs = b.split("/");
  for (let i = 0; i < Math.min(as.length, bs.length); i++) {
    const x = as[i] ?? "";
    const y = bs[i] ?? "";
    if (x !== y) return x < y ? -1 : 1;
  }
  return as.length - bs.length;
}

/** The contents of many blobs with a single `git cat-file --batch`. */
async function catBlobs(dir: string, shas: readonly string[]): Promise<GitResult<{ texts: string[] }>> {
  if (shas.length === 0) return { ok: true, texts: [] };
  const r = await run(dir, ["cat-file", "--batch"], { input: shas.map((s) => s + "\n").join("") });
  if (!r.ok) return r;
  // Each object: "<sha> <type> <size>\n<size bytes>\n", or "<sha> missing\n".
  const out = r.stdout;
  const texts: string[] = [];
  let at = 0;
  for (const sha of shas) {
    const eol = out.indexOf(0x0a, at);
    const header = out.toString("utf8", at, eol < 0 ? out.length : eol).split(" ");
    const size = Number(header[2]);
    if (eol < 0 || header[0] !== sha || header[1] !== "blob" || !Number.isInteger(size)) {
      return { ok: false, error: `git cat-file: cannot read object ${sha}: ${header.join(" ")}` };
    }
    texts.push(out.toString("utf8", eol + 1, eol + 1 + size));
    at = eol + 1 + size + 1;
  }
  return { ok: true, texts };
}

/**
 * `git fetch REMOTE BRANCH` and the commit it fetched (FETCH_HEAD). Only FETCH_HEAD and, for a
 * configured remote, its remote-tracking ref change; the working tree, index and HEAD do not.
 */
export async function fetchRemote(dir: string, remote: string, branch: string): Promise<GitResult<{ commit: string }>> {
  const fetched = await run(dir, ["fetch", "--quiet", "--no-tags", "--end-of-options", remote, branch], { timeoutMs: FETCH_TIMEOUT_MS });
  if (!fetched.ok) return fetched;
  const head = await resolveCommit(dir, "FETCH_HEAD");
  return head.ok ? head : { ok: false, error: `fetched ${remote} ${branch} but cannot read FETCH_HEAD: ${head.error}` };
}

/** The remote and branch the checked-out branch tracks (branch.<name>.remote and .merge). */
export async function upstreamOf(dir: string): Promise<GitResult<{ remote: string; branch: string }>> {
  const head = await run(dir, ["symbolic-ref", "--quiet", "--short", "HEAD"]);
  if (!head.ok) {
    if (head.stderr === "" && head.code === 1) return { ok: false, error: "HEAD is not on a branch (detached)" };
    if (isNotARepository(head.stderr)) return { ok: false, error: `${dir} is not inside a git repository` };
    return { ok: false, error: head.error };
  }
  const local = text(head);
  const [remote, merge] = await Promise.all([
    run(dir, ["config", "--get", `branch.${local}.remote`]),
    run(dir, ["config", "--get", `branch.${local}.merge`]),
  ]);
  if (!remote.ok || !merge.ok) return { ok: false, error: `branch "${local}" has no upstream (git branch --set-upstream-to)` };
  return { ok: true, remote: text(remote), branch: text(merge).replace(/^refs\/heads\//, "") };
}

/**
 * Fetches the checked-out branch's upstream and returns its commit: what `--git-poll` should
 * serve first, read with readCommitted, rather than whatever the working tree holds.
 */
export async function upstreamCommit(dir: string): Promise<GitResult<{ remote: string; branch: string; commit: string }>> {
  const upstream = await upstreamOf(dir);
  if (!upstream.ok) return upstream;
  const { remote, branch } = upstream;
  const fetched = await fetchRemote(dir, remote, branch);
  return fetched.ok ? { ok: true, remote, branch, commit: fetched.commit } : fetched;
}

/** The shortest GitPoller interval: anything shorter is a mistake (a fetch per frame), not a setting. */
export const MIN_POLL_SECONDS = 0.05;

export interface GitPollerOptions {
  readonly dir: string;
  readonly remote: string;
  readonly branch: string;
  /** At least MIN_POLL_SECONDS (and small enough for a timer); the constructor throws otherwise. */
  readonly intervalSeconds: number;
  /** The commit already being served: onCommit is only called for a different one. */
  readonly since?: string;
  /** Called once per new commit; the next fetch waits until it has finished. */
  readonly onCommit: (commit: string, files: SourceFile[]) => void | Promise<void>;
  /** Fetch and read failures (and onCommit throwing); polling carries on. */
  readonly onError: (error: string) => void;
  /** A fetch succeeded (metrics: the last successful fetch). */
  readonly onFetched?: () => void;
}

/**
 * Fetches every intervalSeconds and reports each new commit of the remote branch. The next
 * poll is scheduled only when the previous one has finished, so fetches never overlap.
 */
export class GitPoller {
  private last: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<void> | undefined;
  private stopped = false;

  /** @throws RangeError when intervalSeconds is not a number of seconds in [MIN_POLL_SECONDS, ~24.8 days]. */
  constructor(private readonly options: GitPollerOptions) {
    const { intervalSeconds } = options;
    if (!Number.isFinite(intervalSeconds) || intervalSeconds < MIN_POLL_SECONDS || intervalSeconds * 1000 > MAX_TIMER_MS) {
      throw new RangeError(
        `GitPoller: intervalSeconds must be between ${MIN_POLL_SECONDS} and ${Math.floor(MAX_TIMER_MS / 1000)} seconds, got ${String(intervalSeconds)}`,
      );
    }
    this.last = options.since;
  }

  /** The last commit handed to onCommit (or `since`). */
  get commit(): string | undefined {
    return this.last;
  }

  /** Polls now, then every intervalSeconds. */
  start(): void {
    if (this.stopped || this.current !== undefined || this.timer !== undefined) return;
    void this.poll();
  }

  /** Ends polling; resolves once a poll in progress (and its onCommit) has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.current;
  }

  /** One poll now; joins the poll in progress instead of starting a second fetch. */
  poll(): Promise<void> {
    if (this.current !== undefined) return this.current;
    if (this.stopped) return Promise.resolve();
    clearTimeout(this.timer);
    this.timer = undefined;
    this.current = this.pollOnce()
      .catch((e: unknown) => this.report(`poll failed: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => {
        this.current = undefined;
        if (!this.stopped) this.timer = setTimeout(() => void this.poll(), this.options.intervalSeconds * 1000);
      });
    return this.current;
  }

  private async pollOnce(): Promise<void> {
    const { dir, remote, branch, onCommit } = this.options;
    const fetched = await fetchRemote(dir, remote, branch);
    if (this.stopped) return;
    if (!fetched.ok) return this.report(fetched.error);
    this.options.onFetched?.();
    if (fetched.commit === this.last) return;
    const read = await readCommitted(dir, fetched.commit);
    if (this.stopped) return;
    if (!read.ok) return this.report(read.error); // this.last unchanged: retried at the next poll
    this.last = read.commit;
    try {
      await onCommit(read.commit, read.files);
    } catch (e) {
      this.report(`onCommit failed for ${read.commit}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private report(error: string): void {
    try {
      this.options.onError(error);
    } catch {
      // a throwing error callback must not end polling
    }
  }
}
