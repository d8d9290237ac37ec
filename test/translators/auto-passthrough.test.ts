// AUTO_PASSTHROUGH gateway servers: which SNI names get a chain (services the server's hosts cover,
// every port and subset), and the clusters they send to. Envoy's view: test/golden/istio-forms and
// test/fleet/istio-forms.test.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMesh } from "../../src/config/load.js";
import type { MeshResource } from "../../src/config/resources.js";
import { autoPassthrough } from "../../src/translators/auto-passthrough.js";
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
