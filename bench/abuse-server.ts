// The server side of bench/abuse.ts: one XdsServer (default limits unless told otherwise) in a
// process of its own, so that its memory is measured apart from the attackers'. Every proxy gets
// the same snapshot. Driven over IPC: it says {t:"ready", port}; on {t:"measure"} it collects
// garbage and answers with its memory and what the server holds.
import { silentLogger } from "../src/log.js";
import { XdsServer, type Snapshot, type SnapshotSource, type XdsHoldings, type XdsLimits } from "../src/xds/index.js";
import { edsCluster, endpoints, snapshot } from "../test/support/fixtures.js";

export type ServerCommand = { readonly t: "measure" } | { readonly t: "exit" };

export interface Memory {
  readonly rssMB: number;
  readonly heapMB: number;
  /** Buffers (response bytes live there). */
  readonly buffersMB: number;
}

export type ServerReply = { readonly t: "ready"; readonly port: number } | { readonly t: "measured"; readonly memory: Memory; readonly holdings: XdsHoldings };

const gc = (globalThis as { gc?: () => void }).gc;

export function memory(): Memory {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  const mb = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;
  return { rssMB: mb(m.rss), heapMB: mb(m.heapUsed), buffersMB: mb(m.arrayBuffers) };
}

/** 200 clusters of about 1 KB with their endpoints: a full CDS response is about 420 KB. */
export function benchSnapshot(): Snapshot {
  const names = Array.from({ length: 200 }, (_, i) => `cluster-${i}-${"x".repeat(1000)}`);
  return snapshot(...names.map((n) => edsCluster(n)), ...names.map((n) => endpoints(n, "10.0.0.1:80")));
}

if (process.send !== undefined) {
  const limits = JSON.parse(process.argv[2] ?? "{}") as Partial<XdsLimits>;
  const snap = benchSnapshot();
  const source: SnapshotSource = { watch: (_proxy, listener) => (listener(snap), () => {}) };
  const server = new XdsServer({ source, logger: silentLogger, limits });
  const port = await server.listen("127.0.0.1:0");
  const reply = (r: ServerReply) => void process.send?.(r);
  process.on("message", (c: ServerCommand) => {
    if (c.t === "measure") reply({ t: "measured", memory: memory(), holdings: server.holdings });
    else void server.shutdown(100).then(() => process.exit(0));
  });
  reply({ t: "ready", port });
}
