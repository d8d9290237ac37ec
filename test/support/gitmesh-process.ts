// `gitmesh` as a real child process: run to its end, run until a log line (serve), or run until
// it reaches a named step (GITMESH_PAUSE_AT, src/common/files.ts pausePoint) and kill it there
// with SIGKILL: the process faults state files must survive.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `gitmesh ARGS` to its end. */
export async function gitmesh(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<Run> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const [code] = (await once(child, "close")) as [number | null];
  return { code: code ?? 1, stdout, stderr };
}

/** A running gitmesh, its output lines so far (stdout and stderr), and a way to wait for one. */
export interface Running {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: readonly string[];
  /**
   * The first line (past or future) matching `pattern`, among lines from the `from`th on (all by
   * default: give lines.length to wait for a new one); rejects when the process ends first.
   */
  waitFor(pattern: RegExp, from?: number): Promise<string>;
  /** Resolves with the exit code once the process has ended. */
  readonly exited: Promise<number | null>;
}

export interface StartOptions {
  /** A command that runs gitmesh for its process faults, e.g. ["prlimit", "--nofile=1024:1024", "--"]. */
  readonly prefix?: readonly string[];
  /** Another build's dist/src/cli/main.js (a bench's before-and-after). */
  readonly cli?: string;
}

export function start(args: readonly string[], env: Readonly<Record<string, string>> = {}, options: StartOptions = {}): Running {
  const command = [...(options.prefix ?? []), process.execPath, options.cli ?? CLI, ...args];
  return startProcess(command[0] ?? process.execPath, command.slice(1), env);
}

/** Any command, run and read as start() runs gitmesh (the quickstart's shell steps, ip netns exec). */
export function startProcess(command: string, args: readonly string[], env: Readonly<Record<string, string>> = {}, cwd?: string): Running {
  const child = spawn(command, [...args], { env: { ...process.env, ...env }, ...(cwd === undefined ? {} : { cwd }) });
  // A test that times out may not reach its after hooks: never leave a process running.
  const kill = () => child.kill("SIGKILL");
  process.once("exit", kill);
  child.once("exit", () => process.removeListener("exit", kill));
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (l: string) => void }[] = [];
  const onLine = (line: string) => {
    lines.push(line);
    for (const w of waiters.filter((x) => x.pattern.test(line))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(line);
    }
  };
  createInterface({ input: child.stdout }).on("line", onLine);
  createInterface({ input: child.stderr }).on("line", onLine);
  const exited = once(child, "close").then(([code]) => code as number | null);
  return {
    child,
    lines,
    exited,
    waitFor: (pattern, from = 0) => {
      const seen = lines.slice(from).find((l) => pattern.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ pattern, resolve });
        void exited.then((code) => reject(new Error(`gitmesh ended (${String(code)}) before a line matching ${pattern}:\n${lines.join("\n")}`)));
      });
    },
  };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** `gitmesh ARGS` stopped at `step`: kill it there, or let it go on and run to its end. */
export async function pauseAt(step: string, args: readonly string[]): Promise<Running & { kill(): Promise<void>; resume(): Promise<number | null> }> {
  const run = start(args, { GITMESH_PAUSE_AT: step });
  await run.waitFor(new RegExp(`paused at ${escape(step)} `));
  return {
    ...run,
    async kill() {
      run.child.kill("SIGKILL");
      await run.exited;
      if (run.child.signalCode !== "SIGKILL") throw new Error(`expected a kill at ${step}, got exit ${String(run.child.exitCode)}`);
    },
    resume() {
      run.child.kill("SIGUSR2");
      return run.exited;
    },
  };
}

/** Runs `gitmesh ARGS` until it pauses at `step`, then kills it with SIGKILL; resolves once it is dead. */
export async function killAt(step: string, args: readonly string[]): Promise<void> {
  await (await pauseAt(step, args)).kill();
}

/** `gitmesh serve` on loopback ports chosen by the system, with a state directory and no config. */
export function serveArgs(stateDir: string, ...more: string[]): string[] {
  return ["serve", "--xds-address", "127.0.0.1:0", "--xds-tls-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0", "--state-dir", stateDir, ...more];
}

/** Every path below dir (relative), depth first, directories with a trailing "/". */
export function tree(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix === "" ? e.name : `${prefix}/${e.name}`;
    if (e.isDirectory()) out.push(`${rel}/`, ...tree(dir, rel));
    else out.push(rel);
  }
  return out;
}
