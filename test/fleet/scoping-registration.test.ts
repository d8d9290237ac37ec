// Sidecar scoping and self-registration on real Envoy: a sidecar whose Sidecar resource does not
// see a service (not imported, or taken away by a ~ exclusion) has no listener for it, and a
// WorkloadGroup member becomes an endpoint when its
// Envoy connects and leaves after the grace period once it is gone.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { EchoAnswer } from "./support/agent.js";
import { sharedFleet, type Fleet, type FleetSpec } from "./support/fleet.js";
import { docs, serviceEntry, workloadEntry } from "./support/mesh-yaml.js";
import { waitFor } from "./support/wait.js";

const HTTP = [{ number: 8080, name: "http", protocol: "HTTP" }];
const GRACE_SECONDS = 3;

const workloads = [
  { name: "scoped", namespace: "team-a", labels: { app: "scoped" } },
  { name: "unscoped", namespace: "team-b", labels: { app: "unscoped" } },
  { name: "picky", namespace: "team-c", labels: { app: "picky" } },
  { name: "a-1", namespace: "team-a", labels: { app: "a" }, serviceAccount: "a", http: [8080] },
  { name: "b-1", namespace: "team-b", labels: { app: "b" }, serviceAccount: "b", http: [8080] },
] as const;

const MESH = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: team-a }
spec:
  egress: [{ hosts: ["./*"] }]
---
# Everything but team-a's services and the reg service (wherever it is declared).
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: team-c }
spec:
  egress: [{ hosts: ["*/*", "~team-a/*", "~/reg.team-b.svc.cluster.local"] }]
---
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: { name: reg, namespace: team-b }
spec:
  metadata: { labels: { app: reg } }
  template: { serviceAccount: reg, ports: { http: 8080 } }
`;

function spec(): FleetSpec {
  return {
    workloads: [...workloads, { name: "reg-1", namespace: "team-b", labels: { app: "reg" }, serviceAccount: "reg", group: "reg", http: [8080], deferEnvoy: true }],
    registrationGraceSeconds: GRACE_SECONDS,
    config: (address) => ({
      "services.yaml": docs(serviceEntry("a", "team-a", HTTP, { app: "a" }), serviceEntry("b", "team-b", HTTP, { app: "b" }), serviceEntry("reg", "team-b", HTTP, { app: "reg" })),
      "workloads.yaml": docs(...workloads.map((w) => workloadEntry(w.name, w.namespace, address(w.name), w.labels, "serviceAccount" in w ? w.serviceAccount : w.name))),
      "mesh.yaml": MESH,
    }),
  };
}

const fleet = sharedFleet(spec);
after(() => fleet.close());

async function listeners(f: Fleet, who: string): Promise<string[]> {
  const text = (await f.agent(who).envoy("/listeners")).text;
  return text.trim().split("\n").map((l) => l.split("::")[0] ?? "");
}

/** Addresses of the endpoints the unscoped client's Envoy has for the reg service. */
async function regEndpoints(f: Fleet): Promise<string[]> {
  const text = (await f.agent("unscoped").envoy("/clusters")).text;
  const hosts = new Set<string>();
  for (const line of text.split("\n")) {
    const m = /^outbound\|8080\|\|reg\.team-b\.svc\.cluster\.local::([0-9.]+):8080::/.exec(line);
    if (m !== null) hosts.add(m[1] ?? "");
  }
  return [...hosts];
}

test("Sidecar scoping: a sidecar that does not see a service has no listener for it", (t) =>
  fleet.row(t, async (f) => {
    const hosts = (await f.cli("hosts", f.configDir)).trim().split("\n");
    const addressOf = (host: string) => hosts.find((l) => l.includes(` ${host}`))?.split(" ")[0] ?? "";
    const [a, b] = [addressOf("a.team-a.svc.cluster.local"), addressOf("b.team-b.svc.cluster.local")];
    const scoped = await listeners(f, "scoped");
    assert.ok(scoped.includes(`${a}_8080`), `scoped sees its namespace: ${scoped.join(" ")}`);
    assert.ok(!scoped.includes(`${b}_8080`), `scoped has no listener for team-b's service: ${scoped.join(" ")}`);
    assert.ok((await listeners(f, "unscoped")).includes(`${a}_8080`), "without a Sidecar resource a sidecar sees every service");
    const seen = await f.agent("scoped").get("http://a.team-a.svc.cluster.local:8080/");
    assert.equal((seen.body as EchoAnswer).name, "a-1");
    const unseen = await f.agent("scoped").get("http://b.team-b.svc.cluster.local:8080/");
    assert.equal(unseen.error, "ECONNREFUSED", "nothing listens where the unseen service's name points");
    const other = await f.agent("unscoped").get("http://b.team-b.svc.cluster.local:8080/");
    assert.equal((other.body as EchoAnswer).name, "b-1");
  }));

test("Sidecar exclusions: ~team-a/* and ~/reg... take those services away from */*, and the rest stay reachable", (t) =>
  fleet.row(t, async (f) => {
    const hosts = (await f.cli("hosts", f.configDir)).trim().split("\n");
    const addressOf = (host: string) => hosts.find((l) => l.includes(` ${host}`))?.split(" ")[0] ?? "";
    const [a, b, reg] = [addressOf("a.team-a.svc.cluster.local"), addressOf("b.team-b.svc.cluster.local"), addressOf("reg.team-b.svc.cluster.local")];
    const picky = await listeners(f, "picky");
    assert.ok(picky.includes(`${b}_8080`), `picky imports */*: ${picky.join(" ")}`);
    assert.ok(!picky.includes(`${a}_8080`), `~team-a/* takes team-a's service away: ${picky.join(" ")}`);
    assert.ok(!picky.includes(`${reg}_8080`), `~/reg.team-b.svc.cluster.local takes reg away: ${picky.join(" ")}`);
    const kept = await f.agent("picky").get("http://b.team-b.svc.cluster.local:8080/");
    assert.equal((kept.body as EchoAnswer).name, "b-1");
    const excluded = await f.agent("picky").get("http://a.team-a.svc.cluster.local:8080/");
    assert.equal(excluded.error, "ECONNREFUSED", "nothing listens where the excluded service's name points");
  }));

test("self-registration: a WorkloadGroup member is an endpoint while its Envoy is connected, and leaves after the grace period", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("unscoped");
    const url = "http://reg.team-b.svc.cluster.local:8080/";
    assert.deepEqual(await regEndpoints(f), [], "no member yet");
    assert.equal((await client.get(url)).status, 503, "no endpoint: no healthy upstream");
    await f.startEnvoy("reg-1");
    await f.synced();
    assert.deepEqual(await regEndpoints(f), [f.address("reg-1")], "registered at the address gitmesh saw its stream come from");
    const r = await client.get(url);
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.equal((r.body as EchoAnswer).name, "reg-1");
    assert.match(String((r.body as EchoAnswer).headers["x-forwarded-client-cert"]), /sa\/unscoped$/, "mutual TLS to the registered workload");
    const stopped = Date.now();
    await f.stopEnvoy("reg-1");
    assert.deepEqual(await regEndpoints(f), [f.address("reg-1")], "still an endpoint just after its stream ended");
    await waitFor("reg-1 to leave", async () => ((await regEndpoints(f)).length === 0 ? { ok: true, value: undefined } : { ok: false, why: "still an endpoint" }), 30_000);
    const gone = Date.now() - stopped;
    t.diagnostic(`endpoint removed ${gone} ms after the Envoy stopped (grace ${GRACE_SECONDS} s)`);
    assert.ok(gone >= GRACE_SECONDS * 1000 - 200, `left after ${gone} ms, not before the grace period`);
    await f.synced();
  }));
