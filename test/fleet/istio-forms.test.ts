// Istio YAML written the ways Istio accepts it, on real Envoy: lower-case port protocols are the
// protocols they name (an HTTP port gets HTTP routing, a TCP port a TCP proxy), route weights are
// relative (1 + 3 splits 25:75, as Istio's API says; Envoy receives the weights as written), and a
// VirtualService naming its Gateway in the legacy FQDN form is bound to it; a partial wildcard host
// (*api.forms.example) covers every host ending so, the bare api.forms.example included, as Istio
// matches hosts; and an AUTO_PASSTHROUGH gateway sends mesh mTLS on by its SNI, outbound_.PORT_.SUBSET_.HOST.
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, test } from "node:test";
import type { EchoAnswer } from "./support/agent.js";
import { sharedFleet, type FleetSpec } from "./support/fleet.js";
import { destinationRule, docs, serviceEntry, workloadEntry } from "./support/mesh-yaml.js";

const NS = "forms";
const API = "http://api.forms.svc.cluster.local:8080";

const workloads = [
  { name: "client", labels: { app: "client" } },
  { name: "ingress", labels: { istio: "ingressgateway" }, proxy: "gateway" as const },
  { name: "api-v1", labels: { app: "api", version: "v1" }, serviceAccount: "api", http: [8080] },
  { name: "api-v2", labels: { app: "api", version: "v2" }, serviceAccount: "api", http: [8080] },
  { name: "echo-1", labels: { app: "echo" }, serviceAccount: "echo", tcp: [9000] },
] as const;

const ROUTING = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api, namespace: forms }
spec:
  hosts: [api]
  http:
    - name: relative
      route:
        - { destination: { host: api, subset: v1 }, weight: 1 }
        - { destination: { host: api, subset: v2 }, weight: 3 }
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge, namespace: forms }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 8080, name: HTTP, protocol: http }
      hosts: [api.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api-edge, namespace: forms }
spec:
  hosts: [api.example.com]
  gateways: [edge.forms.svc.cluster.local]
  http:
    - route: [{ destination: { host: api.forms.svc.cluster.local, subset: v2 } }]
---
# Two more names for the api workloads (both versions), and one partial-wildcard VirtualService
# over both that sends everything to v2.
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: partner, namespace: forms }
spec: { hosts: [api.forms.example, shop-api.forms.example], location: MESH_INTERNAL, resolution: STATIC, ports: [{ number: 8080, name: http, protocol: HTTP }], workloadSelector: { labels: { app: api } } }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: partner-apis, namespace: forms }
spec:
  hosts: ["*api.forms.example"]
  http:
    - route: [{ destination: { host: api.forms.svc.cluster.local, subset: v2 } }]
`;

/**
 * An east-west gateway (AUTO_PASSTHROUGH on 15443) and, for the client, a service whose endpoint
 * is that gateway: the client's sidecar originates mesh mTLS with the SNI that names api's v1
 * subset, the gateway passes the TLS through by that SNI, and api-v1's sidecar terminates it.
 */
function eastWest(gateway: string): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: east-west, namespace: forms }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 15443, name: tls, protocol: TLS }
      tls: { mode: AUTO_PASSTHROUGH }
      hosts: ["*.forms.svc.cluster.local"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: via-east, namespace: forms }
spec:
  hosts: [via-east.forms.example]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 8080, name: http, protocol: HTTP }]
  endpoints: [{ address: ${gateway}, ports: { http: 15443 } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: via-east, namespace: forms }
spec:
  host: via-east.forms.example
  trafficPolicy:
    tls: { mode: ISTIO_MUTUAL, sni: outbound_.8080_.v1_.api.forms.svc.cluster.local, subjectAltNames: ["spiffe://cluster.local/ns/forms/sa/api"] }
`;
}

function spec(): FleetSpec {
  return {
    workloads: workloads.map((w) => ({ ...w, namespace: NS })),
    config: (address) => ({
      "services.yaml": docs(
        serviceEntry("api", NS, [{ number: 8080, name: "http", protocol: "http" }], { app: "api" }),
        serviceEntry("echo", NS, [{ number: 9000, name: "tcp", protocol: "Tcp" }], { app: "echo" }),
      ),
      "workloads.yaml": docs(...workloads.map((w) => workloadEntry(w.name, NS, address(w.name), w.labels, "serviceAccount" in w ? w.serviceAccount : w.name))),
      "routing.yaml": docs(destinationRule("api", NS, "subsets:\n  - { name: v1, labels: { version: v1 } }\n  - { name: v2, labels: { version: v2 } }"), ROUTING, eastWest(address("ingress"))),
    }),
  };
}

const fleet = sharedFleet(spec);
after(() => fleet.close());

test("Istio forms: a protocol written http is HTTP, and weights 1 + 3 split 25:75 over 400 requests", (t) =>
  fleet.row(t, async (f) => {
    const s = await f.agent("client").httpSummary({ url: `${API}/split`, count: 400, concurrency: 8 });
    assert.deepEqual(s.byStatus, { "200": 400 }, JSON.stringify(s));
    const v2 = s.byName["api-v2"] ?? 0;
    t.diagnostic(`weights 1 + 3: v1 ${s.byName["api-v1"] ?? 0}, v2 ${v2}`);
    // 75% of 400 has a standard deviation of about 9: 45 is five of them. Weights read as
    // percentages of 100 would not split like this (and a TCP port would not route by subset).
    assert.ok(Math.abs(v2 - 300) <= 45, `v2 got ${v2} of 400 (expected 300 +- 45)`);
  }));

test("Istio forms: a protocol written Tcp is TCP", (t) =>
  fleet.row(t, async (f) => {
    const replies = await f.agent("client").tcp({ host: "echo.forms.svc.cluster.local", port: 9000, count: 5, payload: "hi" });
    assert.deepEqual(new Set(replies.map((r) => r.reply)), new Set(["echo-1:9000:hi"]), JSON.stringify(replies));
  }));

test("Istio forms: a VirtualService naming its Gateway as edge.forms.svc.cluster.local is bound to it", (t) =>
  fleet.row(t, async (f) => {
    // node:http, not fetch: fetch does not let a request choose its Host header.
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest({ host: f.address("ingress"), port: 8080, path: "/edge", headers: { host: "api.example.com" } }, (r) => {
        let body = "";
        r.setEncoding("utf8").on("data", (c: string) => (body += c)).on("end", () => resolve({ status: r.statusCode ?? 0, body }));
      });
      req.on("error", reject).end();
    });
    assert.equal(res.status, 200, res.body);
    assert.equal((JSON.parse(res.body) as EchoAnswer).name, "api-v2");
  }));

test("Istio forms: a VirtualService for *api.forms.example routes api.forms.example and shop-api.forms.example", (t) =>
  fleet.row(t, async (f) => {
    for (const host of ["api.forms.example", "shop-api.forms.example"]) {
      // The entry selects v1 and v2: without the VirtualService about half the answers would be v1's.
      const s = await f.agent("client").httpSummary({ url: `http://${host}:8080/wild`, count: 20, concurrency: 4 });
      assert.deepEqual(s.byStatus, { "200": 20 }, `${host}: ${JSON.stringify(s)}`);
      assert.deepEqual(Object.keys(s.byName), ["api-v2"], `${host}: ${JSON.stringify(s)}`);
    }
  }));

test("Istio forms: an AUTO_PASSTHROUGH gateway passes mesh mTLS through to the service and subset its SNI names", (t) =>
  fleet.row(t, async (f) => {
    // The SNI names v1: without the gateway reading it, v2 would answer too (or nothing would).
    const s = await f.agent("client").httpSummary({ url: "http://via-east.forms.example:8080/east-west", count: 20, concurrency: 4 });
    assert.deepEqual(s.byStatus, { "200": 20 }, JSON.stringify(s));
    assert.deepEqual(Object.keys(s.byName), ["api-v1"], JSON.stringify(s));
    // Envoy's own count: the gateway's SNI-named cluster carried the connections.
    const stats = (await f.agent("ingress").envoy("/stats?filter=outbound_\\.8080_\\.v1_\\..*upstream_cx_total")).text;
    const total = Number(/upstream_cx_total: (\d+)/.exec(stats)?.[1] ?? "0");
    assert.ok(total > 0, stats);
  }));
