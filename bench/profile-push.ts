// Inclusive CPU time by function while one phase of the translate bench runs (connect N sidecars,
// a one-file change to new snapshots, its reload alone, a first translation), from the inspector's profiler.
//
//   node --expose-gc dist/bench/profile-push.js [--services 1000] [--proxies 2000] [--phase push|change|reload|translate] [--top 40]
import { Session } from "node:inspector/promises";
import { translateMesh } from "../src/translators/mesh.js";
import type { CpuProfile } from "./cpu-profile-summary.js";
import { benchNode, credentialOf, servedBenchMesh } from "./mesh-proxies.js";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

interface Node {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

/** Per function: the time of the samples with it anywhere on their stack, counted once per sample. */
function inclusive(profile: CpuProfile & { nodes: readonly Node[] }): [string, number][] {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const label = (n: Node) => `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.replace(/^.*\/(dist|node_modules)\//, "$1/")}:${n.callFrame.lineNumber + 1}`;
  const total = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (n === undefined) break;
      const l = label(n);
      if (seen.has(l)) continue;
      seen.add(l);
      total.set(l, (total.get(l) ?? 0) + ms);
    }
  });
  return [...total].sort((a, b) => b[1] - a[1]);
}

const services = Number(option("services", "1000"));
const proxies = Number(option("proxies", "2000"));
const phase = option("phase", "push");
const { files, loader, pusher } = await servedBenchMesh(services);
const loaded = loader.load(files);
if (!loaded.ok) throw new Error("generated mesh has errors");
const connect = () => {
  for (let i = 0; i < proxies; i++) pusher.connected(`proxy-${i}`, benchNode("sidecar", i, services), "", credentialOf("sidecar", i, services));
};
if (phase !== "push") {
  connect();
  await pusher.settled();
}
const changed = files.map((f) => (f.path.endsWith("svc-0/virtual-service.yaml") ? { ...f, text: f.text.replace("weight: 90", "weight: 80").replace("weight: 10", "weight: 20") } : f));
const session = new Session();
session.connect();
await session.post("Profiler.enable");
await session.post("Profiler.setSamplingInterval", { interval: 200 });
await session.post("Profiler.start");
const t0 = performance.now();
if (phase === "push") {
  connect();
  await pusher.settled();
} else if (phase === "translate") translateMesh(loaded.model);
else if (phase === "reload") {
  // The one-file change's reload alone (parsing the file, the checks that read what changed).
  if (!(await loader.loadAsync(changed)).ok) throw new Error("changed mesh has errors");
} else {
  const next = await loader.loadAsync(changed);
  if (!next.ok) throw new Error("changed mesh has errors");
  await pusher.setModel(next.model);
  await pusher.settled();
}
const ms = performance.now() - t0;
const { profile } = (await session.post("Profiler.stop")) as unknown as { profile: CpuProfile & { nodes: readonly Node[] } };
console.log(`${phase}: ${ms.toFixed(0)} ms`);
for (const [l, t] of inclusive(profile).slice(0, Number(option("top", "40")))) console.log(`${t.toFixed(0).padStart(7)} ms  ${l}`);
