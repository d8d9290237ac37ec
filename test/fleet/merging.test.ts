// Several DestinationRules and ServiceEntries for one host, merged as Istio merges them, and a
// DestinationRule workloadSelector, on real Envoy sidecars with real traffic.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { EchoAnswer } from "./support/agent.js";
import { sharedFleet, type FleetSpec } from "./support/fleet.js";
import { docs, flow, serviceEntry, virtualService, workloadEntry } from "./support/mesh-yaml.js";

const NS = "demo";
const HOST = `svc.${NS}.svc.cluster.local`;

const workloads = [
  { name: "client-a", labels: { app: "client", team: "a" } },
  { name: "client-b", labels: { app: "client", team: "b" } },
  { name: "svc-v1", labels: { app: "svc", version: "v1" }, serviceAccount: "svc", http: [8080, 9090] },
  { name: "svc-v2", labels: { app: "svc", version: "v2" }, serviceAccount: "svc", http: [8080, 9090] },
] as const;

/** A DestinationRule for the service, named `name`; `spec` goes under spec beside the host. */
function rule(name: string, spec: string): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name}, namespace: ${NS} }
spec:
  host: svc
${spec.replace(/^/gm, "  ").trimEnd()}
`;
}

const SUBSETS = "subsets:\n  - { name: v1, labels: { version: v1 } }\n  - { name: v2, labels: { version: v2 } }";

function spec(): FleetSpec {
  return {
    workloads: workloads.map((w) => ({ ...w, namespace: NS })),
    config: (address) => ({
      "workloads.yaml": docs(...workloads.map((w) => workloadEntry(w.name, NS, address(w.name), w.labels, "serviceAccount" in w ? w.serviceAccount : w.name))),
      // One host, two ServiceEntries in one namespace: one declares the HTTP port, the other the admin port.
      "services/svc.yaml": serviceEntry("svc", NS, [{ number: 8080, name: "http", protocol: "HTTP" }], { app: "svc" }),
      "services/svc-admin.yaml": serviceEntry("svc", NS, [{ number: 9090, name: "admin", protocol: "HTTP" }], { app: "svc" }).replace("name: svc,", "name: svc-admin,"),
      // Two teams' files, each adding its subset; the second also asks for a trafficPolicy.
      "rules/team-1.yaml": rule("svc-v1", "subsets:\n  - { name: v1, labels: { version: v1 } }"),
      "rules/team-2.yaml": rule("svc-v2", "subsets:\n  - { name: v2, labels: { version: v2 } }"),
      // Client a's own rule: the same subsets, one connection at most to each endpoint, and
      // requests with one x-user to one endpoint.
      "rules/client-a.yaml": rule(
        "svc-for-a",
        `workloadSelector: { matchLabels: ${flow({ team: "a" })} }\ntrafficPolicy:\n  connectionPool: { tcp: { maxConnections: 1 } }\n  loadBalancer: { consistentHash: { httpHeaderName: x-user } }\n${SUBSETS}`,
      ),
      "routes.yaml": virtualService(
        "svc",
        NS,
        ["svc"],
        `http:
  - match: [{ uri: { prefix: /any } }]
    route: [{ destination: { host: svc } }]
  - match: [{ headers: { x-version: { exact: v2 } } }]
    route: [{ destination: { host: svc, subset: v2 } }]
  - route: [{ destination: { host: svc, subset: v1 } }]`,
      ),
    }),
  };
}

const fleet = sharedFleet(spec);
after(() => fleet.close());

/** max_connections of a cluster's default thresholds in a sidecar's config dump (undefined: Envoy's default). */
function maxConnections(dump: string, cluster: string): number | undefined {
  type Cluster = { name: string; circuit_breakers?: { thresholds?: { max_connections?: number }[] } };
  // With ?resource= each config is one DynamicCluster; without, the ClustersConfigDump.
  const parsed = JSON.parse(dump) as { configs: { cluster?: Cluster; dynamic_active_clusters?: { cluster: Cluster }[] }[] };
  const clusters = parsed.configs.flatMap((c) => c.dynamic_active_clusters ?? (c.cluster === undefined ? [] : [{ cluster: c.cluster }])).map((c) => c.cluster);
  const found = clusters.find((c) => c.name === cluster);
  assert.ok(found !== undefined, `${cluster} among ${clusters.map((c) => c.name).join(", ")}`);
  return found.circuit_breakers?.thresholds?.[0]?.max_connections;
}

const clientsRows = [
  { client: "client-a", pool: 1 },
  { client: "client-b", pool: undefined },
] as const;

for (const { client } of clientsRows) {
  test(`two DestinationRule files each adding a subset: ${client}'s requests reach each subset as the VirtualService routes them`, (t) =>
    fleet.row(t, async (f) => {
      const c = f.agent(client);
      const v1 = await c.httpSummary({ url: `http://${HOST}:8080/`, count: 20 });
      const v2 = await c.httpSummary({ url: `http://${HOST}:8080/`, count: 20, headers: { "x-version": "v2" } });
      assert.deepEqual([v1.byStatus, v1.byName], [{ "200": 20 }, { "svc-v1": 20 }], JSON.stringify(v1));
      assert.deepEqual([v2.byStatus, v2.byName], [{ "200": 20 }, { "svc-v2": 20 }], JSON.stringify(v2));
    }));
}

test("a DestinationRule with a workloadSelector changes the selected client's clusters and not another's", (t) =>
  fleet.row(t, async (f) => {
    for (const { client, pool } of clientsRows) {
      const dump = (await f.agent(client).envoy("/config_dump?resource=dynamic_active_clusters")).text;
      for (const cluster of [`outbound|8080||${HOST}`, `outbound|8080|v1|${HOST}`, `outbound|8080|v2|${HOST}`]) {
        const max = maxConnections(dump, cluster);
        if (pool === undefined) assert.notEqual(max, 1, `${client}: ${cluster}`);
        else assert.equal(max, pool, `${client}: ${cluster}`);
      }
    }
  }));

test("two ServiceEntries for one host in one namespace: the second's port is served, routed like the first's", (t) =>
  fleet.row(t, async (f) => {
    for (const [headers, name] of [[{}, "svc-v1"], [{ "x-version": "v2" }, "svc-v2"]] as const) {
      const r = await f.agent("client-b").get(`http://${HOST}:9090/admin`, headers);
      assert.equal(r.status, 200, JSON.stringify(r));
      const echo = r.body as EchoAnswer;
      assert.deepEqual([echo.name, echo.port, echo.path], [name, 9090, "/admin"]);
    }
  }));

test("a DestinationRule with a workloadSelector: the selected client's requests hash by its header to one endpoint, another client's spread", (t) =>
  fleet.row(t, async (f) => {
    for (let user = 0; user < 6; user++) {
      const s = await f.agent("client-a").httpSummary({ url: `http://${HOST}:8080/any`, count: 10, headers: { "x-user": `user-${user}` } });
      assert.deepEqual(s.byStatus, { "200": 10 }, JSON.stringify(s));
      assert.equal(Object.keys(s.byName).length, 1, `client-a, user-${user}: ${JSON.stringify(s.byName)}`);
    }
    const b = await f.agent("client-b").httpSummary({ url: `http://${HOST}:8080/any`, count: 20, headers: { "x-user": "user-0" } });
    assert.deepEqual(b.byStatus, { "200": 20 }, JSON.stringify(b));
    assert.deepEqual(Object.keys(b.byName).sort(), ["svc-v1", "svc-v2"], `client-b spreads: ${JSON.stringify(b.byName)}`);
  }));
