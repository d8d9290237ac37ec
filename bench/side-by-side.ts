// gitmesh against go-control-plane (issue 14), measured side by side with the floor of writing the
// same bytes: the same exported resources, the same scripted clients, the same machine.
//
//   node dist/bench/side-by-side.js [--clients 1000,5000] [--protocols sotw,delta] [--rounds 2]
//        [--pushes 4] [--services 20] [--kind sidecar|grpc] [--change endpoint|route|cluster]
//        [--profile DIR] [--json FILE]
//
// 1. gitmesh exports what it serves one proxy of the generated mesh, before (A) and after (B) a
//    one-file change (export-resources.ts); the go-control-plane peer (bench/peer, built by
//    scripts/peers/go-control-plane.sh) is built if needed.
// 2. For each N and protocol, the servers take turns, gitmesh, peer, floor, `rounds` times
//    (A B A B), each a fresh process (side-by-side-server.ts, the peer), with a fresh fleet of N
//    clients (fanout-clients.ts) in a process of its own. The floor replays what gitmesh sent its
//    first client in that case's first turn.
// 3. Each turn: connect and sync N clients; RSS per connected client (after a full collection,
//    against before they connected); then `pushes` pushes alternating B, A, ...: the time from
//    the command that changes every proxy's snapshot until every client holds the changed
//    resources (and has ACKed the response that brought them), and the server's CPU from that
//    command until it is idle again, from /proc/PID/stat.
// 4. Byte-identity: the first client of every turn keeps a digest of each resource it holds; after
//    the sync and after every push it must hold exactly the exported snapshot's resources.
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { ADS_ORDER, SDS, type ResourceKind } from "../src/xds/index.js";
import { formatSelfTimes, selfTimes, type CpuProfile } from "./cpu-profile-summary.js";
import { changeKindOption, exportMesh, readExportedSnapshot, resourceDigests, type ExportManifest } from "./export-resources.js";
import type { Expected } from "./fanout-clients.js";
import type { Protocol } from "./fleet-proto.js";
import { startFleet } from "./fleet.js";
import { proxyKindOption } from "./mesh-proxies.js";
import { startServer, type ServerProcess } from "./server-process.js";
import { median, spread } from "./stats.js";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const SERVERS = ["gitmesh", "peer", "floor"] as const;
type ServerName = (typeof SERVERS)[number];
type Label = "A" | "B";

interface PushResult {
  readonly ms: number;
  readonly cpuMs: number;
  readonly fleetCpuMs: number;
  /** What the server reported for its set command (gitmesh: its push in slices; the floor: its loop). */
  readonly setMs: number;
  /** gitmesh and floor: the longest event-loop stall during the push. */
  readonly stallMs: number | undefined;
}

interface TurnResult {
  readonly server: ServerName;
  readonly syncMs: number;
  readonly rssBeforeMB: number;
  readonly rssKBPerClient: number;
  readonly pushes: readonly PushResult[];
  /** sha256 of everything the first client held after the sync. */
  readonly stateDigest: string;
}

interface CaseResult {
  readonly n: number;
  readonly protocol: Protocol;
  readonly turns: readonly TurnResult[];
}

const here = fileURLToPath(new URL(".", import.meta.url));
const root = join(here, "..", "..");

const clients = option("clients", "1000,5000").split(",").map(Number);
const protocols = option("protocols", "sotw,delta").split(",") as Protocol[];
const rounds = Number(option("rounds", "2"));
const pushes = Number(option("pushes", "4"));
const services = Number(option("services", "20"));
const kind = proxyKindOption(option("kind", "sidecar"));
const change = changeKindOption(option("change", "endpoint"));
const profileDir = option("profile", "");
const jsonOut = option("json", "");
if (protocols.some((p) => p !== "sotw" && p !== "delta")) throw new Error("--protocols: sotw, delta");
if (pushes < 2) throw new Error("--pushes must be at least 2 (the floor replays a push into B and one into A)");

/** The kinds the scripted clients subscribe to (not SDS: they are not Envoys with certificates). */
const SUBSCRIBED: readonly ResourceKind[] = ADS_ORDER.filter((k) => k !== SDS);

/** The first client's view: digests of the subscribed kinds' resources, by "TYPE NAME". */
function expectedState(digests: ReadonlyMap<string, string>): Map<string, string> {
  const shorts = new Set<string>(SUBSCRIBED.map((k) => k.short));
  return new Map([...digests].filter(([k]) => shorts.has(k.split(" ")[0] ?? "")));
}

/** The fleet reports "TypeName name"; the export "CDS name": both as "CDS name". */
function normalizeReported(reported: Record<string, string>): Map<string, string> {
  const short = new Map(SUBSCRIBED.map((k) => [k.typeUrl.slice(k.typeUrl.lastIndexOf(".") + 1), k.short]));
  return new Map(Object.entries(reported).map(([k, v]) => [`${short.get(k.split(" ")[0] ?? "") ?? k.split(" ")[0]} ${k.slice(k.indexOf(" ") + 1)}`, v]));
}

function stateDigest(state: ReadonlyMap<string, string>): string {
  return execFileSync("sha256sum", { input: [...state].sort().map(([k, v]) => `${k} ${v}`).join("\n") })
    .toString()
    .slice(0, 16);
}

function checkState(server: ServerName, when: string, got: ReadonlyMap<string, string>, want: ReadonlyMap<string, string>): void {
  const wrong = [...want].filter(([k, v]) => got.get(k) !== v).map(([k]) => k);
  const extra = [...got.keys()].filter((k) => !want.has(k));
  if (wrong.length > 0 || extra.length > 0) {
    throw new Error(`${server} ${when}: the first client does not hold the exported resources: ${wrong.length} missing or different (${wrong.slice(0, 3).join(", ")}), ${extra.length} extra`);
  }
}

/** What must change on every client for it to hold `to` instead of `from`. */
function expectations(from: ReadonlyMap<string, string>, to: ReadonlyMap<string, string>): Expected[] {
  const typeUrl = new Map<string, string>(SUBSCRIBED.map((k) => [k.short, k.typeUrl]));
  const split = (key: string): [string, string] => [typeUrl.get(key.split(" ")[0] ?? "") ?? "", key.slice(key.indexOf(" ") + 1)];
  const out: Expected[] = [];
  for (const [key, digest] of to) {
    if (from.get(key) !== digest) {
      const [t, name] = split(key);
      out.push({ typeUrl: t, name, digest });
    }
  }
  for (const key of from.keys()) {
    if (!to.has(key)) {
      const [t, name] = split(key);
      out.push({ typeUrl: t, name, digest: null });
    }
  }
  return out;
}

interface Context {
  readonly exportDir: string;
  readonly manifest: ExportManifest;
  readonly states: Readonly<Record<Label, Map<string, string>>>;
  readonly workDir: string;
}

async function launch(server: ServerName, n: number, protocol: Protocol, ctx: Context, recordingFile: string): Promise<ServerProcess> {
  const node = [process.execPath, "--expose-gc", join(here, "side-by-side-server.js")];
  switch (server) {
    case "gitmesh":
      return startServer(server, [...node, "gitmesh", ctx.exportDir, String(n)]);
    case "peer":
      // Raw resources: the exported bytes, sent as they are. Its typed mode (Envoy messages, as
      // go-control-plane's users hold them) sends other bytes for the same content, which the
      // byte-identity check and the clients' completion check (by digest) would not accept.
      return startServer(server, [join(root, ".peers", "bin", "gcp-peer"), "-export", ctx.exportDir, "-nodes", String(n)]);
    case "floor":
      return startServer(server, [...node, "floor", recordingFile, protocol]);
  }
}

async function turn(server: ServerName, n: number, protocol: Protocol, ctx: Context, record: boolean, profile: string | undefined): Promise<TurnResult> {
  const recordingFile = join(ctx.workDir, `recording-${n}-${protocol}.json`);
  const proc = await launch(server, n, protocol, ctx, recordingFile);
  const fleet = startFleet();
  try {
    await proc.command("gc");
    const rssBefore = proc.rssKB();
    const ids = Array.from({ length: n }, (_, i) => `proxy-${i}`);
    const t0 = performance.now();
    await fleet.ask({ t: "connect", port: proc.port, ids, concurrency: 100, protocol, captureSync: record, digests: true }, "synced");
    const syncMs = performance.now() - t0;
    await proc.command("gc");
    const rssAfter = proc.rssKB();
    let report = await fleet.report();
    let held = normalizeReported(report.digests);
    checkState(server, "after the sync", held, ctx.states.A);
    const syncState = stateDigest(held);
    const recording: { sync: readonly string[]; pushes: Record<Label, readonly string[]> } = { sync: report.captured, pushes: { A: [], B: [] } };

    const results: PushResult[] = [];
    let current: Label = "A";
    if (profile !== undefined) await proc.command("profile-start");
    for (let p = 0; p < pushes; p++) {
      const target: Label = current === "A" ? "B" : "A";
      await fleet.ask({ t: "expect", resources: expectations(ctx.states[current], ctx.states[target]) }, "expecting");
      const done = fleet.next("done");
      const cpu0 = proc.cpuMs();
      const start = performance.now();
      const setMs = Number(await proc.command(`set ${target}`));
      await done;
      const ms = performance.now() - start;
      const cpu1 = await proc.quiet();
      const stallMs = server === "peer" ? undefined : Number(await proc.command("stall"));
      const fleetBefore = report.cpuMs;
      report = await fleet.report();
      held = normalizeReported(report.digests);
      checkState(server, `after push ${p + 1}`, held, ctx.states[target]);
      if (record && recording.pushes[target].length === 0) recording.pushes[target] = report.captured;
      results.push({ ms, cpuMs: cpu1 - cpu0, fleetCpuMs: report.cpuMs - fleetBefore, setMs, stallMs });
      current = target;
    }
    if (profile !== undefined) await proc.command(`profile-stop ${profile}`);
    if (record) writeFileSync(recordingFile, JSON.stringify(recording));
    return { server, syncMs, rssBeforeMB: rssBefore / 1024, rssKBPerClient: (rssAfter - rssBefore) / n, pushes: results, stateDigest: syncState };
  } finally {
    await fleet.exit();
    await proc.stop();
  }
}

function printCase(c: CaseResult): void {
  const of = (s: ServerName) => c.turns.filter((t) => t.server === s);
  const all = (s: ServerName, f: (p: PushResult) => number) => of(s).flatMap((t) => t.pushes.map(f));
  const med = (s: ServerName, f: (p: PushResult) => number) => median(all(s, f));
  const rss = (s: ServerName) => of(s).map((t) => t.rssKBPerClient);
  console.log(`\nN = ${c.n}, ${c.protocol}: median (min-max) over ${rounds} turns x ${pushes} pushes`);
  console.log("server  | push -> all ACKed ms | server CPU ms    | fleet CPU ms | sync ms     | RSS KB/client | longest stall ms");
  for (const s of SERVERS) {
    const stalls = all(s, (p) => p.stallMs ?? NaN).filter((x) => !Number.isNaN(x));
    console.log(
      [
        s.padEnd(7),
        spread(all(s, (p) => p.ms)).padEnd(20),
        spread(all(s, (p) => p.cpuMs)).padEnd(16),
        spread(all(s, (p) => p.fleetCpuMs)).padEnd(12),
        spread(of(s).map((t) => t.syncMs)).padEnd(11),
        spread(rss(s), 1).padEnd(13),
        stalls.length === 0 ? "-" : spread(stalls),
      ].join(" | "),
    );
  }
  const ratio = (a: number, b: number): string => (a / b).toFixed(2);
  const push = (s: ServerName) => med(s, (p) => p.ms);
  const cpu = (s: ServerName) => med(s, (p) => p.cpuMs);
  console.log(
    `ratios: push gitmesh/peer ${ratio(push("gitmesh"), push("peer"))}, gitmesh/floor ${ratio(push("gitmesh"), push("floor"))}, peer/floor ${ratio(push("peer"), push("floor"))}; ` +
      `CPU gitmesh/peer ${ratio(cpu("gitmesh"), cpu("peer"))}, gitmesh/floor ${ratio(cpu("gitmesh"), cpu("floor"))}, peer/floor ${ratio(cpu("peer"), cpu("floor"))}; ` +
      `RSS/client gitmesh/peer ${ratio(median(rss("gitmesh")), median(rss("peer")))}`,
  );
  const digests = new Set(c.turns.map((t) => t.stateDigest));
  console.log(`byte-identical: every turn's first client held the exported resources after the sync and every push (state ${[...digests].join(", ")})`);
}

async function main(): Promise<void> {
  execFileSync("bash", [join(root, "scripts", "peers", "go-control-plane.sh")], { stdio: "inherit", env: { ...process.env, GITMESH_BUILD_BENCH_PEERS: "1" } });
  const workDir = mkdtempSync(join(tmpdir(), "gitmesh-side-by-side-"));
  try {
    const exportDir = join(workDir, "export");
    mkdirSync(exportDir);
    const manifest = await exportMesh(exportDir, services, kind, change);
    const states = {
      A: expectedState(resourceDigests(readExportedSnapshot(exportDir, manifest.snapshots.A))),
      B: expectedState(resourceDigests(readExportedSnapshot(exportDir, manifest.snapshots.B))),
    };
    const ctx: Context = { exportDir, manifest, states, workDir };
    const size = (l: Label) => manifest.snapshots[l].filter((t) => SUBSCRIBED.some((k) => k.typeUrl === t.typeUrl)).reduce((s, t) => s + t.bytes, 0);
    console.log(
      `${services} services, one ${kind}'s snapshot (${(size("A") / 1024).toFixed(0)} KB of resources: ${manifest.snapshots.A.map((t) => `${t.short} ${t.count}`).join(", ")}); ` +
        `the ${change} change alters ${expectations(states.A, states.B).length} resources; ${process.env["HOSTNAME"] ?? "this machine"}, ${(await import("node:os")).cpus().length} cores (shared)`,
    );
    const results: CaseResult[] = [];
    for (const n of clients) {
      for (const protocol of protocols) {
        const turns: TurnResult[] = [];
        for (let r = 0; r < rounds; r++) {
          for (const server of SERVERS) {
            const profile = profileDir !== "" && r === 0 && server === "gitmesh" ? join(profileDir, `gitmesh-${n}-${protocol}.cpuprofile`) : undefined;
            if (profile !== undefined) mkdirSync(profileDir, { recursive: true });
            console.error(`[${n} ${protocol}] round ${r + 1}: ${server}`);
            const t = await turn(server, n, protocol, ctx, r === 0 && server === "gitmesh", profile);
            console.error(`  push ${t.pushes.map((p) => p.ms.toFixed(0)).join(" ")} ms, CPU ${t.pushes.map((p) => p.cpuMs.toFixed(0)).join(" ")} ms, ${t.rssKBPerClient.toFixed(1)} KB/client`);
            turns.push(t);
            if (profile !== undefined) console.log(`\ngitmesh's pushes, N = ${n}, ${protocol} (${profile}):\n${formatSelfTimes(selfTimes(JSON.parse(readFileSync(profile, "utf8")) as CpuProfile, 15))}`);
          }
        }
        const c = { n, protocol, turns };
        results.push(c);
        printCase(c);
      }
    }
    if (jsonOut !== "") writeFileSync(jsonOut, JSON.stringify({ services, kind, change, rounds, pushes, results }, null, 1));
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

await main();
