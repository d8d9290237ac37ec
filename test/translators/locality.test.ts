// Istio's locality failover priorities (applyLocalityFailover), table-driven; and what a client taking its own DestinationRule (rule-variants.ts) gets.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMesh } from "../../src/config/load.js";
import type { ClusterLoadAssignment } from "../../src/envoy/generated/envoy/config/endpoint/v3/ClusterLoadAssignment.js";
import { failoverPriorities } from "../../src/translators/locality.js";
import { translateMesh } from "../../src/translators/mesh.js";
import type { ProxyIdentity } from "../../src/translators/proxy.js";
import { resourcesForProxy } from "../../src/translators/proxy-resources.js";

const at = (region: string, zone = "", sub_zone = "") => ({ locality: { region, zone, sub_zone }, lb_endpoints: [] });

const ENDPOINTS = [at("eu", "a", "1"), at("eu", "a", "2"), at("eu", "b"), at("us", "c"), at("ap", "d")];

const cases: { name: string; client: string; failover?: { from: string; to: string }[]; want: number[] }[] = [
  { name: "subzone, zone, region, elsewhere", client: "eu/a/1", want: [0, 1, 2, 3, 3] },
  { name: "failover: the to region comes before the rest", client: "eu/a/1", failover: [{ from: "eu", to: "ap" }], want: [0, 1, 2, 4, 3] },
  { name: "a failover rule for another region changes nothing", client: "eu/a/1", failover: [{ from: "us", to: "ap" }], want: [0, 1, 2, 3, 3] },
  { name: "no gaps: a client in a region without endpoints", client: "sa/x", want: [0, 0, 0, 0, 0] },
  { name: "a client with a zone only", client: "eu/b", want: [1, 1, 0, 2, 2] },
];


for (const c of cases) {
  test(c.name, () => {
    assert.deepEqual(failoverPriorities(c.client, ENDPOINTS, c.failover === undefined ? undefined : { failover: c.failover }), c.want);
  });
}

// Failover follows the DestinationRule the client takes (rule-variants.ts): a workloadSelector rule
// with outlierDetection puts its clients' endpoints in priorities; the shared rule without it
// leaves the others flat; and the other way round.
const CONFIG = (sharedOutlier: boolean, ownOutlier: boolean) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: api, namespace: shop }
spec:
  hosts: [api.shop.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 8080, name: http, protocol: HTTP }]
  endpoints: [{ address: 10.0.0.1, locality: eu/a }, { address: 10.0.0.2, locality: us/b }]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: client-a, namespace: shop }
spec: { address: 10.0.1.1, labels: { app: client, team: a }, locality: eu/a }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: client-b, namespace: shop }
spec: { address: 10.0.1.2, labels: { app: client, team: b }, locality: eu/a }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: api, namespace: shop }
spec:
  host: api
  trafficPolicy: { connectionPool: { tcp: { maxConnections: 10 } }${sharedOutlier ? ", outlierDetection: { consecutive5xxErrors: 3 }" : ""} }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: api-for-a, namespace: shop }
spec:
  host: api
  workloadSelector: { matchLabels: { team: a } }
  trafficPolicy: { connectionPool: { tcp: { maxConnections: 1 } }${ownOutlier ? ", outlierDetection: { consecutive5xxErrors: 3 }" : ""} }
`;

const client = (team: string): ProxyIdentity =>
  ({ nodeId: `client-${team}`, kind: "sidecar", namespace: "shop", serviceAccount: "client", labels: { app: "client", team }, workloadName: `client-${team}`, instanceIps: [`10.0.1.${team === "a" ? 1 : 2}`], authenticated: true }) as ProxyIdentity;

function priorities(sharedOutlier: boolean, ownOutlier: boolean, team: string): number[] {
  const loaded = loadMesh([{ path: "mesh.yaml", text: CONFIG(sharedOutlier, ownOutlier) }]);
  assert.ok(loaded.ok, JSON.stringify(loaded.diagnostics));
  const cla = resourcesForProxy(translateMesh(loaded.model), client(team)).find((r) => r.type === "envoy.config.endpoint.v3.ClusterLoadAssignment" && r.name === "outbound|8080||api.shop.svc.cluster.local");
  assert.ok(cla !== undefined);
  return ((cla.message as ClusterLoadAssignment).endpoints ?? []).map((e) => e.priority ?? 0);
}

test("locality failover follows the rule the client takes: its own workloadSelector rule's outlierDetection, not the shared rule's", () => {
  assert.deepEqual(priorities(false, true, "a"), [0, 1], "a's own rule has outlierDetection: failover");
  assert.deepEqual(priorities(false, true, "b"), [0, 0], "the shared rule has none: flat");
  assert.deepEqual(priorities(true, false, "a"), [0, 0], "a's own rule has none, whatever the shared one says");
  assert.deepEqual(priorities(true, false, "b"), [0, 1], "the shared rule's outlierDetection");
});

test("a client taking its own DestinationRule for a host gitmesh resolves keeps gitmesh's addresses (EDS), not a DNS cluster its sidecar would resolve to itself", () => {
  const text = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ext, namespace: shop }
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 80, name: http, protocol: HTTP }]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: client-a, namespace: shop }
spec: { address: 10.0.1.1, labels: { app: client, team: a } }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ext-for-a, namespace: shop }
spec:
  host: api.example.com
  workloadSelector: { matchLabels: { team: a } }
  trafficPolicy: { connectionPool: { tcp: { maxConnections: 1 } } }
`;
  const loaded = loadMesh([{ path: "mesh.yaml", text }]);
  assert.ok(loaded.ok, JSON.stringify(loaded.diagnostics));
  const t = translateMesh(loaded.model, undefined, { dnsAnswers: new Map([["api.example.com", ["203.0.113.7"]]]) });
  const resources = resourcesForProxy(t, client("a"));
  const cluster = resources.find((r) => r.type === "envoy.config.cluster.v3.Cluster" && r.name === "outbound|80||api.example.com")?.message as { type?: string; circuit_breakers?: unknown } | undefined;
  assert.equal(cluster?.type, "EDS", "its own rule's cluster is still built from gitmesh's lookup");
  assert.match(JSON.stringify(cluster?.circuit_breakers), /"max_connections":\{"value":1\}/, "and with its own rule");
  const cla = resources.find((r) => r.type === "envoy.config.endpoint.v3.ClusterLoadAssignment" && r.name === "outbound|80||api.example.com")?.message as ClusterLoadAssignment | undefined;
  assert.match(JSON.stringify(cla?.endpoints), /203\.0\.113\.7/);
});
