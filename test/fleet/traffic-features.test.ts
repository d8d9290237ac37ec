// Istio's VirtualService and DestinationRule features of issue 11 on real Envoy: mirrors with
// percentages and mirrorPercent, directResponse, matches on authority, scheme and sourceLabels,
// uriRegexRewrite, and the DestinationRule's tcpKeepalive, h2UpgradePolicy, warmup and locality
// failover. Requests go from a client
// through its real sidecar; the assertions are on what the backends (and the mirrors) received,
// what the client got, the sockets the sidecar holds, and the sidecar's own counters.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, test } from "node:test";
import { promisify } from "node:util";
import type { EchoAnswer, Received } from "./support/agent.js";
import type { AgentClient } from "./support/agent-client.js";
import { sharedFleet, type Fleet, type FleetSpec } from "./support/fleet.js";
import { destinationRule, docs, serviceEntry, virtualService, workloadEntry } from "./support/mesh-yaml.js";
import { waitFor } from "./support/wait.js";

const run = promisify(execFile);
const NS = "demo";
const API = "http://api.demo.svc.cluster.local:8080";
const WARM = "http://warm.demo.svc.cluster.local:8080";
const NEAR = "http://near.demo.svc.cluster.local:8080";
const SPREAD = "http://spread.demo.svc.cluster.local:8080";
/** The warmup window of the warm service: short, so the row need not wait long for the first endpoint to leave it. */
const WARMUP_SECONDS = 10;
const BIG_BODY = "x".repeat(5000); // more than Envoy's default 4096-byte limit on direct responses

const workloads = [
  { name: "client", labels: { app: "client" } },
  { name: "api-v1", labels: { app: "api", version: "v1" }, serviceAccount: "api", http: [8080] },
  { name: "api-v2", labels: { app: "api", version: "v2" }, serviceAccount: "api", http: [8080] },
  { name: "shadow-a", labels: { app: "shadow-a" }, http: [8080] },
  { name: "shadow-b", labels: { app: "shadow-b" }, http: [8080] },
  { name: "warm-1", labels: { app: "warm" }, serviceAccount: "warm", http: [8080] },
  { name: "warm-2", labels: { app: "warm" }, serviceAccount: "warm", http: [8080] },
  { name: "loc-near", labels: { app: "loc" }, serviceAccount: "loc", http: [8080] },
  { name: "loc-far", labels: { app: "loc" }, serviceAccount: "loc", http: [8080] },
] as const;

/** Localities of the WorkloadEntries: the client's sidecar is where loc-near is. */
const LOCALITY: Readonly<Record<string, string>> = { client: "region-a/zone-1", "loc-near": "region-a/zone-1", "loc-far": "region-b/zone-2" };

const VIRTUAL_SERVICE = virtualService(
  "api",
  NS,
  ["api"],
  `http:
  - name: maintenance
    match: [{ uri: { prefix: /maintenance } }]
    directResponse: { status: 503, body: { string: "down for maintenance\\n" } }
    headers:
      response: { set: { retry-after: "120" } }
  - name: teapot
    match: [{ uri: { exact: /teapot } }]
    directResponse: { status: 418, body: { bytes: SSdtIGEgdGVhcG90 } }
  - name: big
    match: [{ uri: { exact: /big } }]
    directResponse: { status: 200, body: { string: ${BIG_BODY} } }
  - name: by-authority
    match: [{ authority: { prefix: canary.api } }]
    route: [{ destination: { host: api, subset: v2 } }]
  - name: plain-scheme
    match: [{ uri: { prefix: /plain }, scheme: { exact: http } }]
    route: [{ destination: { host: api, subset: v2 } }]
  - name: secure-scheme
    match: [{ uri: { prefix: /secure }, scheme: { exact: https } }]
    route: [{ destination: { host: api, subset: v2 } }]
  - name: regex-rewrite
    match: [{ uri: { prefix: /users/ } }]
    rewrite: { uriRegexRewrite: { match: "^/users/([^/]+)/profile$", rewrite: "/v2/profiles/\\\\1" } }
    route: [{ destination: { host: api, subset: v1 } }]
  - name: mirrors
    match: [{ uri: { prefix: /mirrors } }]
    route: [{ destination: { host: api, subset: v1 } }]
    mirrors:
      - destination: { host: shadow-a }
      - destination: { host: shadow-b }
        percentage: { value: 25 }
  - name: mirror-percent
    match: [{ uri: { prefix: /mirror-percent } }]
    route: [{ destination: { host: api, subset: v1 } }]
    mirror: { host: shadow-a }
    mirrorPercent: 50
  - name: by-client
    match: [{ uri: { prefix: /who }, sourceLabels: { app: shadow-a } }]
    route: [{ destination: { host: api, subset: v2 } }]
  - name: default
    route: [{ destination: { host: api, subset: v1 } }]`,
);

// Every subset inherits the rule's connection pool: the sidecar speaks HTTP/2 to api's HTTP port
// and keeps its connections alive with TCP keepalive probes.
const API_RULE = destinationRule(
  "api",
  NS,
  `trafficPolicy:
  connectionPool:
    tcp: { tcpKeepalive: { probes: 4, time: 300s, interval: 30s } }
    http: { h2UpgradePolicy: UPGRADE }
subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]`,
);

const WARM_RULE = destinationRule("warm", NS, `trafficPolicy:\n  loadBalancer: { simple: ROUND_ROBIN, warmup: { duration: ${WARMUP_SECONDS}s, minimumPercent: 10 } }`);

const HTTP_PORT = [{ number: 8080, name: "http", protocol: "HTTP" }];

function entries(address: (name: string) => string, names: readonly string[]): string {
  return docs(
    ...workloads
      .filter((w) => names.includes(w.name))
      .map((w) => {
        const entry = workloadEntry(w.name, NS, address(w.name), w.labels, "serviceAccount" in w ? w.serviceAccount : w.name);
        const locality = LOCALITY[w.name];
        return locality === undefined ? entry : `${entry}  locality: ${locality}\n`;
      }),
  );
}

// Both services are the same two workloads; near fails over by locality (Istio's default with
// outlier detection), spread has it turned off.
const OUTLIERS = "outlierDetection: { consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 100 }";
const NEAR_RULE = destinationRule("near", NS, `trafficPolicy:\n  ${OUTLIERS}`);
const SPREAD_RULE = destinationRule("spread", NS, `trafficPolicy:\n  ${OUTLIERS}\n  loadBalancer: { localityLbSetting: { enabled: false } }`);

// warm-2 runs from the start but joins the warm service only in the warmup row.
const FIRST_ENTRIES = workloads.map((w) => w.name).filter((n) => n !== "warm-2");

function spec(): FleetSpec {
  return {
    workloads: workloads.map((w) => ({ ...w, namespace: NS })),
    config: (address) => ({
      "services.yaml": docs(
        serviceEntry("api", NS, HTTP_PORT, { app: "api" }),
        serviceEntry("shadow-a", NS, HTTP_PORT, { app: "shadow-a" }),
        serviceEntry("shadow-b", NS, HTTP_PORT, { app: "shadow-b" }),
        serviceEntry("warm", NS, HTTP_PORT, { app: "warm" }),
        serviceEntry("near", NS, HTTP_PORT, { app: "loc" }),
        serviceEntry("spread", NS, HTTP_PORT, { app: "loc" }),
      ),
      "workloads.yaml": entries(address, FIRST_ENTRIES),
      "routing.yaml": docs(VIRTUAL_SERVICE, API_RULE, WARM_RULE, NEAR_RULE, SPREAD_RULE),
    }),
  };
}

const fleet = sharedFleet(spec);
after(() => fleet.close());

function echo(body: unknown): EchoAnswer {
  assert.equal(typeof body, "object", `an echo from a backend, got ${JSON.stringify(body)}`);
  return body as EchoAnswer;
}

/** What an agent received, once two reads 200 ms apart agree (mirrored copies arrive after the answers). */
async function settled(agent: AgentClient, atLeast: number): Promise<Received[]> {
  let last = -1;
  return waitFor(`${agent.name} to stop receiving copies`, async () => {
    const got = await agent.received();
    const stable = got.length === last && got.length >= atLeast;
    last = got.length;
    return stable ? { ok: true, value: got } : { ok: false, why: `${got.length} received` };
  }, 20_000, 200);
}

test("VirtualService mirrors: each mirror gets its percentage; mirrorPercent too", (t) =>
  fleet.row(t, async (f) => {
    const [a, b] = [f.agent("shadow-a"), f.agent("shadow-b")];
    await Promise.all([a.reset(), b.reset()]);
    const s = await f.agent("client").httpSummary({ url: `${API}/mirrors/1`, count: 400, concurrency: 8 });
    assert.deepEqual(s.byName, { "api-v1": 400 }, `the client is answered by the route's destination: ${JSON.stringify(s)}`);
    const toA = await settled(a, 400);
    const toB = await settled(b, 1);
    t.diagnostic(`mirrors over 400 requests: shadow-a (100%) ${toA.length}, shadow-b (25%) ${toB.length}`);
    assert.equal(toA.length, 400, "a mirror without a percentage gets every request");
    assert.ok(toA.every((r) => r.path === "/mirrors/1"));
    // 25% of 400 has a standard deviation of about 8.7: 35 is four of them.
    assert.ok(Math.abs(toB.length - 100) <= 35, `shadow-b got ${toB.length} of 400 (expected 100 +- 35)`);
    assert.match(String(toB[0]?.headers.host), /-shadow(:\d+)?$/, "Envoy marks mirrored requests' host");

    await a.reset();
    const legacy = await f.agent("client").httpSummary({ url: `${API}/mirror-percent/1`, count: 400, concurrency: 8 });
    assert.deepEqual(legacy.byName, { "api-v1": 400 });
    const half = await settled(a, 1);
    t.diagnostic(`mirrorPercent 50 over 400 requests: shadow-a ${half.length}`);
    // 50% of 400 has a standard deviation of 10: 40 is four of them.
    assert.ok(Math.abs(half.length - 200) <= 40, `shadow-a got ${half.length} of 400 (expected 200 +- 40)`);
  }));

test("VirtualService directResponse: the sidecar answers, with the route's response headers; text, bytes and a body past Envoy's default limit", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const v1 = f.agent("api-v1");
    await v1.reset();
    const down = await client.get(`${API}/maintenance/now`);
    assert.equal(down.status, 503);
    assert.equal(down.body, "down for maintenance\n");
    assert.equal(down.headers?.["retry-after"], "120");
    const teapot = await client.get(`${API}/teapot`);
    assert.equal(teapot.status, 418);
    assert.equal(teapot.body, "I'm a teapot");
    const big = await client.get(`${API}/big`);
    assert.equal(big.status, 200);
    assert.equal(big.body, BIG_BODY);
    assert.equal((await v1.received()).length, 0, "no request reaches the backend");
  }));

test("VirtualService match on authority and scheme", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const cases: [string, Record<string, string>, string][] = [
      ["/anything", { host: "canary.api.example:8080" }, "api-v2"],
      ["/anything", { host: "stable.api.example" }, "api-v1"],
      ["/anything", {}, "api-v1"],
      ["/plain", {}, "api-v2"], // the sidecar received plain HTTP: scheme http
      ["/secure", {}, "api-v1"], // never https here
    ];
    for (const [path, headers, expected] of cases) {
      const r = await client.get(`${API}${path}`, headers);
      assert.equal(r.status, 200, `${path} ${JSON.stringify(headers)}: ${JSON.stringify(r)}`);
      assert.equal(echo(r.body).name, expected, `${path} ${JSON.stringify(headers)} goes to ${expected}`);
    }
  }));

test("VirtualService sourceLabels: only the clients with those labels get the match", (t) =>
  fleet.row(t, async (f) => {
    const named = await f.agent("shadow-a").get(`${API}/who`);
    assert.equal(named.status, 200, JSON.stringify(named));
    assert.equal(echo(named.body).name, "api-v2", "shadow-a's sidecar has the by-client route");
    const other = await f.agent("client").get(`${API}/who`);
    assert.equal(echo(other.body).name, "api-v1", "the client's sidecar does not");
  }));

test("VirtualService uriRegexRewrite: the path is rewritten with the regex's groups, the query kept", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const rewritten = echo((await client.get(`${API}/users/alice/profile?fields=name`)).body);
    assert.equal(rewritten.path, "/v2/profiles/alice?fields=name");
    const untouched = echo((await client.get(`${API}/users/alice/settings`)).body);
    assert.equal(untouched.path, "/users/alice/settings", "a path the regex does not match is forwarded as it is");
  }));

/** The sidecar's counter `name` from its admin page (0 when absent). */
async function envoyCounter(agent: AgentClient, name: string): Promise<number> {
  const stats = await agent.envoy(`/stats?filter=${encodeURIComponent(`^${name.replace(/[.|]/g, "\\$&")}$`)}`);
  assert.equal(stats.status, 200, stats.text);
  return Number(/: (\d+)/.exec(stats.text)?.[1] ?? 0);
}

test("DestinationRule h2UpgradePolicy UPGRADE: the sidecar speaks HTTP/2 to an HTTP port; other services stay on HTTP/1.1", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const s = await client.httpSummary({ url: `${API}/h2`, count: 20 });
    assert.deepEqual(s.byStatus, { "200": 20 }, JSON.stringify(s));
    const api = "cluster.outbound|8080|v1|api.demo.svc.cluster.local";
    const h2 = await envoyCounter(client, `${api}.upstream_cx_http2_total`);
    const h1 = await envoyCounter(client, `${api}.upstream_cx_http1_total`);
    t.diagnostic(`api v1 upstream connections: HTTP/2 ${h2}, HTTP/1.1 ${h1}`);
    assert.ok(h2 > 0, "HTTP/2 connections to api");
    assert.equal(h1, 0, "no HTTP/1.1 connection to api");
    await f.agent("client").get("http://shadow-a.demo.svc.cluster.local:8080/h1");
    assert.ok((await envoyCounter(client, "cluster.outbound|8080||shadow-a.demo.svc.cluster.local.upstream_cx_http1_total")) > 0, "a service without the policy stays on HTTP/1.1");
  }));

/** The sidecar's established connections to an address, as ss shows them inside the client's host (with timers). */
async function socketsTo(f: Fleet, from: string, address: string): Promise<string[]> {
  const [cmd, ...args] = f.workload(from).host.exec(["ss", "-tnoH", "state", "established", "dst", address]);
  if (cmd === undefined) throw new Error("bug: empty argv");
  const { stdout } = await run(cmd, args);
  return stdout.split("\n").filter((l) => l.trim() !== "");
}

test("DestinationRule tcpKeepalive: the sidecar's upstream sockets carry keepalive timers", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    assert.equal((await client.get(`${API}/keepalive`)).status, 200);
    assert.equal((await client.get("http://shadow-b.demo.svc.cluster.local:8080/none")).status, 200);
    const toApi = await socketsTo(f, "client", f.address("api-v1"));
    t.diagnostic(`sidecar to api-v1: ${toApi.join(" | ")}`);
    assert.ok(toApi.length > 0, "the sidecar holds a connection to api-v1");
    for (const line of toApi) {
      const timer = /timer:\(keepalive,(?:(\d+)min)?(\d+)(?:\.\d+)?sec/.exec(line);
      assert.ok(timer !== null, `a keepalive timer on ${line}`);
      const seconds = Number(timer[1] ?? 0) * 60 + Number(timer[2]);
      assert.ok(seconds <= 300, `the first probe within time 300s, not the system's 7200s: ${line}`);
    }
    const toShadow = await socketsTo(f, "client", f.address("shadow-b"));
    assert.ok(toShadow.length > 0);
    assert.ok(toShadow.every((l) => !l.includes("keepalive")), `no keepalive without the setting: ${toShadow.join(" | ")}`);
  }));

test("DestinationRule locality failover: the client's own locality first, the next one when it fails; enabled: false spreads", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const near = await client.httpSummary({ url: `${NEAR}/near`, count: 40 });
    assert.deepEqual(near.byName, { "loc-near": 40 }, `every request stays in region-a/zone-1: ${JSON.stringify(near)}`);
    const spread = await client.httpSummary({ url: `${SPREAD}/spread`, count: 60 });
    t.diagnostic(`enabled: false over 60 requests: ${JSON.stringify(spread.byName)}`);
    assert.ok((spread.byName["loc-near"] ?? 0) > 0 && (spread.byName["loc-far"] ?? 0) > 0, `both localities serve: ${JSON.stringify(spread)}`);
    const failing = f.agent("loc-near");
    await failing.behave({ failAll: true, failStatus: 503 });
    try {
      const after = await waitFor("the near cluster to fail over to loc-far", async () => {
        const s = await client.httpSummary({ url: `${NEAR}/failover`, count: 20 });
        return s.byName["loc-far"] === 20 ? { ok: true, value: s } : { ok: false, why: JSON.stringify({ byName: s.byName, byStatus: s.byStatus }) };
      }, 30_000, 100);
      assert.deepEqual(after.byStatus, { "200": 20 });
    } finally {
      await failing.reset();
    }
  }));

test("DestinationRule warmup: an endpoint that joins gets a small share of requests at first", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    // warm-1 has been in the cluster since the sidecar received it: wait until that is longer
    // ago than the warmup window (Envoy's config dump says when the cluster arrived).
    await waitFor(`warm-1 to be past its ${WARMUP_SECONDS}s warmup`, async () => {
      const dump = JSON.parse((await client.envoy("/config_dump?resource=dynamic_active_clusters")).text) as { configs?: { cluster?: { name?: string }; last_updated?: string }[] };
      const warm = dump.configs?.find((c) => c.cluster?.name === "outbound|8080||warm.demo.svc.cluster.local");
      const age = warm?.last_updated === undefined ? 0 : (Date.now() - Date.parse(warm.last_updated)) / 1000;
      return age > WARMUP_SECONDS + 1 ? { ok: true, value: undefined } : { ok: false, why: `the cluster is ${age.toFixed(1)}s old` };
    }, (WARMUP_SECONDS + 30) * 1000, 250);
    const before = await client.httpSummary({ url: `${WARM}/before`, count: 40 });
    assert.deepEqual(before.byName, { "warm-1": 40 }, JSON.stringify(before));
    await f.commit({ "workloads.yaml": entries(f.address.bind(f), workloads.map((w) => w.name)) }, "warm-2 joins");
    const s = await client.httpSummary({ url: `${WARM}/after`, count: 200, concurrency: 4 });
    assert.deepEqual(s.byStatus, { "200": 200 }, JSON.stringify(s));
    const newcomer = s.byName["warm-2"] ?? 0;
    t.diagnostic(`the first 200 requests after warm-2 joined: warm-1 ${s.byName["warm-1"] ?? 0}, warm-2 ${newcomer}`);
    // Without warmup round robin gives it 100. With it, its weight starts at 10% and grows over
    // the window: about 10% to 20% of the requests in the first seconds.
    assert.ok(newcomer > 0, "the new endpoint gets some requests");
    assert.ok(newcomer < 60, `the new endpoint got ${newcomer} of 200 (expected well under 100)`);
  }));
