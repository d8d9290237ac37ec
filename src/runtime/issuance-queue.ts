// The order workload certificates are issued in. Key generation costs real CPU (RSA 2048: about
// 120 ms each), so the queue is fair between identities: each identity (namespace and service
// account) has its own line, and the lines take turns. One credential that opens hundreds of
// streams under new node ids waits behind itself; a proxy of any other identity waits for at most
// one issuance per identity ahead of it. Work for a proxy that left is dropped before it starts.

export interface IssuanceJob {
  /** The proxy (its snapshot key) the certificate is for. */
  readonly proxy: string;
  /** Namespace/service account: the line it waits in. */
  readonly identity: string;
  /** Runs the issuance; settles when done (successfully or not). */
  run(): Promise<void>;
}

export class IssuanceQueue {
  /** One line per identity, in the order they take turns. */
  private readonly lines = new Map<string, IssuanceJob[]>();
  /** Which line serves next: identities in turn. */
  private turn: string[] = [];
  private running = 0;
  private stopped = false;

  /** @param concurrency issuances at once: key generation runs on libuv's thread pool (4 threads). */
  constructor(private readonly concurrency = 2) {}

  /** Queues a job; a job already queued for the same proxy is replaced (it would issue twice). */
  add(job: IssuanceJob): void {
    if (this.stopped) return;
    this.remove(job.proxy);
    let line = this.lines.get(job.identity);
    if (line === undefined) {
      line = [];
      this.lines.set(job.identity, line);
      this.turn.push(job.identity);
    }
    line.push(job);
    this.pump();
  }

  /** Drops a queued job (its proxy left); a job already running finishes and is ignored by its owner. */
  remove(proxy: string): void {
    for (const [identity, line] of this.lines) {
      const i = line.findIndex((j) => j.proxy === proxy);
      if (i < 0) continue;
      line.splice(i, 1);
      if (line.length === 0) this.dropLine(identity);
      return;
    }
  }

  /** Jobs waiting (not running). */
  get waiting(): number {
    let n = 0;
    for (const line of this.lines.values()) n += line.length;
    return n;
  }

  stop(): void {
    this.stopped = true;
    this.lines.clear();
    this.turn = [];
  }

  private dropLine(identity: string): void {
    this.lines.delete(identity);
    this.turn = this.turn.filter((i) => i !== identity);
  }

  private next(): IssuanceJob | undefined {
    const identity = this.turn.shift();
    if (identity === undefined) return undefined;
    const line = this.lines.get(identity);
    const job = line?.shift();
    if (line === undefined || line.length === 0) this.lines.delete(identity);
    else this.turn.push(identity); // its next job waits for every other identity's turn
    return job;
  }

  private pump(): void {
    while (!this.stopped && this.running < this.concurrency) {
      const job = this.next();
      if (job === undefined) return;
      this.running++;
      job
        .run()
        .catch(() => undefined) // the job reports its own failure
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
  }
}
