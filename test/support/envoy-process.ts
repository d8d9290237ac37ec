// A real Envoy process started from a bootstrap file, and its admin stats: what a test reads to
// know whether Envoy reached its control plane, and why not (ssl.* counters of the xDS cluster).
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import type { TestContext } from "node:test";

export interface RunningEnvoy {
  readonly child: ChildProcess;
  /** Envoy's own output so far, for failure messages. */
  readonly output: () => string;
  /** Every stat as a number (gauges and counters; histograms are left out). */
  stats(): Promise<Map<string, number>>;
  /**
   * Resolves with the stats once `done` says so; polls the admin interface (Envoy tells nothing
   * otherwise). Rejects after `withinMs` or when Envoy exits, with its output.
   */
  until(done: (stats: Map<string, number>) => boolean, withinMs?: number): Promise<Map<string, number>>;
}

export async function startEnvoy(t: TestContext, envoy: string, bootstrap: string, adminPort: number): Promise<RunningEnvoy> {
  const child = spawn(envoy, ["-c", bootstrap, "--use-dynamic-base-id", "--concurrency", "1", "--log-level", "info"], { stdio: ["ignore", "pipe", "pipe"] });
  process.once("exit", () => child.kill("SIGKILL"));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
  });
  let output = "";
  child.stdout?.on("data", (b: Buffer) => (output += b.toString()));
  child.stderr?.on("data", (b: Buffer) => (output += b.toString()));
  const stats = async (): Promise<Map<string, number>> => {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/stats`)).text();
    const out = new Map<string, number>();
    for (const line of text.split("\n")) {
      const m = /^([^:]+): (\d+)$/.exec(line);
      if (m !== null) out.set(m[1]!, Number(m[2]));
    }
    return out;
  };
  const until = async (done: (s: Map<string, number>) => boolean, withinMs = 30_000): Promise<Map<string, number>> => {
    const deadline = Date.now() + withinMs;
    let last = new Map<string, number>();
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`envoy exited (${String(child.exitCode ?? child.signalCode)}):\n${output}`);
      last = await stats().catch(() => last);
      if (done(last)) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`envoy's stats did not get there in ${withinMs} ms: ${JSON.stringify(Object.fromEntries([...last].filter(([k]) => /control_plane|gitmesh-xds\.ssl|upstream_cx_connect_fail/.test(k))))}\n${output.slice(-4000)}`);
  };
  return { child, output: () => output, stats, until };
}
