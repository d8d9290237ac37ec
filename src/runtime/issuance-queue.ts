// The order workload certificates are issued in. Key generation costs real CPU (RSA 2048: about
// 120 ms each), so the queue is fair between identities: each identity (namespace and service
// account) has its own line, and the line whose identity was served longest ago goes next. One
// credential that opens hundreds of streams under new node ids waits behind itself; a proxy of any
// other identity waits for at most one issuance per identity ahead of it. Work for a proxy that
// left is dropped before it starts.

export interface IssuanceJob {
  /** The proxy (its snapshot key) the certificate is for. */
  readonly proxy: string;
  /** Namespace/service account: the line it waits in. */
  readonly identity: string;
  /** Runs the issuance; settles when done (successfully or not). */
  run(): Promise<void>;
}

export class IssuanceQueue {
  /** One line per identity, in the order the identities first queued. */
  private readonly lines = new Map<string, IssuanceJob[]>();
  /** When each identity was last served (a counter); an identity never served goes first. */
  private readonly lastServed = new Map<string, number>();
  private served = 0;
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
      if (line.length === 0) this.lines.delete(identity);
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
    this.lastServed.clear();
  }

  private next(): IssuanceJob | undefined {
    let pick: string | undefined;
    let pickServed = Infinity;
    for (const identity of this.lines.keys()) {
      const at = this.lastServed.get(identity) ?? -1;
      if (at < pickServed) {
        pick = identity;
        pickServed = at;
      }
    }
    if (pick === undefined) return undefined;
    const line = this.lines.get(pick) ?? [];
    const job = line.shift();
    if (line.length === 0) this.lines.delete(pick);
    this.lastServed.set(pick, ++this.served);
    // Remembered only for identities still waiting or served lately: a bounded map.
    if (this.lastServed.size > 4 * (this.lines.size + 64)) {
      for (const identity of this.lastServed.keys()) if (!this.lines.has(identity) && identity !== pick) this.lastServed.delete(identity);
    }
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
