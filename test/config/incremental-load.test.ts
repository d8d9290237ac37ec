// A loader that keeps each file's results and each cross-resource check's gives exactly what a
// fresh full load gives, edit after edit: files added, changed, deleted and renamed, references
// broken and fixed from another file and another namespace, schema errors, duplicates, naming.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createMeshLoader, loadMesh, type LoadResult } from "../../src/config/load.js";
import { DEFAULT_NAMING, type MeshNaming } from "../../src/config/resources.js";

type Files = Record<string, string>;

const serviceEntry = (ns: string, name: string, extra = "") => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: ${ns} }
spec:
  hosts: [${name}.${ns}.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 8080, name: http, protocol: HTTP }]
  workloadSelector: { labels: { app: ${name} } }
${extra}`;

const workload = (ns: string, name: string, version: string, address: string) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: ${name}-${version}, namespace: ${ns} }
spec:
  address: ${address}
  labels: { app: ${name}, version: ${version} }
`;

const rule = (ns: string, name: string, subsets: string[]) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name}, namespace: ${ns} }
spec:
  host: ${name}
  subsets:
${subsets.map((s) => `    - { name: ${s}, labels: { version: ${s} } }`).join("\n")}
`;

const route = (ns: string, name: string, host: string, destination: string, subset: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: ${ns} }
spec:
  hosts: [${host}]
  http:
    - route:
        - destination: { host: ${destination}, subset: ${subset} }
`;

const policy = (ns: string, app: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow-${app}, namespace: ${ns} }
spec:
  selector: { matchLabels: { app: ${app} } }
  rules: [{ from: [{ source: { principals: [cluster.local/ns/${ns}/sa/client] } }] }]
`;

const base: Files = {
  "shop/reviews/service.yaml": serviceEntry("shop", "reviews"),
  "shop/reviews/workload-v1.yaml": workload("shop", "reviews", "v1", "10.0.0.1"),
  "shop/reviews/rule.yaml": rule("shop", "reviews", ["v1", "v2"]),
  "shop/reviews/route.yaml": route("shop", "reviews", "reviews", "reviews", "v1"),
  "front/web/service.yaml": serviceEntry("front", "web"),
  "front/web/workload.yaml": workload("front", "web", "v1", "10.0.1.1"),
  // Cross-namespace: front's route sends to shop's reviews, subset v1.
  "front/web/route.yaml": route("front", "web", "web", "reviews.shop.svc.cluster.local", "v1"),
  "front/web/policy.yaml": policy("front", "web"),
};

interface Edit {
  readonly name: string;
  readonly apply: (files: Files) => Files;
  readonly naming?: MeshNaming;
  /** Codes the full load must report at files after this edit, so each edit is seen to matter. */
  readonly expect?: readonly string[];
  /** Codes it must no longer report. */
  readonly gone?: readonly string[];
}

/** A model as plain data (its resources keep their parsed YAML documents, compared by identity). */
const modelOf = (r: LoadResult) => ({
  ...r.model,
  resources: r.model.resources.map((x) => ({ kind: x.kind, namespace: x.namespace, name: x.name, file: x.source.file, spec: x.spec as unknown })),
});

const gateway = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge, namespace: front }
spec:
  selector: { app: web }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]
`;

/** A VirtualService on the edge gateway whose one route catches every request (a prefix of "/"). */
const edgeRoute = (name: string, host: string, destination: string, lead = "") => `${lead}apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: front }
spec:
  hosts: [${host}]
  gateways: [edge]
  http:
    - match: [{ uri: { prefix: / } }]
      route: [{ destination: { host: ${destination} } }]
`;

const delegating = (prefix: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shop-root, namespace: shop }
spec:
  hosts: [shop.example.com]
  gateways: [front/edge]
  http:
    - match: [{ uri: { prefix: ${prefix} } }]
      delegate: { name: shop-api, namespace: shop }
`;

const delegate = (prefix: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shop-api, namespace: shop }
spec:
  http:
    - match: [{ uri: { prefix: ${prefix} } }]
      route: [{ destination: { host: reviews } }]
`;

const strict = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: shop }
spec:
  mtls: { mode: STRICT }
`;

const without = (files: Files, ...paths: string[]) => Object.fromEntries(Object.entries(files).filter(([p]) => !paths.includes(p)));

const edits: Edit[] = [
  { name: "the first load", apply: (f) => f, expect: ["GM0319 shop/reviews/rule.yaml"] },
  { name: "a file added in a new namespace", apply: (f) => ({ ...f, "pay/card/service.yaml": serviceEntry("pay", "card") }), expect: ["GM0309 pay/card/service.yaml"] },
  {
    name: "a change that breaks a reference in another file and namespace",
    apply: (f) => ({ ...f, "shop/reviews/rule.yaml": rule("shop", "reviews", ["v2"]) }),
    expect: ["GM0303 front/web/route.yaml", "GM0303 shop/reviews/route.yaml"],
  },
  { name: "a change that fixes it", apply: (f) => ({ ...f, "shop/reviews/rule.yaml": rule("shop", "reviews", ["v1", "v2"]) }), gone: ["GM0303 front/web/route.yaml"] },
  {
    name: "the workload a subset selects added",
    apply: (f) => ({ ...f, "shop/reviews/workload-v2.yaml": workload("shop", "reviews", "v2", "10.0.0.2") }),
    gone: ["GM0319 shop/reviews/rule.yaml"],
  },
  {
    name: "a deleted ServiceEntry, referred to from two namespaces",
    apply: (f) => without(f, "shop/reviews/service.yaml"),
    expect: ["GM0302 front/web/route.yaml", "GM0302 shop/reviews/rule.yaml"],
  },
  { name: "the ServiceEntry back", apply: (f) => ({ ...f, "shop/reviews/service.yaml": serviceEntry("shop", "reviews") }), gone: ["GM0302 front/web/route.yaml"] },
  {
    name: "a renamed file (same text, another place in the order)",
    apply: (f) => ({ ...without(f, "shop/reviews/workload-v1.yaml"), "a-first/reviews-v1.yaml": workload("shop", "reviews", "v1", "10.0.0.1") }),
  },
  {
    name: "a ServiceEntry failing its schema: references to it are not reported again",
    apply: (f) => ({ ...f, "shop/reviews/service.yaml": serviceEntry("shop", "reviews", "  bogus: 1\n") }),
    gone: ["GM0302 front/web/route.yaml"],
  },
  { name: "fixed again", apply: (f) => ({ ...f, "shop/reviews/service.yaml": serviceEntry("shop", "reviews") }) },
  {
    name: "a copy defining the same ServiceEntry and host",
    apply: (f) => ({ ...f, "z-copy.yaml": serviceEntry("shop", "reviews") }),
    expect: ["GM0301 z-copy.yaml"],
  },
  {
    name: "another ServiceEntry declaring the same host, in another namespace",
    apply: (f) => ({ ...f, "pay/card/service.yaml": serviceEntry("pay", "card").replace("card.pay.svc.cluster.local", "reviews.shop.svc.cluster.local") }),
    expect: ["GM0313 shop/reviews/service.yaml"],
  },
  { name: "the copy renamed so it sorts first", apply: (f) => ({ ...without(f, "z-copy.yaml"), "0-copy.yaml": serviceEntry("shop", "reviews") }), expect: ["GM0301 shop/reviews/service.yaml"] },
  { name: "the copy deleted", apply: (f) => without(f, "0-copy.yaml"), gone: ["GM0301 shop/reviews/service.yaml"] },
  {
    name: "the policy's workload deleted: the policy applies to nothing",
    apply: (f) => without(f, "front/web/workload.yaml", "front/web/service.yaml"),
    expect: ["GM0316 front/web/policy.yaml", "GM0320 front/web/route.yaml"],
  },
  {
    name: "another cluster domain: short hosts mean other names",
    apply: (f) => f,
    naming: { ...DEFAULT_NAMING, clusterDomain: "corp.example" },
    expect: ["GM0302 shop/reviews/rule.yaml"],
  },
  { name: "the default naming again, the workload back", apply: (f) => ({ ...f, "front/web/workload.yaml": workload("front", "web", "v1", "10.0.1.1"), "front/web/service.yaml": serviceEntry("front", "web") }), gone: ["GM0316 front/web/policy.yaml"] },
  // A VirtualService's findings are said again, per VirtualService, while what they read is the
  // same; the merged view's findings while every changed VirtualService keeps its shape and no
  // finding is at it.
  {
    name: "a second VirtualService for a host sidecars route",
    apply: (f) => ({ ...f, "shop/reviews/z-route.yaml": route("shop", "reviews-2", "reviews", "reviews", "v1") }),
    expect: ["GM0306 shop/reviews/z-route.yaml"],
  },
  { name: "the first one's subset changed (the other place of the conflict)", apply: (f) => ({ ...f, "shop/reviews/route.yaml": `# moved down a line\n${route("shop", "reviews", "reviews", "reviews", "v2")}` }), expect: ["GM0306 shop/reviews/z-route.yaml"] },
  { name: "the second one's subset changed (where the conflict is)", apply: (f) => ({ ...f, "shop/reviews/z-route.yaml": `\n${route("shop", "reviews-2", "reviews", "reviews", "v3")}` }), expect: ["GM0306 shop/reviews/z-route.yaml", "GM0303 shop/reviews/z-route.yaml"] },
  { name: "a VirtualService no finding is at changed", apply: (f) => ({ ...f, "front/web/route.yaml": route("front", "web", "web", "reviews.shop.svc.cluster.local", "v3") }), expect: ["GM0303 front/web/route.yaml"] },
  { name: "a subset added that both routes name", apply: (f) => ({ ...f, "shop/reviews/rule.yaml": rule("shop", "reviews", ["v1", "v2", "v3"]) }), gone: ["GM0303 front/web/route.yaml", "GM0303 shop/reviews/z-route.yaml"] },
  { name: "the second one's host changed: no conflict", apply: (f) => ({ ...f, "shop/reviews/z-route.yaml": route("shop", "reviews-2", "canary.shop.svc.cluster.local", "reviews", "v3") }), gone: ["GM0306 shop/reviews/z-route.yaml"] },
  {
    name: "two catch-all routes for one host on a gateway",
    apply: (f) => ({ ...f, "front/edge/gateway.yaml": gateway, "front/edge/a.yaml": edgeRoute("a", "web.example.com", "web"), "front/edge/b.yaml": edgeRoute("b", "web.example.com", "web") }),
    expect: ["GM0360 front/edge/b.yaml"],
  },
  { name: "the first catch-all moved down a line", apply: (f) => ({ ...f, "front/edge/a.yaml": edgeRoute("a", "web.example.com", "web", "\n\n") }), expect: ["GM0360 front/edge/b.yaml"] },
  { name: "the second catch-all's destination changed", apply: (f) => ({ ...f, "front/edge/b.yaml": edgeRoute("b", "web.example.com", "missing") }), expect: ["GM0360 front/edge/b.yaml", "GM0302 front/edge/b.yaml"] },
  { name: "the second catch-all for another host", apply: (f) => ({ ...f, "front/edge/b.yaml": edgeRoute("b", "api.example.com", "web") }), gone: ["GM0360 front/edge/b.yaml"] },
  {
    name: "a root delegating /api to a delegate",
    apply: (f) => ({ ...f, "shop/api/root.yaml": delegating("/api"), "shop/api/delegate.yaml": delegate("/api/v1") }),
    gone: ["GM0364 shop/api/delegate.yaml"],
  },
  { name: "the delegate's match outside the root's", apply: (f) => ({ ...f, "shop/api/delegate.yaml": delegate("/v1") }), expect: ["GM0364 shop/api/delegate.yaml"] },
  { name: "the root's match widened to cover it", apply: (f) => ({ ...f, "shop/api/root.yaml": delegating("/") }), gone: ["GM0364 shop/api/delegate.yaml"] },
  { name: "the delegate gone", apply: (f) => without(f, "shop/api/delegate.yaml"), expect: ["GM0361 shop/api/root.yaml"] },
  // The index of names is updated, not rebuilt, while only texts change.
  { name: "a copy of a DestinationRule", apply: (f) => ({ ...f, "z-rule.yaml": rule("shop", "reviews", ["v1"]) }), expect: ["GM0301 z-rule.yaml"] },
  { name: "the first of the two moved down a line", apply: (f) => ({ ...f, "shop/reviews/rule.yaml": `\n${rule("shop", "reviews", ["v1", "v2", "v3"])}` }), expect: ["GM0301 z-rule.yaml"] },
  { name: "the copy's text changed", apply: (f) => ({ ...f, "z-rule.yaml": rule("shop", "reviews", ["v2"]) }), expect: ["GM0301 z-rule.yaml"] },
  { name: "the copy renamed", apply: (f) => ({ ...f, "z-rule.yaml": rule("shop", "reviews", ["v2"]).replace("name: reviews", "name: reviews-2") }), gone: ["GM0301 z-rule.yaml"] },
  {
    name: "an external entry selecting workloads a namespace-wide policy makes STRICT",
    apply: (f) => ({ ...f, "shop/strict.yaml": strict, "shop/reviews/service.yaml": serviceEntry("shop", "reviews").replace("MESH_INTERNAL", "MESH_EXTERNAL") }),
    expect: ["GM0317 shop/reviews/service.yaml"],
  },
  { name: "the host's rule says ISTIO_MUTUAL", apply: (f) => ({ ...f, "shop/reviews/rule.yaml": `${rule("shop", "reviews", ["v1", "v2", "v3"])}  trafficPolicy: { tls: { mode: ISTIO_MUTUAL } }\n` }), gone: ["GM0317 shop/reviews/service.yaml"] },
  { name: "the rule without it, the policy gone", apply: (f) => ({ ...without(f, "shop/strict.yaml"), "shop/reviews/rule.yaml": rule("shop", "reviews", ["v1", "v2", "v3"]) }), gone: ["GM0317 shop/reviews/service.yaml"] },
  // The workload indexes are kept, or updated, while workloads keep their namespaces and labels.
  {
    name: "a workload relabelled in place: its service selects nothing",
    apply: (f) => ({ ...f, "front/web/workload.yaml": workload("front", "web", "v1", "10.0.1.1").replace("app: web,", "app: web2,") }),
    expect: ["GM0309 front/web/service.yaml"],
  },
  { name: "its labels back, its address changed", apply: (f) => ({ ...f, "front/web/workload.yaml": workload("front", "web", "v1", "10.0.1.9") }), gone: ["GM0309 front/web/service.yaml"] },
  { name: "its address changed again", apply: (f) => ({ ...f, "front/web/workload.yaml": workload("front", "web", "v1", "10.0.1.10") }), gone: ["GM0309 front/web/service.yaml"] },
  { name: "its address a name its STATIC service cannot use", apply: (f) => ({ ...f, "front/web/workload.yaml": workload("front", "web", "v1", "web.example.com") }), expect: ["GM0321 front/web/workload.yaml"] },
  {
    name: "a workload relabelled from v2 to v3 in place: subset v2 selects nothing",
    apply: (f) => ({ ...f, "front/web/workload.yaml": workload("front", "web", "v1", "10.0.1.1"), "shop/reviews/workload-v2.yaml": workload("shop", "reviews", "v2", "10.0.0.2").replace("version: v2", "version: v3") }),
    expect: ["GM0319 shop/reviews/rule.yaml"],
    gone: ["GM0321 front/web/workload.yaml"],
  },
  { name: "a file that is not YAML", apply: (f) => ({ ...f, "front/web/route.yaml": "kind: VirtualService\nmetadata: { name: web, namespace: front\n" }) },
  { name: "every file deleted", apply: () => ({}), expect: ["GM0003 ."] },
  { name: "all back", apply: () => base },
];

test("an incremental load says exactly what a full load says, edit after edit", () => {
  const loader = createMeshLoader();
  let files: Files = base;
  for (const edit of edits) {
    files = edit.apply(files);
    const list = Object.entries(files)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([path, text]) => ({ path, text }));
    const naming = edit.naming ?? DEFAULT_NAMING;
    const incremental = loader.load(list, naming);
    const full = loadMesh(list, naming);
    assert.deepEqual(incremental.diagnostics, full.diagnostics, `${edit.name}: diagnostics`);
    assert.deepEqual(modelOf(incremental), modelOf(full), `${edit.name}: model`);
    assert.equal(incremental.ok, full.ok, edit.name);
    const said = new Set(full.diagnostics.map((d) => `${d.code} ${d.file}`));
    for (const e of edit.expect ?? []) assert.ok(said.has(e), `${edit.name}: expected ${e}, got ${[...said].join("; ")}`);
    for (const g of edit.gone ?? []) assert.ok(!said.has(g), `${edit.name}: ${g} should be gone`);
  }
});

test("an incremental load in slices says what a full load says", async () => {
  const loader = createMeshLoader();
  let files: Files = base;
  for (const edit of edits.slice(1, 7)) {
    files = edit.apply(files);
    const list = Object.entries(files).map(([path, text]) => ({ path, text }));
    const [incremental, full] = [await loader.loadAsync(list), loadMesh(list)];
    assert.deepEqual(incremental.diagnostics, full.diagnostics, edit.name);
    assert.deepEqual(modelOf(incremental), modelOf(full), edit.name);
  }
});
