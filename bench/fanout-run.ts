// One bench/fanout scenario: one XdsServer, N proxies (in a child process), one push, and the
// floor for that push. Prints one `RESULT {json}` line on stdout; progress goes to stderr.
// Run alone (e.g. under --cpu-prof) as: node --expose-gc dist/bench/fanout-run.js 1000 [rounds]
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { silentLogger } from "../src/log.js";
import { CDS, EDS, resourcesOf, SnapshotCache, XdsServer, type Snapshot, type XdsStatus } from "../src/xds/index.js";
import { apiListener, edsCluster, endpoints, routeTo, snapshot } from "../test/support/fixtures.js";
import type { Report } from "./fanout-clients.js";
import { startFleet, within } from "./fleet.js";
import { startFloor } from "./floor.js";

export interface RoundResult {
  /** First cache.set until the server has seen every ACK. */
  readonly pushMs: number;
  /** Of which: the synchronous cache.set loop (sessions build and write every response). */
  readonly setLoopMs: number;
  readonly pushCpuMs: number;
  readonly responses: number;
  readonly floorMs: number;
  readonly floorCpuMs: number;
  /** CPU of the fleet process (the proxies) over the push and over the floor. */
  readonly fleetPushCpuMs: number;
  readonly fleetFloorCpuMs: number;
}

export interface ScenarioResult {
  readonly n: number;
  readonly syncMs: number;
  readonly syncCpuMs: number;
  readonly rssBeforeMB: number;
  readonly rssAfterMB: number;
  readonly rssPerClientKB: number;
  readonly heapPerClientKB: number;
  /** The same for the floor server's connections: what a bare grpc-js stream costs. */
  readonly floorRssPerClientKB: number;
  readonly rounds: readonly RoundResult[];
}

const SERVICES = 50;
const LISTENERS = 3;

/** 50 EDS clusters with 3 endpoints each, 3 api listeners, each with a route splitting over 3 clusters. */
function fleetSnapshot(changedTimeout: number): Snapshot {
  const svc = (i: number) => `svc-${String(i).padStart(2, "0")}`;
  const clusters = Array.from({ length: SERVICES }, (_, i) => edsCluster(svc(i), i === 0 ? { connectTimeoutSeconds: changedTimeout } : {}));
  const cla = Array.from({ length: SERVICES }, (_, i) => endpoints(svc(i), `10.0.${i}.1:8080`, `10.0.${i}.2:8080`, `10.0.${i}.3:8080`));
  const listeners = Array.from({ length: LISTENERS }, (_, i) => apiListener(`listener-${i}`, `route-${i}`));
  const routes = Array.from({ length: LISTENERS }, (_, i) => routeTo(`route-${i}`, { [svc(3 * i)]: 80, [svc(3 * i + 1)]: 15, [svc(3 * i + 2)]: 5 }));
  return snapshot(...clusters, ...cla, ...listeners, ...routes);
}

/** Counts the server's responses and ACKs by instrumenting its status store (bench-only wrapping). */
function ackCounter(status: XdsStatus) {
  let sent = 0;
  let acked = 0;
  let check = (): void => {};
  const { sent: origSent, acked: origAcked } = status;
  status.sent = (...args) => {
    origSent.apply(status, args);
    sent++;
  };
  status.acked = (...args) => {
    origAcked.apply(status, args);
    acked++;
    queueMicrotask(() => check()); // after the rest of this request's actions (a send may follow)
  };
  return {
    mark: () => ({ sent, acked }),
    /** Resolves to the number of responses sent since `from`, once every one of them is ACKed. */
    settled(from: { sent: number; acked: number }): Promise<number> {
      return within(
        new Promise((resolve) => {
          check = () => {
            if (acked - from.acked < sent - from.sent) return;
            check = () => {};
            resolve(sent - from.sent);
          };
          check();
        }),
        "ACKs",
        () => `(sent ${sent - from.sent}, acked ${acked - from.acked})`,
      );
    },
  };
}

/** Every proxy's stream of `role` last ACKed the snapshot's cluster and endpoint versions. */
function checkAcked(report: Report, role: "real" | "floor", snap: Snapshot, n: number): void {
  for (const [kind, label] of [
    [CDS, "Cluster"],
    [EDS, "ClusterLoadAssignment"],
  ] as const) {
    const key = `${role} ${label} ${resourcesOf(snap, kind.typeUrl).version}`;
    if (report.acked[key] !== n) throw new Error(`${key}: ${report.acked[key] ?? 0} of ${n} proxies ACKed it`);
  }
}

function openFileLimit(): number {
  const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"));
  return Number(line?.split(/\s+/)[3] ?? Infinity);
}

const ms = (from: number): number => performance.now() - from;
const cpuMs = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1000;

/** Wall time and this process's CPU from start() until settled() resolves; syncMs is start() alone. */
async function timed<T>(start: () => void, settled: () => Promise<T>): Promise<{ ms: number; syncMs: number; cpuMs: number; settled: T }> {
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  start();
  const syncMs = ms(t0);
  const value = await settled();
  return { ms: ms(t0), syncMs, cpuMs: cpuMs(process.cpuUsage(cpu)), settled: value };
}

function memory(): NodeJS.MemoryUsage {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with node --expose-gc");
  gc();
  gc();
  return process.memoryUsage();
}

async function runScenario(n: number, rounds: number): Promise<ScenarioResult> {
  // Each proxy holds a connection to the server and one to the floor, in this process and in the fleet's.
  const needFds = 2 * n + 256;
  if (openFileLimit() < needFds) throw new Error(`open file limit ${openFileLimit()} < ${needFds}: raise it (ulimit -n ${needFds})`);

  const cache = new SnapshotCache();
  const server = new XdsServer({ source: cache, logger: silentLogger });
  const port = await server.listen("127.0.0.1:0");
  const acks = ackCounter(server.status);
  const floor = await startFloor();
  const ids = Array.from({ length: n }, (_, i) => `proxy-${i}`);
  const initial = fleetSnapshot(1);
  // Streams on the plaintext endpoint watch the key "plain/NODE" (defaultProxyKey).
  const keys = ids.map((id) => `plain/${id}`);
  for (const key of keys) cache.set(key, initial);
  const fleet = startFleet();
  const { ask } = fleet;
  const before = memory();

  console.error(`[${n}] connecting and syncing ${n} proxies`);
  const sync = await timed(() => {}, () => ask({ t: "connect", port, ids, concurrency: 100 }, "synced"));
  if (server.streamCount !== n) throw new Error(`server has ${server.streamCount} streams, want ${n}`);
  const after = memory();

  await ask({ t: "open-floor", port: floor.port }, "floor-open");
  await floor.receive(n - floor.received()); // every floor stream's first request: all N calls are open
  const withFloor = memory();
  let fleetBefore = await fleet.report(); // also drops what was captured so far

  const results: RoundResult[] = [];
  for (let r = 0; r < rounds; r++) {
    const next = fleetSnapshot(r + 2); // one cluster changes; the new resources are built once, shared by all
    memory();
    const from = acks.mark();
    const nacks = server.status.counters.nacks;
    const push = await timed(() => keys.forEach((key) => cache.set(key, next)), () => acks.settled(from));
    if (server.status.counters.nacks !== nacks) throw new Error("a proxy NACKed the push");
    const report = await fleet.report();
    checkAcked(report, "real", next, n);

    // The floor: exactly the bytes the first proxy received for this push, written to every stream.
    const bytes = report.captured.map((b) => Buffer.from(b, "base64"));
    if (bytes.length * n !== push.settled) throw new Error(`captured ${bytes.length} responses, server sent ${push.settled / n} per proxy`);
    memory();
    const acked = floor.receive(n * bytes.length);
    const bare = await timed(() => floor.calls.forEach((call) => bytes.forEach((b) => call.write(b))), () => acked);
    const after = await fleet.report();
    checkAcked(after, "floor", next, n);

    results.push({
      pushMs: push.ms,
      setLoopMs: push.syncMs,
      pushCpuMs: push.cpuMs,
      responses: push.settled,
      floorMs: bare.ms,
      floorCpuMs: bare.cpuMs,
      fleetPushCpuMs: report.cpuMs - fleetBefore.cpuMs,
      fleetFloorCpuMs: after.cpuMs - report.cpuMs,
    });
    fleetBefore = after;
    console.error(`[${n}] round ${r + 1}: push ${push.ms.toFixed(0)} ms, floor ${bare.ms.toFixed(0)} ms`);
  }

  await fleet.exit();
  await server.shutdown(1_000);
  floor.shutdown();
  const perClient = (a: number, b: number): number => (b - a) / n / 1024;
  return {
    n,
    syncMs: sync.ms,
    syncCpuMs: sync.cpuMs,
    rssBeforeMB: before.rss / 2 ** 20,
    rssAfterMB: after.rss / 2 ** 20,
    rssPerClientKB: perClient(before.rss, after.rss),
    heapPerClientKB: perClient(before.heapUsed, after.heapUsed),
    floorRssPerClientKB: perClient(after.rss, withFloor.rss),
    rounds: results,
  };
}

const n = Number(process.argv[2]);
const rounds = Number(process.argv[3] ?? 5);
if (!(n > 0 && rounds > 0)) throw new Error("usage: node --expose-gc dist/bench/fanout-run.js CLIENTS [ROUNDS]");
runScenario(n, rounds).then(
  (result) => console.log(`RESULT ${JSON.stringify(result)}`),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
