// Mutual TLS with the real gRPC xDS client: certificates from `gitmesh cert issue` (run as a
// process), a mesh with a STRICT PeerAuthentication, an ISTIO_MUTUAL DestinationRule and an
// AuthorizationPolicy on a principal, served by gitmesh's pusher and xDS server on loopback, to a
// grpc-js-xds XdsServer (XdsServerCredentials) and xDS clients (XdsChannelCredentials) whose
// bootstraps come from grpcBootstrap with --cert-dir.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Client, credentials, Metadata, ServerCredentials, status, type ServiceDefinition } from "@grpc/grpc-js";
import { grpcBootstrap } from "../../src/cli/bootstrap.js";
import { MeshPusher } from "../../src/runtime/index.js";
import { loadMesh } from "../../src/config/load.js";
import { silentLogger } from "../../src/log.js";
import { SnapshotCache, XdsServer } from "../../src/xds/index.js";
import { freePort } from "../support/ports.js";

// gRPC registers its RBAC filter only with this set, read when the package first loads.
process.env["GRPC_XDS_EXPERIMENTAL_RBAC"] = "true";
const xds = await import("@grpc/grpc-js-xds");
xds.register();
const { validateBootstrapConfig } = (await import("@grpc/grpc-js-xds/build/src/xds-bootstrap.js")) as unknown as { validateBootstrapConfig(obj: object): unknown };

const run = promisify(execFile);
const caCli = fileURLToPath(new URL("../support/ca-cli.js", import.meta.url));

const WHO_AM_I = "/gitmesh.test.Identity/WhoAmI";
const json = {
  serialize: (value: object): Buffer => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer): object => JSON.parse(bytes.toString("utf8")) as object,
};
const identityService: ServiceDefinition = {
  whoAmI: { path: WHO_AM_I, requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
};

/** One CA in a temporary state directory; certificates issued into DIR/SA by `gitmesh cert issue`. */
async function pki(t: TestContext): Promise<(serviceAccount: string) => Promise<string>> {
  const dir = await mkdtemp(join(tmpdir(), "gitmesh-mtls-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const state = join(dir, "state");
  await run(process.execPath, [caCli, "ca", "init", "--state-dir", state, "--key-type", "ecdsa"]);
  return async (serviceAccount) => {
    const out = join(dir, serviceAccount);
    await run(process.execPath, [caCli, "cert", "issue", "--state-dir", state, "--namespace", "default", "--service-account", serviceAccount, "--key-type", "ecdsa", "--out", out]);
    return out;
  };
}

const HOST = "orders.default.svc.cluster.local";

function mesh(port: number, extra: string, tls: string) {
  const loaded = loadMesh([
    {
      path: "mesh.yaml",
      text: `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: orders, namespace: default }
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: ${port}, name: grpc, protocol: GRPC }]
  workloadSelector: { labels: { app: orders } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: orders-1, namespace: default }
spec: { address: 127.0.0.1, labels: { app: orders }, serviceAccount: orders }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec:
  mtls: { mode: STRICT }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: orders, namespace: default }
spec:
  host: orders
  trafficPolicy:
    tls: ${tls}
${extra}`,
    },
  ]);
  assert.ok(loaded.ok, loaded.diagnostics.map((d) => `${d.code} ${d.line}:${d.col} ${d.message}`).join("\n"));
  return loaded.model;
}

const ONLY_FRONTEND = `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: orders-callers, namespace: default }
spec:
  selector: { matchLabels: { app: orders } }
  action: ALLOW
  rules:
    - from:
        - source: { principals: [cluster.local/ns/default/sa/frontend] }
`;

interface Mesh {
  /** The status of one call from an xDS client with this service account's certificates (0: OK). */
  callAs(serviceAccount: string): Promise<number>;
  /** The status of one call from a plaintext client that knows nothing of xDS. */
  callPlaintext(): Promise<number>;
}

let nodes = 0;

async function start(t: TestContext, policy: string, tls = "{ mode: ISTIO_MUTUAL }"): Promise<Mesh> {
  const issue = await pki(t);
  const port = await freePort();
  const cache = new SnapshotCache();
  const pusher = new MeshPusher(cache, silentLogger);
  const controlPlane = new XdsServer({ source: cache, logger: silentLogger, ...pusher.serverHooks() });
  const xdsPort = await controlPlane.listen("127.0.0.1:0");
  pusher.setModel(mesh(port, policy, tls));
  // Everything that holds an xDS stream closes before the control plane: an xDS client whose
  // server went first keeps retrying and the process alive. One hook, in that order.
  const closers: (() => void)[] = [];
  t.after(async () => {
    for (const close of closers.reverse()) close();
    pusher.close();
    await controlPlane.shutdown(1_000);
  });
  const bootstrap = async (serviceAccount: string, labels: Record<string, string>) => {
    const b = grpcBootstrap({
      kind: "grpc",
      nodeId: `${serviceAccount}-${++nodes}`,
      namespace: "default",
      serviceAccount,
      labels,
      xdsAddress: `127.0.0.1:${xdsPort}`,
      adminPort: 0,
      certDir: await issue(serviceAccount),
    });
    validateBootstrapConfig(b); // throws on what the client would refuse
    return JSON.stringify(b);
  };

  const server = new xds.XdsServer({ "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config": await bootstrap("orders", { app: "orders" }) });
  server.addService(identityService, { whoAmI: (_call: unknown, callback: (err: null, value: object) => void) => callback(null, { backend: "orders" }) });
  closers.push(() => server.forceShutdown());
  await new Promise<void>((resolve, reject) => server.bindAsync(`0.0.0.0:${port}`, new xds.XdsServerCredentials(ServerCredentials.createInsecure()), (err) => (err ? reject(err) : resolve())));

  const call = (client: Client) =>
    new Promise<number>((resolve) => {
      client.makeUnaryRequest(WHO_AM_I, json.serialize, json.deserialize, {}, new Metadata(), { deadline: Date.now() + 10_000 }, (err) => resolve(err ? err.code : status.OK));
    });
  return {
    callAs: async (serviceAccount) => {
      const client = new Client(`xds:///${HOST}:${port}`, new xds.XdsChannelCredentials(credentials.createInsecure()), {
        "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config": await bootstrap(serviceAccount, { app: serviceAccount }),
      });
      closers.push(() => client.close());
      return call(client);
    },
    callPlaintext: async () => {
      const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
      closers.push(() => client.close());
      return call(client);
    },
  };
}

test("STRICT: an xDS client with mesh certificates is served; a plaintext client is refused", async (t) => {
  const m = await start(t, "");
  assert.equal(await m.callAs("frontend"), status.OK);
  assert.equal(await m.callAs("intruder"), status.OK, "no AuthorizationPolicy: any mesh identity is served");
  assert.equal(await m.callPlaintext(), status.UNAVAILABLE, "the server speaks only TLS");
});

test("ALLOW principal cluster.local/ns/default/sa/frontend: the frontend is served, another identity is denied", async (t) => {
  const m = await start(t, ONLY_FRONTEND);
  assert.equal(await m.callAs("frontend"), status.OK);
  assert.equal(await m.callAs("intruder"), status.PERMISSION_DENIED);
  assert.equal(await m.callPlaintext(), status.UNAVAILABLE);
});

test("the client verifies the server's identity: a DestinationRule expecting another SAN fails the handshake", async (t) => {
  const m = await start(t, "", '{ mode: ISTIO_MUTUAL, subjectAltNames: ["spiffe://cluster.local/ns/default/sa/someone-else"] }');
  assert.equal(await m.callAs("frontend"), status.UNAVAILABLE);
});
