// The real gRPC xDS client (@grpc/grpc-js-xds) against our server: it must route by what we serve,
// follow pushes, and NACK what it cannot use while traffic keeps flowing on its last good config.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { setImmediate as nextTurn } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import * as xds from "@grpc/grpc-js-xds";
import { silentLogger } from "../../src/log.js";
import { CDS, SnapshotCache, snapshotVersions, XdsServer, type Snapshot } from "../../src/xds/index.js";
import { startBackend, IdentityClient, type Backend } from "../support/backends.js";
import { apiListener, edsCluster, endpoints, routeTo, snapshot } from "../support/fixtures.js";

xds.register();

const LISTENER = "identity.test";
const ROUTE = "identity-route";

interface Mesh {
  readonly nodeId: string;
  readonly cache: SnapshotCache;
  readonly server: XdsServer;
  readonly a: Backend;
  readonly b: Backend;
  readonly client: IdentityClient;
}

/** Backends A and B, an xDS server, and a gRPC xDS client (node `nodeId`) for xds:///LISTENER. */
async function startMesh(t: TestContext, nodeId: string): Promise<Mesh> {
  const [a, b] = await Promise.all([startBackend("A"), startBackend("B")]);
  const cache = new SnapshotCache();
  const server = new XdsServer({ source: cache, logger: silentLogger, proxyKey: (node) => node.id });
  const port = await server.listen("127.0.0.1:0");
  const bootstrap = {
    xds_servers: [{ server_uri: `127.0.0.1:${port}`, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }],
    node: { id: nodeId, cluster: "behaviour-tests", locality: {} },
  };
  const client = new IdentityClient(`xds:///${LISTENER}`, {
    "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config": JSON.stringify(bootstrap),
  });
  t.after(async () => {
    client.close();
    await Promise.all([a.close(), b.close()]);
    await server.shutdown();
  });
  return { nodeId, cache, server, a, b, client };
}

/** Listener -> RDS route -> EDS clusters A and B, each with its backend's endpoint. */
function meshSnapshot(mesh: Mesh, route: string | Record<string, number>, clusterB: { lbPolicy?: "MAGLEV" } = {}): Snapshot {
  return snapshot(
    apiListener(LISTENER, ROUTE),
    routeTo(ROUTE, route),
    edsCluster("cluster-a"),
    endpoints("cluster-a", mesh.a.address),
    edsCluster("cluster-b", clusterB),
    endpoints("cluster-b", mesh.b.address),
  );
}

const SPLIT = { "cluster-a": 80, "cluster-b": 20 };

function push(mesh: Mesh, snap: Snapshot): void {
  assert.deepEqual(mesh.cache.set(mesh.nodeId, snap), { ok: true });
}

/** Resolves with probe's first defined result; each probe awaits I/O or yields one event loop turn. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const result = await probe();
    if (result !== undefined) return result;
    await nextTurn();
  }
  return assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Calls until backend `name` answers: the moment a pushed route is in force on the client. */
function untilAnswerFrom(mesh: Mesh, name: string): Promise<true> {
  return eventually(`a call answered by backend ${name}`, async () => ((await mesh.client.whoAnswers()) === name ? true : undefined));
}

function assertSplit(counts: ReadonlyMap<string, number>, calls: number): void {
  const a = counts.get("A") ?? 0;
  const b = counts.get("B") ?? 0;
  assert.equal(a + b, calls, `every call reaches A or B: ${JSON.stringify([...counts])}`);
  // 80% of 1,000 has a standard deviation of about 13 calls: 750..850 is almost 4 of them.
  assert.ok(a >= 750 && a <= 850, `A answered ${a} of ${calls}, expected about 800`);
}

test("a gRPC xDS client follows listener, route, cluster and endpoints to backend A", async (t) => {
  const mesh = await startMesh(t, "grpc-client-route");
  push(mesh, meshSnapshot(mesh, "cluster-a"));

  assert.equal(await mesh.client.whoAnswers(), "A");
  const counts = await mesh.client.tally(20);
  assert.deepEqual([...counts], [["A", 20]]);
});

test("a pushed 80/20 weighted split takes effect and 1,000 calls land close to 80/20", async (t) => {
  const mesh = await startMesh(t, "grpc-client-split");
  push(mesh, meshSnapshot(mesh, "cluster-a"));
  assert.equal(await mesh.client.whoAnswers(), "A");

  push(mesh, meshSnapshot(mesh, SPLIT));
  await untilAnswerFrom(mesh, "B");

  assertSplit(await mesh.client.tally(1_000), 1_000);
});

test("a cluster the client rejects is NACKed, recorded, and traffic keeps the last good config", async (t) => {
  const mesh = await startMesh(t, "grpc-client-nack");
  const good = meshSnapshot(mesh, SPLIT);
  push(mesh, good);
  await untilAnswerFrom(mesh, "B");

  // grpc-js-xds supports ROUND_ROBIN and RING_HASH only: MAGLEV fails its Cluster validation.
  const bad = meshSnapshot(mesh, SPLIT, { lbPolicy: "MAGLEV" });
  push(mesh, bad);
  const nack = await eventually("the client's CDS NACK", () => mesh.server.status.recentNacks()[0]);

  const cds = mesh.server.status.list().find((s) => s.proxy === mesh.nodeId)?.types.get(CDS.typeUrl);
  assert.ok(cds !== undefined, "the client's stream is open and has CDS state");
  assert.equal(nack.proxy, mesh.nodeId);
  assert.equal(nack.type, "CDS");
  assert.equal(nack.typeUrl, CDS.typeUrl);
  assert.equal(nack.version, snapshotVersions(bad).CDS);
  assert.equal(nack.version, cds.sentVersion);
  assert.equal(nack.nonce, cds.sentNonce);
  assert.equal(nack.code, status.UNAVAILABLE); // the code grpc-js-xds puts in every error_detail
  assert.match(nack.message, /unsupported lb_policy: MAGLEV/);
  assert.equal(cds.ackedVersion, snapshotVersions(good).CDS);

  assertSplit(await mesh.client.tally(1_000), 1_000);
  assert.equal(mesh.server.status.recentNacks().length, 1, "one NACK per rejected response");
});
