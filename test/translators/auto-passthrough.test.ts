// AUTO_PASSTHROUGH gateway servers: which SNI names get a chain (services the server's hosts cover,
// every port and subset), and the clusters they send to. Envoy's view: test/golden/istio-forms and
// test/fleet/istio-forms.test.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMesh } from "../../src/config/load.js";
import type { MeshResource } from "../../src/config/resources.js";
import type { Cluster } from "../../src/envoy/index.js";
import { autoPassthrough } from "../../src/translators/auto-passthrough.js";
import { translateMesh } from "../../src/translators/mesh.js";
import type { ProxyIdentity } from "../../src/translators/proxy.js";
import { resourcesForProxy } from "../../src/translators/proxy-resources.js";
import { indexServices } from "../../src/translators/services.js";

const se = (name: string, ns: string, spec: string) => `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: ${name}, namespace: ${ns} }\nspec: ${spec}\n`;
const MESH = [
  se("api", "shop", "{ hosts: [api.shop.svc.cluster.local], location: MESH_INTERNAL, resolution: STATIC, ports: [{ number: 8080, name: http, protocol: HTTP }, { number: 9090, name: grpc, protocol: GRPC }], endpoints: [{ address: 10.0.0.1, labels: { version: v1 } }] }"),
  "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: api, namespace: shop }\nspec: { host: api, subsets: [{ name: v1, labels: { version: v1 } }] }\n",
  se("db", "data", "{ hosts: [db.data.svc.cluster.local], location: MESH_INTERNAL, resolution: STATIC, ports: [{ number: 5432, name: tcp, protocol: TCP }], endpoints: [{ address: 10.0.0.2 }] }"),
  // Resolved by DNS: its endpoints are in its cluster, not in a ClusterLoadAssignment to share.
  se("named", "shop", "{ hosts: [named.shop.svc.cluster.local], location: MESH_INTERNAL, resolution: DNS, ports: [{ number: 80, name: http, protocol: HTTP }], endpoints: [{ address: named.example.com }] }"),
].join("---\n");

test("an AUTO_PASSTHROUGH server has a chain per service port and subset its hosts cover, named by Istio's SNI", () => {
  const loaded = loadMesh([{ path: "mesh.yaml", text: MESH }]);
  assert.ok(loaded.ok, loaded.diagnostics.map((d) => d.message).join("\n"));
  const index = indexServices(loaded.model);
  const gateway = { kind: "Gateway", name: "east-west", namespace: "shop" } as unknown as MeshResource<"Gateway">;
  const cases: [hosts: string[], names: string[]][] = [
    [["*"], ["outbound_.5432_._.db.data.svc.cluster.local", "outbound_.8080_._.api.shop.svc.cluster.local", "outbound_.8080_.v1_.api.shop.svc.cluster.local", "outbound_.9090_._.api.shop.svc.cluster.local", "outbound_.9090_.v1_.api.shop.svc.cluster.local"]],
    [["./*"], ["outbound_.8080_._.api.shop.svc.cluster.local", "outbound_.8080_.v1_.api.shop.svc.cluster.local", "outbound_.9090_._.api.shop.svc.cluster.local", "outbound_.9090_.v1_.api.shop.svc.cluster.local"]],
    [["data/*"], ["outbound_.5432_._.db.data.svc.cluster.local"]],
    [["*.data.svc.cluster.local"], ["outbound_.5432_._.db.data.svc.cluster.local"]],
    [["*.example.com"], []],
  ];
  for (const [hosts, names] of cases) {
    const notes: string[] = [];
    const server = { port: { number: 15443, name: "tls", protocol: "TLS" as const }, hosts, tls: { mode: "AUTO_PASSTHROUGH" as const } };
    const out = autoPassthrough({ gateway, server }, 15443, index, new Set(), [], notes);
    assert.deepEqual(out.chains.flatMap((c) => c.filter_chain_match?.server_names ?? []).sort(), names, hosts.join(","));
    assert.deepEqual(out.clusters.map((c) => c.name).sort(), names);
    for (const c of out.clusters) {
      assert.equal(c.message.transport_socket, undefined, "the gateway adds no TLS: the client's passes through");
      assert.equal(c.message.eds_cluster_config?.service_name, c.name.replace(/^outbound_\.(\d+)_\.([^_]*)_\.(.*)$/, "outbound|$1|$2|$3"));
    }
    if (hosts.includes("*")) assert.ok(notes.some((n) => n.includes("named.shop.svc.cluster.local is resolved by DNS")), notes.join("\n"));
    if (names.length === 0) assert.ok(notes.some((n) => n.includes("no service matches")), notes.join("\n"));
  }
});

test("an AUTO_PASSTHROUGH gateway passes through only to services exported to its namespace: every cluster it gets has its endpoints (none left warming)", () => {
  const gatewayDoc = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: east-west, namespace: istio-system }\nspec: { selector: { istio: eastwestgateway }, servers: [{ port: { number: 15443, name: tls, protocol: TLS }, hosts: ['*'], tls: { mode: AUTO_PASSTHROUGH } }] }\n";
  const hidden = se("secret", "data", "{ hosts: [secret.data.svc.cluster.local], exportTo: ['.'], location: MESH_INTERNAL, resolution: STATIC, ports: [{ number: 7000, name: tcp, protocol: TCP }], endpoints: [{ address: 10.0.0.3 }] }");
  const loaded = loadMesh([{ path: "mesh.yaml", text: [MESH, hidden, gatewayDoc].join("---\n") }]);
  assert.ok(loaded.ok, loaded.diagnostics.map((d) => d.message).join("\n"));
  const proxy = { nodeId: "ew-1", kind: "gateway", namespace: "istio-system", serviceAccount: "ew", labels: { istio: "eastwestgateway" }, instanceIps: [], authenticated: true } as ProxyIdentity;
  const resources = resourcesForProxy(translateMesh(loaded.model), proxy);
  const clusters = resources.filter((r) => r.type === "envoy.config.cluster.v3.Cluster").map((r) => r.message as Cluster);
  const names = clusters.map((c) => c.name);
  assert.ok(names.includes("outbound_.5432_._.db.data.svc.cluster.local"), names.join("\n"));
  assert.ok(!names.some((n) => n?.includes("secret.data")), `a service not exported to istio-system: ${names.join(", ")}`);
  const assignments = new Set(resources.filter((r) => r.type === "envoy.config.endpoint.v3.ClusterLoadAssignment").map((r) => r.name));
  for (const c of clusters.filter((x) => x.type === "EDS")) {
    const wanted = c.eds_cluster_config?.service_name === undefined || c.eds_cluster_config.service_name === "" ? c.name : c.eds_cluster_config.service_name;
    assert.ok(assignments.has(wanted ?? ""), `${c.name} waits for ${wanted}, which the gateway is not sent`);
  }
});
