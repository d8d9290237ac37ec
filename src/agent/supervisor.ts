// Keeps one child process running (Envoy, on a workload's host): started, restarted with a growing
// delay when it exits on its own, restarted at once when its config changes, and stopped with the
// agent. Its pid is kept in a file so that a later agent can stop one left behind by an agent that
// was killed (SIGKILL gives no chance to stop it).
import { spawn, type ChildProcess } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { writeFileAtomic } from "../common/files.js";
import { after, type Timer } from "../common/timers.js";
import type { Logger } from "../log.js";
import { retryDelayMs, STABLE_AFTER_MS } from "./backoff.js";

/** How long a child has to exit after SIGTERM before it gets SIGKILL. */
export const KILL_AFTER_MS = 10_000;

export interface SupervisorOptions {
  /** What the logs call it ("Envoy"). */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Where the running child's pid is kept (for stopOrphan). */
  readonly pidFile: string;
  readonly logger: Logger;
}

type State =
  | { readonly t: "idle" }
  | { readonly t: "running"; readonly child: ChildProcess; readonly startedAt: number; readonly exited: Promise<void> }
  | { readonly t: "waiting"; readonly timer: Timer }
  | { readonly t: "stopped" };

export class Supervisor {
  private state: State = { t: "idle" };
  /** Exits in a row that came before the child was stable. */
  private failures = 0;
  private starts = 0;

  constructor(private readonly options: SupervisorOptions) {}

  /** The running child's pid, if one runs. */
  get pid(): number | undefined {
    return this.state.t === "running" ? this.state.child.pid : undefined;
  }

  /** How many times a child was started. */
  get started(): number {
    return this.starts;
  }

  start(): void {
    if (this.state.t === "running" || this.state.t === "stopped") return;
    if (this.state.t === "waiting") this.state.timer.cancel();
    const { name, command, args, logger } = this.options;
    const child = spawn(command, [...args], { stdio: ["ignore", "inherit", "inherit"], env: this.options.env ?? process.env });
    const startedAt = Date.now();
    const exited = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        resolve();
        this.exited(child, startedAt, code, signal);
      });
      child.once("error", (e) => {
        // Spawning failed (no such file, not executable): there is no exit event to wait for.
        if (child.pid !== undefined) return;
        resolve();
        logger.error(`${name} could not be started`, { command, error: e.message });
        this.exited(child, startedAt, null, null);
      });
    });
    this.state = { t: "running", child, startedAt, exited };
    this.starts++;
    const pid = child.pid;
    if (pid === undefined) return;
    // Said once the pid file holds it: whoever reads the log line finds the file.
    writeFileAtomic(this.options.pidFile, `${pid}\n`)
      .catch((e: unknown) => logger.warn("could not write the pid file", { file: this.options.pidFile, error: String(e) }))
      .finally(() => logger.info(`${name} started`, { pid, command }));
  }

  /** Stops the child (if one runs) and starts it again now: its config changed. */
  async restart(reason: string): Promise<void> {
    if (this.state.t === "stopped") return;
    this.options.logger.info(`restarting ${this.options.name}`, { reason });
    await this.halt();
    this.failures = 0;
    // stop() may have come while the old child was exiting: start() does nothing then.
    this.start();
  }

  /** Stops the child for good: SIGTERM, then SIGKILL if it has not exited after KILL_AFTER_MS. */
  async stop(): Promise<void> {
    await this.halt();
    this.state = { t: "stopped" };
    await rm(this.options.pidFile, { force: true });
  }

  private async halt(): Promise<void> {
    const s = this.state;
    if (s.t === "waiting") s.timer.cancel();
    if (s.t !== "running") return;
    this.state = { t: "idle" };
    await terminate(s.child, s.exited);
  }

  private exited(child: ChildProcess, startedAt: number, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.state.t !== "running" || this.state.child !== child) return; // stopped on purpose
    const ranMs = Date.now() - startedAt;
    this.failures = ranMs >= STABLE_AFTER_MS ? 1 : this.failures + 1;
    const delay = retryDelayMs(this.failures);
    this.options.logger.warn(`${this.options.name} exited; restarting`, { code: code ?? undefined, signal: signal ?? undefined, ranSeconds: (ranMs / 1000).toFixed(1), inSeconds: delay / 1000, failuresInARow: this.failures });
    this.state = { t: "waiting", timer: after(delay, () => this.start()) };
  }
}

/** SIGTERM, and SIGKILL after KILL_AFTER_MS; resolves once the child has exited. */
async function terminate(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return exited;
  child.kill("SIGTERM");
  const escalate = after(KILL_AFTER_MS, () => child.kill("SIGKILL"));
  await exited;
  escalate.cancel();
}

/**
 * Stops a process a previous agent left running: the pid in `pidFile`, if that process still
 * runs and its command line names `marker` (the bootstrap this agent starts Envoy with), so that
 * a recycled pid is never killed. Returns the pid stopped.
 */
export async function stopOrphan(pidFile: string, marker: string, logger: Logger): Promise<number | undefined> {
  const pid = Number((await readFile(pidFile, "utf8").catch(() => "")).trim());
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  if (!(await commandLine(pid)).includes(marker)) return undefined;
  logger.warn("stopping the process a previous agent left running", { pid });
  signal(pid, "SIGTERM");
  // Not our child: no exit event to wait on, so its /proc entry is watched until it is gone.
  const deadline = Date.now() + KILL_AFTER_MS;
  while (await alive(pid)) {
    if (Date.now() > deadline) signal(pid, "SIGKILL");
    await new Promise((r) => setTimeout(r, 50));
  }
  await rm(pidFile, { force: true });
  return pid;
}

/** A process's arguments (empty when it is gone or not readable). */
export async function commandLine(pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0");
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Whether the process runs: it exists and is not a zombie waiting for its new parent to reap it. */
export async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  // "PID (COMMAND) STATE ...": the command may hold spaces and parentheses, the state follows the last ")".
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return stat !== "" && state !== "Z" && state !== "X";
}
