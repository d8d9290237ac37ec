// The Node servers of bench/side-by-side.ts, each in a process of its own so that it is measured
// the same way as the go-control-plane peer (bench/peer): from /proc, with nothing else in it.
//
//   node --expose-gc dist/bench/side-by-side-server.js gitmesh EXPORT_DIR NODES
//   node --expose-gc dist/bench/side-by-side-server.js floor RECORDING_FILE PROTOCOL
//
// gitmesh: its XdsServer and SnapshotCache serving the exported snapshots (A, then whichever it is
// told) to nodes proxy-0 .. proxy-(NODES-1), on the plaintext endpoint. floor: a bare grpc-js
// server replaying what gitmesh sent its first client (Recording): the sync to every stream as it
// opens, and a push to every stream when told.
//
// Both print "listening PORT", then answer commands on stdin, one a line (the peer's protocol):
//   set A|B          every proxy's snapshot becomes A or B: "ok set MS" (gitmesh: the slices of its
//                    push, proxy by proxy as serve pushes; the floor: its one synchronous loop)
//   gc               full collections: "ok gc"
//   stall            the longest event-loop stall since the last set, in ms: "ok stall MS"
//   profile-start    starts V8's CPU profiler (what --cpu-prof runs): "ok profile-start"
//   profile-stop F   stops it and writes the profile to F: "ok profile-stop"
//   quit
import { writeFileSync, readFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { runInSlices, type Steps } from "../src/common/steps.js";
import { silentLogger } from "../src/log.js";
import { SnapshotCache, XdsServer, type Snapshot } from "../src/xds/index.js";
import { readExportedSnapshot, readManifest } from "./export-resources.js";
import { adsPath, type Protocol } from "./fleet-proto.js";
import { startFloor } from "./floor.js";

/** What the floor replays: responses gitmesh sent its first client, base64. */
export interface Recording {
  readonly sync: readonly string[];
  /** The responses of the push into each snapshot. */
  readonly pushes: Readonly<Record<"A" | "B", readonly string[]>>;
}

type Label = "A" | "B";

interface Served {
  readonly port: number;
  /** Makes `label` what every proxy is served. */
  set(label: Label): void | Promise<void>;
}

async function serveGitmesh(dir: string, nodes: number): Promise<Served> {
  const manifest = readManifest(dir);
  const a = readExportedSnapshot(dir, manifest.snapshots.A);
  const snapshots: Record<Label, Snapshot> = { A: a, B: readExportedSnapshot(dir, manifest.snapshots.B, a) };
  const cache = new SnapshotCache();
  const server = new XdsServer({ source: cache, logger: silentLogger });
  // Streams on the plaintext endpoint watch "plain/NODE" (defaultProxyKey).
  const keys = Array.from({ length: nodes }, (_, i) => `plain/proxy-${i}`);
  // Proxy by proxy in slices, as serve's pusher pushes (src/runtime/push.ts): the event loop turns
  // between slices, so ACKs and keepalives are answered during a push to thousands of streams.
  function* push(label: Label): Steps<void> {
    for (const key of keys) {
      const r = cache.set(key, snapshots[label]);
      if (!r.ok) throw new Error(`snapshot ${label} is not consistent: ${JSON.stringify(r.problems.slice(0, 3))}`);
      yield "tick";
    }
  }
  const set = (label: Label): Promise<void> => runInSlices(push(label));
  await set("A");
  return { port: await server.listen("127.0.0.1:0"), set };
}

async function serveFloor(file: string, protocol: Protocol): Promise<Served> {
  const recording = JSON.parse(readFileSync(file, "utf8")) as Recording;
  const bytes = (list: readonly string[]): Buffer[] => list.map((b) => Buffer.from(b, "base64"));
  const pushes = { A: bytes(recording.pushes.A), B: bytes(recording.pushes.B) };
  const floor = await startFloor(adsPath(protocol), bytes(recording.sync));
  return { port: floor.port, set: (label) => floor.calls.forEach((call) => pushes[label].forEach((b) => call.write(b))) };
}

const [mode, arg, third] = process.argv.slice(2);
const served =
  mode === "gitmesh" && arg !== undefined && Number(third) > 0
    ? await serveGitmesh(arg, Number(third))
    : mode === "floor" && arg !== undefined && (third === "sotw" || third === "delta")
      ? await serveFloor(arg, third)
      : undefined;
if (served === undefined) throw new Error("usage: side-by-side-server.js gitmesh EXPORT_DIR NODES | floor RECORDING_FILE sotw|delta");

const stalls = monitorEventLoopDelay({ resolution: 1 });
stalls.enable();
const profiler = new Session();
const gc = (globalThis as { gc?: () => void }).gc;
const say = (line: string): void => void process.stdout.write(`${line}\n`);
say(`listening ${served.port}`);

for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, value] = line.trim().split(/\s+/);
  if (cmd === "set" && (value === "A" || value === "B")) {
    stalls.reset();
    const t0 = performance.now();
    await served.set(value);
    say(`ok set ${(performance.now() - t0).toFixed(1)}`);
  } else if (cmd === "gc") {
    if (gc === undefined) throw new Error("run with node --expose-gc");
    gc();
    gc();
    say("ok gc");
  } else if (cmd === "stall") {
    say(`ok stall ${(stalls.max / 1e6).toFixed(1)}`);
  } else if (cmd === "profile-start") {
    profiler.connect();
    await profiler.post("Profiler.enable");
    await profiler.post("Profiler.start");
    say("ok profile-start");
  } else if (cmd === "profile-stop" && value !== undefined) {
    const { profile } = await profiler.post("Profiler.stop");
    writeFileSync(value, JSON.stringify(profile));
    profiler.disconnect();
    say("ok profile-stop");
  } else if (cmd === "quit") {
    process.exit(0);
  } else {
    say(`error unknown command ${JSON.stringify(line)}`);
  }
}
process.exit(0);
