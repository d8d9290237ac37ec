// Workloads that register themselves (WORKLOAD_GROUP) become endpoints while their xDS stream is
// up, and leave a grace period after it ends: the real gRPC xDS client is routed to them with no
// config change.
import assert from "node:assert/strict";
import { setImmediate as nextTurn } from "node:timers/promises";
import { test, type TestContext } from "node:test";
import { ServerCredentials, type ServiceDefinition } from "@grpc/grpc-js";
import * as xds from "@grpc/grpc-js-xds";
import { MeshPusher } from "../../src/runtime/index.js";
import { loadMesh, type MeshModel } from "../../src/config/load.js";
import { silentLogger } from "../../src/log.js";
import { GRPC_SERVER_LISTENER_TEMPLATE } from "../../src/translators/grpc-server.js";
import { CDS, SnapshotCache, XdsServer } from "../../src/xds/index.js";
import { IdentityClient, startBackend } from "../support/backends.js";
import { ScriptedClient } from "../support/xds-client.js";
import { freePort } from "../support/ports.js";

xds.register();

const HOST = "ratings.shop.svc.cluster.local";
const WHO_AM_I = "/gitmesh.test.Identity/WhoAmI";
const json = {
  serialize: (value: object): Buffer => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer): object => JSON.parse(bytes.toString("utf8")) as object,
};
const identityService: ServiceDefinition = {
  whoAmI: { path: WHO_AM_I, requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
};

/** A ServiceEntry selecting app=ratings and the WorkloadGroup its workloads register in; no WorkloadEntry. */
function mesh(port: number): MeshModel {
  const loaded = loadMesh([
    {
      path: "mesh.yaml",
      text: `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ratings, namespace: shop }
spec:
  hosts: [${HOST}]
  resolution: STATIC
  ports: [{ number: 9080, name: grpc, protocol: GRPC }]
  workloadSelector: { labels: { app: ratings } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: { name: ratings, namespace: shop }
spec:
  metadata: { labels: { app: ratings } }
  template: { serviceAccount: ratings, ports: { grpc: ${port} } }
`,
    },
  ]);
  assert.ok(loaded.ok, loaded.diagnostics.map((d) => `${d.line}:${d.col} ${d.code} ${d.message}`).join("\n"));
  return loaded.model;
}

async function controlPlane(t: TestContext, port: number) {
  const cache = new SnapshotCache();
  const pusher = new MeshPusher(cache, silentLogger, { registrationGraceMs: 300, registrationBatchMs: 10 });
  const server = new XdsServer({ source: cache, logger: silentLogger, ...pusher.serverHooks() });
  const xdsPort = await server.listen("127.0.0.1:0");
  pusher.setModel(mesh(port));
  // Clients go before the control plane: an xDS client whose server vanished keeps retrying.
  const clients: (() => void)[] = [];
  t.after(async () => {
    for (const close of clients) close();
    pusher.close();
    await server.shutdown(1_000);
  });
  const bootstrap = (id: string, metadata: Record<string, unknown>) =>
    JSON.stringify({
      xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }],
      node: { id, cluster: "test", locality: {}, metadata },
      server_listener_resource_name_template: GRPC_SERVER_LISTENER_TEMPLATE,
    });
  const client = new IdentityClient(`xds:///${HOST}:9080`, {
    "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config": bootstrap("frontend-1", { NAMESPACE: "shop", SERVICE_ACCOUNT: "frontend" }),
  });
  clients.push(() => client.close());
  return { pusher, xdsPort, client, bootstrap, clients };
}

/** Calls until `want` says the answer is the expected one `times` times in a row (each call is the event waited on). */
async function until(what: string, call: () => Promise<string>, want: (answer: string) => boolean, times = 10): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (let run = 0; run < times; ) {
    assert.ok(Date.now() < deadline, `${what} did not happen within 15 s`);
    run = want(await call().catch((e: Error) => `error: ${e.message}`)) ? run + 1 : 0;
    await nextTurn();
  }
}

test("a proxyless gRPC server naming a WorkloadGroup registers itself and is routed to", async (t) => {
  const port = await freePort();
  const { client, bootstrap, clients } = await controlPlane(t, port);
  await assert.rejects(client.whoAnswers(2_000), "no endpoint before anything registers");
  // A real gRPC xDS server: its node names the group and its address; it fetches its inbound
  // Listener from gitmesh (and only serves once it has it).
  const server = new xds.XdsServer({
    "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config": bootstrap("ratings-7f9c", {
      NAMESPACE: "shop",
      SERVICE_ACCOUNT: "ratings",
      LABELS: { app: "ratings", version: "v7" },
      WORKLOAD_GROUP: "ratings",
      INSTANCE_IPS: "127.0.0.1",
      PROXY_KIND: "grpc",
    }),
  });
  server.addService(identityService, { whoAmI: (_call: unknown, callback: (err: null, value: object) => void) => callback(null, { backend: "registered" }) });
  clients.push(() => server.forceShutdown());
  await new Promise<void>((resolve, reject) => server.bindAsync(`0.0.0.0:${port}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  await until("routing to the registered server", () => client.whoAnswers(), (a) => a === "registered");
  assert.deepEqual([...(await client.tally(50))], [["registered", 50]]);
});

test("scaling up adds endpoints, and a proxy gone for the grace period is removed", async (t) => {
  // Two replicas on one port at different loopback addresses, as two containers would be.
  const a = await startBackend("a");
  const port = Number(a.address.split(":")[1]);
  const b = await startBackend("b", { host: "127.0.0.2", port });
  t.after(() => Promise.all([a.close(), b.close()]));
  const { client, xdsPort } = await controlPlane(t, port);
  const replica = (id: string, ip: string) => {
    const scripted = new ScriptedClient(`127.0.0.1:${xdsPort}`);
    const stream = scripted.sotw();
    const str = (v: string) => ({ stringValue: v });
    const metadata = {
      fields: {
        NAMESPACE: str("shop"),
        SERVICE_ACCOUNT: str("ratings"),
        WORKLOAD_GROUP: str("ratings"),
        INSTANCE_IPS: str(ip),
        PROXY_KIND: str("sidecar"),
        LABELS: { structValue: { fields: { app: str("ratings") } } },
      },
    };
    stream.send({ node: { id, cluster: "ratings", metadata }, type_url: CDS.typeUrl });
    t.after(() => scripted.close());
    return stream;
  };
  const first = replica("ratings-a", "127.0.0.1");
  await until("routing to the first replica", () => client.whoAnswers(), (x) => x === "a");
  replica("ratings-b", "127.0.0.2");
  await until("routing to the second replica", () => client.whoAnswers(), (x) => x === "b", 1);
  const both = await client.tally(200);
  assert.ok((both.get("a") ?? 0) > 0 && (both.get("b") ?? 0) > 0, `both replicas answer: ${JSON.stringify([...both])}`);
  first.cancel();
  await until("the first replica's removal after the grace period", () => client.whoAnswers(), (x) => x === "b", 20);
  assert.deepEqual([...(await client.tally(100))], [["b", 100]], "only the replica still connected answers");
});
