// Fan-out bench: how long one config change takes to reach (and be ACKed by) every connected proxy,
// against the floor of writing the same bytes to the same number of streams, and what each
// connected proxy costs the server in memory.
//
//   node --expose-gc dist/bench/fanout.js [--clients 100,1000,5000] [--rounds 5]
//
// Each N runs in a fresh server process (bench/fanout-run.ts) so one size's heap cannot hide
// another's growth, with its proxies in a child process of their own (bench/fanout-clients.ts) so
// the server's CPU and RSS are measured alone. Each process holds two sockets per proxy (server
// and floor): the soft open-file limit is raised to the hard limit for them.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { RoundResult, ScenarioResult } from "./fanout-run.js";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

function runOne(n: number, rounds: number): Promise<ScenarioResult> {
  const script = fileURLToPath(new URL("./fanout-run.js", import.meta.url));
  const raiseFds = 'ulimit -S -n "$(ulimit -H -n)" 2>/dev/null; exec "$@"';
  const child = spawn("sh", ["-c", raiseFds, "sh", process.execPath, "--expose-gc", script, String(n), String(rounds)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    child.on("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("RESULT "));
      if (code === 0 && line !== undefined) resolve(JSON.parse(line.slice("RESULT ".length)) as ScenarioResult);
      else reject(new Error(`scenario with ${n} clients failed (exit ${code})`));
    });
  });
}

/** The median (each column's median is taken on its own). */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

const clients = option("clients", "100,1000,5000").split(",").map(Number);
const rounds = Number(option("rounds", "5"));
const results: ScenarioResult[] = [];
for (const n of clients) results.push(await runOne(n, rounds));

function marginalKB(r: ScenarioResult): string {
  const i = results.indexOf(r);
  const prev = i > 0 ? results[i - 1] : undefined;
  if (prev === undefined || prev.n >= r.n) return "-";
  return (((r.rssAfterMB - r.rssBeforeMB - (prev.rssAfterMB - prev.rssBeforeMB)) * 1024) / (r.n - prev.n)).toFixed(1);
}

const pick = (r: ScenarioResult, f: (x: RoundResult) => number): number => median(r.rounds.map(f));
const columns: [string, (r: ScenarioResult) => string][] = [
  ["N", (r) => String(r.n)],
  ["connect+sync ms", (r) => r.syncMs.toFixed(0)],
  ["push→all ACKed ms", (r) => pick(r, (x) => x.pushMs).toFixed(1)],
  ["floor ms", (r) => pick(r, (x) => x.floorMs).toFixed(1)],
  ["ratio", (r) => (pick(r, (x) => x.pushMs) / pick(r, (x) => x.floorMs)).toFixed(2)],
  ["server CPU push ms", (r) => pick(r, (x) => x.pushCpuMs).toFixed(1)],
  ["server CPU floor ms", (r) => pick(r, (x) => x.floorCpuMs).toFixed(1)],
  ["RSS growth KB/client", (r) => r.rssPerClientKB.toFixed(1)],
  // The slope from the previous N: what one more connected proxy costs, without the fixed costs
  // (V8's young generation grows once under load, whatever the number of clients).
  ["marginal KB/client", (r) => marginalKB(r)],
];
const rows = results.map((r) => columns.map(([, cell]) => cell(r)));
const widths = columns.map(([h], i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
const line = (cells: readonly string[]): string => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join(" | ");
console.log(`\nmedian of ${rounds} pushes; each push changes one of 50 clusters (every proxy gets CDS + EDS)\n`);
console.log(line(columns.map(([h]) => h)));
console.log(widths.map((w) => "-".repeat(w)).join("-|-"));
for (const row of rows) console.log(line(row));

const fixed = (values: readonly number[]): string => values.map((v) => v.toFixed(1)).join(" / ");
console.log("\nper round: push ms / cache.set loop ms / server CPU ms / fleet CPU ms, responses; floor ms / server CPU ms / fleet CPU ms");
for (const r of results) {
  console.log(
    `N=${r.n}: sync CPU ${r.syncCpuMs.toFixed(0)} ms; RSS ${r.rssBeforeMB.toFixed(1)} -> ${r.rssAfterMB.toFixed(1)} MB;` +
      ` heap ${r.heapPerClientKB.toFixed(1)} KB/client; a bare grpc-js connection (floor) ${r.floorRssPerClientKB.toFixed(1)} KB RSS`,
  );
  for (const x of r.rounds) {
    console.log(`  push ${fixed([x.pushMs, x.setLoopMs, x.pushCpuMs, x.fleetPushCpuMs])}, ${x.responses}; floor ${fixed([x.floorMs, x.floorCpuMs, x.fleetFloorCpuMs])}`);
  }
}
