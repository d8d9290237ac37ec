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
// and the others of server-commands.ts (gc, stall, profile-start, profile-stop, quit).
import { readFileSync } from "node:fs";
import { runInSlices, type Steps } from "../src/common/steps.js";
import { silentLogger } from "../src/log.js";
import { SnapshotCache, XdsServer, type Snapshot } from "../src/xds/index.js";
import { readExportedSnapshot, readManifest } from "./export-resources.js";
import { adsPath, type Protocol } from "./fleet-proto.js";
import { startFloor } from "./floor.js";
import { answerCommands, type Label, type Served } from "./server-commands.js";

/** What the floor replays: responses gitmesh sent its first client, base64. */
export interface Recording {
  readonly sync: readonly string[];
  /** The responses of the push into each snapshot. */
  readonly pushes: Readonly<Record<"A" | "B", readonly string[]>>;
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

await answerCommands(served);
