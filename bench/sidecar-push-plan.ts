// What bench/sidecar-push.ts's clients must come to hold: gitmesh's own pusher, in this process
// and without sockets, serving the same mesh to the same sidecars (the same nodes and
// credentials, so the same proxy keys and compositions), before and after the one-file change.
// Every client gets the changes of its own snapshot (sidecars are not alike: each has its own
// inbound listeners and certificates), and a few tracked clients' whole states are digested.
import { createMeshLoader } from "../src/config/load.js";
import type { Node__Output } from "../src/envoy/index.js";
import { silentLogger } from "../src/log.js";
import { MeshPusher } from "../src/runtime/index.js";
import { ADS_ORDER, defaultProxyKey, resourcesOf, SDS, SnapshotCache, type Snapshot } from "../src/xds/index.js";
import { anyDigest, changedFiles, type ChangeKind } from "./export-resources.js";
import type { Expected, ExpectedGroup } from "./fanout-clients.js";
import { encodeNode, stateDigest, type StructFields } from "./fleet-proto.js";
import { meshFiles } from "./mesh-gen.js";
import { benchNode, credentialOf, ownSecrets } from "./mesh-proxies.js";
import type { Label } from "./server-commands.js";

export interface PushPlan {
  /** Client ids, the sidecars' node ids. */
  readonly ids: readonly string[];
  /** Each client's Node, encoded, base64 (what its stream's first request says it is). */
  readonly nodes: readonly string[];
  /** The key gitmesh's stream of each client gets (mesh/NS/SA/ID), by id. */
  readonly keys: ReadonlyMap<string, string>;
  /** Per push target, what each client must come to hold, clients with the same changes in one group. */
  readonly groups: Readonly<Record<Label, readonly ExpectedGroup[]>>;
  /** Per snapshot, the tracked clients' stateDigest. */
  readonly states: Readonly<Record<Label, ReadonlyMap<string, string>>>;
  /** Resources per client (subscribed kinds, snapshot A): min and max over the clients. */
  readonly resources: readonly [number, number];
  /** Bytes of those resources per client (their Any fields): min and max. */
  readonly bytes: readonly [number, number];
}

/** The kinds the scripted clients subscribe to (not SDS: they hold no certificates). */
export const SUBSCRIBED = ADS_ORDER.filter((k) => k !== SDS);

const shortOf = (typeUrl: string): string => typeUrl.slice(typeUrl.lastIndexOf(".") + 1);

/** A snapshot's subscribed resources as the fleet keys them ("Cluster NAME") with their digests. */
export function heldOf(snapshot: Snapshot): [string, string][] {
  return SUBSCRIBED.flatMap((k) => resourcesOf(snapshot, k.typeUrl).items.map((r) => [`${shortOf(k.typeUrl)} ${r.name}`, anyDigest(r)] as [string, string]));
}

/** What a client holding `from` must receive to hold `to`. */
function changes(from: Snapshot, to: Snapshot): Expected[] {
  const out: Expected[] = [];
  for (const { typeUrl } of SUBSCRIBED) {
    const a = resourcesOf(from, typeUrl);
    const b = resourcesOf(to, typeUrl);
    if (a === b) continue;
    for (const r of b.items) {
      const old = a.byName.get(r.name);
      if (old === undefined || !old.anyField.equals(r.anyField)) out.push({ typeUrl, name: r.name, digest: anyDigest(r) });
    }
    for (const r of a.items) if (!b.byName.has(r.name)) out.push({ typeUrl, name: r.name, digest: null });
  }
  return out;
}

function grouped(byId: ReadonlyMap<string, Expected[]>): ExpectedGroup[] {
  const groups = new Map<string, { ids: string[]; resources: Expected[] }>();
  for (const [id, resources] of byId) {
    const key = JSON.stringify(resources);
    const g = groups.get(key);
    if (g === undefined) groups.set(key, { ids: [id], resources });
    else g.ids.push(id);
  }
  return [...groups.values()];
}

export async function planPush(services: number, clients: number, change: ChangeKind, tracked: ReadonlySet<number>): Promise<PushPlan> {
  const files = { A: meshFiles(services), B: [] as ReturnType<typeof meshFiles> };
  files.B = changedFiles(files.A, change);
  const loader = createMeshLoader();
  const cache = new SnapshotCache();
  const pusher = new MeshPusher(cache, silentLogger, { secrets: ownSecrets() });
  const apply = async (label: Label) => {
    const loaded = loader.load(files[label]);
    if (!loaded.ok) throw new Error(`mesh ${label} has errors`);
    if (!(await pusher.setModel(loaded.model)).ok) throw new Error("translation failed");
    await pusher.settled();
  };
  await apply("A");
  const ids: string[] = [];
  const nodes: string[] = [];
  const keys = new Map<string, string>();
  for (let i = 0; i < clients; i++) {
    const node = benchNode("sidecar", i, services);
    const credential = credentialOf("sidecar", i, services);
    const key = defaultProxyKey(node, credential);
    ids.push(node.id);
    nodes.push(encodeNode(node as Node__Output & { metadata: StructFields }).toString("base64"));
    keys.set(node.id, key);
    pusher.connected(key, node, "127.0.0.1:1", credential);
  }
  await pusher.settled();
  const snapshotOf = (id: string): Snapshot => {
    const s = cache.get(keys.get(id) ?? "");
    if (s === undefined) throw new Error(`${id} got no snapshot`);
    return s;
  };
  const a = new Map(ids.map((id) => [id, snapshotOf(id)]));
  await apply("B");
  const b = new Map(ids.map((id) => [id, snapshotOf(id)]));
  pusher.close();
  const trackedIds = ids.filter((_, i) => tracked.has(i));
  const itemsOf = (id: string) => SUBSCRIBED.flatMap((k) => resourcesOf(a.get(id) as Snapshot, k.typeUrl).items);
  const sizes = ids.map((id) => itemsOf(id).length);
  const bytes = ids.map((id) => itemsOf(id).reduce((n, r) => n + r.anyField.length, 0));
  const diff = (from: ReadonlyMap<string, Snapshot>, to: ReadonlyMap<string, Snapshot>) => new Map(ids.map((id) => [id, changes(from.get(id) as Snapshot, to.get(id) as Snapshot)]));
  return {
    ids,
    nodes,
    keys,
    groups: { B: grouped(diff(a, b)), A: grouped(diff(b, a)) },
    states: {
      A: new Map(trackedIds.map((id) => [id, stateDigest(heldOf(a.get(id) as Snapshot))])),
      B: new Map(trackedIds.map((id) => [id, stateDigest(heldOf(b.get(id) as Snapshot))])),
    },
    resources: [Math.min(...sizes), Math.max(...sizes)],
    bytes: [Math.min(...bytes), Math.max(...bytes)],
  };
}
