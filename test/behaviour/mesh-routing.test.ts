// The whole path with the real gRPC xDS client: Istio YAML -> validation -> translation -> xDS ->
// @grpc/grpc-js-xds -> loopback backends declared as WorkloadEntries.
import assert from "node:assert/strict";
import { setImmediate as nextTurn } from "node:timers/promises";
import { test, type TestContext } from "node:test";
import * as xds from "@grpc/grpc-js-xds";
import { MeshPusher } from "../../src/runtime/index.js";
import { loadMesh, type MeshModel } from "../../src/config/load.js";
import { silentLogger } from "../../src/log.js";
import { CDS, SnapshotCache, XdsServer } from "../../src/xds/index.js";
import { IdentityClient, startBackend, type Backend } from "../support/backends.js";
import { node, ScriptedClient } from "../support/xds-client.js";

xds.register();

const HOST = "ratings.shop.svc.cluster.local";

function mesh(v1: Backend, v2: Backend, routes: string): MeshModel {
  const port = (b: Backend) => Number(b.address.split(":")[1]);
  const files = {
    "mesh.yaml": `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ratings, namespace: shop }
spec:
  hosts: [${HOST}]
  resolution: STATIC
  ports: [{ number: 9080, name: grpc, protocol: GRPC }]
  workloadSelector: { labels: { app: ratings } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: ratings-v1, namespace: shop }
spec: { address: 127.0.0.1, ports: { grpc: ${port(v1)} }, labels: { app: ratings, version: v1 } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: ratings-v2, namespace: shop }
spec: { address: 127.0.0.1, ports: { grpc: ${port(v2)} }, labels: { app: ratings, version: v2 } }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ratings, namespace: shop }
spec:
  host: ratings
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ratings, namespace: shop }
spec:
  hosts: [ratings]
  http:
${routes}`,
  };
  const loaded = loadMesh(Object.entries(files).map(([path, text]) => ({ path, text })));
  assert.ok(loaded.ok, loaded.diagnostics.map((d) => `${d.line}:${d.col} ${d.code} ${d.message}`).join("\n"));
  return loaded.model;
}

const CANARY = `    - match:
        - headers: { x-user: { exact: jason } }
      route:
        - destination: { host: ratings, subset: v2 }
    - route:
        - destination: { host: ratings, subset: v1 }
          weight: 80
        - destination: { host: ratings, subset: v2 }
          weight: 20
`;
const ALL_TO_V2 = `    - route:
        - destination: { host: ratings, subset: v2 }
`;

async function start(t: TestContext) {
  const [v1, v2] = await Promise.all([startBackend("v1"), startBackend("v2")]);
  const cache = new SnapshotCache();
  const pusher = new MeshPusher(cache, silentLogger);
  const server = new XdsServer({
    source: cache,
    logger: silentLogger,
    ...pusher.serverHooks(),
  });
  const port = await server.listen("127.0.0.1:0");
  pusher.setModel(mesh(v1, v2, CANARY));
  const bootstrap = {
    xds_servers: [{ server_uri: `127.0.0.1:${port}`, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }],
    node: { id: "frontend-1", cluster: "frontend", locality: {}, metadata: { NAMESPACE: "shop", SERVICE_ACCOUNT: "frontend", LABELS: { app: "frontend" } } },
  };
  const client = new IdentityClient(`xds:///${HOST}:9080`, { "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config": JSON.stringify(bootstrap) });
  t.after(async () => {
    client.close();
    await Promise.all([v1.close(), v2.close()]);
    await server.shutdown(1_000);
  });
  return { v1, v2, port, pusher, client };
}

test("a header match sends jason to v2; everyone else is split 80/20 between v1 and v2", async (t) => {
  const { client } = await start(t);
  for (let i = 0; i < 20; i++) assert.equal(await client.whoAnswers(10_000, { "x-user": "jason" }), "v2");
  const counts = await client.tally(1_000);
  const v1 = counts.get("v1") ?? 0;
  assert.equal(v1 + (counts.get("v2") ?? 0), 1_000);
  assert.ok(v1 >= 750 && v1 <= 850, `v1 got ${v1} of 1,000 calls; want 80% within 5 points`);
});

test("a config change switches routes live", async (t) => {
  const { client, pusher, v1, v2 } = await start(t);
  assert.ok(["v1", "v2"].includes(await client.whoAnswers()));
  pusher.setModel(mesh(v1, v2, ALL_TO_V2));
  // Wait for the push to take effect: calls until a run of 20 all reach v2.
  const deadline = Date.now() + 15_000;
  let run = 0;
  while (run < 20) {
    assert.ok(Date.now() < deadline, "the new routes did not take effect within 15 s");
    run = (await client.whoAnswers()) === "v2" ? run + 1 : 0;
    await nextTurn();
  }
  const counts = await client.tally(200);
  assert.deepEqual([...counts], [["v2", 200]]);
});

test("a proxy whose node breaks the contract is refused with a message naming what is missing", async (t) => {
  const { port } = await start(t);
  const scripted = new ScriptedClient(`127.0.0.1:${port}`);
  t.after(() => scripted.close());
  const stream = scripted.sotw();
  stream.send({ node: node("no-metadata"), type_url: CDS.typeUrl });
  const end = await stream.ended();
  assert.equal(end.code, 3);
  assert.match(end.details, /NAMESPACE is missing.*SERVICE_ACCOUNT is missing/);
});

test("for gRPC, a route needing a query parameter or another method never matches; a POST condition always does", async (t) => {
  const { client, pusher, v1, v2 } = await start(t);
  pusher.setModel(
    mesh(
      v1,
      v2,
      `    - match:
        - queryParams: { debug: { exact: "1" } }
      route: [{ destination: { host: ratings, subset: v2 } }]
    - match:
        - method: { exact: GET }
      route: [{ destination: { host: ratings, subset: v2 } }]
    - match:
        - method: { exact: POST }
          headers: { x-user: { exact: jason } }
      route: [{ destination: { host: ratings, subset: v2 } }]
    - route: [{ destination: { host: ratings, subset: v1 } }]
`,
    ),
  );
  // The switch from the canary config is in force once plain calls stop reaching v2.
  const deadline = Date.now() + 15_000;
  let run = 0;
  while (run < 20) {
    assert.ok(Date.now() < deadline, "the new routes did not take effect within 15 s");
    run = (await client.whoAnswers()) === "v1" ? run + 1 : 0;
    await nextTurn();
  }
  assert.deepEqual([...(await client.tally(100))], [["v1", 100]], "query-parameter and GET routes never match an RPC");
  for (let i = 0; i < 10; i++) assert.equal(await client.whoAnswers(10_000, { "x-user": "jason" }), "v2", "POST always holds for an RPC");
});
