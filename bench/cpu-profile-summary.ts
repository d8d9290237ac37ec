// Self time by function in a V8 CPU profile (what node --cpu-prof writes, or the inspector's
// Profiler.stop returns): where a process spent its time, idle left out.
//
//   node dist/bench/cpu-profile-summary.js FILE.cpuprofile [TOP]
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface SelfTime {
  readonly fn: string;
  readonly ms: number;
  /** Of the busy (non-idle) time. */
  readonly share: number;
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  if (url === "") return functionName === "" ? "(anonymous)" : functionName;
  const file = url.replace(/^file:\/\//, "").replace(/^.*\/(dist|node_modules)\//, "$1/");
  return `${functionName === "" ? "(anonymous)" : functionName} ${file}:${lineNumber + 1}`;
}

/** The busy time and the functions that took most of it, by self time. */
export function selfTimes(profile: CpuProfile, top = 20): { busyMs: number; rows: SelfTime[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const us = profile.timeDeltas[i] ?? 0;
    if (node === undefined || node.callFrame.functionName === "(idle)") return;
    busy += us;
    const key = label(node);
    totals.set(key, (totals.get(key) ?? 0) + us);
  });
  const rows = [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, us]) => ({ fn, ms: us / 1000, share: busy === 0 ? 0 : us / busy }));
  return { busyMs: busy / 1000, rows };
}

export function formatSelfTimes({ busyMs, rows }: { busyMs: number; rows: readonly SelfTime[] }): string {
  return [`busy ${busyMs.toFixed(0)} ms; self time by function:`, ...rows.map((r) => `  ${r.ms.toFixed(0).padStart(6)} ms ${(100 * r.share).toFixed(1).padStart(5)}%  ${r.fn}`)].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) throw new Error("usage: node dist/bench/cpu-profile-summary.js FILE.cpuprofile [TOP]");
  console.log(formatSelfTimes(selfTimes(JSON.parse(readFileSync(file, "utf8")) as CpuProfile, Number(top ?? 20))));
}
