// Workloads that register themselves (WORKLOAD_GROUP) become endpoints while their authenticated
// xDS stream is up, and leave a grace period after it ends: the real gRPC xDS client is routed to
// them with no config change. A stream that did not authenticate as the group's identity is not.
import assert from "node:assert/strict";
import { setImmediate as nextTurn } from "node:timers/promises";
import { test, type TestContext } from "node:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata, ServerCredentials, type ServiceDefinition } from "@grpc/grpc-js";
import * as xds from "@grpc/grpc-js-xds";
import { issueToken, loadOrCreateTokenKey, trustBundlePem } from "../../src/ca/index.js";
import { MeshPusher, openSecure } from "../../src/runtime/index.js";
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
  const stateDir = mkdtempSync(join(tmpdir(), "gitmesh-registration-"));
  const secure = await openSecure({ stateDir, trustDomain: "cluster.local", logger: silentLogger });
  const cache = new SnapshotCache();
  const pusher = new MeshPusher(cache, silentLogger, { registrationGraceMs: 300, registrationBatchMs: 10 });
  const server = new XdsServer({ source: cache, logger: silentLogger, ...pusher.serverHooks() });
  const xdsPort = await server.listen("127.0.0.1:0");
  const tlsPort = await server.listen("127.0.0.1:0", secure.credentials, secure.policy);
  pusher.setModel(mesh(port));
  const key = await loadOrCreateTokenKey(stateDir);
  const bundle = Buffer.from(trustBundlePem(secure.ca));
  // Clients go before the control plane: an xDS client whose server vanished keeps retrying.
  const clients: (() => void)[] = [];
  t.after(async () => {
    for (const close of clients) close();
    pusher.close();
    secure.close();
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
  /**
   * A registrant: a stream naming the group and the workload's address, as the workload's own
   * agent or sidecar holds it. On the TLS port with a token for `serviceAccount`, or plaintext.
   */
  const registrant = (id: string, ip: string, how: { tls: false } | { tls: true; serviceAccount: string }) => {
    const scripted = how.tls ? new ScriptedClient(`localhost:${tlsPort}`, { "grpc.use_local_subchannel_pool": 1 }, credentials.createSsl(bundle)) : new ScriptedClient(`127.0.0.1:${xdsPort}`);
    const metadata = new Metadata();
    if (how.tls) metadata.set("authorization", `Bearer ${issueToken(key, "shop", how.serviceAccount)}`);
    const stream = scripted.sotw(undefined, metadata);
    const str = (v: string) => ({ stringValue: v });
    const fields = {
      NAMESPACE: str("shop"),
      SERVICE_ACCOUNT: str(how.tls ? how.serviceAccount : "ratings"),
      WORKLOAD_GROUP: str("ratings"),
      INSTANCE_IPS: str(ip),
      PROXY_KIND: str("grpc"),
      LABELS: { structValue: { fields: { app: str("ratings") } } },
    };
    stream.send({ node: { id, cluster: "ratings", metadata: { fields } }, type_url: CDS.typeUrl });
    clients.push(() => scripted.close());
    return stream;
  };
  return { pusher, xdsPort, client, bootstrap, clients, registrant };
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

test("a stream naming a WorkloadGroup without authenticating is not an endpoint, and its status says why", async (t) => {
  const port = await freePort();
  const { client, bootstrap, clients, pusher, registrant } = await controlPlane(t, port);
  // A real gRPC xDS server whose node names the group, on the plaintext port: it is served its
  // inbound Listener, but its claim to be an endpoint of ratings is not taken.
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
  await until("the plaintext claim refused", async () => JSON.stringify(pusher.registrationStatus.refused), (r) => /did not authenticate: registration needs the TLS port and a token for shop\/ratings/.test(r), 1);
  assert.deepEqual(pusher.registrationStatus.registered, []);
  await assert.rejects(client.whoAnswers(2_000), "no endpoint: nothing authenticated registered");
  // A token for another service account of the namespace is refused too, saying which one the group wants.
  registrant("ratings-impostor", "127.0.0.1", { tls: true, serviceAccount: "frontend" });
  await until("the wrong identity refused", async () => JSON.stringify(pusher.registrationStatus.refused), (r) => /is shop\/frontend, but WorkloadGroup shop\/ratings is for service account ratings/.test(r), 1);
  // The workload's own authenticated registrant makes it an endpoint, and the server is routed to.
  registrant("ratings-7f9c-agent", "127.0.0.1", { tls: true, serviceAccount: "ratings" });
  await until("routing to the registered server", () => client.whoAnswers(), (a) => a === "registered");
  assert.deepEqual([...(await client.tally(50))], [["registered", 50]]);
});

test("scaling up adds endpoints, and a proxy gone for the grace period is removed", async (t) => {
  // Two replicas on one port at different loopback addresses, as two containers would be.
  const a = await startBackend("a");
  const port = Number(a.address.split(":")[1]);
  const b = await startBackend("b", { host: "127.0.0.2", port });
  t.after(() => Promise.all([a.close(), b.close()]));
  const { client, registrant } = await controlPlane(t, port);
  const replica = (id: string, ip: string) => registrant(id, ip, { tls: true, serviceAccount: "ratings" });
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
