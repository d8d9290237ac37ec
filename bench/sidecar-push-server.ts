// The servers of bench/sidecar-push.ts, each in a process of its own, measured from /proc.
//
//   node --expose-gc dist/bench/sidecar-push-server.js gitmesh SERVICES CHANGE
//   node --expose-gc dist/bench/sidecar-push-server.js floor RECORDING_FILE
//
// gitmesh: the generated mesh of SERVICES services (mesh-gen.ts) loaded as serve's reloader loads
// it, translated and pushed by serve's MeshPusher into its SnapshotCache, served by its XdsServer
// on an authenticated endpoint (streams present a credential; here the bench trusts the node's
// namespace and service account, which a valid token for it would name; no TLS, as the floor has
// none), each sidecar with certificates of its own. `set B` hands the loader the mesh with the
// one-file CHANGE made (export-resources.ts), `set A` the mesh as generated, as serve's reloader
// does after reading the directory: the one file is parsed and checked again, the mesh translated,
// and every sidecar pushed its new composition in slices. It answers once every sidecar's snapshot
// is set: "ok set MS RELOAD_MS TRANSLATED_MS" (the load; the load and the translation).
//
// floor: a bare grpc-js server (floor.ts) taking delta ADS streams that say which client they are
// (x-fleet-proxy) and sending nothing until told; `set A|B` writes to each client exactly the
// responses gitmesh sent that client in its push into A or B (Recording), in one loop.
//
// Commands: those of server-commands.ts, and
//   state KEY        gitmesh: stateDigest of what KEY's snapshot holds of CDS, EDS, LDS and RDS
//   streams          floor: how many clients have a stream open
import { ServerCredentials } from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { createMeshLoader } from "../src/config/load.js";
import { silentLogger } from "../src/log.js";
import { MeshPusher } from "../src/runtime/index.js";
import { proxyFromNode } from "../src/translators/proxy.js";
import { SnapshotCache, XdsServer, type Authenticate, type EndpointPolicy } from "../src/xds/index.js";
import { changedFiles, changeKindOption } from "./export-resources.js";
import type { Captured } from "./fanout-clients.js";
import { DELTA_ADS_PATH, stateDigest } from "./fleet-proto.js";
import { startFloor } from "./floor.js";
import { meshFiles } from "./mesh-gen.js";
import { ownSecrets } from "./mesh-proxies.js";
import { heldOf } from "./sidecar-push-plan.js";
import { answerCommands, type Label, type Served } from "./server-commands.js";

/** What the floor replays: per push target, what gitmesh sent each client in its push into it. */
export interface Recording {
  readonly pushes: Readonly<Record<Label, Captured>>;
}

/** The identity a valid token for the node's namespace and service account would name. */
const fromNode: Authenticate = (_metadata, node) => {
  const r = proxyFromNode(node);
  return r.ok ? { ok: true, identity: { namespace: r.proxy.namespace, serviceAccount: r.proxy.serviceAccount } } : { ok: false, code: "PERMISSION_DENIED", message: r.problems.join("; ") };
};

async function serveGitmesh(services: number, change: string): Promise<Served> {
  const files: Record<Label, ReturnType<typeof meshFiles>> = { A: meshFiles(services), B: [] };
  files.B = changedFiles(files.A, changeKindOption(change));
  const loader = createMeshLoader();
  const loaded = loader.load(files.A);
  if (!loaded.ok) throw new Error("generated mesh has errors");
  const cache = new SnapshotCache();
  const pusher = new MeshPusher(cache, silentLogger, { secrets: ownSecrets() });
  if (!(await pusher.setModel(loaded.model)).ok) throw new Error("translation failed");
  const server = new XdsServer({ source: cache, logger: silentLogger, ...pusher.serverHooks() });
  const policy: EndpointPolicy = { t: "authenticated", authenticate: fromNode };
  const port = await server.listen("127.0.0.1:0", ServerCredentials.createInsecure(), policy);
  return {
    port,
    async set(label) {
      const t0 = performance.now();
      const next = await loader.loadAsync(files[label]);
      const reloadMs = performance.now() - t0;
      if (!next.ok) throw new Error(`mesh ${label} has errors`);
      const applied = await pusher.setModel(next.model);
      if (!applied.ok) throw new Error(applied.error);
      const translatedMs = performance.now() - t0;
      await pusher.settled();
      return `${reloadMs.toFixed(1)} ${translatedMs.toFixed(1)}`;
    },
    other(cmd, key) {
      if (cmd !== "state" || key === undefined) return undefined;
      const snapshot = cache.get(key);
      return snapshot === undefined ? "none" : stateDigest(heldOf(snapshot));
    },
  };
}

async function serveFloor(file: string): Promise<Served> {
  const recording = JSON.parse(readFileSync(file, "utf8")) as Recording;
  const bytes = (captured: Captured) => new Map(Object.entries(captured).map(([id, list]) => [id, list.map((b) => Buffer.from(b, "base64"))]));
  const pushes = { A: bytes(recording.pushes.A), B: bytes(recording.pushes.B) };
  const floor = await startFloor(DELTA_ADS_PATH);
  return {
    port: floor.port,
    set(label) {
      for (const [id, call] of floor.byProxy) for (const b of pushes[label].get(id) ?? []) call.write(b);
    },
    other: (cmd) => (cmd === "streams" ? String(floor.byProxy.size) : undefined),
  };
}

const [mode, arg, third] = process.argv.slice(2);
const served =
  mode === "gitmesh" && Number(arg) > 0 && third !== undefined
    ? await serveGitmesh(Number(arg), third)
    : mode === "floor" && arg !== undefined
      ? await serveFloor(arg)
      : undefined;
if (served === undefined) throw new Error("usage: sidecar-push-server.js gitmesh SERVICES CHANGE | floor RECORDING_FILE");

await answerCommands(served);
