// A child process of the fleet (gitmesh, an Envoy, a workload's agent): its output goes to a log
// file and the last lines are kept for failure reports. stop() ends exactly this process.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";

const TAIL_LINES = 400;

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class Proc {
  private readonly lines: string[] = [];
  private partial = "";
  private readonly log: WriteStream;
  private readonly child: ChildProcess;
  private readonly watchers = new Set<(line: string) => void>();
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  private exit: Exit | undefined;
  /** Every line seen, counted: a marker for "lines since". */
  private seen = 0;

  constructor(
    readonly name: string,
    argv: readonly string[],
    logFile: string,
    env: NodeJS.ProcessEnv = process.env,
    cwd?: string,
  ) {
    const [command, ...args] = argv;
    if (command === undefined) throw new Error("bug: empty argv");
    this.log = createWriteStream(logFile, { flags: "a" });
    // stdin is a pipe the process may watch: when the test dies, it closes.
    this.child = spawn(command, args, { env, stdio: ["pipe", "pipe", "pipe"], ...(cwd === undefined ? {} : { cwd }) });
    this.child.stdout?.on("data", (c: Buffer) => this.take(c));
    this.child.stderr?.on("data", (c: Buffer) => this.take(c));
    this.child.stdin?.on("error", () => {});
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        this.exit = { code, signal };
        if (this.partial !== "") this.line(this.partial);
        this.partial = "";
        this.log.end();
        resolve(this.exit);
      });
      this.child.once("error", (e) => {
        this.line(`spawn failed: ${e.message}`);
        this.exit = { code: -1, signal: null };
        this.log.end();
        resolve(this.exit);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  get lineCount(): number {
    return this.seen;
  }

  private take(chunk: Buffer): void {
    this.log.write(chunk);
    const text = this.partial + chunk.toString("utf8");
    const parts = text.split("\n");
    this.partial = parts.pop() ?? "";
    for (const l of parts) this.line(l);
  }

  private line(l: string): void {
    this.seen++;
    this.lines.push(l);
    if (this.lines.length > TAIL_LINES) this.lines.shift();
    for (const w of this.watchers) w(l);
  }

  /** The last n lines of output. */
  tail(n = 40): string[] {
    return this.lines.slice(-n);
  }

  /** Lines kept since a lineCount taken earlier (at most the tail kept). */
  linesSince(count: number): string[] {
    const wanted = this.seen - count;
    return wanted <= 0 ? [] : this.lines.slice(-Math.min(wanted, this.lines.length));
  }

  /** Resolves with the first line (from now on) that matches; rejects on exit or timeout. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`${this.name}: no line matching ${pattern} within ${timeoutMs} ms; last lines:\n${this.tail(20).join("\n")}`)), timeoutMs);
      const watcher = (l: string) => {
        if (pattern.test(l)) done(undefined, l);
      };
      const done = (e: Error | undefined, l?: string) => {
        clearTimeout(timer);
        this.watchers.delete(watcher);
        if (e !== undefined) reject(e);
        else resolve(l ?? "");
      };
      this.watchers.add(watcher);
      void this.exited.then((x) => done(new Error(`${this.name} exited (${x.code ?? x.signal}) before printing ${pattern}; last lines:\n${this.tail(20).join("\n")}`)));
    });
  }

  /** Signals the process and waits for it to exit; SIGKILL after the grace period. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 5_000): Promise<Exit> {
    if (this.exit !== undefined) return this.exit;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }
}
