// VirtualService tls routes as filter chains: one per route, its SNI names narrowed and never
// given twice (Envoy refuses two chains for one name; the first route keeps it, as in Istio).
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMesh } from "../../src/config/load.js";
import { decodeMessage } from "../../src/envoy/index.js";
import type { TLSRoute } from "../../src/config/types.js";
import { indexServices } from "../../src/translators/services.js";
import { sniFilterChains, type SniChainOptions } from "../../src/translators/tls-routes.js";

const MESH = ["a", "b", "c"]
  .map(
    (n) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${n}, namespace: web }
spec:
  hosts: [${n}.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{ number: 443, name: tls, protocol: TLS }]
  endpoints: [{ address: 10.0.0.1 }]
`,
  )
  .join("---\n");

function chains(routes: TLSRoute[], port: number, narrow: (sni: string) => string | undefined = (s) => s, taken = new Set<string>()) {
  const loaded = loadMesh([{ path: "mesh.yaml", text: MESH }]);
  assert.ok(loaded.ok);
  const index = indexServices(loaded.model);
  const notes: string[] = [];
  const options: SniChainOptions = { statPrefix: "p", chainName: (i) => `r${i}`, narrow, taken, tlsOnly: false, where: "VirtualService web/v" };
  const out = sniFilterChains(routes, { host: "a.example.com", port, namespace: "web", index }, options, notes);
  return { summary: out.map((c) => `${c.name}: ${(c.filter_chain_match?.server_names ?? []).join(",")}`), notes, taken };
}

const to = (host: string) => [{ destination: { host } }];

test("one chain per route, in order; a name an earlier route took stays with it, with a note", () => {
  const out = chains(
    [
      { match: [{ sniHosts: ["a.example.com", "*.example.com"] }], route: to("a.example.com") },
      { match: [{ sniHosts: ["a.example.com", "b.example.com"] }], route: to("b.example.com") },
      { match: [{ sniHosts: ["a.example.com"] }], route: to("c.example.com") },
    ],
    443,
  );
  assert.deepEqual(out.summary, ["r0: *.example.com,a.example.com", "r1: b.example.com"]);
  assert.deepEqual(out.notes, [
    "VirtualService web/v tls[1]: SNI a.example.com on port 443 is already routed by an earlier route or server; this route does not get it",
    "VirtualService web/v tls[2]: SNI a.example.com on port 443 is already routed by an earlier route or server; this route does not get it",
  ]);
});

test("a match for another port does not apply; names are narrowed (a gateway's server hosts) and recorded as taken", () => {
  const taken = new Set(["c.example.com"]);
  const out = chains(
    [
      { match: [{ port: 8443, sniHosts: ["a.example.com"] }, { port: 443, sniHosts: ["b.example.com", "c.example.com", "x.other.org"] }], route: to("b.example.com") },
    ],
    443,
    (sni) => (sni.endsWith(".example.com") ? sni : undefined),
    taken,
  );
  assert.deepEqual(out.summary, ["r0: b.example.com"]);
  assert.deepEqual([...out.taken].sort(), ["b.example.com", "c.example.com"]);
  assert.equal(out.notes.length, 1, "c.example.com was taken before");
});

test("weighted destinations become a weighted tcp_proxy", () => {
  const loaded = loadMesh([{ path: "mesh.yaml", text: MESH }]);
  assert.ok(loaded.ok);
  const [chain] = sniFilterChains(
    [{ match: [{ sniHosts: ["a.example.com"] }], route: [{ destination: { host: "b.example.com" }, weight: 70 }, { destination: { host: "c.example.com" }, weight: 30 }] }],
    { host: "a.example.com", port: 443, namespace: "web", index: indexServices(loaded.model) },
    { statPrefix: "p", chainName: () => "x", narrow: (s) => s, taken: new Set(), tlsOnly: true, where: "w" },
    [],
  );
  assert.deepEqual(chain?.filter_chain_match, { transport_protocol: "tls", server_names: ["a.example.com"] });
  assert.equal(chain?.filters?.[0]?.name, "envoy.filters.network.tcp_proxy");
  const proxy = decodeMessage("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", (chain?.filters?.[0]?.typed_config as { value: Uint8Array }).value);
  assert.deepEqual(proxy["weighted_clusters"], {
    clusters: [
      { name: "outbound|443||b.example.com", weight: 70 },
      { name: "outbound|443||c.example.com", weight: 30 },
    ],
  });
});
