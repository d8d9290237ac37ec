// Istio's HTTPMatchRequest.gateways: a match exists only where the gateways it names route ("mesh":
// sidecars and proxyless gRPC clients), and its sourceLabels are then not read (Istio's
// sourceMatchHTTP). validate reports a name that does not exist (GM0308) and one the
// VirtualService is not bound to (GM0366).
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMesh } from "../../src/config/load.js";
import type { HTTPMatchRequest } from "../../src/config/types.js";
import { matchExists } from "../../src/translators/routes-source.js";

const client = { labels: { app: "client", track: "canary" }, namespace: "shop" };

const cases: readonly { name: string; match: HTTPMatchRequest | undefined; site: string; source?: typeof client; exists: boolean }[] = [
  { name: "no match", match: undefined, site: "mesh", exists: true },
  { name: "no gateways, at the mesh", match: { uri: { prefix: "/" } }, site: "mesh", source: client, exists: true },
  { name: "no gateways, at a gateway", match: { uri: { prefix: "/" } }, site: "shop/ingress", exists: true },
  { name: "mesh, at the mesh", match: { gateways: ["mesh"] }, site: "mesh", source: client, exists: true },
  { name: "mesh, at a gateway", match: { gateways: ["mesh"] }, site: "shop/ingress", exists: false },
  { name: "a bare gateway name is in the VirtualService's namespace", match: { gateways: ["ingress"] }, site: "shop/ingress", exists: true },
  { name: "namespace/name", match: { gateways: ["edge/egress"] }, site: "edge/egress", exists: true },
  { name: "Istio's legacy FQDN form", match: { gateways: ["egress.edge.svc.cluster.local"] }, site: "edge/egress", exists: true },
  { name: "another gateway", match: { gateways: ["ingress"] }, site: "edge/egress", exists: false },
  { name: "a gateway, at the mesh", match: { gateways: ["ingress"] }, site: "mesh", source: client, exists: false },
  { name: "one of several", match: { gateways: ["ingress", "mesh"] }, site: "mesh", source: client, exists: true },
  { name: "gateways win over sourceLabels that do not hold", match: { gateways: ["mesh"], sourceLabels: { track: "stable" } }, site: "mesh", source: client, exists: true },
  { name: "sourceLabels without gateways still decide", match: { sourceLabels: { track: "stable" } }, site: "mesh", source: client, exists: false },
  { name: "an empty list names no gateway", match: { gateways: [] }, site: "shop/ingress", exists: true },
];

for (const c of cases) {
  test(`matchExists: ${c.name}`, () => {
    assert.equal(matchExists(c.match, "shop", c.site, c.source), c.exists);
  });
}

const files = (gateways: string) => [
  {
    path: "mesh.yaml",
    text: `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: api, namespace: shop }
spec:
  hosts: [api.shop.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints: [{ address: 10.0.0.1 }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: ingress, namespace: shop }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api, namespace: shop }
spec:
  hosts: [api]
  gateways: [mesh]
  http:
    - match: [{ gateways: ${gateways} }]
      route: [{ destination: { host: api } }]
`,
  },
];

test("validate: a match's gateway that does not exist is GM0308, one the VirtualService is not bound to GM0366, at the name's line", () => {
  const missing = loadMesh(files("[mesh, nowhere]")).diagnostics.filter((d) => d.code === "GM0308" || d.code === "GM0366");
  assert.deepEqual(
    missing.map((d) => `${d.code} ${d.severity} ${d.line}`),
    ["GM0308 error 25"],
  );
  assert.match(missing[0]?.message ?? "", /gateway shop\/nowhere does not exist/);
  const unbound = loadMesh(files("[ingress]")).diagnostics.filter((d) => d.code === "GM0308" || d.code === "GM0366");
  assert.deepEqual(
    unbound.map((d) => `${d.code} ${d.severity} ${d.line}`),
    ["GM0366 warning 25"],
  );
  assert.match(unbound[0]?.message ?? "", /not bound to it .*add ingress to spec.gateways/);
  assert.deepEqual(loadMesh(files("[mesh]")).diagnostics.filter((d) => d.code === "GM0308" || d.code === "GM0366"), []);
});
