// The routing half of the interop matrix: every client under test (support.ts CLIENTS) dials
// services gitmesh routes, one service per row, all in one mesh, against loopback backends.
// Rows a client does not implement are skipped with the reason (rows.ts), never passed.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { identityServer, type IdentityServer } from "./node-peer.js";
import { CLIENTS, ControlPlane, tally, until, type CallResult, type Peer } from "./support.js";
import { RING_HASH_AS_ROUND_ROBIN, skipped, timeoutEarlyMs } from "./rows.js";

const NS = "interop";
const host = (row: string) => `${row}.${NS}.svc.cluster.local`;
const target = (row: string) => `xds:///${host(row)}:9080`;
const OK = 0;
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;
const RESOURCE_EXHAUSTED = 8;

/** A service selecting workloads labelled app=`app`, with its DestinationRule and VirtualService. */
function service(row: string, app: string, rule: string, http: string): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${row}, namespace: ${NS} }
spec:
  hosts: [${host(row)}]
  resolution: STATIC
  ports: [{ number: 9080, name: grpc, protocol: GRPC }]
  workloadSelector: { labels: { app: ${app} } }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${row}, namespace: ${NS} }
spec:
  host: ${host(row)}
${rule
  .trim()
  .split("\n")
  .map((l) => `  ${l}`)
  .join("\n")}
${
  http === ""
    ? ""
    : `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${row}, namespace: ${NS} }
spec:
  hosts: [${host(row)}]
  http:
${http}`
}`;
}

const SUBSETS = `subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 } }
  - { name: v3, labels: { version: v3 } }`;
const to = (subset: string) => `route: [{ destination: { host: ${host("x")}, subset: ${subset} } }]`;

function routes(row: string, http: string): string {
  return service(row, "be", SUBSETS, http.replaceAll(host("x"), host(row)));
}

function workload(name: string, port: number, labels: string, locality?: string): string {
  return `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: ${name}, namespace: ${NS} }
spec: { address: 127.0.0.1, ports: { grpc: ${port} }, labels: { ${labels} }${locality === undefined ? "" : `, locality: ${locality}`} }`;
}

/** The clients' own WorkloadEntry (they name it in their bootstrap): it gives them a locality. */
const CLIENT_ENTRY = `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: frontend, namespace: ${NS} }
spec: { address: 127.0.0.2, labels: { app: frontend }, serviceAccount: frontend, locality: region-a/zone-1 }`;

function mesh(b: Backends, live: "v1" | "v2"): string {
  return [
    workload("be-v1", b.v1.port, "app: be, version: v1"),
    workload("be-v2", b.v2.port, "app: be, version: v2"),
    workload("be-v3", b.v3.port, "app: be, version: v3"),
    workload("od-good", b.v1.port, "app: od"),
    workload("od-bad", b.bad.port, "app: od"),
    workload("loc-near", b.v1.port, "app: loc", "region-a/zone-1"),
    workload("loc-far", b.v2.port, "app: loc", "region-b/zone-2"),
    CLIENT_ENTRY,
    routes(
      "match-header",
      `    - match: [{ headers: { x-user: { exact: jason } } }]
      ${to("v2")}
    - match: [{ headers: { x-group: { prefix: beta- } } }, { headers: { x-id: { regex: "[0-9]+" } } }]
      ${to("v3")}
    - ${to("v1")}`,
    ),
    routes(
      "match-without",
      `    - match: [{ withoutHeaders: { x-canary: { exact: "no" } } }]
      ${to("v2")}
    - ${to("v1")}`,
    ),
    routes(
      "match-present",
      `    - match: [{ headers: { x-debug: {} } }]
      ${to("v2")}
    - match: [{ withoutHeaders: { x-trace: {} } }]
      ${to("v3")}
    - ${to("v1")}`,
    ),
    routes(
      "match-path",
      `    - match: [{ uri: { exact: /gitmesh.test.Identity/Other } }]
      ${to("v2")}
    - match: [{ uri: { prefix: /gitmesh.test.Admin/ } }]
      ${to("v3")}
    - ${to("v1")}`,
    ),
    // No catch-all: an RPC without x-user: jason matches no route.
    routes(
      "no-match",
      `    - match: [{ headers: { x-user: { exact: jason } } }]
      ${to("v2")}`,
    ),
    routes(
      "match-method",
      `    - match: [{ method: { exact: GET } }]
      ${to("v2")}
    - match: [{ method: { exact: POST }, headers: { x-user: { exact: jason } } }]
      ${to("v3")}
    - ${to("v1")}`,
    ),
    routes(
      "split",
      `    - route:
        - { destination: { host: ${host("x")}, subset: v1 }, weight: 80 }
        - { destination: { host: ${host("x")}, subset: v2 }, weight: 20 }`,
    ),
    routes("timeout", `    - ${to("v1")}\n      timeout: 3s`),
    routes("retry", `    - ${to("v1")}\n      retries: { attempts: 3, retryOn: unavailable }`),
    routes("retry-off", `    - ${to("v1")}\n      retries: { attempts: 0 }`),
    routes("fault-delay", `    - ${to("v1")}\n      fault: { delay: { fixedDelay: 400ms, percentage: { value: 100 } } }`),
    routes("fault-abort-http", `    - ${to("v1")}\n      retries: { attempts: 0 }\n      fault: { abort: { httpStatus: 503, percentage: { value: 100 } } }`),
    routes("fault-abort-grpc", `    - ${to("v1")}\n      retries: { attempts: 0 }\n      fault: { abort: { grpcStatus: RESOURCE_EXHAUSTED, percentage: { value: 100 } } }`),
    service("ring-hash", "be", "trafficPolicy:\n  loadBalancer: { consistentHash: { httpHeaderName: x-user, minimumRingSize: 256 } }", ""),
    service(
      "outlier",
      "od",
      "trafficPolicy:\n  outlierDetection: { consecutive5xxErrors: 5, interval: 1s, baseEjectionTime: 60s, maxEjectionPercent: 50 }",
      `    - route: [{ destination: { host: ${host("outlier")} } }]\n      retries: { attempts: 0 }`,
    ),
    service(
      "breaker",
      "be",
      `trafficPolicy:\n  connectionPool: { http: { http2MaxRequests: 2 } }\n${SUBSETS}`,
      `    - route: [{ destination: { host: ${host("breaker")}, subset: v1 } }]\n      retries: { attempts: 0 }`,
    ),
    routes(
      "match-source",
      `    - match: [{ sourceLabels: { app: someone-else } }]
      ${to("v3")}
    - match: [{ sourceLabels: { app: frontend } }]
      ${to("v2")}
    - ${to("v1")}`,
    ),
    routes(
      "direct-response",
      `    - match: [{ uri: { prefix: /gitmesh.test.Identity/ } }]
      directResponse: { status: 503, body: { string: down } }
    - ${to("v1")}`,
    ),
    routes(
      "mirrors",
      `    - ${to("v1")}
      mirrors: [{ destination: { host: ${host("x")}, subset: v3 } }]`,
    ),
    service("locality", "loc", "trafficPolicy:\n  outlierDetection: { consecutive5xxErrors: 5, interval: 1s, baseEjectionTime: 30s }", ""),
    // A root whose jason route is a delegate's routes (config/virtual-services.ts merges them):
    // each delegate match is narrowed by the root's header condition.
    routes(
      "delegated",
      `    - match: [{ headers: { x-user: { exact: jason } } }]
      delegate: { name: delegated-routes }
    - ${to("v1")}`,
    ),
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: delegated-routes, namespace: ${NS} }
spec:
  http:
    - match: [{ uri: { prefix: /gitmesh.test.Admin/ } }]
      route: [{ destination: { host: ${host("delegated")}, subset: v3 } }]
    - route: [{ destination: { host: ${host("delegated")}, subset: v2 } }]`,
    routes("live", `    - ${to(live)}`),
  ].join("\n---\n");
}

interface Backends {
  readonly v1: IdentityServer;
  readonly v2: IdentityServer;
  readonly v3: IdentityServer;
  readonly bad: IdentityServer;
}

let cp: ControlPlane;
let backends: Backends;
let live: "v1" | "v2" = "v1";

before(async () => {
  const [v1, v2, v3, bad] = await Promise.all([identityServer("v1"), identityServer("v2"), identityServer("v3"), identityServer("bad", { failAlways: UNAVAILABLE })]);
  backends = { v1, v2, v3, bad };
  cp = await ControlPlane.start();
  cp.setMesh(mesh(backends, live));
});

after(async () => {
  await cp.close();
  await Promise.all(Object.values(backends).map((b) => b.close()));
});

const only = (results: readonly CallResult[]) => JSON.stringify(tally(results));
const all = (results: readonly CallResult[], backend: string) => results.length > 0 && results.every((r) => r.code === OK && r.backend === backend);

/** The rows, in order; each gets the client's peer. */
const ROWS: Record<string, (p: Peer) => Promise<void>> = {
  "header match (exact, prefix, regex)": async (p) => {
    const t = target("match-header");
    // The first call also waits for the client's xDS config.
    assert.equal((await p.call({ target: t, timeoutMs: 20_000 })).backend, "v1", "no header: the default route");
    assert.ok(all(await p.calls({ target: t, count: 10, headers: { "x-user": "jason" } }), "v2"), "x-user: jason goes to v2");
    assert.ok(all(await p.calls({ target: t, count: 5, headers: { "x-group": "beta-testers" } }), "v3"), "a prefix match goes to v3");
    assert.ok(all(await p.calls({ target: t, count: 5, headers: { "x-id": "1234" } }), "v3"), "a regex match goes to v3");
    assert.ok(all(await p.calls({ target: t, count: 5, headers: { "x-id": "12a" } }), "v1"), "the regex matches the whole value only");
    assert.ok(all(await p.calls({ target: t, count: 5, headers: { "x-user": "bob" } }), "v1"));
  },
  "withoutHeaders with a value": async (p) => {
    const t = target("match-without");
    assert.ok(all(await p.calls({ target: t, count: 5, timeoutMs: 20_000 }), "v2"), "an absent header is not \"no\"");
    assert.ok(all(await p.calls({ target: t, count: 5, headers: { "x-canary": "yes" } }), "v2"));
    assert.ok(all(await p.calls({ target: t, count: 5, headers: { "x-canary": "no" } }), "v1"));
  },
  "header presence and absence": async (p) => {
    const t = target("match-present");
    assert.ok(all(await p.calls({ target: t, count: 5, timeoutMs: 20_000, headers: { "x-trace": "1" } }), "v1"));
    assert.ok(all(await p.calls({ target: t, count: 5, headers: { "x-debug": "", "x-trace": "1" } }), "v2"), "present with any value, even empty");
    assert.ok(all(await p.calls({ target: t, count: 5 }), "v3"), "x-trace absent");
  },
  "path match (exact, prefix)": async (p) => {
    const t = target("match-path");
    assert.ok(all(await p.calls({ target: t, count: 5, timeoutMs: 20_000 }), "v1"));
    assert.ok(all(await p.calls({ target: t, count: 5, method: "/gitmesh.test.Identity/Other" }), "v2"));
    assert.ok(all(await p.calls({ target: t, count: 5, method: "/gitmesh.test.Admin/WhoAmI" }), "v3"));
  },
  "no route matches: UNAVAILABLE, and the client lives": async (p) => {
    const t = target("no-match");
    assert.ok(all(await p.calls({ target: t, count: 3, timeoutMs: 20_000, headers: { "x-user": "jason" } }), "v2"), "the one route");
    const before = backends.v2.calls();
    const missed = await p.calls({ target: t, count: 3 });
    assert.deepEqual(tally(missed), { [`code ${UNAVAILABLE}`]: 3 }, `an RPC matching no route fails UNAVAILABLE: ${JSON.stringify(missed)}`);
    assert.equal(backends.v2.calls(), before, "no backend is called");
    assert.ok(all(await p.calls({ target: t, count: 3, headers: { "x-user": "jason" } }), "v2"), "the client still works after");
  },
  "delegate: the delegate's routes under the root's match": async (p) => {
    const t = target("delegated");
    assert.ok(all(await p.calls({ target: t, count: 5, timeoutMs: 20_000 }), "v1"), "outside the root's match: the root's next route");
    assert.ok(all(await p.calls({ target: t, count: 5, headers: { "x-user": "jason" } }), "v2"), "the delegate's catch-all, under the root's header match");
    assert.ok(all(await p.calls({ target: t, count: 5, headers: { "x-user": "jason" }, method: "/gitmesh.test.Admin/WhoAmI" }), "v3"), "the delegate's path match and the root's header match");
    assert.ok(all(await p.calls({ target: t, count: 5, method: "/gitmesh.test.Admin/WhoAmI" }), "v1"), "the delegate's path match alone is not enough");
  },
  "method match (an RPC is a POST)": async (p) => {
    const t = target("match-method");
    assert.ok(all(await p.calls({ target: t, count: 5, timeoutMs: 20_000 }), "v1"), "GET never matches");
    assert.ok(all(await p.calls({ target: t, count: 5, headers: { "x-user": "jason" } }), "v3"), "POST always holds");
  },
  "weighted split 80/20 over subsets": async (p) => {
    const t = target("split");
    await p.call({ target: t, timeoutMs: 20_000 });
    const counts = tally(await p.calls({ target: t, count: 500, concurrency: 20 }));
    const v1 = counts["v1"] ?? 0;
    assert.equal(v1 + (counts["v2"] ?? 0), 500, only(await p.calls({ target: t, count: 1 })));
    assert.ok(v1 >= 365 && v1 <= 435, `v1 got ${v1} of 500 calls; want 80% within 7 points`);
  },
  "route timeout": async (p) => {
    const t = target("timeout");
    await p.call({ target: t, timeoutMs: 20_000 });
    assert.ok(all(await p.calls({ target: t, count: 4, concurrency: 4, request: { sleepMs: 200 } }), "v1"), "calls within the 3 s timeout are answered");
    const early = timeoutEarlyMs(p.client.name);
    for (const r of await p.calls({ target: t, count: 3, concurrency: 3, timeoutMs: 60_000, request: { sleepMs: 6_000 } })) {
      assert.equal(r.code, DEADLINE_EXCEEDED, JSON.stringify(r));
      assert.ok(r.ms >= 3_000 - early && r.ms < 5_000, `the 3 s route timeout ended the call after ${r.ms.toFixed(0)} ms`);
    }
  },
  retries: async (p) => {
    const token = `${p.client.name}-${Date.now()}`;
    await p.call({ target: target("retry"), timeoutMs: 20_000 });
    const r = await p.call({ target: target("retry"), request: { failFirst: 2, token } });
    assert.equal(r.code, OK, `two failures are retried past: ${JSON.stringify(r)}`);
    await p.call({ target: target("retry-off"), timeoutMs: 20_000 });
    const off = await p.call({ target: target("retry-off"), request: { failFirst: 1, token: `${token}-off` } });
    assert.equal(off.code, UNAVAILABLE, "attempts 0: no retry");
  },
  "fault delay": async (p) => {
    const t = target("fault-delay");
    await p.call({ target: t, timeoutMs: 20_000 });
    for (const r of await p.calls({ target: t, count: 3 })) {
      assert.equal(r.code, OK);
      assert.ok(r.ms >= 390, `the call took ${r.ms.toFixed(0)} ms; the delay is 400 ms`);
    }
  },
  "fault abort httpStatus": async (p) => {
    const before = backends.v1.calls();
    const results = await p.calls({ target: target("fault-abort-http"), count: 5, timeoutMs: 20_000 });
    assert.deepEqual(tally(results), { [`code ${UNAVAILABLE}`]: 5 }, "HTTP 503 is gRPC UNAVAILABLE");
    assert.equal(backends.v1.calls(), before, "an aborted call never reaches the backend");
  },
  "fault abort grpcStatus": async (p) => {
    const results = await p.calls({ target: target("fault-abort-grpc"), count: 5, timeoutMs: 20_000 });
    assert.deepEqual(tally(results), { [`code ${RESOURCE_EXHAUSTED}`]: 5 });
  },
  "ring hash (consistentHash on a header)": async (p) => {
    const t = target("ring-hash");
    await p.call({ target: t, timeoutMs: 20_000 });
    if (RING_HASH_AS_ROUND_ROBIN.has(p.client.name)) {
      // Its ring hash crashes it: gitmesh gives it round robin, and it keeps working.
      const counts = tally(await p.calls({ target: t, count: 30, concurrency: 3, headers: { "x-user": "user-0" } }));
      assert.deepEqual(Object.keys(counts).sort(), ["v1", "v2", "v3"], `round robin over every backend: ${JSON.stringify(counts)}`);
      return;
    }
    const picked = new Set<string>();
    for (let user = 0; user < 12; user++) {
      const counts = tally(await p.calls({ target: t, count: 6, concurrency: 3, headers: { "x-user": `user-${user}` } }));
      assert.equal(Object.keys(counts).length, 1, `every call of user-${user} goes to one backend: ${JSON.stringify(counts)}`);
      picked.add(Object.keys(counts)[0] ?? "");
    }
    assert.ok(picked.size >= 2, `12 users spread over more than one backend: ${[...picked].join(", ")}`);
  },
  "outlier detection": async (p) => {
    const t = target("outlier");
    await p.call({ target: t, timeoutMs: 20_000 });
    // The bad host fails every call until it is ejected; then every call goes to the good one.
    await until(p, { target: t, count: 40, concurrency: 4 }, (r) => all(r, "v1"), "the failing host's ejection", 30_000);
  },
  "circuit breaking (http2MaxRequests)": async (p) => {
    const t = target("breaker");
    await p.call({ target: t, timeoutMs: 20_000 });
    // Started 50 ms apart, all within the 1.5 s the first ones take: a client counts a call in
    // flight only once it has started (grpc-js checks the limit before counting calls picked
    // in the same instant).
    const results = await p.calls({ target: t, count: 8, concurrency: 8, spacingMs: 50, request: { sleepMs: 1_500 } });
    const counts = tally(results);
    assert.ok((counts["v1"] ?? 0) >= 1 && (counts["v1"] ?? 0) <= 2, `at most 2 calls in flight: ${JSON.stringify(counts)}`);
    assert.equal(counts[`code ${UNAVAILABLE}`], 8 - (counts["v1"] ?? 0), `the others are refused: ${JSON.stringify(counts)}`);
  },
  "sourceLabels: the client's own labels pick its routes": async (p) => {
    assert.ok(all(await p.calls({ target: target("match-source"), count: 5, timeoutMs: 20_000 }), "v2"), "the client is labelled app: frontend");
  },
  "directResponse is left out: the calls go on to the next route": async (p) => {
    assert.ok(all(await p.calls({ target: target("direct-response"), count: 5, timeoutMs: 20_000 }), "v1"));
  },
  "mirrors are ignored": async (p) => {
    await p.call({ target: target("mirrors"), timeoutMs: 20_000 });
    const before = backends.v3.calls();
    assert.ok(all(await p.calls({ target: target("mirrors"), count: 5 }), "v1"));
    assert.equal(backends.v3.calls(), before, "no copy reaches the mirror");
  },
  "locality failover: the client's own locality first": async (p) => {
    const t = target("locality");
    await p.call({ target: t, timeoutMs: 20_000 });
    assert.ok(all(await p.calls({ target: t, count: 20, concurrency: 4 }), "v1"), "loc-near (v1) shares the client's locality; loc-far (v2) is priority 1");
  },
  "live change": async (p) => {
    const t = target("live");
    assert.ok(all(await p.calls({ target: t, count: 3, timeoutMs: 20_000 }), live));
    live = live === "v1" ? "v2" : "v1";
    cp.setMesh(mesh(backends, live));
    const want = live;
    let run = 0;
    await until(p, { target: t, count: 1 }, (r) => (run = all(r, want) ? run + 1 : 0) >= 20, `the switch to ${want}`);
  },
};

for (const client of CLIENTS) {
  test(`routing: ${client.name}`, async (t) => {
    const peer = await cp.peer(t, client, { serviceAccount: "frontend", workloadName: "frontend" });
    if (peer === undefined) return;
    for (const [row, run] of Object.entries(ROWS)) {
      const reason = skipped(client.name, row);
      await t.test(row, async (rt) => {
        if (reason !== undefined) return rt.skip(reason);
        await run(peer);
      });
    }
    assert.deepEqual(cp.nacksOf(peer), [], `${client.name} refused what gitmesh sent`);
  });
}
