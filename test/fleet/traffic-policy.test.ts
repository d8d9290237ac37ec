// The DestinationRule rows of the behaviour matrix: load balancers, outlier detection,
// connection-pool limits and TLS origination, each with real requests through a real sidecar.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { EchoAnswer } from "./support/agent.js";
import { issueLeaf, organisationCa } from "./support/certs.js";
import { sharedFleet, type FleetSpec } from "./support/fleet.js";
import { destinationRule, docs, serviceEntry, workloadEntry } from "./support/mesh-yaml.js";
import { waitFor } from "./support/wait.js";

const NS = "demo";
const HTTP = [{ number: 8080, name: "http", protocol: "HTTP" }];

// An organisation's CA and the certificate of a TLS service outside the mesh, and another CA
// that did not sign it. The files sit where the client's sidecar reads them.
const certDir = mkdtempSync(join(tmpdir(), `gmf-${process.pid}-certs-`));
const externalCa = organisationCa("external CA");
const strangerCa = organisationCa("another CA");
const secure = issueLeaf(externalCa, "secure.example.com", { server: ["secure.example.com"] });
// The client certificate the external service asks the mesh for (DestinationRule MUTUAL).
const meshClient = issueLeaf(externalCa, "mesh-client", { client: true });
writeFileSync(join(certDir, "external-ca.pem"), externalCa.certPem);
writeFileSync(join(certDir, "stranger-ca.pem"), strangerCa.certPem);
writeFileSync(join(certDir, "client.pem"), meshClient.certPem);
writeFileSync(join(certDir, "client-key.pem"), meshClient.keyPem);

const workloads = [
  { name: "client", labels: { app: "client" } },
  ...[1, 2, 3].map((i) => ({ name: `lb-${i}`, labels: { app: "lb" }, serviceAccount: "lb", http: [8080] })),
  ...[1, 2, 3].map((i) => ({ name: `od-${i}`, labels: { app: "od" }, serviceAccount: "od", http: [8080] })),
  { name: "pool-1", labels: { app: "pool" }, http: [8080] },
] as const;

/** A service over the lb-N workloads with its own load balancer. */
function lbService(name: string, loadBalancer: string): string {
  return docs(serviceEntry(name, NS, HTTP, { app: "lb" }), destinationRule(name, NS, `trafficPolicy:\n  loadBalancer: ${loadBalancer}`));
}

/** A TLS service outside the mesh at the secure host, reached as plain HTTP on port 80 and originated as TLS by the sidecar. */
function external(host: string, address: string, caFile: string, mutual?: { port: number }): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${host.split(".")[0]}, namespace: ${NS} }
spec:
  hosts: [${host}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: ${mutual?.port ?? 8443} }]
  endpoints: [{ address: ${address} }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${host.split(".")[0]}, namespace: ${NS} }
spec:
  host: ${host}
  trafficPolicy:
    tls: { mode: ${mutual === undefined ? "SIMPLE" : `MUTUAL, clientCertificate: ${join(certDir, "client.pem")}, privateKey: ${join(certDir, "client-key.pem")}`}, caCertificates: ${caFile}, sni: secure.example.com, subjectAltNames: [secure.example.com] }
`;
}

function spec(): FleetSpec {
  return {
    workloads: [
      ...workloads.map((w) => ({ ...w, namespace: NS })),
      {
        name: "secure",
        proxy: "none",
        http: [8080],
        https: [
          { port: 8443, cert: secure.certPem, key: secure.keyPem },
          { port: 9443, cert: secure.certPem, key: secure.keyPem, ca: externalCa.certPem },
        ],
      },
    ],
    // The name a DNS-resolved service's endpoint has, as DNS would answer it.
    extraHosts: (address) => [`${address("secure")} backend.example.com`],
    config: (address) => ({
      "workloads.yaml": docs(...workloads.map((w) => workloadEntry(w.name, NS, address(w.name), w.labels, "serviceAccount" in w ? w.serviceAccount : w.name))),
      "load-balancers.yaml": docs(
        lbService("lb-rr", "{ simple: ROUND_ROBIN }"),
        lbService("lb-lr", "{ simple: LEAST_REQUEST }"),
        lbService("lb-header", "{ consistentHash: { httpHeaderName: x-user } }"),
        lbService("lb-cookie", "{ consistentHash: { httpCookie: { name: session, ttl: 3600s } } }"),
      ),
      "outlier.yaml": docs(
        serviceEntry("od", NS, HTTP, { app: "od" }),
        destinationRule("od", NS, "trafficPolicy:\n  outlierDetection: { consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 60s, maxEjectionPercent: 100 }"),
      ),
      "pool.yaml": docs(
        serviceEntry("pool", NS, HTTP, { app: "pool" }),
        destinationRule("pool", NS, "trafficPolicy:\n  connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } }"),
      ),
      "dns.yaml": docs(
        `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: by-endpoint-name, namespace: ${NS} }
spec:
  hosts: [named.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: 8080 }]
  endpoints: [{ address: backend.example.com }]
`,
        `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: logical, namespace: ${NS} }
spec:
  hosts: [logical.example.com]
  location: MESH_EXTERNAL
  resolution: DNS_ROUND_ROBIN
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: 8080 }]
  endpoints: [{ address: backend.example.com }]
`,
      ),
      "external.yaml": docs(
        external("secure.example.com", address("secure"), join(certDir, "external-ca.pem")),
        external("stranger.example.com", address("secure"), join(certDir, "stranger-ca.pem")),
        external("mutual.example.com", address("secure"), join(certDir, "external-ca.pem"), { port: 9443 }),
      ),
    }),
  };
}

const fleet = sharedFleet(spec);
after(async () => {
  await fleet.close();
  rmSync(certDir, { recursive: true, force: true });
});

const url = (service: string, path = "/") => `http://${service}.demo.svc.cluster.local:8080${path}`;

test("DestinationRule: round robin spreads requests evenly", (t) =>
  fleet.row(t, async (f) => {
    const s = await f.agent("client").httpSummary({ url: url("lb-rr"), count: 300 });
    t.diagnostic(`round robin over 300: ${JSON.stringify(s.byName)}`);
    assert.deepEqual(s.byStatus, { "200": 300 });
    for (const name of ["lb-1", "lb-2", "lb-3"]) assert.ok(Math.abs((s.byName[name] ?? 0) - 100) <= 5, `${name}: ${s.byName[name]}`);
  }));

test("DestinationRule: least request sends fewer requests to a slow endpoint than round robin does", (t) =>
  fleet.row(t, async (f) => {
    const slow = f.agent("lb-1");
    await slow.behave({ delayMs: 300 });
    try {
      const rr = await f.agent("client").httpSummary({ url: url("lb-rr"), count: 150, concurrency: 6 });
      const lr = await f.agent("client").httpSummary({ url: url("lb-lr"), count: 150, concurrency: 6 });
      t.diagnostic(`lb-1 slow: round robin ${JSON.stringify(rr.byName)}, least request ${JSON.stringify(lr.byName)}`);
      assert.deepEqual(lr.byStatus, { "200": 150 });
      // Round robin gives the slow endpoint its third (50). Least request (two random choices, the
      // less busy one) picks it mostly when both choices fall on it: about one in nine (17).
      const [slowRr, slowLr] = [rr.byName["lb-1"] ?? 0, lr.byName["lb-1"] ?? 0];
      assert.ok(slowRr >= 45, `round robin: ${JSON.stringify(rr.byName)}`);
      assert.ok(slowLr <= slowRr * 0.6, `least request: ${JSON.stringify(lr.byName)}`);
    } finally {
      await slow.reset();
    }
  }));

test("DestinationRule: consistent hash by header sends a key always to the same endpoint", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const landed = new Map<string, Set<string>>();
    for (let user = 0; user < 12; user++) {
      const s = await client.httpSummary({ url: url("lb-header"), count: 10, headers: { "x-user": `user-${user}` } });
      landed.set(`user-${user}`, new Set(Object.keys(s.byName)));
    }
    for (const [key, names] of landed) assert.equal(names.size, 1, `${key} landed on ${[...names].join(", ")}`);
    const used = new Set([...landed.values()].flatMap((s) => [...s]));
    assert.ok(used.size >= 2, `12 keys spread over the endpoints: ${[...used].join(", ")}`);
  }));

test("DestinationRule: consistent hash by cookie sticks a session, and sets the cookie when absent", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const first = await client.get(url("lb-cookie"));
    assert.equal(first.status, 200);
    const setCookie = String(first.headers?.["set-cookie"] ?? "");
    assert.match(setCookie, /^session=/, "Envoy issues the hash cookie when the request has none (ttl set)");
    const cookie = setCookie.split(";")[0] ?? "";
    const withCookie = await client.httpSummary({ url: url("lb-cookie"), count: 20, headers: { cookie } });
    assert.deepEqual(Object.keys(withCookie.byName), [(first.body as EchoAnswer).name], "the session stays where it started");
    const landed = new Set<string>();
    for (let s = 0; s < 12; s++) {
      const r = await client.httpSummary({ url: url("lb-cookie"), count: 5, headers: { cookie: `session=s${s}` } });
      assert.equal(Object.keys(r.byName).length, 1, `session s${s}: ${JSON.stringify(r.byName)}`);
      landed.add(Object.keys(r.byName)[0] ?? "");
    }
    assert.ok(landed.size >= 2, `12 sessions spread: ${[...landed].join(", ")}`);
  }));

test("DestinationRule: outlier detection ejects an endpoint that keeps failing", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const failing = f.agent("od-1");
    await failing.behave({ failAll: true, failStatus: 503 });
    try {
      await client.httpSummary({ url: url("od"), count: 30 });
      const stat = "cluster.outbound|8080||od.demo.svc.cluster.local.outlier_detection.ejections_active";
      await waitFor("od-1 ejected by the client's sidecar", async () => {
        const text = (await client.envoy(`/stats?filter=${encodeURIComponent("outlier_detection.ejections_active")}`)).text;
        const active = Number(new RegExp(`${stat.replace(/[.|]/g, "\\$&")}: (\\d+)`).exec(text)?.[1] ?? 0);
        return active >= 1 ? { ok: true, value: undefined } : { ok: false, why: text.trim() };
      });
      await failing.reset();
      await failing.behave({ failAll: true, failStatus: 503 });
      const after = await client.httpSummary({ url: url("od"), count: 60 });
      assert.deepEqual(after.byStatus, { "200": 60 });
      assert.equal((await failing.received()).length, 0, "the ejected endpoint gets no more requests");
      assert.deepEqual(Object.keys(after.byName).sort(), ["od-2", "od-3"]);
    } finally {
      await failing.reset();
    }
  }));

test("DestinationRule: connection-pool limits trip with 503 and Envoy's overflow flag", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const results = await client.http({ url: url("pool"), count: 8, concurrency: 8, headers: { "x-echo-delay-ms": "400" }, fresh: true });
    const overflowed = results.filter((r) => r.status === 503);
    t.diagnostic(`8 concurrent requests to a pool of 1 connection and 1 pending: ${results.map((r) => r.status ?? r.error).join(",")}`);
    assert.ok(results.filter((r) => r.status === 200).length >= 1, "the connection and the pending slot are served");
    assert.ok(overflowed.length >= 4, "the rest overflow");
    for (const r of overflowed) assert.equal(r.headers?.["x-envoy-overloaded"], "true", "Envoy's overflow (UO) answer");
    const stats = (await client.envoy(`/stats?filter=${encodeURIComponent("pool.demo.svc.cluster.local.upstream_rq_pending_overflow")}`)).text;
    assert.match(stats, /upstream_rq_pending_overflow: [1-9]/, stats);
  }));

test("DestinationRule: TLS origination to an external server, verified against its CA with SNI set", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const ok = await client.get("http://secure.example.com/hello");
    assert.equal(ok.status, 200, JSON.stringify(ok));
    const echo = ok.body as EchoAnswer;
    assert.equal(echo.name, "secure");
    assert.equal(echo.servername, "secure.example.com", "the sidecar sent the SNI");
    assert.equal(echo.path, "/hello");
    const refused = await client.get("http://stranger.example.com/hello");
    assert.equal(refused.status, 503, "a server the configured CA did not sign is refused");
    const stats = (await client.envoy(`/stats?filter=${encodeURIComponent("stranger.example.com.ssl.fail_verify")}`)).text;
    assert.match(stats, /ssl\.fail_verify_error: [1-9]/, stats);
  }));

// A DNS service that lists no endpoints has its own host resolved; in a sidecar's host that name
// maps to the sidecar itself (gitmesh hosts), so the endpoint is listed by another name here, as
// gitmesh render's note on such a service says.
test("ServiceEntry resolution DNS and DNS_ROUND_ROBIN: the sidecar resolves the endpoint's name (STRICT_DNS, LOGICAL_DNS) and routes to it", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const named = await client.httpSummary({ url: "http://named.example.com/x", count: 20 });
    assert.deepEqual([named.byStatus, named.byName], [{ "200": 20 }, { secure: 20 }], JSON.stringify(named));
    const clusters = (await client.envoy("/clusters")).text.split("\n").filter((l) => l.startsWith("outbound|80||named.example.com::") && l.includes("::health_flags::"));
    assert.deepEqual(clusters.map((l) => l.split("::")[1]), [`${f.address("secure")}:8080`], "resolved to the backend's address only");
    const logical = await client.httpSummary({ url: "http://logical.example.com/z", count: 10 });
    assert.deepEqual([logical.byStatus, logical.byName], [{ "200": 10 }, { secure: 10 }], JSON.stringify(logical));
  }));

test("DestinationRule: TLS origination MUTUAL presents the client certificate from files on the proxy", (t) =>
  fleet.row(t, async (f) => {
    const r = await f.agent("client").get("http://mutual.example.com/m");
    assert.equal(r.status, 200, JSON.stringify(r));
    const echo = r.body as EchoAnswer;
    assert.deepEqual([echo.name, echo.port, echo.clientCn, echo.servername], ["secure", 9443, "mesh-client", "secure.example.com"]);
  }));
