// Several DestinationRules and ServiceEntries for one host (config/merge-destination-rules.ts,
// merge-service-entries.ts): which rule each proxy takes, what it is merged from, and what the
// proxies receive of it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createMeshLoader, loadMesh } from "../../src/config/load.js";
import { indexDestinationRules } from "../../src/config/merge-destination-rules.js";
import type { Cluster } from "../../src/envoy/generated/envoy/config/cluster/v3/Cluster.js";
import type { ClusterLoadAssignment } from "../../src/envoy/generated/envoy/config/endpoint/v3/ClusterLoadAssignment.js";
import type { RouteConfiguration } from "../../src/envoy/generated/envoy/config/route/v3/RouteConfiguration.js";
import { createTranslationMemo, translateMesh } from "../../src/translators/mesh.js";
import type { ProxyIdentity } from "../../src/translators/proxy.js";
import { proxyLayers, resourcesForProxy } from "../../src/translators/proxy-resources.js";

const API = "api.shop.svc.cluster.local";
const PAY = "pay.shop.svc.cluster.local";

const entry = (name: string, host: string, port: number, address: string, version: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: shop }
spec:
  hosts: [${host}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: ${port}, name: p${port}, protocol: HTTP }]
  endpoints: [{ address: ${address}, labels: { version: ${version} } }]
`;

const rule = (namespace: string, name: string, host: string, rest: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  host: ${host}
${rest.replace(/^/gm, "  ").trimEnd()}
`;

const subsets = (...names: string[]) => `subsets: [${names.map((n) => `{ name: ${n}, labels: { version: ${n} } }`).join(", ")}]`;

const FILES: Record<string, string> = {
  // One host in two entries of one namespace: the second adds port 9090 and an endpoint.
  "se/api.yaml": entry("api", API, 8080, "10.0.0.1", "v1"),
  "se/api-admin.yaml": entry("api-admin", API, 9090, "10.0.0.2", "v2"),
  "se/pay.yaml": entry("pay", PAY, 8080, "10.0.1.1", "local"),
  "a.yaml": rule("shop", "api-v1", "api", `${subsets("v1")}\ntrafficPolicy: { loadBalancer: { simple: RANDOM } }`),
  "b.yaml": rule("shop", "api-v2", "api", `${subsets("v2", "v1")}\ntrafficPolicy: { loadBalancer: { simple: LEAST_REQUEST } }`),
  "c.yaml": rule("shop", "api-canary", "api", `workloadSelector: { matchLabels: { track: canary } }\n${subsets("v1")}\ntrafficPolicy: { loadBalancer: { simple: ROUND_ROBIN } }`),
  "d.yaml": rule("web", "api-web", API, `exportTo: ["."]\n${subsets("w")}`),
  "e.yaml": rule("shop", "pay", "pay", `exportTo: ["."]\n${subsets("local")}`),
  "f.yaml": rule("istio-system", "pay-root", PAY, subsets("root")),
};

function load(files: Record<string, string> = FILES) {
  const result = loadMesh(Object.entries(files).map(([path, text]) => ({ path, text })));
  assert.deepEqual(result.diagnostics.filter((d) => d.severity === "error"), []);
  return result;
}

const rows: readonly { why: string; host: string; namespace: string; labels?: Record<string, string>; from: string[]; subsets: string[]; lb?: string }[] = [
  { why: "rules of the service's namespace merge in file order: subsets of both, the first's policy", host: API, namespace: "shop", from: ["api-v1", "api-v2"], subsets: ["v1", "v2"], lb: "RANDOM" },
  { why: "a workloadSelector rule is preferred for the workloads it selects", host: API, namespace: "shop", labels: { track: "canary" }, from: ["api-canary"], subsets: ["v1"], lb: "ROUND_ROBIN" },
  { why: "a proxy's own namespace's rule comes first; another namespace's selector does not apply", host: API, namespace: "web", labels: { track: "canary" }, from: ["api-web"], subsets: ["w"] },
  { why: "elsewhere, the rules exported from the service's namespace", host: API, namespace: "other", from: ["api-v1", "api-v2"], subsets: ["v1", "v2"], lb: "RANDOM" },
  { why: "a rule exported only to its namespace applies there", host: PAY, namespace: "shop", from: ["pay"], subsets: ["local"] },
  { why: "elsewhere a rule not exported falls back to the root namespace's exported one", host: PAY, namespace: "other", from: ["pay-root"], subsets: ["root"] },
  { why: "a proxy of the root namespace takes the root namespace's exported rule", host: PAY, namespace: "istio-system", from: ["pay-root"], subsets: ["root"] },
];

for (const row of rows) {
  test(`rule for ${row.host} from ${row.namespace}${row.labels === undefined ? "" : ` ${JSON.stringify(row.labels)}`}: ${row.why}`, () => {
    const { model } = load();
    const rules = model.resources.filter((r) => r.kind === "DestinationRule");
    const found = indexDestinationRules(rules, model.naming).ruleFor(row.host, "shop", { namespace: row.namespace, labels: row.labels ?? {} });
    assert.ok(found !== undefined);
    assert.deepEqual(found.from.map((r) => r.name), row.from);
    assert.deepEqual((found.rule.spec.subsets ?? []).map((s) => s.name), row.subsets);
    assert.equal(found.rule.spec.trafficPolicy?.loadBalancer?.simple, row.lb);
  });
}

test("what the merge drops is named at both places, once: the later duplicate subset and the later trafficPolicy", () => {
  const { model, diagnostics } = load();
  const findings = indexDestinationRules(model.resources.filter((r) => r.kind === "DestinationRule"), model.naming).findings;
  assert.deepEqual(
    findings.map((f) => `${f.what} ${f.name ?? ""}: ${f.dropped.rule.name} ${f.dropped.path.join(".")} < ${f.kept.rule.name} ${f.kept.path.join(".")}`),
    ["subset v1: api-v2 spec.subsets.1.name < api-v1 spec.subsets.0.name", "trafficPolicy : api-v2 spec.trafficPolicy < api-v1 spec.trafficPolicy"],
  );
  assert.deepEqual(
    diagnostics.filter((d) => d.code === "GM0314").map((d) => `${d.severity} ${d.file}:${d.line}`),
    ["warning b.yaml:6", "warning b.yaml:7"],
  );
});

const sidecar = (nodeId: string, namespace: string, labels: Record<string, string> = {}): ProxyIdentity => ({ nodeId, kind: "sidecar", namespace, serviceAccount: "sa", labels, instanceIps: [] });

function clusters(t: ReturnType<typeof translateMesh>, proxy: ProxyIdentity, host: string): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const r of resourcesForProxy(t, proxy)) {
    if (r.type === "envoy.config.cluster.v3.Cluster" && r.name.endsWith(`|${host}`)) out[r.name] = String((r.message as Cluster).lb_policy ?? "ROUND_ROBIN");
  }
  return out;
}

test("each proxy's clusters are built with its own rule: subsets and policy", () => {
  const t = translateMesh(load().model);
  const api = (port: number, subset = "") => `outbound|${port}|${subset}|${API}`;
  assert.deepEqual(clusters(t, sidecar("a", "shop"), API), { [api(8080)]: "RANDOM", [api(8080, "v1")]: "RANDOM", [api(8080, "v2")]: "RANDOM", [api(9090)]: "RANDOM", [api(9090, "v1")]: "RANDOM", [api(9090, "v2")]: "RANDOM" });
  assert.deepEqual(clusters(t, sidecar("c", "shop", { track: "canary" }), API), { [api(8080)]: "ROUND_ROBIN", [api(8080, "v1")]: "ROUND_ROBIN", [api(9090)]: "ROUND_ROBIN", [api(9090, "v1")]: "ROUND_ROBIN" });
  assert.deepEqual(Object.keys(clusters(t, sidecar("w", "web"), API)).sort(), [api(8080, "w"), api(8080), api(9090, "w"), api(9090)]);
  assert.deepEqual(Object.keys(clusters(t, sidecar("o", "other"), PAY)).sort(), [`outbound|8080|root|${PAY}`, `outbound|8080||${PAY}`]);
});

test("proxies taking the same rules share one layer, and the shared clusters of other services", () => {
  const t = translateMesh(load().model);
  const [a] = proxyLayers(t, sidecar("a", "shop", { app: "x" }));
  const [b] = proxyLayers(t, sidecar("b", "shop", { app: "y" }));
  const [c] = proxyLayers(t, sidecar("c", "shop", { track: "canary" }));
  const [d] = proxyLayers(t, sidecar("d", "shop", { track: "canary", app: "z" }));
  assert.ok(a !== undefined && b !== undefined && c !== undefined && d !== undefined);
  assert.equal(a.key, b.key);
  assert.equal(c.key, d.key);
  assert.notEqual(a.key, c.key);
  const pay = (l: typeof a) => l.resources().find((r) => r.name === `outbound|8080||${PAY}`);
  assert.ok(pay(a) !== undefined && pay(a) === pay(c), "a service whose rule is the same keeps its shared cluster");
  const canary = (l: typeof a) => l.resources().find((r) => r.name === `outbound|8080||${API}`);
  assert.ok(canary(c) !== undefined && canary(c) === canary(d), "built once for both");
});

test("two ServiceEntries for one host: one service, the ports of both, the endpoints of both", () => {
  const t = translateMesh(load().model);
  const eds = resourcesForProxy(t, sidecar("a", "shop")).find((r) => r.type === "envoy.config.endpoint.v3.ClusterLoadAssignment" && r.name === `outbound|8080||${API}`);
  const addresses = ((eds?.message as ClusterLoadAssignment | undefined)?.endpoints ?? []).flatMap((l) => l.lb_endpoints ?? []).map((e) => e.endpoint?.address?.socket_address?.address);
  assert.deepEqual(addresses.sort(), ["10.0.0.1", "10.0.0.2"]);
  assert.equal(t.services.filter((s) => s.host === API).length, 1);
});

test("routes read the consistent hash of the proxy's own rule: routes to the service and its own default routes", () => {
  const files = {
    ...FILES,
    "c.yaml": rule("shop", "api-canary", "api", `workloadSelector: { matchLabels: { track: canary } }\n${subsets("v1")}\ntrafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: x-user } } }`),
    "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: front, namespace: shop }
spec:
  hosts: [pay]
  http:
    - route: [{ destination: { host: api, port: { number: 8080 } } }]
`,
  };
  const t = translateMesh(load(files).model);
  const hashes = (proxy: ProxyIdentity, name: string) => {
    const rc = resourcesForProxy(t, proxy).find((r) => r.type === "envoy.config.route.v3.RouteConfiguration" && r.name === name);
    assert.ok(rc !== undefined, name);
    return ((rc.message as RouteConfiguration).virtual_hosts ?? []).flatMap((vh) => vh.routes ?? []).map((r) => JSON.stringify(r.route?.hash_policy ?? []));
  };
  const byHeader = JSON.stringify([{ header: { header_name: "x-user" } }]);
  for (const name of [`${PAY}:8080`, `${API}:8080`]) {
    assert.deepEqual(hashes(sidecar("c", "shop", { track: "canary" }), name), [byHeader], `canary: ${name}`);
    assert.deepEqual(hashes(sidecar("a", "shop"), name), ["[]"], `others: ${name}`);
  }
  const grpc: ProxyIdentity = { nodeId: "g", kind: "grpc", namespace: "shop", serviceAccount: "sa", labels: { track: "canary" }, instanceIps: [] };
  assert.deepEqual(hashes(grpc, `${PAY}:8080`), [byHeader], "a proxyless gRPC client too");
});

test("a gateway's routes read the consistent hash of the rule it takes", () => {
  const files = {
    ...FILES,
    "c.yaml": rule("shop", "api-canary", "api", `workloadSelector: { matchLabels: { istio: canary-gateway } }\n${subsets("v1")}\ntrafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: x-user } } }`),
    "gw.yaml": `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  selector: { app: edge }
  servers: [{ port: { number: 8080, name: http, protocol: HTTP }, hosts: ["*"] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: edge, namespace: shop }
spec:
  hosts: ["*"]
  gateways: [edge]
  http:
    - route: [{ destination: { host: api, port: { number: 8080 } } }]
`,
  };
  const t = translateMesh(load(files).model);
  const gateway = (labels: Record<string, string>): ProxyIdentity => ({ nodeId: "gw", kind: "gateway", namespace: "shop", serviceAccount: "edge", labels: { app: "edge", ...labels }, instanceIps: [] });
  const hashes = (proxy: ProxyIdentity) =>
    resourcesForProxy(t, proxy)
      .filter((r) => r.type === "envoy.config.route.v3.RouteConfiguration")
      .flatMap((r) => (r.message as RouteConfiguration).virtual_hosts ?? [])
      .flatMap((vh) => vh.routes ?? [])
      .map((r) => JSON.stringify(r.route?.hash_policy ?? []));
  assert.deepEqual(hashes(gateway({ istio: "canary-gateway" })), [JSON.stringify([{ header: { header_name: "x-user" } }])]);
  assert.deepEqual(hashes(gateway({})), ["[]"]);
});

test("a translation memo carries which services' rules differ to the next translation only while the rules, Sidecars and ServiceEntries are the very same objects", () => {
  const loader = createMeshLoader(); // keeps an unchanged file's objects, as serve's reloader does
  const memo = createTranslationMemo();
  const proxies = [sidecar("a", "shop"), sidecar("c", "shop", { track: "canary" }), sidecar("w", "web"), sidecar("o", "other")];
  const edits: readonly { why: string; files: Record<string, string>; reused: boolean }[] = [
    { why: "the first translation", files: FILES, reused: false },
    { why: "a file of another kind is added", files: { ...FILES, "vs.yaml": `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: pay, namespace: shop }\nspec:\n  hosts: [pay]\n  http: [{ route: [{ destination: { host: pay } }], timeout: 2s }]\n` }, reused: true },
    { why: "the canary rule's policy changes", files: { ...FILES, "c.yaml": FILES["c.yaml"]?.replace("ROUND_ROBIN", "RANDOM") ?? "" }, reused: false },
    { why: "the web namespace's own rule goes", files: Object.fromEntries(Object.entries(FILES).filter(([path]) => path !== "d.yaml")), reused: false },
    { why: "the canary selector goes", files: { ...FILES, "c.yaml": FILES["c.yaml"]?.replace("track: canary", "track: stable") ?? "" }, reused: false },
  ];
  for (const edit of edits) {
    const loaded = loader.load(Object.entries(edit.files).map(([path, text]) => ({ path, text })));
    assert.ok(loaded.ok, edit.why);
    const before = new Map(memo.ruleOwn?.value);
    const t = translateMesh(loaded.model, memo);
    const fresh = translateMesh(loaded.model);
    for (const p of proxies) {
      assert.deepEqual(resourcesForProxy(t, p).map((r) => [r.name, r.message]), resourcesForProxy(fresh, p).map((r) => [r.name, r.message]), `${edit.why}: ${p.nodeId} gets what a fresh translation gives it`);
    }
    const answers = memo.ruleOwn?.value ?? new Map();
    const kept = [...answers].filter(([key, entry]) => before.get(key) === entry).length;
    assert.equal(kept > 0 && kept === answers.size, edit.reused, `${edit.why}: the previous answers were ${edit.reused ? "" : "not "}taken`);
  }
});

test("the rules carried across translations are only the current inputs': an edit leaves no answer behind", () => {
  const loader = createMeshLoader();
  const memo = createTranslationMemo();
  const proxies = [sidecar("a", "shop"), sidecar("c", "shop", { track: "canary" }), sidecar("w", "web")];
  const translate = (files: Record<string, string>) => {
    const loaded = loader.load(Object.entries(files).map(([path, text]) => ({ path, text })));
    assert.ok(loaded.ok);
    const t = translateMesh(loaded.model, memo);
    for (const p of proxies) resourcesForProxy(t, p);
  };
  translate(FILES);
  const size = memo.ruleOwn?.value.size ?? 0;
  assert.ok(size > 0);
  // The canary rule edited ten times: each edit is a new object, so new keys for the proxies it selects.
  for (let i = 0; i < 10; i++) translate({ ...FILES, "c.yaml": FILES["c.yaml"]?.replace("ROUND_ROBIN", i % 2 === 0 ? "RANDOM" : "ROUND_ROBIN") ?? "" });
  assert.equal(memo.ruleOwn?.value.size, size, "as many answers as one translation's proxies need");
});
