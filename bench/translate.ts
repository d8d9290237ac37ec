// Translation and push cost as the mesh grows (issue 4): load + validate, translate the whole
// model, build the snapshot proxyless clients share, push to N connected proxies, and the time
// from a one-file change to new snapshots. Proxies are registered with the pusher directly (no
// sockets): this measures gitmesh's own work, not the network.
//
//   node --expose-gc dist/bench/translate.js [--services 100,1000,10000] [--proxies 2000] [--kind grpc|sidecar] [--changes 9]
//
// The one-file change is made `changes` times (the weights go back and forth): the first change
// after start is reported, and the median of the others, which is what a server that has been
// serving commits for a while takes.
//
// --kind sidecar connects Envoy sidecars instead of proxyless clients: each is a workload of one
// of the services (with its own address, so its own inbound listeners) and, with no Sidecar
// resource, sees every service: the heaviest case.
import { monitorEventLoopDelay } from "node:perf_hooks";
import { MeshPusher } from "../src/runtime/index.js";
import { createMeshLoader } from "../src/config/load.js";
import { silentLogger } from "../src/log.js";
import { translateMesh } from "../src/translators/mesh.js";
import { resourcesForProxy } from "../src/translators/proxy-resources.js";
import { makeSnapshot, ResourceEncoder, SnapshotCache } from "../src/xds/index.js";
import { meshFiles } from "./mesh-gen.js";
import { benchNode, credentialOf, proxyKindOption, readySecrets } from "./mesh-proxies.js";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const time = <T>(f: () => T): [T, number] => {
  const t0 = performance.now();
  const v = f();
  return [v, performance.now() - t0];
};
/**
 * Runs f as an event-loop task would run in serve, until the pusher has set every snapshot it
 * asked for, and reports the longest event-loop stall (perf_hooks monitorEventLoopDelay) while it
 * ran: what ACKs, health checks and keepalives waiting behind it would see.
 */
async function stall<T>(f: () => T | Promise<T>, settled: () => Promise<void>): Promise<[T, number, number, number]> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await new Promise((r) => setTimeout(r, 5)); // let the histogram take its first samples
  const cpu = process.cpuUsage();
  const [v, ms] = await new Promise<[T, number]>((resolve) =>
    setImmediate(() => {
      const t0 = performance.now();
      void (async () => {
        const v = await f();
        await settled();
        resolve([v, performance.now() - t0]);
      })();
    }),
  );
  const used = process.cpuUsage(cpu);
  await new Promise((r) => setTimeout(r, 5)); // the sample the stall delayed
  h.disable();
  return [v, ms, h.max / 1e6, (used.user + used.system) / 1000];
}
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const rssMB = () => {
  gc();
  return process.memoryUsage().rss / 2 ** 20;
};

const kind = proxyKindOption(option("kind", "grpc"));

const proxies = Number(option("proxies", "2000"));
const changeCount = Math.max(1, Number(option("changes", "9")));
console.log(`${kind} proxies`);
console.log(
  `services | files | load+validate ms | translate ms (CPU); warm | resources | shared snapshot ms | push to ${proxies} proxies ms (CPU; longest stall) | one-file change to snapshots ms (CPU; of which load, its CPU; longest stall): first after start | the same, median of the later ${changeCount - 1} | RSS MB`,
);
for (const n of option("services", "100,1000,10000").split(",").map(Number)) {
  const files = meshFiles(n);
  const base = rssMB();
  const loader = createMeshLoader(); // as serve's reloader keeps one
  const [loaded, loadMs] = time(() => loader.load(files));
  if (!loaded.ok) throw new Error("generated mesh has errors");
  const translateCpu0 = process.cpuUsage();
  const [translation, translateMs] = time(() => translateMesh(loaded.model));
  const translateCpu = process.cpuUsage(translateCpu0);
  // A server translates again and again: the fastest of four more, once the code is compiled hot.
  const warmMs = Math.min(...Array.from({ length: 4 }, () => time(() => translateMesh(loaded.model))[1]));
  const grpc = { nodeId: "x", kind: "grpc" as const, namespace: "team-0", serviceAccount: "client", labels: {}, instanceIps: [] };
  const resources = resourcesForProxy(translation, grpc);
  const encoder = new ResourceEncoder();
  const [, snapshotMs] = time(() => makeSnapshot(resources.map((r) => encoder.encode(r))));
  const cache = new SnapshotCache();
  const pusher = new MeshPusher(cache, silentLogger, { secrets: readySecrets });
  await pusher.setModel(loaded.model);
  await pusher.settled();
  const [, connectMs, connectStall, connectCpu] = await stall(() => {
    for (let i = 0; i < proxies; i++) pusher.connected(`proxy-${i}`, benchNode(kind, i, n), "", credentialOf(kind, i, n));
  }, () => pusher.settled());
  if (cache.proxies().length !== proxies) throw new Error(`only ${cache.proxies().length} of ${proxies} proxies got a snapshot`);
  // One file changes (a VirtualService's split): the loader re-parses that file and re-runs the
  // cross-resource checks that read VirtualServices, the model is translated and pushed.
  const changes: { ms: number; stall: number; cpu: number; reloadMs: number; reloadCpu: number }[] = [];
  let current = files;
  for (let c = 0; c < changeCount; c++) {
    const [a, b] = c % 2 === 0 ? ["weight: 80", "weight: 20"] : ["weight: 90", "weight: 10"];
    const [fromA, fromB] = c % 2 === 0 ? ["weight: 90", "weight: 10"] : ["weight: 80", "weight: 20"];
    const changed = current.map((f) => (f.path.endsWith("svc-0/virtual-service.yaml") ? { ...f, text: f.text.replace(fromA, a).replace(fromB, b) } : f));
    let reloadMs = 0;
    let reloadCpu = 0;
    const [, ms, worst, cpu] = await stall(async () => {
      // As serve's reloader loads: in slices (nothing else runs meanwhile, so its CPU is the reload's).
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      const next = await loader.loadAsync(changed);
      const used = process.cpuUsage(cpu0);
      reloadMs = performance.now() - t0;
      reloadCpu = (used.user + used.system) / 1000;
      if (!next.ok) throw new Error("changed mesh has errors");
      await pusher.setModel(next.model);
    }, () => pusher.settled());
    changes.push({ ms, stall: worst, cpu, reloadMs, reloadCpu });
    current = changed;
  }
  const change = (c: (typeof changes)[number] | undefined) =>
    c === undefined ? "-" : `${c.ms.toFixed(0)} (${c.cpu.toFixed(0)}; ${c.reloadMs.toFixed(0)}, CPU ${c.reloadCpu.toFixed(0)}; ${c.stall.toFixed(0)})`;
  const later = changes.slice(1).sort((x, y) => x.ms - y.ms);
  const rss = rssMB() - base;
  console.log(
    [
      n,
      files.length,
      loadMs.toFixed(0),
      `${translateMs.toFixed(0)} (${((translateCpu.user + translateCpu.system) / 1000).toFixed(0)}); warm ${warmMs.toFixed(0)}`,
      resources.length,
      snapshotMs.toFixed(0),
      `${connectMs.toFixed(0)} (${connectCpu.toFixed(0)}; ${connectStall.toFixed(0)})`,
      change(changes[0]),
      `${change(later[later.length >> 1])}; worst stall ${Math.max(...later.map((c) => c.stall)).toFixed(0)}`,
      rss.toFixed(0),
    ].join(" | "),
  );
}
