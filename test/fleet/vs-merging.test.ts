// Several VirtualServices as Istio merges them, on real Envoy: two VirtualService files for one
// gateway host both take effect (their routes merged, catch-alls last), and a root's delegate
// (a VirtualService without hosts, in another namespace) is served under the root's match, at the
// gateway and at a sidecar (src/config/virtual-services.ts decides both).
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, test } from "node:test";
import type { EchoAnswer } from "./support/agent.js";
import { sharedFleet, type Fleet, type FleetSpec } from "./support/fleet.js";
import { docs, serviceEntry, workloadEntry } from "./support/mesh-yaml.js";

const NS = "demo";
const HTTP_PORT = [{ number: 8080, name: "http", protocol: "HTTP" }];

const workloads = [
  { name: "ingress", labels: { istio: "ingressgateway" }, proxy: "gateway" as const },
  { name: "client", labels: { app: "client" } },
  // A client in another namespace: it takes the VirtualService exported there.
  { name: "ops-client", labels: { app: "client" }, namespace: "ops" },
  { name: "web-1", labels: { app: "web" }, serviceAccount: "web", http: [8080] },
  { name: "api-1", labels: { app: "api" }, serviceAccount: "api", http: [8080] },
] as const;

const GATEWAY = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: ingress, namespace: demo }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 8080, name: http, protocol: HTTP }
      hosts: ["*"]
`;

// Two teams' files for one gateway host. a.yaml ends with a catch-all; b.yaml's /b still
// reaches api, because the gateway puts catch-all routes after every other route of the host.
const SHOP_A = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shop-a, namespace: demo }
spec:
  hosts: [shop.example.com]
  gateways: [ingress]
  http:
    - match: [{ uri: { prefix: /a } }]
      headers: { response: { set: { x-route: a } } }
      route: [{ destination: { host: web, port: { number: 8080 } } }]
    - headers: { response: { set: { x-route: a-default } } }
      route: [{ destination: { host: web, port: { number: 8080 } } }]
`;
const SHOP_B = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shop-b, namespace: demo }
spec:
  hosts: [shop.example.com]
  gateways: [ingress]
  http:
    - match: [{ uri: { prefix: /b } }]
      headers: { response: { set: { x-route: b } } }
      route: [{ destination: { host: api, port: { number: 8080 } } }]
`;

// The root, for the gateway and the sidecars; its /store route is the delegate's, in namespace team.
const STORE = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: store, namespace: demo }
spec:
  hosts: [store.example.com, api]
  gateways: [ingress, mesh]
  http:
    - match: [{ uri: { prefix: /store } }]
      headers: { response: { set: { x-root: store } } }
      delegate: { name: store-routes, namespace: team }
`;
const STORE_ROUTES = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: store-routes, namespace: team }
spec:
  exportTo: [demo]
  http:
    - match: [{ uri: { prefix: /store/v1 } }]
      route: [{ destination: { host: api.demo.svc.cluster.local, port: { number: 8080 } } }]
    - match: [{ uri: { prefix: /admin } }]
      route: [{ destination: { host: api.demo.svc.cluster.local, port: { number: 8080 } } }]
    - headers: { response: { set: { x-delegate: rest } } }
      route: [{ destination: { host: web.demo.svc.cluster.local, port: { number: 8080 } } }]
`;

// Two VirtualServices for one sidecar host, each exported to one namespace: no conflict (Istio's
// sidecar scope); each namespace's sidecars take their own.
const perNamespace = (ns: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web-for-${ns}, namespace: demo }
spec:
  hosts: [web]
  exportTo: [${ns}]
  http:
    - match: [{ uri: { prefix: /only-${ns} } }]
      route: [{ destination: { host: api, port: { number: 8080 } } }]
    - route: [{ destination: { host: web, port: { number: 8080 } } }]
`;

// One VirtualService for the mesh and the gateway with a route for each (Istio's match gateways,
// as its egress gateway task writes them): a sidecar takes only the mesh route, the gateway only
// its own, whatever their order.
const SITES = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: pick, namespace: demo }
spec:
  hosts: [pick, pick.example.com]
  gateways: [ingress, mesh]
  http:
    - match: [{ gateways: [ingress] }]
      headers: { response: { set: { x-site: ingress } } }
      route: [{ destination: { host: web, port: { number: 8080 } } }]
    - match: [{ gateways: [mesh] }]
      headers: { response: { set: { x-site: mesh } } }
      route: [{ destination: { host: api, port: { number: 8080 } } }]
`;

function spec(): FleetSpec {
  return {
    workloads: workloads.map((w) => ({ namespace: NS, ...w })),
    config: (address) => ({
      "services.yaml": docs(serviceEntry("web", NS, HTTP_PORT, { app: "web" }), serviceEntry("api", NS, HTTP_PORT, { app: "api" }), serviceEntry("pick", NS, HTTP_PORT, { app: "web" })),
      "workloads.yaml": docs(...workloads.map((w) => workloadEntry(w.name, "namespace" in w ? w.namespace : NS, address(w.name), w.labels, "serviceAccount" in w ? w.serviceAccount : w.name))),
      "routes/web-demo.yaml": perNamespace("demo"),
      "routes/web-ops.yaml": perNamespace("ops"),
      "gateway.yaml": GATEWAY,
      "routes/a.yaml": SHOP_A,
      "routes/b.yaml": SHOP_B,
      "routes/store.yaml": STORE,
      "team/store-routes.yaml": STORE_ROUTES,
      "routes/sites.yaml": SITES,
    }),
  };
}

const fleet = sharedFleet(spec);
after(() => fleet.close());

interface Got {
  readonly status: number;
  readonly name?: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** A request from outside the mesh to the gateway, for host (node:http: fetch would send the URL's host). */
function viaGateway(f: Fleet, host: string, path: string): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request({ host: f.address("ingress"), port: 8080, path, headers: { host }, agent: false }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, ...(res.statusCode === 200 ? { name: (JSON.parse(text) as EchoAnswer).name } : {}) }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("two VirtualService files for one gateway host both take effect, the catch-all last", (t) =>
  fleet.row(t, async (f) => {
    const a = await viaGateway(f, "shop.example.com", "/a/1");
    assert.deepEqual([a.status, a.name, a.headers["x-route"]], [200, "web-1", "a"]);
    const b = await viaGateway(f, "shop.example.com", "/b/1");
    assert.deepEqual([b.status, b.name, b.headers["x-route"]], [200, "api-1", "b"], "b.yaml's route, though a.yaml's catch-all comes first in file order");
    const rest = await viaGateway(f, "shop.example.com", "/elsewhere");
    assert.deepEqual([rest.status, rest.name, rest.headers["x-route"]], [200, "web-1", "a-default"]);
  }));

test("a delegate's routes are served under the root's match at the gateway, inheriting what they lack", (t) =>
  fleet.row(t, async (f) => {
    const v1 = await viaGateway(f, "store.example.com", "/store/v1/items");
    assert.deepEqual([v1.status, v1.name, v1.headers["x-root"]], [200, "api-1", "store"], "the delegate route has no headers: the root's apply");
    const rest = await viaGateway(f, "store.example.com", "/store/other");
    assert.deepEqual([rest.status, rest.name, rest.headers["x-delegate"], rest.headers["x-root"]], [200, "web-1", "rest", undefined], "the delegate's catch-all, only under /store; its own headers");
    const admin = await viaGateway(f, "store.example.com", "/admin");
    assert.equal(admin.status, 404, "a delegate route outside the root's match is left out");
    const outside = await viaGateway(f, "store.example.com", "/other");
    assert.equal(outside.status, 404, "nothing outside the root's match");
  }));

test("a delegate's routes are served under the root's match at a sidecar", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const v1 = await client.get("http://api.demo.svc.cluster.local:8080/store/v1/items");
    assert.equal(v1.status, 200);
    assert.equal((v1.body as EchoAnswer).name, "api-1");
    const rest = await client.get("http://api.demo.svc.cluster.local:8080/store/else");
    assert.equal(rest.status, 200);
    assert.equal((rest.body as EchoAnswer).name, "web-1", "the delegate's catch-all sends /store/else to web");
    assert.equal(rest.headers?.["x-delegate"], "rest");
    const outside = await client.get("http://api.demo.svc.cluster.local:8080/other");
    assert.equal(outside.status, 404, "the root routes only /store");
  }));

test("two VirtualServices for one sidecar host exported to different namespaces: each namespace's sidecar takes its own", (t) =>
  fleet.row(t, async (f) => {
    const web = "http://web.demo.svc.cluster.local:8080";
    const name = async (client: string, path: string) => {
      const r = await f.agent(client).get(`${web}${path}`);
      assert.equal(r.status, 200, `${client} ${path}: ${JSON.stringify(r)}`);
      return (r.body as EchoAnswer).name;
    };
    assert.equal(await name("client", "/only-demo"), "api-1", "demo's VirtualService in demo");
    assert.equal(await name("client", "/only-ops"), "web-1", "ops's VirtualService is not demo's");
    assert.equal(await name("ops-client", "/only-ops"), "api-1", "ops's VirtualService in ops");
    assert.equal(await name("ops-client", "/only-demo"), "web-1", "demo's VirtualService is not ops's");
  }));

test("a match naming gateways exists only there: the sidecar takes the mesh route, the gateway its own", (t) =>
  fleet.row(t, async (f) => {
    const mesh = await f.agent("client").get("http://pick.demo.svc.cluster.local:8080/x");
    assert.equal(mesh.status, 200, JSON.stringify(mesh));
    assert.deepEqual([(mesh.body as EchoAnswer).name, mesh.headers?.["x-site"]], ["api-1", "mesh"], "the ingress route comes first but is not the sidecar's");
    const edge = await viaGateway(f, "pick.example.com", "/x");
    assert.deepEqual([edge.status, edge.name, edge.headers["x-site"]], [200, "web-1", "ingress"]);
  }));
