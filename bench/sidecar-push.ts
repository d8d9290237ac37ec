// Push to 2,000 distinct sidecars over real gRPC, against the floor of writing the same bytes
// (issue 14's "push to 2,000 sidecars within 2x the floor").
//
//   npm run build && node dist/bench/sidecar-push.js [--clients 2000] [--services 1000] [--rounds 2]
//        [--pushes 4] [--change route|endpoint|cluster] [--profile DIR] [--json FILE] [--only gitmesh]
//
// --profile DIR writes a V8 CPU profile of the measured server's pushes in the first round (from
// before the first push to after the last) and prints its self times; --only gitmesh skips the
// floor's turns (a profile or a look at gitmesh alone, without the floor's sync of minutes).
//
// gitmesh (sidecar-push-server.ts, a process of its own) serves the generated mesh (mesh-gen.ts,
// 1,000 services) as serve does: loader, MeshPusher (translation, per-sidecar composition of the
// shared scope layer with each sidecar's inbound layer and own certificates, pushes in slices),
// XdsServer on an authenticated endpoint. N scripted delta ADS clients (fanout-clients.ts, in a
// process of their own, one HTTP/2 connection each) are N distinct sidecars of the mesh
// (mesh-proxies.ts benchNode("sidecar", i, services): sidecar i is a workload of service
// i % services with an address of its own), subscribing as Envoy does (CDS and LDS wildcard, EDS
// and RDS by name; not SDS) and ACKing every response.
//
// Turns, each with fresh processes: gitmesh, floor, gitmesh, floor (`rounds` times):
// - gitmesh: connect and sync the N clients; then `pushes` one-file changes alternating B (the
//   change made: by default a VirtualService's 90/10 split becomes 80/20, as translate.ts) and A
//   (undone). The timed interval runs from the moment the server process is handed the changed
//   mesh files (the command "set B") until every client holds every resource of its own snapshot
//   that the change altered (by digest) and has ACKed the response that brought it. It covers:
//   the loader re-reading the one changed file and re-running the checks that read its kind, the
//   translation, every sidecar's new composition and snapshot (in slices, as serve pushes), each
//   delta stream's response, the writes, the clients' reading and their ACKs reaching the server's
//   socket. It does not cover serve's noticing the file (its watcher, 100-400 ms by design) nor
//   reading the directory. The first gitmesh turn records every client's responses in its first
//   push into B and into A.
// - floor: a fresh gitmesh process syncs a fresh fleet (not timed), then every client opens a
//   second delta stream to the floor (a bare grpc-js server, floor.ts, in a process of its own);
//   the floor writes each client exactly the bytes gitmesh sent that client in the same push
//   (the recording), in one loop, and the same interval is timed: until every client holds its
//   changed resources and has ACKed (to the floor). gitmesh sits idle meanwhile.
// Server CPU: the measured server's user + system time from /proc/PID/stat, from the command until
// it is idle again (10 ms ticks).
//
// Checks (the bench fails otherwise): every client's completion is by the digests of its own
// changed resources as gitmesh's pusher computes them in this process (sidecar-push-plan.ts); the
// tracked clients (every 100th, and the last) keep a digest of every resource they hold, and after
// the sync and after every push each must hold exactly what this process's pusher made for it,
// which after the sync and after the last push must be what the server's own cache holds for it
// (`state KEY`).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { formatSelfTimes, selfTimes, type CpuProfile } from "./cpu-profile-summary.js";
import { changeKindOption } from "./export-resources.js";
import type { Captured } from "./fanout-clients.js";
import { startFleet, type Fleet } from "./fleet.js";
import type { Label } from "./server-commands.js";
import { planPush, type PushPlan } from "./sidecar-push-plan.js";
import type { Recording } from "./sidecar-push-server.js";
import { startServer, type ServerProcess } from "./server-process.js";
import { median, spread } from "./stats.js";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const clients = Number(option("clients", "2000"));
const services = Number(option("services", "1000"));
const rounds = Number(option("rounds", "2"));
const pushes = Number(option("pushes", "4"));
const change = changeKindOption(option("change", "route"));
const profileDir = option("profile", "");
const jsonOut = option("json", "");
const only = option("only", "");
if (only !== "" && only !== "gitmesh") throw new Error("--only: gitmesh");
if (pushes < 2) throw new Error("--pushes must be at least 2 (the floor replays a push into B and one into A)");

type ServerName = "gitmesh" | "floor";

/** 2,000 sidecars of 1,000 services are 6 GB to send and read: minutes on a busy machine. */
const SYNC_TIMEOUT_MS = 30 * 60_000;

interface PushResult {
  readonly ms: number;
  readonly cpuMs: number;
  readonly fleetCpuMs: number;
  /** What the server said its set took (gitmesh: reload, translation and every sidecar set; the floor: its loop). */
  readonly setMs: number;
  /** gitmesh: of setMs, the reload, and the reload with the translation. */
  readonly reloadMs: number | undefined;
  readonly translatedMs: number | undefined;
  readonly stallMs: number;
  readonly load1: number;
}

interface TurnResult {
  readonly server: ServerName;
  readonly syncMs: number;
  readonly rssMB: number;
  readonly pushes: readonly PushResult[];
}

const here = fileURLToPath(new URL(".", import.meta.url));
const serverScript = join(here, "sidecar-push-server.js");
const node = [process.execPath, "--expose-gc", serverScript];

/** Every 100th client and the last: their whole state is checked. */
const tracked = new Set([...Array.from({ length: Math.ceil(clients / 100) }, (_, i) => i * 100), clients - 1]);

async function checkStates(plan: PushPlan, label: Label, fleet: Fleet, gitmesh: ServerProcess | undefined, when: string): Promise<void> {
  const report = await fleet.report();
  for (const [id, want] of plan.states[label]) {
    const got = report.states[id];
    if (got !== want) throw new Error(`${when}: ${id} holds state ${got ?? "(none)"}, gitmesh's snapshot ${label} for it is ${want}`);
    if (gitmesh !== undefined) {
      const served = await gitmesh.command(`state ${plan.keys.get(id) ?? ""}`);
      if (served !== want) throw new Error(`${when}: the server's snapshot for ${id} is ${served}, this process's pusher made ${want}`);
    }
  }
}

async function syncedFleet(plan: PushPlan): Promise<{ fleet: Fleet; gitmesh: ServerProcess; syncMs: number; rssMB: number }> {
  const gitmesh = await startServer("gitmesh", [...node, "gitmesh", String(services), change]);
  const fleet = startFleet(SYNC_TIMEOUT_MS);
  const t0 = performance.now();
  await fleet.ask({ t: "connect", port: gitmesh.port, ids: plan.ids, nodes: plan.nodes, track: plan.ids.filter((_, i) => tracked.has(i)), concurrency: 50, protocol: "delta" }, "synced");
  const syncMs = performance.now() - t0;
  await gitmesh.command("gc");
  await checkStates(plan, "A", fleet, gitmesh, "after the sync");
  return { fleet, gitmesh, syncMs, rssMB: gitmesh.rssKB() / 1024 };
}

async function turn(server: ServerName, plan: PushPlan, recordingFile: string, record: boolean, profile: string | undefined): Promise<TurnResult> {
  const { fleet, gitmesh, syncMs, rssMB } = await syncedFleet(plan);
  let floor: ServerProcess | undefined;
  try {
    if (server === "floor") {
      floor = await startServer("floor", [...node, "floor", recordingFile]);
      await fleet.ask({ t: "open-floor", port: floor.port }, "floor-open");
      while (Number(await floor.command("streams")) < clients) await new Promise((r) => setTimeout(r, 50));
    }
    const measured = floor ?? gitmesh;
    const recording: Record<Label, Captured> = { A: {}, B: {} };
    const results: PushResult[] = [];
    let current: Label = "A";
    if (profile !== undefined) await measured.command("profile-start");
    for (let p = 0; p < pushes; p++) {
      const target: Label = current === "A" ? "B" : "A";
      const capture = record && p < 2;
      if (capture) await fleet.ask({ t: "capture-all" }, "capturing");
      await fleet.ask({ t: "expect", resources: [], byProxy: plan.groups[target] }, "expecting");
      const fleetBefore = (await fleet.report()).cpuMs;
      const done = fleet.next("done");
      const load1 = loadavg()[0] ?? NaN;
      const cpu0 = measured.cpuMs();
      const start = performance.now();
      const [setMs, reloadMs, translatedMs] = (await measured.command(`set ${target}`)).split(" ").map(Number);
      await done;
      const ms = performance.now() - start;
      const cpu1 = await measured.quiet();
      const stallMs = Number(await measured.command("stall"));
      if (capture) {
        const file = `${recordingFile}.${target}`;
        await fleet.ask({ t: "save-captured", file }, "saved");
        recording[target] = JSON.parse(readFileSync(file, "utf8")) as Captured;
        rmSync(file);
      }
      const fleetCpuMs = (await fleet.report()).cpuMs - fleetBefore;
      await checkStates(plan, target, fleet, undefined, `${server} push ${p + 1}`);
      results.push({ ms, cpuMs: cpu1 - cpu0, fleetCpuMs, setMs: setMs ?? NaN, reloadMs, translatedMs, stallMs, load1 });
      current = target;
    }
    if (profile !== undefined) await measured.command(`profile-stop ${profile}`);
    // The server's own snapshots, checked after the profile (digesting them is no part of a push).
    if (server === "gitmesh") await checkStates(plan, current, fleet, gitmesh, "after the pushes");
    if (record) writeFileSync(recordingFile, JSON.stringify({ pushes: recording } satisfies Recording));
    return { server, syncMs, rssMB, pushes: results };
  } finally {
    await fleet.exit();
    await floor?.stop();
    await gitmesh.stop();
  }
}

function print(turns: readonly TurnResult[]): void {
  const all = (s: ServerName, f: (p: PushResult) => number | undefined) => turns.filter((t) => t.server === s).flatMap((t) => t.pushes.map(f)).filter((x): x is number => x !== undefined && !Number.isNaN(x));
  const med = (s: ServerName, f: (p: PushResult) => number | undefined) => median(all(s, f));
  console.log(`\n${clients} sidecars, ${services} services, delta, ${change} change: median (min-max) over ${rounds} turns x ${pushes} pushes`);
  console.log("server  | push -> all ACKed ms | server CPU ms | fleet CPU ms | set ms (server) | reload ms | reload+translate ms | longest stall ms | sync ms | gitmesh RSS MB after sync");
  for (const s of ["gitmesh", "floor"] as const) {
    if (all(s, (p) => p.ms).length === 0) continue;
    const opt = (f: (p: PushResult) => number | undefined) => (all(s, f).length === 0 ? "-" : spread(all(s, f)));
    console.log(
      [
        s.padEnd(7),
        spread(all(s, (p) => p.ms)).padEnd(20),
        spread(all(s, (p) => p.cpuMs)).padEnd(13),
        spread(all(s, (p) => p.fleetCpuMs)).padEnd(12),
        spread(all(s, (p) => p.setMs)).padEnd(15),
        opt((p) => p.reloadMs).padEnd(9),
        opt((p) => p.translatedMs).padEnd(19),
        spread(all(s, (p) => p.stallMs)).padEnd(16),
        spread(turns.filter((t) => t.server === s).map((t) => t.syncMs)).padEnd(7),
        s === "gitmesh" ? spread(turns.filter((t) => t.server === s).map((t) => t.rssMB)) : "-",
      ].join(" | "),
    );
  }
  const ratio = (f: (p: PushResult) => number) => (med("gitmesh", f) / med("floor", f)).toFixed(2);
  if (only === "") console.log(`ratio gitmesh / floor: push ${ratio((p) => p.ms)}, server CPU ${ratio((p) => p.cpuMs)}`);
  const loads = turns.flatMap((t) => t.pushes.map((p) => p.load1));
  console.log(`load average (1 min) at the pushes: ${spread(loads, 1)}`);
}

async function main(): Promise<void> {
  const workDir = mkdtempSync(join(tmpdir(), "gitmesh-sidecar-push-"));
  try {
    const t0 = performance.now();
    const plan = await planPush(services, clients, change, tracked);
    const changed = (l: Label) => plan.groups[l].map((g) => `${g.ids.length} clients ${g.resources.length} resources`).join("; ");
    console.log(
      `${clients} sidecars of ${services} services; each holds ${plan.resources[0]}-${plan.resources[1]} resources (${(plan.bytes[0] / 1024).toFixed(0)}-${(plan.bytes[1] / 1024).toFixed(0)} KB, CDS EDS LDS RDS); ` +
        `the ${change} change alters: ${changed("B")} (undone: ${changed("A")}); planned in ${(performance.now() - t0).toFixed(0)} ms; load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`,
    );
    const recordingFile = join(workDir, "recording.json");
    const turns: TurnResult[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const server of only === "gitmesh" ? (["gitmesh"] as const) : (["gitmesh", "floor"] as const)) {
        const profile = profileDir !== "" && r === 0 ? join(profileDir, `sidecar-push-${server}-${clients}.cpuprofile`) : undefined;
        if (profile !== undefined) mkdirSync(profileDir, { recursive: true });
        console.error(`round ${r + 1}: ${server} (load average ${loadavg()[0]?.toFixed(2)})`);
        const t = await turn(server, plan, recordingFile, r === 0 && server === "gitmesh", profile);
        console.error(`  sync ${t.syncMs.toFixed(0)} ms; push ${t.pushes.map((p) => p.ms.toFixed(0)).join(" ")} ms, CPU ${t.pushes.map((p) => p.cpuMs.toFixed(0)).join(" ")} ms, set ${t.pushes.map((p) => p.setMs.toFixed(0)).join(" ")} ms`);
        turns.push(t);
        if (profile !== undefined) console.log(`\n${server}'s pushes (${profile}):\n${formatSelfTimes(selfTimes(JSON.parse(readFileSync(profile, "utf8")) as CpuProfile, 20))}`);
      }
    }
    print(turns);
    if (jsonOut !== "") writeFileSync(jsonOut, JSON.stringify({ clients, services, change, rounds, pushes, turns }, null, 1));
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

await main();
