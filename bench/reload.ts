// The reload of a one-file change alone (issue 14): one loader, as serve's reloader keeps one,
// loads the generated mesh (loadAsync, as serve does), then one file changes (a VirtualService's
// weights by default) and changes back, round after round. Each file's text is a new string every round, as serve reads
// the directory again. Prints the first change's wall and CPU time and the medians of the others
// (a warm server), and with --profile the functions that took the time in the warm rounds.
//
//   node --expose-gc dist/bench/reload.js [--services 1000] [--rounds 40] [--file virtual-service|destination-rule|workload-v1] [--gc] [--profile] [--top 25]
//
// --gc collects garbage before each round (a reload right after a full collection is slower).
import { Session } from "node:inspector/promises";
import { createMeshLoader } from "../src/config/load.js";
import { selfTimes, type CpuProfile } from "./cpu-profile-summary.js";
import { meshFiles } from "./mesh-gen.js";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const services = Number(option("services", "1000"));
const rounds = Math.max(4, Number(option("rounds", "40")));
const profiling = process.argv.includes("--profile");
const files = meshFiles(services);
// The file of svc-0 that changes, and how: the VirtualService's 90/10 split becomes 80/20, the
// DestinationRule's outlier detection ejects after 6 errors instead of 5, the WorkloadEntry's
// address changes; every other round puts the file back.
const edits: Readonly<Record<string, readonly (readonly [string, string])[]>> = {
  "virtual-service": [
    ["weight: 90", "weight: 80"],
    ["weight: 10", "weight: 20"],
  ],
  "destination-rule": [["consecutive5xxErrors: 5", "consecutive5xxErrors: 6"]],
  "workload-v1": [["address: 10.0.0.1", "address: 10.0.0.9"]],
};
const file = option("file", "virtual-service");
const edit = edits[file];
if (edit === undefined) throw new Error(`--file is one of ${Object.keys(edits).join(", ")}`);
const changed = (round: number) =>
  files.map((f) => ({ path: f.path, text: f.path.endsWith(`/svc-0/${file}.yaml`) && round % 2 === 0 ? edit.reduce((text, [a, b]) => text.replace(a, b), f.text) : Buffer.from(f.text).toString() }));

const loader = createMeshLoader();
const t0 = performance.now();
const first = await loader.loadAsync(files);
if (!first.ok) throw new Error("the generated mesh has errors");
console.log(`${services} services, ${files.length} files: first load ${(performance.now() - t0).toFixed(0)} ms`);

const session = new Session();
session.connect();
await session.post("Profiler.enable");
await session.post("Profiler.setSamplingInterval", { interval: 100 });
const wall: number[] = [];
const cpu: number[] = [];
const profiles: CpuProfile[] = [];
for (let round = 0; round < rounds; round++) {
  const next = changed(round);
  if (process.argv.includes("--gc")) globalThis.gc?.();
  const profiled = profiling && round > 0;
  if (profiled) await session.post("Profiler.start");
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  const result = await loader.loadAsync(next);
  wall.push(performance.now() - w0);
  const c = process.cpuUsage(c0);
  cpu.push((c.user + c.system) / 1000);
  if (profiled) profiles.push(((await session.post("Profiler.stop")) as unknown as { profile: CpuProfile }).profile);
  if (!result.ok) throw new Error("the changed mesh has errors");
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0;
const warm = (xs: readonly number[]) => xs.slice(1);
console.log(`first change: ${wall[0]?.toFixed(1)} ms (CPU ${cpu[0]?.toFixed(1)} ms)`);
console.log(`warm (median of ${rounds - 1}): ${median(warm(wall)).toFixed(1)} ms (CPU ${median(warm(cpu)).toFixed(1)} ms); fastest ${Math.min(...warm(wall)).toFixed(1)}, slowest ${Math.max(...warm(wall)).toFixed(1)} ms`);
if (profiling) {
  console.log("self time per warm reload, by function (under the profiler, which slows it):");
  const byFunction = new Map<string, number>();
  for (const p of profiles) for (const s of selfTimes(p, 1000).rows) byFunction.set(s.fn, (byFunction.get(s.fn) ?? 0) + s.ms);
  // The profiler's own work (stopping, sending the profile) is not the reload's.
  for (const fn of byFunction.keys()) if (fn === "dispatch" || fn.includes("node:inspector")) byFunction.delete(fn);
  const top = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(option("top", "25")));
  for (const [fn, ms] of top) console.log(`${(ms / profiles.length).toFixed(2).padStart(7)} ms  ${fn}`);
}
session.disconnect();
