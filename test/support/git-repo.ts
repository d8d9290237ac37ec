// Real git repositories in temp dirs, for tests. The test's own git commands ignore the user's
// global and system config, so a signing or hook setting on the machine cannot change results.
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const env = { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1", GIT_TERMINAL_PROMPT: "0" };

/** Runs git and returns stdout (trimmed); throws with git's stderr on failure. */
export function git(cwd: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("git", args, { cwd, env }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`git ${args.join(" ")} failed: ${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

/** Temp dirs made by tempDir, removed by removeTempDirs. */
const made: string[] = [];

export async function tempDir(prefix = "gitmesh-test-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

async function identify(dir: string): Promise<void> {
  await git(dir, "config", "user.name", "Test");
  await git(dir, "config", "user.email", "test@example.invalid");
  await git(dir, "config", "commit.gpgsign", "false");
}

/** A new repository on branch main, with a local identity. */
export async function initRepo(dir?: string): Promise<string> {
  const at = dir ?? (await tempDir());
  await git(at, "init", "--quiet", "--initial-branch=main");
  await identify(at);
  return at;
}

/** A bare repository to push to and fetch from. */
export async function initBare(): Promise<string> {
  const at = await tempDir("gitmesh-remote-");
  await git(at, "init", "--quiet", "--bare", "--initial-branch=main");
  return at;
}

export async function cloneRepo(remote: string): Promise<string> {
  const at = await tempDir("gitmesh-clone-");
  await git(at, "clone", "--quiet", remote, ".");
  await identify(at);
  return at;
}

/** Writes files (paths relative to root, folders created as needed). */
export async function writeFiles(root: string, files: Readonly<Record<string, string>>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
}

/** Stages everything and commits; returns the new commit's sha. */
export async function commitAll(repo: string, message = "change"): Promise<string> {
  await git(repo, "add", "--all");
  await git(repo, "commit", "--quiet", "--allow-empty", "-m", message);
  return git(repo, "rev-parse", "HEAD");
}
