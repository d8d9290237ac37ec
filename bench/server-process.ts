// A server under test as a child process, driven by lines on its stdin (bench/peer/main.go and
// bench/side-by-side-server.ts speak the same commands) and measured from the outside, from
// /proc, the same way whatever it is written in.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { within } from "./fleet.js";

export interface ServerProcess {
  readonly pid: number;
  readonly port: number;
  /** Sends a command and resolves with its answer (the text after "ok CMD"). */
  command(line: string): Promise<string>;
  /** CPU time the process has used (user + system), in ms; /proc counts it in 10 ms ticks. */
  cpuMs(): number;
  /** Resident set size now, in KB. */
  rssKB(): number;
  /** Waits until the process has used no CPU for `quietMs` (it finished what it was doing). */
  quiet(quietMs?: number, maxMs?: number): Promise<number>;
  stop(): Promise<void>;
}

/** The soft open-file limit raised to the hard one: each client is a connection (a descriptor). */
const RAISE_FDS = 'ulimit -S -n "$(ulimit -H -n)" 2>/dev/null; exec "$@"';

export async function startServer(name: string, argv: readonly string[]): Promise<ServerProcess> {
  const child: ChildProcess = spawn("sh", ["-c", RAISE_FDS, "sh", ...argv], { stdio: ["pipe", "pipe", "inherit"] });
  const pid = child.pid;
  if (pid === undefined || child.stdout === null || child.stdin === null) throw new Error(`${name} did not start`);
  const stdin = child.stdin;
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once("exit", (code) => {
      exited = true;
      if (waiting.length > 0) console.error(`${name} exited (code ${code}) with commands unanswered`);
      resolve();
    }),
  );
  lines.on("line", (line) => waiting.shift()?.(line));
  const nextLine = (what: string): Promise<string> => within(new Promise<string>((resolve) => waiting.push(resolve)), `${name}: ${what}`);

  const first = await nextLine("listening");
  const port = Number(/^listening (\d+)$/.exec(first)?.[1]);
  if (!(port > 0)) throw new Error(`${name}: expected "listening PORT", got ${JSON.stringify(first)}`);

  const stat = (): string[] => {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  };
  const cpuMs = (): number => {
    const fields = stat(); // fields[0] is the state (field 3); utime and stime are fields 14 and 15
    return (Number(fields[11]) + Number(fields[12])) * 10;
  };
  return {
    pid,
    port,
    async command(line) {
      const answer = nextLine(line);
      stdin.write(`${line}\n`);
      const text = await answer;
      const cmd = line.split(" ")[0] ?? "";
      if (!text.startsWith(`ok ${cmd}`)) throw new Error(`${name}: ${line}: ${text}`);
      return text.slice(`ok ${cmd}`.length).trim();
    },
    cpuMs,
    rssKB() {
      const line = readFileSync(`/proc/${pid}/status`, "utf8")
        .split("\n")
        .find((l) => l.startsWith("VmRSS:"));
      return Number(line?.split(/\s+/)[1] ?? NaN);
    },
    async quiet(quietMs = 100, maxMs = 3_000) {
      const start = Date.now();
      let last = cpuMs();
      let since = Date.now();
      while (Date.now() - since < quietMs && Date.now() - start < maxMs) {
        await new Promise((r) => setTimeout(r, 20));
        const now = cpuMs();
        if (now !== last) {
          last = now;
          since = Date.now();
        }
      }
      return last;
    },
    async stop() {
      if (exited) return;
      stdin.write("quit\n");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exit;
      clearTimeout(timer);
    },
  };
}
