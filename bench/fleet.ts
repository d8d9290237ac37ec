// The parent's side of the scripted fleet (bench/fanout-clients.ts): a child process and a typed
// request/reply channel to it.
import { fork, type ChildProcess } from "node:child_process";
import type { Command, Report, Reply } from "./fanout-clients.js";

const TIMEOUT_MS = 300_000;

/** p, or a rejection naming what was awaited after 5 minutes (or timeoutMs). */
export function within<T>(p: Promise<T>, what: string, diag: () => string = () => "", timeoutMs = TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what} ${diag()}`)), timeoutMs);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export interface Fleet {
  readonly child: ChildProcess;
  /** Sends a command and resolves with the first reply of type `want` after it. */
  ask(cmd: Command, want: Reply["t"]): Promise<Reply>;
  /** Resolves with the next reply of type `want` (registered now, before what triggers it). */
  next(want: Reply["t"]): Promise<Reply>;
  report(): Promise<Report>;
  exit(): Promise<void>;
}

/**
 * Forks the fleet; a client error is printed and fails the run (exit code 1). A reply not come
 * after timeoutMs fails the wait (2,000 sidecars of a large mesh take minutes to sync).
 */
export function startFleet(timeoutMs = TIMEOUT_MS): Fleet {
  // FLEET_NODE_OPTIONS: node's flags for the fleet (e.g. --cpu-prof, to see where its time goes).
  const child = fork(new URL("./fanout-clients.js", import.meta.url), [], { execArgv: process.env["FLEET_NODE_OPTIONS"]?.split(" ").filter((a) => a !== "") ?? [] });
  const waiters = new Map<string, (r: Reply) => void>();
  child.on("message", (r: Reply) => {
    if (r.t === "error") {
      console.error(`fleet: ${r.message}`);
      process.exitCode = 1;
    }
    const w = waiters.get(r.t);
    waiters.delete(r.t);
    w?.(r);
  });
  const next = (want: Reply["t"]) => within(new Promise<Reply>((resolve) => waiters.set(want, resolve)), `fleet ${want}`, undefined, timeoutMs);
  const ask = (cmd: Command, want: Reply["t"]) => {
    const reply = next(want);
    child.send(cmd);
    return reply;
  };
  return {
    child,
    ask,
    next,
    async report() {
      const r = await ask({ t: "report" }, "report");
      if (r.t !== "report") throw new Error("bug: expected a report");
      return r.report;
    },
    exit() {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.send({ t: "exit" } satisfies Command);
      return exited;
    },
  };
}
