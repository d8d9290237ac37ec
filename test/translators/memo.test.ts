// Translating with a memo gives exactly a fresh translation, reusing the objects of services
// whose inputs did not change (so they are not encoded again).
import assert from "node:assert/strict";
import { test } from "node:test";
import { createMeshLoader } from "../../src/config/load.js";
import { createTranslationMemo, translateMesh, translateMeshSteps, type MeshTranslation } from "../../src/translators/mesh.js";
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

/** A file of the generated mesh edited: its text with each [from, to] replaced (a change that must take). */
function edit(path: string, ...swaps: [string, string][]) {
  return (files: readonly { path: string; text: string }[]) =>
    files.map((f) => {
      if (!f.path.endsWith(path)) return f;
      let text = f.text;
      for (const [from, to] of swaps) {
        assert.ok(text.includes(from), `${path} has ${from}`);
        text = text.replace(from, to);
      }
      return { ...f, text };
    });
}
const addFile = (path: string, text: string) => (files: readonly { path: string; text: string }[]) => [...files, { path, text }];
const dropFile = (path: string) => (files: readonly { path: string; text: string }[]) => files.filter((f) => !f.path.endsWith(path));

// Each edit applies to the mesh as the previous one left it, translated with one memo and one
// loader (as serve's pusher and reloader do): each translation must equal a fresh one. The memo
// reuses derived parts (the services, the VirtualServices' routing view, mTLS keys, the sorted
// lists) by the identity of the resources they come from; a reuse that missed an input serves a
// stale resource here.
const edits: { name: string; change: (files: readonly { path: string; text: string }[]) => { path: string; text: string }[] }[] = [
  { name: "a VirtualService's weights (its routing view patched in place)", change: edit("svc-1/virtual-service.yaml", ["weight: 90", "weight: 60"], ["weight: 10", "weight: 40"]) },
  { name: "two VirtualServices at once", change: (f) => edit("svc-2/virtual-service.yaml", ["timeout: 2s", "timeout: 4s"])(edit("svc-3/virtual-service.yaml", ["attempts: 3", "attempts: 2"])(f)) },
  {
    name: "a service routed by a wildcard VirtualService",
    change: (f) =>
      addFile(
        "ext/api.yaml",
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: api, namespace: ext }\nspec:\n  hosts: [api.example.com]\n  location: MESH_EXTERNAL\n  resolution: STATIC\n  endpoints: [{ address: 192.0.2.10 }]\n  ports: [{ number: 80, name: http, protocol: HTTP }]\n",
      )(addFile("ext/example.yaml", 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: example, namespace: ext }\nspec:\n  hosts: ["*.example.com"]\n  http: [{ timeout: 3s, route: [{ destination: { host: api.example.com } }] }]\n')(f)),
  },
  { name: "the wildcard VirtualService's timeout (edited in place)", change: edit("ext/example.yaml", ["timeout: 3s", "timeout: 6s"]) },
  { name: "a VirtualService's hosts", change: edit("svc-1/virtual-service.yaml", ["hosts: [svc-1]", "hosts: [svc-1, svc-9]"]) },
  { name: "a VirtualService sending to another service", change: edit("svc-2/virtual-service.yaml", ["destination: { host: svc-2, subset: v2 }", "destination: { host: svc-4.team-4.svc.cluster.local, subset: v2 }"]) },
  { name: "that destination's DestinationRule", change: edit("svc-4/destination-rule.yaml", ["simple: LEAST_REQUEST", "consistentHash: { httpHeaderName: x-user }"]) },
  { name: "a VirtualService's exportTo", change: edit("svc-5/virtual-service.yaml", ["hosts: [svc-5]", 'hosts: [svc-5]\n  exportTo: ["."]']) },
  { name: "a VirtualService moved to another file", change: (files) => files.map((f) => (f.path.endsWith("svc-6/virtual-service.yaml") ? { ...f, path: f.path.replace("virtual-service.yaml", "vs.yaml") } : f)) },
  {
    name: "a VirtualService delegating",
    change: (f) =>
      addFile("team-7/svc-7/delegate.yaml", "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: svc-7-api, namespace: team-7 }\nspec:\n  http: [{ timeout: 7s, route: [{ destination: { host: svc-7 } }] }]\n")(
        edit("svc-7/virtual-service.yaml", ["    - match:\n        - headers: { x-canary: { exact: \"1\" } }\n      route:\n        - destination: { host: svc-7, subset: v2 }", "    - match:\n        - headers: { x-canary: { exact: \"1\" } }\n      delegate: { name: svc-7-api }"])(f),
      ),
  },
  { name: "the delegate's weights after that", change: edit("svc-7/delegate.yaml", ["timeout: 7s", "timeout: 8s"]) },
  { name: "another VirtualService's weights, with a delegation in the mesh", change: edit("svc-1/virtual-service.yaml", ["weight: 60", "weight: 50"], ["weight: 40", "weight: 50"]) },
  { name: "a DestinationRule's subsets", change: edit("svc-8/destination-rule.yaml", ["- { name: v2, labels: { version: v2 } }", "- { name: v2, labels: { version: v1 } }"]) },
  { name: "a ServiceEntry's port", change: edit("svc-3/service.yaml", ["number: 8080", "number: 8081"]) },
  { name: "a workload's address", change: edit("svc-2/workload-v1.yaml", ["address: 10.0.2.1", "address: 10.0.2.7"]) },
  { name: "a workload's labels (leaving a subset)", change: edit("svc-4/workload-v2.yaml", ["version: v2", "version: v3"]) },
  { name: "a workload deleted", change: dropFile("svc-5/workload-v1.yaml") },
  { name: "a ServiceEntry deleted (its VirtualService now routes to nothing)", change: dropFile("svc-9/service.yaml") },
  { name: "a PeerAuthentication turning mTLS off in a namespace", change: addFile("team-3/peer.yaml", "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: default, namespace: team-3 }\nspec:\n  mtls: { mode: DISABLE }\n") },
  { name: "a workload labelled outside the mesh's mTLS", change: edit("svc-6/workload-v1.yaml", ["version: v1 }", "version: v1, security.istio.io/tlsMode: disabled }"]) },
  { name: "nothing changed", change: (f) => [...f] },
];

test("a memoised translation equals a fresh one after each of a series of edits", () => {
  let files = meshFiles(10);
  const memo = createTranslationMemo();
  const loader = createMeshLoader();
  translateMesh(loader.load(files).model, memo);
  for (const e of edits) {
    files = e.change(files);
    const loaded = loader.load(files);
    if (process.env["MEMO_DEBUG"] === "1") console.log(e.name, loaded.diagnostics.map((d) => `${d.code} ${d.file}`).join(", "));
    const model = loaded.model;
    assert.deepEqual(output(translateMesh(model, memo)), output(translateMesh(model)), e.name);
  }
});

test("a memoised translation follows the mesh's naming and DNS answers", () => {
  const files = [
    ...meshFiles(3),
    {
      path: "ext/api.yaml",
      text: "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: api, namespace: ext }\nspec:\n  hosts: [api.example.com]\n  location: MESH_EXTERNAL\n  resolution: DNS\n  ports: [{ number: 443, name: tls, protocol: TLS }]\n",
    },
  ];
  const memo = createTranslationMemo();
  const loader = createMeshLoader();
  const naming = { rootNamespace: "istio-system", clusterDomain: "cluster.local", trustDomain: "cluster.local" };
  const other = { ...naming, clusterDomain: "corp.local" };
  const steps: { naming: typeof naming; answers?: ReadonlyMap<string, readonly string[]> }[] = [
    { naming },
    { naming, answers: new Map([["api.example.com", ["192.0.2.1"]]]) },
    { naming, answers: new Map([["api.example.com", ["192.0.2.1", "192.0.2.2"]]]) },
    { naming: other },
    { naming },
  ];
  for (const [i, s] of steps.entries()) {
    const model = loader.load(files, s.naming).model;
    const inputs = s.answers === undefined ? {} : { dnsAnswers: s.answers };
    assert.deepEqual(output(translateMesh(model, memo, inputs)), output(translateMesh(model, undefined, inputs)), `step ${i}`);
  }
});

test("a workload's change rebuilds its service's endpoints and keeps its routes; a VirtualService's keeps its clusters", () => {
  const files = meshFiles(3);
  const memo = createTranslationMemo();
  const loader = createMeshLoader();
  const before = translateMesh(loader.load(files).model, memo);
  const svc = (t: MeshTranslation) => t.services.find((s) => s.host.startsWith("svc-2."));
  const moved = edit("svc-2/workload-v1.yaml", ["address: 10.0.2.1", "address: 10.0.2.7"])(files);
  const after = translateMesh(loader.load(moved).model, memo);
  assert.notEqual(svc(after)?.endpoints, svc(before)?.endpoints, "the endpoints are rebuilt");
  assert.equal(svc(after)?.outboundRoutes, svc(before)?.outboundRoutes, "the routes do not read workloads");
  assert.equal(svc(after)?.outboundListeners, svc(before)?.outboundListeners);
  const rerouted = translateMesh(loader.load(edit("svc-2/virtual-service.yaml", ["timeout: 2s", "timeout: 5s"])(moved)).model, memo);
  assert.notEqual(svc(rerouted)?.outboundRoutes, svc(after)?.outboundRoutes, "the routes are rebuilt");
  assert.equal(svc(rerouted)?.clusters, svc(after)?.clusters, "the clusters do not read routes");
  assert.equal(svc(rerouted)?.endpoints, svc(after)?.endpoints);
});

test("a translation abandoned half-way leaves the memo to give the next one exactly a fresh translation", () => {
  const files = meshFiles(4);
  const memo = createTranslationMemo();
  const loader = createMeshLoader();
  translateMesh(loader.load(files).model, memo);
  // svc-1's VirtualService edited; that translation is overtaken after its first step (as the
  // pusher abandons one when a newer model comes), having indexed the services already.
  const b = edit("svc-1/virtual-service.yaml", ["weight: 90", "weight: 60"], ["weight: 10", "weight: 40"])(files);
  const abandoned = translateMeshSteps(loader.load(b).model, memo);
  assert.equal(abandoned.next().done, false);
  // Then svc-2's: svc-1's edit must still be seen.
  const model = loader.load(edit("svc-2/virtual-service.yaml", ["timeout: 2s", "timeout: 4s"])(b)).model;
  assert.deepEqual(output(translateMesh(model, memo)), output(translateMesh(model)));
});
