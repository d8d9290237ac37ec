// `gitmesh serve` as a real child process (for process faults: descriptor limits, stalls,
// signals), with its log read line by line. Killed when the test ends, or when the runner exits.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

export interface ServeProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** Every log line so far. */
  readonly log: string[];
  /** The next line (from now) matching pattern; rejects if the process exits first. */
  waitFor(pattern: RegExp): Promise<string>;
  /** SIGTERM, and the exit. */
  stop(): Promise<void>;
}

/** Starts `gitmesh serve ARGS` for a test, killed when the test ends (see spawnServe). */
export function startServe(t: TestContext, args: readonly string[], prefix: readonly string[] = []): ServeProcess {
  const serve = spawnServe(args, prefix);
  t.after(() => serve.child.kill("SIGKILL")); // a no-op when the test got as far as stopping it
  return serve;
}

/**
 * Starts `gitmesh serve ARGS`, optionally under `prlimit` (prefix, e.g. ["prlimit",
 * "--nofile=1024"]); cli is the build to run (this one by default).
 */
export function spawnServe(args: readonly string[], prefix: readonly string[] = [], cli = CLI): ServeProcess {
  const command = [...prefix, process.execPath, cli, "serve", ...args];
  const child = spawn(command[0] ?? process.execPath, command.slice(1), { stdio: ["pipe", "ignore", "pipe"] }) as unknown as ChildProcessWithoutNullStreams;
  // A test or bench that fails may not reach its clean-up: never leave a server running.
  process.once("exit", () => child.kill("SIGKILL"));
  const lines = createInterface({ input: child.stderr });
  const log: string[] = [];
  const waiters = new Set<(line: string) => void>();
  lines.on("line", (line) => {
    log.push(line);
    for (const w of [...waiters]) w(line);
  });
  return {
    child,
    log,
    waitFor: (pattern) =>
      new Promise<string>((resolve, reject) => {
        const onLine = (line: string) => {
          if (!pattern.test(line)) return;
          waiters.delete(onLine);
          resolve(line);
        };
        waiters.add(onLine);
        child.once("exit", () => reject(new Error(`exited before ${pattern}: ${log.join("\n")}`)));
      }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}

/** A node that satisfies the proxy contract (docs/proxies.md): serve refuses any other. */
export function contractNode(id: string) {
  const metadata = { fields: { NAMESPACE: { stringValue: "default" }, SERVICE_ACCOUNT: { stringValue: "test" } } };
  return { id, cluster: "test", user_agent_name: "scripted-test-client", metadata };
}
