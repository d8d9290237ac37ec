// Faults, timeouts and retries from VirtualServices, obeyed by the real gRPC xDS client.
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { status } from "@grpc/grpc-js";
import * as xds from "@grpc/grpc-js-xds";
import { MeshPusher } from "../../src/runtime/index.js";
import { loadMesh } from "../../src/config/load.js";
import { silentLogger } from "../../src/log.js";
import { SnapshotCache, XdsServer } from "../../src/xds/index.js";
import { IdentityClient, startBackend } from "../support/backends.js";

xds.register();

const HOST = "shop.default.svc.cluster.local";

/** A mesh of one service on one backend, routed by `http` (the VirtualService's http list). */
async function start(t: TestContext, http: string, failFirst = 0) {
  const backend = await startBackend("shop", { failFirst });
  const port = Number(backend.address.split(":")[1]);
  const loaded = loadMesh([
    {
      path: "mesh.yaml",
      text: `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: shop }
spec:
  hosts: [${HOST}]
  resolution: STATIC
  ports: [{ number: 8080, name: grpc, protocol: GRPC }]
  endpoints: [{ address: 127.0.0.1, ports: { grpc: ${port} } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shop }
spec:
  hosts: [shop]
  http:
${http}`,
    },
  ]);
  assert.ok(loaded.ok, loaded.diagnostics.map((d) => `${d.line}:${d.col} ${d.code} ${d.message}`).join("\n"));
  const cache = new SnapshotCache();
  const pusher = new MeshPusher(cache, silentLogger);
  const server = new XdsServer({
    source: cache,
    logger: silentLogger,
    ...pusher.serverHooks(),
  });
  const xdsPort = await server.listen("127.0.0.1:0");
  pusher.setModel(loaded.model);
  const bootstrap = {
    xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }],
    node: { id: `client-${Math.random()}`, cluster: "c", locality: {}, metadata: { NAMESPACE: "default", SERVICE_ACCOUNT: "client" } },
  };
  const client = new IdentityClient(`xds:///${HOST}:8080`, { "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config": JSON.stringify(bootstrap) });
  t.after(async () => {
    client.close();
    await backend.close();
    await server.shutdown(1_000);
  });
  return { client, backend };
}

/** The gRPC status code of one call (0 for OK) and how long it took. */
async function call(client: IdentityClient, timeoutMs = 10_000): Promise<{ code: number; ms: number }> {
  const t0 = performance.now();
  try {
    await client.whoAnswers(timeoutMs);
    return { code: status.OK, ms: performance.now() - t0 };
  } catch (e) {
    return { code: (e as { code: number }).code, ms: performance.now() - t0 };
  }
}

const route = `      route: [{ destination: { host: shop } }]`;

test("fault abort: every call fails with the mapped status, the backend never sees it", async (t) => {
  const { client, backend } = await start(t, `    - fault: { abort: { httpStatus: 503, percentage: { value: 100 } } }\n${route}\n      retries: { attempts: 0 }`);
  for (let i = 0; i < 5; i++) assert.equal((await call(client)).code, status.UNAVAILABLE, "HTTP 503 is gRPC UNAVAILABLE");
  assert.equal(backend.calls(), 0);
});

test("fault delay: every call is held for the delay", async (t) => {
  const { client } = await start(t, `    - fault: { delay: { fixedDelay: 300ms, percentage: { value: 100 } } }\n${route}`);
  for (let i = 0; i < 3; i++) {
    const r = await call(client);
    assert.equal(r.code, status.OK);
    assert.ok(r.ms >= 290, `the call took ${r.ms.toFixed(0)} ms; the delay is 300 ms`);
  }
});

test("timeout: a route timeout shorter than the injected delay ends the call with DEADLINE_EXCEEDED", async (t) => {
  const { client } = await start(t, `    - fault: { delay: { fixedDelay: 2s, percentage: { value: 100 } } }\n      timeout: 200ms\n${route}`);
  // The first call also waits for the xDS config; later calls show the route's own timeout.
  await call(client);
  const r = await call(client);
  assert.equal(r.code, status.DEADLINE_EXCEEDED);
  assert.ok(r.ms < 1_500, `the call ended after ${r.ms.toFixed(0)} ms, before the 2 s delay`);
});

test("retries: a backend failing its first two calls is retried past; without retries the call fails", async (t) => {
  const retried = await start(t, `    - route: [{ destination: { host: shop } }]\n      retries: { attempts: 3, retryOn: unavailable }`, 2);
  assert.equal((await call(retried.client)).code, status.OK);
  assert.equal(retried.backend.calls(), 3, "two failures and the success");

  const plain = await start(t, `    - route: [{ destination: { host: shop } }]\n      retries: { attempts: 0 }`, 2);
  assert.equal((await call(plain.client)).code, status.UNAVAILABLE);
});
