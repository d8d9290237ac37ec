// Several VirtualServices as one decision (src/config/virtual-services.ts): Istio's delegate merge
// rules, table-driven, and what validate reports of the merged view, at file:line:col.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMesh } from "../../src/config/load.js";
import type { HTTPMatchRequest, HTTPRoute } from "../../src/config/types.js";
import { mergeMatches, mergeRoute, virtualServiceView } from "../../src/config/virtual-services.js";

const m = (x: HTTPMatchRequest) => x;

const matchCases: readonly { name: string; root: HTTPMatchRequest[]; sub: HTTPMatchRequest[]; want: HTTPMatchRequest[] | undefined }[] = [
  { name: "no root match: the delegate's", root: [], sub: [m({ uri: { prefix: "/a" } })], want: [{ uri: { prefix: "/a" } }] },
  { name: "no delegate match: the root's", root: [m({ uri: { prefix: "/a" } })], sub: [], want: [{ uri: { prefix: "/a" } }] },
  { name: "a longer prefix narrows", root: [m({ uri: { prefix: "/a" } })], sub: [m({ uri: { prefix: "/a/b" } })], want: [{ uri: { prefix: "/a/b" } }] },
  { name: "an exact path under the prefix narrows", root: [m({ uri: { prefix: "/a" } })], sub: [m({ uri: { exact: "/a/x" } })], want: [{ uri: { exact: "/a/x" } }] },
  { name: "a shorter prefix conflicts", root: [m({ uri: { prefix: "/a/b" } })], sub: [m({ uri: { prefix: "/a" } })], want: undefined },
  { name: "a prefix under an exact root conflicts", root: [m({ uri: { exact: "/a" } })], sub: [m({ uri: { prefix: "/a" } })], want: undefined },
  { name: "the same exact value fits", root: [m({ uri: { exact: "/a" } })], sub: [m({ uri: { exact: "/a" } })], want: [{ uri: { exact: "/a" } }] },
  { name: "a regex against a prefix conflicts", root: [m({ uri: { prefix: "/a" } })], sub: [m({ uri: { regex: "/a.*" } })], want: undefined },
  { name: "a regex root with a delegate regex conflicts", root: [m({ uri: { regex: "/a.*" } })], sub: [m({ uri: { regex: "/a.*" } })], want: undefined },
  {
    name: "conditions on other fields are combined, the root's uri inherited",
    root: [m({ uri: { prefix: "/a" }, headers: { x: { exact: "1" } } })],
    sub: [m({ method: { exact: "GET" }, headers: { y: { exact: "2" } } })],
    want: [{ uri: { prefix: "/a" }, method: { exact: "GET" }, headers: { x: { exact: "1" }, y: { exact: "2" } } }],
  },
  { name: "different header values conflict", root: [m({ headers: { x: { exact: "1" } } })], sub: [m({ headers: { x: { exact: "2" } } })], want: undefined },
  { name: "ignoreUriCase must agree", root: [m({ uri: { prefix: "/a" }, ignoreUriCase: true })], sub: [m({ uri: { prefix: "/a/b" } })], want: undefined },
  { name: "different ports conflict", root: [m({ port: 80 })], sub: [m({ port: 8080 })], want: undefined },
  {
    name: "a delegate match is merged with every root match it fits",
    root: [m({ uri: { prefix: "/a" } }), m({ uri: { prefix: "/b" } }), m({ uri: { prefix: "/a/" }, name: "r" })],
    sub: [m({ uri: { prefix: "/a/x" }, name: "s" })],
    want: [{ uri: { prefix: "/a/x" }, name: "s" }, { uri: { prefix: "/a/x" }, name: "r-s" }],
  },
  { name: "every delegate match must fit one root match", root: [m({ uri: { prefix: "/a" } })], sub: [m({ uri: { prefix: "/a/x" } }), m({ uri: { prefix: "/b" } })], want: undefined },
];

for (const c of matchCases) {
  test(`delegate match merge: ${c.name}`, () => {
    assert.deepEqual(mergeMatches(c.root, c.sub), c.want);
  });
}

test("delegate route merge: settings the delegate lacks come from the root; names are joined", () => {
  const root = { name: "shop", match: [{ uri: { prefix: "/shop" } }], delegate: { name: "d" }, timeout: "3s", headers: { request: { set: { a: "root" } } } } as HTTPRoute;
  const own = { name: "v1", match: [{ uri: { prefix: "/shop/v1" } }], route: [{ destination: { host: "a" } }], headers: { request: { set: { a: "sub" } } } } as HTTPRoute;
  assert.deepEqual(mergeRoute(root, own), { name: "shop-v1", match: [{ uri: { prefix: "/shop/v1" } }], route: [{ destination: { host: "a" } }], headers: { request: { set: { a: "sub" } } }, timeout: "3s" });
  assert.equal(mergeRoute(root, { ...own, match: [{ uri: { prefix: "/other" } }] } as HTTPRoute), undefined);
});

const gateway = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  selector: { istio: ingress }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]
`;
const se = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: web, namespace: shop }
spec:
  hosts: [web.shop.svc.cluster.local, api.team.svc.cluster.local]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: 10.0.0.1 }]
`;
const vs = (name: string, body: string, ns = "shop") => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: ${ns} }
spec:
${body}`;
const toWeb = "route: [{ destination: { host: web } }]";

const checkCases: readonly { name: string; files: Record<string, string>; expect: string[]; invalid?: string }[] = [
  {
    name: "two VirtualServices on one gateway host are merged: no finding",
    files: {
      "a.yaml": vs("a", `  hosts: [shop.example.com]\n  gateways: [edge]\n  http: [{ match: [{ uri: { prefix: /a } }], ${toWeb} }]\n`),
      "b.yaml": vs("b", `  hosts: [shop.example.com]\n  gateways: [edge]\n  http: [{ match: [{ uri: { prefix: /b } }], ${toWeb} }]\n`),
    },
    expect: [],
  },
  {
    name: "GM0360: a later catch-all for the same gateway host never matches",
    files: {
      "a.yaml": vs("a", `  hosts: [shop.example.com]\n  gateways: [edge]\n  http: [{ ${toWeb} }]\n`),
      "b.yaml": vs("b", `  hosts: [shop.example.com]\n  gateways: [edge]\n  http:\n    - match: [{ uri: { prefix: /b } }]\n      ${toWeb}\n    - match: [{ uri: { prefix: / } }]\n      ${toWeb}\n`),
    },
    expect: ["GM0360@b.yaml:10:7"],
  },
  {
    name: "GM0306: two VirtualServices for one sidecar host (the first in file order is used)",
    files: {
      "z.yaml": vs("a", `  hosts: [web]\n  http: [{ ${toWeb} }]\n`),
      "b.yaml": vs("z", `  hosts: [web.shop.svc.cluster.local]\n  http: [{ ${toWeb} }]\n`),
    },
    expect: ["GM0306@z.yaml:5:11"],
  },
  {
    name: "GM0361: a delegate that does not exist, one with hosts, one not exported to the root's namespace",
    files: {
      "root.yaml": vs(
        "root",
        `  hosts: [shop.example.com]\n  gateways: [edge]\n  http:\n    - match: [{ uri: { prefix: /a } }]\n      delegate: { name: missing }\n    - match: [{ uri: { prefix: /b } }]\n      delegate: { name: web }\n    - match: [{ uri: { prefix: /c } }]\n      delegate: { name: hidden, namespace: other }\n`,
      ),
      "web.yaml": vs("web", `  hosts: [web]\n  http: [{ ${toWeb} }]\n`),
      "hidden.yaml": vs("hidden", `  exportTo: ["."]\n  http: [{ route: [{ destination: { host: web.shop.svc.cluster.local } }] }]\n`, "other"),
    },
    expect: ["GM0361@root.yaml:9:7", "GM0361@root.yaml:11:7", "GM0361@root.yaml:13:7"],
  },
  {
    name: "a delegate that fails its schema is reported there, not again as missing",
    files: {
      "root.yaml": vs("root", `  hosts: [shop.example.com]\n  gateways: [edge]\n  http:\n    - match: [{ uri: { prefix: /a } }]\n      delegate: { name: broken }\n`),
      "broken.yaml": vs("broken", `  http: [{ rout: [{ destination: { host: web } }] }]\n`),
    },
    expect: [],
    invalid: "broken.yaml",
  },
  {
    name: "GM0362, GM0363: a delegate with gateways or tcp routes, or delegating again",
    files: {
      "d.yaml": vs("d", `  gateways: [edge]\n  tcp: [{ route: [{ destination: { host: web } }] }]\n  http:\n    - delegate: { name: e }\n`),
    },
    expect: ["GM0365@d.yaml:3:19", "GM0362@d.yaml:5:13", "GM0362@d.yaml:6:8", "GM0363@d.yaml:8:7"],
  },
  {
    name: "GM0364: a delegate route outside the root's match is left out (warning)",
    files: {
      "root.yaml": vs("root", `  hosts: [shop.example.com]\n  gateways: [edge]\n  http:\n    - match: [{ uri: { prefix: /shop } }]\n      delegate: { name: d }\n`),
      "d.yaml": vs("d", `  http:\n    - match: [{ uri: { prefix: /shop/v1 } }]\n      ${toWeb}\n    - match: [{ uri: { prefix: /admin } }]\n      ${toWeb}\n`),
    },
    expect: ["GM0364@d.yaml:8:14"],
  },
];

for (const c of checkCases) {
  test(`validate: ${c.name}`, () => {
    const { diagnostics } = loadMesh([{ path: "gw.yaml", text: gateway }, { path: "se.yaml", text: se }, ...Object.entries(c.files).map(([path, text]) => ({ path, text }))]);
    const ours = diagnostics.filter((d) => ["GM0306", "GM0360", "GM0361", "GM0362", "GM0363", "GM0364", "GM0365"].includes(d.code));
    assert.deepEqual(
      ours.map((d) => `${d.code}@${d.file}:${d.line}:${d.col}`),
      c.expect,
      JSON.stringify(diagnostics.map((d) => `${d.code} ${d.file}:${d.line} ${d.message}`), null, 1),
    );
    if (c.invalid !== undefined) assert.ok(diagnostics.some((d) => d.file === c.invalid && d.severity === "error"), `${c.invalid} fails its schema`);
    for (const d of ours) assert.equal(d.severity, ["GM0360", "GM0364", "GM0365"].includes(d.code) ? "warning" : "error");
  });
}

test("a root route with both delegate and route is refused by the schema at its file:line", () => {
  const { diagnostics } = loadMesh([{ path: "gw.yaml", text: gateway }, { path: "se.yaml", text: se }, { path: "r.yaml", text: vs("r", `  hosts: [shop.example.com]\n  gateways: [edge]\n  http:\n    - delegate: { name: d }\n      ${toWeb}\n`) }]);
  const e = diagnostics.find((d) => d.file === "r.yaml" && d.severity === "error");
  assert.ok(e !== undefined, "an error in r.yaml");
  assert.equal(e.line, 9);
  assert.match(e.message, /delegate/);
});

test("the merged view: the root's delegating route becomes the delegate's routes, hosts read in the delegate's namespace", () => {
  const { model, diagnostics } = loadMesh([
    { path: "se.yaml", text: se },
    { path: "root.yaml", text: vs("root", `  hosts: [shop.example.com]\n  gateways: [edge]\n  http:\n    - match: [{ uri: { prefix: /shop } }]\n      timeout: 2s\n      delegate: { name: d, namespace: team }\n    - ${toWeb}\n`) },
    { path: "d.yaml", text: vs("d", `  http:\n    - match: [{ uri: { prefix: /shop/v1 } }]\n      route: [{ destination: { host: api } }]\n    - route: [{ destination: { host: api } }]\n`, "team") },
    { path: "gw.yaml", text: gateway },
  ]);
  assert.deepEqual(diagnostics.filter((d) => d.severity === "error"), []);
  const view = virtualServiceView(model.resources.filter((r) => r.kind === "VirtualService") as never, model.naming);
  assert.deepEqual(view.roots.map((r) => `${r.namespace}/${r.name}`), ["shop/root"]);
  assert.deepEqual(view.roots[0]?.spec.http, [
    { match: [{ uri: { prefix: "/shop/v1" } }], route: [{ destination: { host: "api.team.svc.cluster.local" } }], timeout: "2s" },
    { match: [{ uri: { prefix: "/shop" } }], route: [{ destination: { host: "api.team.svc.cluster.local" } }], timeout: "2s" },
    { route: [{ destination: { host: "web" } }] },
  ]);
});

test("two VirtualServices for one sidecar host exported to different namespaces: no conflict, each namespace takes its own", async () => {
  const { translateMesh } = await import("../../src/translators/mesh.js");
  const { resourcesForProxy } = await import("../../src/translators/proxy-resources.js");
  const only = (name: string, ns: string, prefix: string) => vs(name, `  hosts: [web.shop.svc.cluster.local]\n  exportTo: [${ns}]\n  http: [{ match: [{ uri: { prefix: ${prefix} } }], ${toWeb} }]\n`);
  const files = [
    { path: "se.yaml", text: se },
    { path: "a.yaml", text: only("for-ops", "ops", "/ops") },
    { path: "b.yaml", text: only("for-dev", "dev", "/dev") },
    { path: "c.yaml", text: only("also-ops", "ops", "/late") },
  ];
  const { model, diagnostics } = loadMesh(files);
  assert.deepEqual(
    diagnostics.filter((d) => d.code === "GM0306").map((d) => `${d.file}:${d.line}`),
    ["c.yaml:5"],
    "only also-ops conflicts: with for-ops, which ops sees first",
  );
  const t = translateMesh(model);
  const routesOf = (namespace: string, kind: "sidecar" | "grpc") => {
    const proxy = { nodeId: `${kind}-${namespace}`, kind, namespace, serviceAccount: "x", labels: {}, instanceIps: [] } as const;
    const text = JSON.stringify(resourcesForProxy(t, proxy).filter((r) => r.type === "envoy.config.route.v3.RouteConfiguration").map((r) => r.message));
    return ["/ops", "/dev", "/late"].filter((p) => text.includes(`"prefix":"${p}"`));
  };
  for (const kind of ["sidecar", "grpc"] as const) {
    assert.deepEqual(routesOf("ops", kind), ["/ops"], `${kind} in ops`);
    assert.deepEqual(routesOf("dev", kind), ["/dev"], `${kind} in dev`);
    assert.deepEqual(routesOf("qa", kind), [], `${kind} in qa: no VirtualService is exported there`);
  }
});
