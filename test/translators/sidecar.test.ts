// Envoy sidecars: loopback service addresses, Sidecar scoping, and AuthorizationPolicy on TCP
// ports. The full listeners are in the golden case test/golden/sidecars.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMesh } from "../../src/config/load.js";
import { hostMatches, type MeshResource } from "../../src/config/resources.js";
import { serviceAddresses } from "../../src/translators/addresses.js";
import { rbacFilterConfig } from "../../src/translators/rbac.js";
import { exportedTo, exportsRestricted, sidecarScope } from "../../src/translators/scope.js";

function resources<K extends MeshResource["kind"]>(kind: K, yaml: string): MeshResource<K>[] {
  const loaded = loadMesh([{ path: "test.yaml", text: yaml }]);
  assert.ok(loaded.ok, loaded.diagnostics.map((d) => `${d.code} ${d.line}:${d.col} ${d.message}`).join("\n"));
  return loaded.model.resources.filter((r): r is MeshResource<K> & typeof r => r.kind === kind) as MeshResource<K>[];
}

test("every service gets its own loopback address, stable as other services come and go", () => {
  const hosts = Array.from({ length: 2000 }, (_, i) => `svc-${i}.ns.svc.cluster.local`);
  const all = serviceAddresses(hosts);
  assert.equal(new Set(all.values()).size, hosts.length, "no two services share an address");
  for (const a of all.values()) {
    const [o1, o2, , o4] = a.split(".").map(Number);
    assert.equal(o1, 127);
    assert.ok((o2 ?? 0) >= 128, `${a} is in 127.128.0.0/9, away from 127.0.0.1`);
    assert.ok(o4 !== 0 && o4 !== 255, `${a} avoids .0 and .255`);
  }
  const fewer = serviceAddresses(hosts.slice(0, 1000));
  const moved = hosts.slice(0, 1000).filter((h) => fewer.get(h) !== all.get(h));
  assert.deepEqual(moved, [], "removing services moves no other service (none collide in this set)");
  assert.deepEqual(serviceAddresses([...hosts].reverse()), all, "input order does not matter");
});

test("a collision takes the next free address, deterministically", () => {
  // Search two hosts that hash to the same slot: a small brute force over generated names.
  const seen = new Map<string, string>();
  let pair: [string, string] | undefined;
  for (let i = 0; pair === undefined && i < 200_000; i++) {
    const host = `h${i}.example`;
    const a = serviceAddresses([host]).get(host) ?? "";
    const other = seen.get(a);
    if (other !== undefined) pair = [other, host];
    else seen.set(a, host);
  }
  assert.ok(pair !== undefined, "found two hosts with the same hashed address");
  const [first, second] = pair;
  const both = serviceAddresses([second, first]);
  assert.equal(both.get(first), serviceAddresses([first]).get(first), "the host sorted first keeps its address");
  assert.notEqual(both.get(second), both.get(first), "the later host moves");
});

const SIDECARS = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: shop }
spec:
  egress:
    - hosts: ["./*", "data/db.data.svc.cluster.local", "*/*.payments.example"]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: batch, namespace: shop }
spec:
  workloadSelector: { labels: { app: batch } }
  egress:
    - hosts: ["analytics/*"]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: mesh-default, namespace: istio-system }
spec:
  egress:
    - hosts: ["./*", "istio-system/*"]
`;

test("Sidecar scoping follows Istio's precedence and egress host forms", () => {
  const sidecars = resources("Sidecar", SIDECARS);
  const cases: { proxy: { namespace: string; labels: Record<string, string> }; service: { host: string; namespace: string }; visible: boolean; sidecar: string }[] = [
    { proxy: { namespace: "shop", labels: { app: "web" } }, service: { host: "cart.shop.svc.cluster.local", namespace: "shop" }, visible: true, sidecar: "shop/default" },
    { proxy: { namespace: "shop", labels: { app: "web" } }, service: { host: "db.data.svc.cluster.local", namespace: "data" }, visible: true, sidecar: "shop/default" },
    { proxy: { namespace: "shop", labels: { app: "web" } }, service: { host: "cache.data.svc.cluster.local", namespace: "data" }, visible: false, sidecar: "shop/default" },
    { proxy: { namespace: "shop", labels: { app: "web" } }, service: { host: "api.payments.example", namespace: "ext" }, visible: true, sidecar: "shop/default" },
    { proxy: { namespace: "shop", labels: { app: "web" } }, service: { host: "payments.example", namespace: "ext" }, visible: false, sidecar: "shop/default" },
    // A selecting Sidecar beats the namespace default.
    { proxy: { namespace: "shop", labels: { app: "batch" } }, service: { host: "cart.shop.svc.cluster.local", namespace: "shop" }, visible: false, sidecar: "shop/batch" },
    { proxy: { namespace: "shop", labels: { app: "batch" } }, service: { host: "reports.analytics.svc.cluster.local", namespace: "analytics" }, visible: true, sidecar: "shop/batch" },
    // The root namespace's Sidecar is everyone else's default; "." is the workload's namespace.
    { proxy: { namespace: "data", labels: {} }, service: { host: "db.data.svc.cluster.local", namespace: "data" }, visible: true, sidecar: "istio-system/mesh-default" },
    { proxy: { namespace: "data", labels: {} }, service: { host: "cart.shop.svc.cluster.local", namespace: "shop" }, visible: false, sidecar: "istio-system/mesh-default" },
  ];
  for (const c of cases) {
    const scope = sidecarScope(sidecars, c.proxy, "istio-system");
    assert.equal(scope.sidecar, c.sidecar, JSON.stringify(c));
    assert.equal(scope.visible(c.service), c.visible, JSON.stringify(c));
  }
  assert.notEqual(sidecarScope(sidecars, { namespace: "data", labels: {} }, "istio-system").key, sidecarScope(sidecars, { namespace: "ops", labels: {} }, "istio-system").key, "'./*' makes the scope per namespace");
  const none = sidecarScope([], { namespace: "shop", labels: {} }, "istio-system");
  assert.equal(none.sidecar, undefined);
  assert.equal(none.visible({ host: "anything.example", namespace: "x" }), true, "without a Sidecar every service is visible");
});

test("egress hosts with a ~ namespace take services away from what the listener imports, as Istio's selectServices", () => {
  const sidecar = (egress: string[][], namespace = "shop") => `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: ${namespace} }
spec:
  egress:
${egress.map((hosts) => `    - hosts: ${JSON.stringify(hosts)}`).join("\n")}
`;
  const cart = { host: "cart.shop.svc.cluster.local", namespace: "shop" };
  const legacy = { host: "old.legacy.svc.cluster.local", namespace: "legacy" };
  const api = { host: "api.example.com", namespace: "ext" };
  const shopApi = { host: "api.example.com", namespace: "shop" };
  const other = { host: "other.example.com", namespace: "ext" };
  const cases: { egress: string[][]; service: { host: string; namespace: string }; visible: boolean }[] = [
    { egress: [["*/*", "~legacy/*"]], service: legacy, visible: false },
    { egress: [["*/*", "~legacy/*"]], service: cart, visible: true },
    // "~/name" excludes the name from every namespace; "~./" from the workload's own.
    { egress: [["*/*", "~/api.example.com"]], service: api, visible: false },
    { egress: [["*/*", "~/api.example.com"]], service: shopApi, visible: false },
    { egress: [["*/*", "~/api.example.com"]], service: other, visible: true },
    { egress: [["*/*", "~./api.example.com"]], service: shopApi, visible: false },
    { egress: [["*/*", "~./api.example.com"]], service: api, visible: true },
    { egress: [["*/*", "~ext/*.example.com"]], service: other, visible: false },
    { egress: [["*/*", "~ext/*.example.com"]], service: shopApi, visible: true },
    // "~/*" takes away everything the listener imports (Istio's old "no services" namespace).
    { egress: [["./*", "~/*"]], service: cart, visible: false },
    // (One egress listener only: without egress ports Istio refuses a second, GM0339.)
    // An exclusion alone imports nothing.
    { egress: [["~legacy/*"]], service: cart, visible: false },
  ];
  for (const c of cases) {
    const scope = sidecarScope(resources("Sidecar", sidecar(c.egress)), { namespace: "shop", labels: {} }, "istio-system");
    assert.equal(scope.visible(c.service), c.visible, JSON.stringify(c));
  }
  const own = sidecar([["*/*", "~./legacy.example.com"]], "istio-system");
  assert.notEqual(sidecarScope(resources("Sidecar", own), { namespace: "a", labels: {} }, "istio-system").key, sidecarScope(resources("Sidecar", own), { namespace: "b", labels: {} }, "istio-system").key, "'~./' makes the scope per namespace too");
});

test("hostMatches is Istio's host.Name SubsetOf: a wildcard covers every name ending with what follows the *", () => {
  const cases: [declared: string, requested: string, covered: boolean][] = [
    ["api.example.com", "api.example.com", true],
    ["api.example.com", "web.example.com", false],
    ["*", "api.example.com", true],
    ["*.example.com", "api.example.com", true],
    ["*.example.com", "a.b.example.com", true],
    ["*.example.com", "example.com", false],
    ["*api.example.com", "api.example.com", true],
    ["*api.example.com", "shop-api.example.com", true],
    ["*api.example.com", "shop.example.com", false],
    ["*-api.example.com", "shop-api.example.com", true],
    ["*-api.example.com", "api.example.com", false],
    // Wildcards among themselves: a narrower one is covered by a wider one, not the other way.
    ["*.example.com", "*.a.example.com", true],
    ["*.a.example.com", "*.example.com", false],
    ["*", "*.example.com", true],
  ];
  for (const [declared, requested, covered] of cases) assert.equal(hostMatches(declared, requested), covered, `${declared} covers ${requested}`);
});

test("on a TCP port an ALLOW rule with HTTP-only fields matches nothing and a DENY rule drops them", () => {
  const policies = resources(
    "AuthorizationPolicy",
    `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow, namespace: data }
spec:
  action: ALLOW
  rules:
    - from: [{ source: { ipBlocks: [10.0.0.0/8] } }]
    - to: [{ operation: { methods: [GET] } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny, namespace: data }
spec:
  action: DENY
  rules:
    - to: [{ operation: { paths: [/admin], ports: ["5432"] } }]
      when: [{ key: "request.headers[x-admin]", values: ["1"] }]
`,
  );
  const tcp = rbacFilterConfig(policies, "tcp");
  assert.deepEqual(Object.keys(tcp.allow?.rules?.policies ?? {}), ["ns[data]-policy[allow]-rule[0]"], "the rule with methods is dropped from ALLOW");
  assert.deepEqual(tcp.deny?.rules?.policies?.["ns[data]-policy[deny]-rule[0]"]?.permissions, [{ destination_port: 5432 }], "DENY keeps only the port");
  assert.deepEqual(tcp.deny?.rules?.policies?.["ns[data]-policy[deny]-rule[0]"]?.principals, [{ any: true }], "and no header condition");
  assert.equal(tcp.problems.length, 2, tcp.problems.join("\n"));
  const http = rbacFilterConfig(policies);
  assert.equal(Object.keys(http.allow?.rules?.policies ?? {}).length, 2, "HTTP ports keep both rules");
  assert.deepEqual(http.problems, []);
});

test("outboundTrafficPolicy: ALLOW_ANY is what a sidecar without interception does, and a Sidecar without egress sees every service; REGISTRY_ONLY is refused at its line", () => {
  const [allowAny] = resources("Sidecar", "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: default, namespace: shop }\nspec:\n  outboundTrafficPolicy: { mode: ALLOW_ANY }\n");
  assert.ok(allowAny);
  const scope = sidecarScope([allowAny], { namespace: "shop", labels: {} }, "istio-system");
  assert.equal(scope.sidecar, "shop/default");
  for (const service of [{ host: "db.data.svc.cluster.local", namespace: "data" }, { host: "api.example.com", namespace: "shop" }]) assert.ok(scope.visible(service), service.host);
  const refused = loadMesh([{ path: "sidecar.yaml", text: "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: default, namespace: shop }\nspec:\n  outboundTrafficPolicy:\n    mode: REGISTRY_ONLY\n" }]);
  assert.deepEqual(
    refused.diagnostics.map((d) => [d.file, d.line, d.code, d.message]),
    [["sidecar.yaml", 6, "GM0204", 'field spec.outboundTrafficPolicy.mode is "REGISTRY_ONLY", which is an Istio value gitmesh does not support yet: use "ALLOW_ANY"']],
  );
});

test("ServiceEntry exportTo: '.' its own namespace, '*' all, '~' none, or names; a scope narrows to what is exported to the proxy's namespace", () => {
  const service = (exportTo?: string[]) => ({ host: "db.data.svc.cluster.local", namespace: "data", ...(exportTo === undefined ? {} : { exportTo }) });
  const cases: [string[] | undefined, string, boolean][] = [
    [undefined, "shop", true],
    [["*"], "shop", true],
    [["."], "data", true],
    [["."], "shop", false],
    [["~"], "data", false],
    [["shop", "ops"], "ops", true],
    [["shop"], "data", false],
  ];
  for (const [exportTo, ns, expected] of cases) assert.equal(exportedTo(service(exportTo), ns), expected, `${JSON.stringify(exportTo)} to ${ns}`);
  assert.equal(exportsRestricted([service(), service(["*"])]), false);
  assert.equal(exportsRestricted([service(), service(["."])]), true);
  const shop = sidecarScope([], { namespace: "shop", labels: {} }, "istio-system", true);
  const ops = sidecarScope([], { namespace: "ops", labels: {} }, "istio-system", true);
  assert.notEqual(shop.key, ops.key, "proxies of different namespaces see different services");
  assert.equal(shop.visible(service(["shop"])), true);
  assert.equal(ops.visible(service(["shop"])), false);
  assert.equal(sidecarScope([], { namespace: "shop", labels: {} }, "istio-system").key, "*", "without exportTo in the mesh, one scope for all");
});
