// Translating with a memo gives exactly a fresh translation, reusing the objects of services
// whose inputs did not change (so they are not encoded again).
import assert from "node:assert/strict";
import { test } from "node:test";
import { createMeshLoader } from "../../src/config/load.js";
import { createTranslationMemo, translateMesh, type MeshTranslation } from "../../src/translators/mesh.js";
import { meshFiles } from "../../bench/mesh-gen.js";

/**
 * What a translation hands to proxies (the model and index it carries are inputs, the memo and
 * the shared scratch are caches, not output), the gRPC side computed.
 */
function output(t: MeshTranslation) {
  return { ...t, grpc: t.grpc(), services: t.services.map((s) => ({ ...s, grpc: s.grpc(), grpcClusters: s.grpcClusters() })), model: undefined, index: undefined, memo: undefined, shared: undefined };
}

test("a memoised translation equals a fresh one and reuses unchanged services", () => {
  const files = meshFiles(10);
  const memo = createTranslationMemo();
  // As serve's reloader does: one loader, which keeps the resources of unchanged files.
  const loader = createMeshLoader();
  const before = translateMesh(loader.load(files).model, memo);
  // svc-1 routes change: its routes must be rebuilt; its clusters and every other service's
  // resources are the same objects.
  const changed = files.map((f) => (f.path.endsWith("svc-1/virtual-service.yaml") ? { ...f, text: f.text.replace("weight: 90", "weight: 70").replace("weight: 10", "weight: 30") } : f));
  const model = loader.load(changed).model;
  const after = translateMesh(model, memo);
  assert.deepEqual(output(after), output(translateMesh(model)), "same as a fresh translation");
  const listener = (t: typeof after, host: string) => t.services.find((s) => s.host.startsWith(host))?.outboundListeners;
  assert.equal(listener(after, "svc-2."), listener(before, "svc-2."), "an unchanged service's sidecar listeners are the same object");
  const route = (t: typeof after, host: string) => t.grpc().routes.find((r) => r.name.startsWith(host));
  assert.notEqual(route(after, "svc-1."), route(before, "svc-1."), "the changed service's routes are new");
  assert.equal(route(after, "svc-2."), route(before, "svc-2."), "an unchanged service's routes are the same object");
  assert.equal(after.clusters.find((c) => c.name.includes("svc-1.")), before.clusters.find((c) => c.name.includes("svc-1.")), "svc-1's clusters do not depend on its routes");
  const reused = after.clusters.filter((c, i) => c === before.clusters[i]).length;
  assert.equal(reused, after.clusters.length);
});

test("a change to a destination's DestinationRule rebuilds the routes that send to it", () => {
  const files = meshFiles(3);
  const memo = createTranslationMemo();
  const loader = createMeshLoader();
  translateMesh(loader.load(files).model, memo);
  const changed = files.map((f) => (f.path.endsWith("svc-1/destination-rule.yaml") ? { ...f, text: f.text.replace("simple: LEAST_REQUEST", "consistentHash: { httpHeaderName: x-user }") } : f));
  const model = loader.load(changed).model;
  assert.deepEqual(output(translateMesh(model, memo)), output(translateMesh(model)), "the hash policy on svc-1's routes is not served stale");
});

test("a root VirtualService's routes are reused while neither it nor its delegate changes, and rebuilt when its delegate does", () => {
  const se = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: api, namespace: shop }
spec:
  hosts: [api.shop.svc.cluster.local]
  ports: [{ number: 8080, name: http, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: 10.0.0.1 }]
`;
  const root = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api, namespace: shop }
spec:
  hosts: [api]
  http: [{ match: [{ uri: { prefix: /v1 } }], delegate: { name: api-v1 } }]
`;
  const delegate = (timeout: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api-v1, namespace: shop }
spec:
  http: [{ timeout: ${timeout}, route: [{ destination: { host: api } }] }]
`;
  const files = (timeout: string) => [
    { path: "se.yaml", text: se },
    { path: "root.yaml", text: root },
    { path: "delegate.yaml", text: delegate(timeout) },
  ];
  const memo = createTranslationMemo();
  const loader = createMeshLoader();
  const routes = (t: MeshTranslation) => t.services.find((s) => s.host === "api.shop.svc.cluster.local")?.outboundRoutes;
  const first = translateMesh(loader.load(files("2s")).model, memo);
  const same = translateMesh(loader.load(files("2s")).model, memo);
  assert.equal(routes(same), routes(first), "nothing changed: the same route objects");
  const model = loader.load(files("3s")).model;
  const changed = translateMesh(model, memo);
  assert.notEqual(routes(changed), routes(first), "the delegate changed: the root's routes are rebuilt");
  assert.deepEqual(output(changed), output(translateMesh(model)), "same as a fresh translation");
  assert.match(JSON.stringify(routes(changed)), /"seconds":"3"|"seconds":3/);
});
