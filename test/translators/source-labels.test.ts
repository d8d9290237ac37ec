// sourceLabels and sourceNamespace decide which routes a client proxy gets (Istio's rule): proxies
// whose answers are the same share one layer (one encoding); others get their own routes, and
// only where the VirtualService depends on the client.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMesh } from "../../src/config/load.js";
import type { RouteConfiguration } from "../../src/envoy/generated/envoy/config/route/v3/RouteConfiguration.js";
import { translateMesh } from "../../src/translators/mesh.js";
import type { ProxyIdentity } from "../../src/translators/proxy.js";
import { proxyLayers, resourcesForProxy } from "../../src/translators/proxy-resources.js";

const CONFIG = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: api }
spec:
  hosts: [api.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 8080, name: http, protocol: HTTP }]
  endpoints: [{ address: 10.0.0.1, labels: { version: v1 } }, { address: 10.0.0.2, labels: { version: v2 } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: plain }
spec:
  hosts: [plain.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 8080, name: http, protocol: HTTP }]
  endpoints: [{ address: 10.0.1.1 }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: api }
spec:
  host: api
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api }
spec:
  hosts: [api]
  http:
    - name: canary-clients
      match: [{ sourceLabels: { track: canary } }]
      route: [{ destination: { host: api, subset: v2 } }]
    - name: qa-clients
      match: [{ uri: { prefix: /qa }, sourceNamespace: qa }]
      route: [{ destination: { host: api, subset: v2 } }]
    - name: rest
      route: [{ destination: { host: api, subset: v1 } }]
`;

function translation() {
  const result = loadMesh([{ path: "mesh.yaml", text: CONFIG }]);
  assert.deepEqual(result.diagnostics.filter((d) => d.severity === "error"), []);
  assert.ok(result.ok);
  return translateMesh(result.model);
}

const sidecar = (nodeId: string, namespace: string, labels: Record<string, string>): ProxyIdentity => ({ nodeId, kind: "sidecar", namespace, serviceAccount: "sa", labels, instanceIps: [] });

function routeNames(t: ReturnType<typeof translation>, proxy: ProxyIdentity): string[] {
  const rc = resourcesForProxy(t, proxy).find((r) => r.type === "envoy.config.route.v3.RouteConfiguration" && r.name === "api.default.svc.cluster.local:8080");
  return ((rc?.message as RouteConfiguration | undefined)?.virtual_hosts?.[0]?.routes ?? []).map((r) => r.name ?? "");
}

test("a proxy gets a match only when its labels and namespace are those the match names", () => {
  const t = translation();
  assert.deepEqual(routeNames(t, sidecar("a", "default", { app: "web" })), ["rest"]);
  assert.deepEqual(routeNames(t, sidecar("b", "default", { app: "web", track: "canary" })), ["canary-clients"], "a catch-all for this client: nothing after it");
  assert.deepEqual(routeNames(t, sidecar("c", "qa", { app: "web" })), ["qa-clients", "rest"]);
  const grpc: ProxyIdentity = { nodeId: "g", kind: "grpc", namespace: "default", serviceAccount: "sa", labels: { track: "canary" }, instanceIps: [] };
  assert.deepEqual(routeNames(t, grpc), ["canary-clients"], "proxyless gRPC clients too");
});

test("proxies with the same answers share one layer and the same objects; other services' routes stay shared", () => {
  const t = translation();
  const [a] = proxyLayers(t, sidecar("a", "default", { app: "web", track: "canary" }));
  const [b] = proxyLayers(t, sidecar("b", "default", { app: "other", track: "canary" }));
  const [c] = proxyLayers(t, sidecar("c", "default", { app: "web" }));
  assert.ok(a !== undefined && b !== undefined && c !== undefined);
  assert.equal(a.key, b.key);
  assert.notEqual(a.key, c.key);
  const plain = (l: typeof a) => l.resources().find((r) => r.name === "plain.default.svc.cluster.local:8080" && r.type === "envoy.config.route.v3.RouteConfiguration");
  assert.ok(plain(a) !== undefined && plain(a) === plain(c), "a service that does not depend on the client keeps its shared routes");
  const api = (l: typeof a) => l.resources().find((r) => r.name === "api.default.svc.cluster.local:8080" && r.type === "envoy.config.route.v3.RouteConfiguration");
  assert.equal(api(a), api(b), "built once for both");
});
