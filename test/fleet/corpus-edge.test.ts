// Istio's httpbin, tcp-echo and external (egress) samples and the istio.io tasks that use them, with
// the ingress-without-TLS-termination task's nginx (test/fixtures/istio-corpus, re-typed by hand),
// served unchanged to real Envoy sidecars and an ingress gateway (support/corpus.ts): ingress over
// HTTP and HTTPS, mirroring, circuit breaking, TCP traffic shifting, TLS passthrough, authorization
// for TCP, authorization with JWT, and egress to hosts outside the mesh. The echo applications
// standing in for the sample apps answer with their workload's name (httpbin-v1, tcp-echo-v2 ...).
// Hosts of the fleet play the servers outside the mesh: "internet" serves the egress tasks' hosts
// (deb.debian.org, httpbin.org, www.google.com, edition.cnn.com) over HTTP and HTTPS and is the DNS
// server gitmesh's host asks for them (support/dns.ts: gitmesh resolves DNS hosts itself), "github"
// serves the JWT task's keys at raw.githubusercontent.com (its name in every host's /etc/hosts, as
// DNS would answer it), and one CA ("corpus public CA") signs their certificates and the tasks'
// example.com ones.
import assert from "node:assert/strict";
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { after, test } from "node:test";
import type { TLSSocket } from "node:tls";
import type { EchoAnswer } from "./support/agent.js";
import { issueLeaf, organisationCa } from "./support/certs.js";
import { answeredBy, answers, Corpus, INGRESS, type Pod } from "./support/corpus.js";
import { DNS_SERVER } from "./support/dns.js";
import { sharedFleet, type Fleet, type FleetSpec } from "./support/fleet.js";
import { waitFor } from "./support/wait.js";

const publicCa = organisationCa("corpus public CA");
const nginxCert = issueLeaf(publicCa, "nginx.example.com", { server: ["nginx.example.com"] });
const httpbinCert = issueLeaf(publicCa, "httpbin.example.com", { server: ["httpbin.example.com"] });
const EXTERNAL_HOSTS = ["deb.debian.org", "cdn-fastly.deb.debian.org", "httpredir.debian.org", "httpbin.org", "www.google.com", "edition.cnn.com"];
const externalCert = issueLeaf(publicCa, "internet", { server: EXTERNAL_HOSTS });
const githubCert = issueLeaf(publicCa, "raw.githubusercontent.com", { server: ["raw.githubusercontent.com"] });

/** The JWT task's issuer: its keys are ours (Istio's sample key is not copied), served where the task's jwksUri points. */
const ISSUER = "testing@secure.istio.io";
const { privateKey: jwtKey, publicKey: jwtPublic } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const JWKS = JSON.stringify({ keys: [{ ...jwtPublic.export({ format: "jwk" }), kid: "corpus", alg: "RS256", use: "sig" }] });
function token(claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const input = `${b64({ alg: "RS256", typ: "JWT", kid: "corpus" })}.${b64({ iss: ISSUER, sub: ISSUER, iat: now, exp: now + 3600, ...claims })}`;
  return `${input}.${sign("sha256", Buffer.from(input), jwtKey).toString("base64url")}`;
}
/** raw.githubusercontent.com: the JWKS at any path, over HTTPS. */
const JWKS_SERVER = `require("node:https").createServer({ cert: process.env.CERT, key: process.env.KEY }, (req, res) => {
  res.writeHead(200, { "content-type": "application/json" }); res.end(process.env.JWKS);
}).listen(443, "0.0.0.0", () => console.log("ready"));`;

/**
 * The hosts whose Envoy verifies servers against the system roots, as the tasks configure it (TLS
 * origination and the JWKS fetch without caCertificates). The harness must make its public CA one
 * of them: in these hosts only, /etc/ssl is the system bundle plus that CA (ip netns exec
 * bind-mounts /etc/netns/NS/ssl over /etc/ssl for the processes started in the host).
 */
const SYSTEM_ROOTS_REPLACED = ["sleep", "httpbin-v1", "httpbin-v2"];

const pod = (name: string, labels: Record<string, string>, serviceAccount: string, ports: Partial<Pod>): Pod => ({ name, namespace: "default", labels, serviceAccount, ...ports });
const corpus = new Corpus(
  ["external", "httpbin", "nginx", "tcp-echo"],
  [
    pod("httpbin-v1", { app: "httpbin", version: "v1" }, "httpbin", { http: [8080] }),
    pod("httpbin-v2", { app: "httpbin", version: "v2" }, "httpbin", { http: [8080] }),
    pod("tcp-echo-v1", { app: "tcp-echo", version: "v1" }, "default", { tcp: [9000, 9001] }),
    pod("tcp-echo-v2", { app: "tcp-echo", version: "v2" }, "default", { tcp: [9000, 9001] }),
    // The TLS passthrough task's nginx: it terminates TLS itself, with its own certificate.
    pod("nginx-1", { run: "my-nginx" }, "default", { https: [{ port: 443, cert: nginxCert.certPem, key: nginxCert.keyPem }] }),
    // The tasks' client (Istio's sleep, later curl).
    pod("sleep", { app: "sleep" }, "sleep", {}),
    INGRESS,
    // Istio's egress gateway, in istio-system as installed.
    { name: "egress", namespace: "istio-system", labels: { istio: "egressgateway" }, serviceAccount: "istio-egressgateway", proxy: "gateway" },
  ],
);

function spec(): FleetSpec {
  return {
    workloads: [
      ...corpus.pods,
      // A client outside the mesh: no sidecar, its requests go to the gateway directly.
      { name: "outside", proxy: "none" },
      // The servers outside the mesh the egress tasks reach, and the JWT task's key server.
      {
        name: "internet",
        proxy: "none",
        http: [80],
        https: [{ port: 443, cert: externalCert.certPem, key: externalCert.keyPem }],
        // Public DNS for the egress tasks' hosts, as gitmesh asks it: their address is this host's.
        programs: [{ argv: [process.execPath, DNS_SERVER], env: { GMF_DNS_NAMES: EXTERNAL_HOSTS.join(",") }, ready: /^ready$/ }],
      },
      { name: "github", proxy: "none", programs: [{ argv: [process.execPath, "-e", JWKS_SERVER], env: { JWKS, CERT: githubCert.certPem, KEY: githubCert.keyPem }, ready: /^ready$/ }] },
    ],
    // As public DNS would answer. The egress tasks' hosts are left out on purpose: every one is a
    // ServiceEntry host, which gitmesh hosts maps to its loopback address for the application;
    // gitmesh resolves them itself, through the DNS server below (never /etc/hosts).
    dnsServer: "internet",
    extraHosts: (address) => [`${address("github")} raw.githubusercontent.com`],
    // The secure ingress task's kubectl create secret tls httpbin-credential.
    credentials: { "httpbin-credential": { "tls.crt": httpbinCert.certPem, "tls.key": httpbinCert.keyPem } },
    beforeEnvoys: async (f) => {
      const bundle = `${readFileSync("/etc/ssl/certs/ca-certificates.crt", "utf8")}\n${publicCa.certPem}`;
      for (const name of SYSTEM_ROOTS_REPLACED) {
        const dir = join("/etc/netns", f.workload(name).host.netns, "ssl", "certs");
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, "ca-certificates.crt"), bundle);
      }
    },
    config: (address) => corpus.config(address),
  };
}

const fleet = sharedFleet(spec);
after(() => fleet.close());

test("httpbin ingress task: httpbin.example.com's /status and /delay through the gateway; other paths and hosts 404", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "httpbin", "task-ingress-gateway.yaml");
    const outside = f.agent("outside");
    const gw = `http://${f.address("ingress")}:80`;
    const host = { host: "httpbin.example.com" };
    const status = await outside.get(`${gw}/status/200`, host);
    assert.equal(status.status, 200, JSON.stringify(status));
    assert.match(String(answeredBy(status.body)), /^httpbin-v[12]$/);
    assert.equal((status.body as EchoAnswer).port, 8080, "service port 8000 goes to the pod's targetPort 8080");
    assert.equal((await outside.get(`${gw}/status/418`, { ...host, "x-echo-status": "418" })).status, 418);
    assert.equal((await outside.get(`${gw}/delay/1`, host)).status, 200);
    assert.equal((await outside.get(`${gw}/headers`, host)).status, 404);
    assert.equal((await outside.get(`${gw}/status/200`, { host: "other.example.com" })).status, 404);
  }));

test("httpbin mirroring task: all traffic to v1, a copy of each request to v2", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "httpbin", "task-mirroring.yaml");
    const s = await answers(f, "sleep", "http://httpbin:8000/headers", 10);
    assert.deepEqual(s.byName, { "httpbin-v1": 10 }, JSON.stringify(s));
    const mirrored = await waitFor("v2 receives the mirrored copies", async () => {
      const got = await f.agent("httpbin-v2").received();
      return got.length >= 10 ? { ok: true, value: got } : { ok: false, why: `${got.length} of 10` };
    });
    assert.equal(mirrored.length, 10);
    assert.match(String(mirrored[0]?.headers.host), /^httpbin-shadow(:8000)?$/, "Envoy marks the copy's authority (before the port)");
  }));

test("httpbin circuit breaking task: 1 connection and 1 pending request; the rest overflow with 503", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "httpbin", "task-circuit-breaking.yaml");
    const results = await f.agent("sleep").http({ url: "http://httpbin:8000/get", count: 12, concurrency: 6, headers: { "x-echo-delay-ms": "300" } });
    const overflowed = results.filter((r) => r.status === 503);
    t.diagnostic(`12 requests, 6 at a time: ${results.map((r) => r.status ?? r.error).join(",")}`);
    assert.ok(results.filter((r) => r.status === 200).length >= 2, "the connection and the pending slot are served");
    assert.ok(overflowed.length >= 4, "the rest overflow");
    for (const r of overflowed) assert.equal(r.headers?.["x-envoy-overloaded"], "true", "Envoy's overflow answer");
  }));

/** count TCP connections through the gateway's 31400: replies by workload name. */
async function tcpAnswers(f: Fleet, count: number): Promise<Record<string, number>> {
  const replies = await f.agent("outside").tcp({ host: f.address("ingress"), port: 31400, count, payload: "hello" });
  const out: Record<string, number> = {};
  for (const r of replies) {
    const key = r.reply === undefined ? `error ${r.error}` : (/^(tcp-echo-v\d):9000:hello$/.exec(r.reply)?.[1] ?? `reply ${r.reply}`);
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

test("tcp-echo traffic shifting: all to v1, then 80/20 between v1 and v2 (TCP through the gateway)", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "tcp-echo", "tcp-echo-all-v1.yaml");
    assert.deepEqual(await tcpAnswers(f, 10), { "tcp-echo-v1": 10 });
    await corpus.apply(f, "tcp-echo", "tcp-echo-20-v2.yaml");
    const split = await tcpAnswers(f, 60);
    t.diagnostic(JSON.stringify(split));
    assert.equal((split["tcp-echo-v1"] ?? 0) + (split["tcp-echo-v2"] ?? 0), 60, JSON.stringify(split));
    assert.ok((split["tcp-echo-v2"] ?? 0) >= 2 && (split["tcp-echo-v2"] ?? 0) <= 24, JSON.stringify(split));
  }));

/** A TCP connection from sleep's sidecar to tcp-echo's port: the reply's workload, or how it failed. */
async function tcpFromSleep(f: Fleet, port: number): Promise<string> {
  const [r] = await f.agent("sleep").tcp({ host: "tcp-echo", port, payload: "hello" });
  return r?.reply === undefined ? `refused (${r?.error})` : (new RegExp(`^(tcp-echo-v\\d):${port}:hello$`).exec(r.reply)?.[1] ?? `reply ${r.reply}`);
}

test("authorization for TCP task: ALLOW by port, an ALLOW rule with methods matching no connection, a DENY rule kept without methods", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "tcp-echo", "task-authorization-tcp-allow.yaml");
    for (const port of [9000, 9001]) assert.match(await tcpFromSleep(f, port), /^tcp-echo-v[12]$/, `port ${port} allowed`);
    await corpus.apply(f, "tcp-echo", "task-authorization-tcp-allow-methods.yaml");
    for (const port of [9000, 9001]) assert.match(await tcpFromSleep(f, port), /^refused/, `port ${port}: methods cannot match TCP, nothing is allowed`);
    await corpus.apply(f, "tcp-echo", "task-authorization-tcp-deny.yaml");
    assert.match(await tcpFromSleep(f, 9000), /^refused/, "the DENY rule, without methods, denies port 9000");
    assert.match(await tcpFromSleep(f, 9001), /^tcp-echo-v[12]$/, "and nothing else");
  }));

/** An HTTPS request from outside the mesh (the test's own host) to the gateway's 443 with this SNI, verified against the public CA. */
function httpsToGateway(f: Fleet, servername: string, path: string): Promise<{ status: number; body: string; peer: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: f.address("ingress"), port: 443, path, servername, ca: publicCa.certPem, headers: { host: servername }, agent: false, timeout: 10_000 }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, peer: String((res.socket as TLSSocket).getPeerCertificate().subject.CN) }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

test("secure ingress task: HTTPS terminated at the gateway with the httpbin-credential certificate", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "httpbin", "task-secure-ingress-https.yaml");
    const ok = await httpsToGateway(f, "httpbin.example.com", "/status/418");
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.peer, "httpbin.example.com", "the credential's certificate");
    assert.match(String((JSON.parse(ok.body) as EchoAnswer).name), /^httpbin-v[12]$/);
    assert.equal((await httpsToGateway(f, "httpbin.example.com", "/headers")).status, 404);
  }));

test("ingress without TLS termination task: PASSTHROUGH by SNI to nginx, which terminates TLS itself", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "nginx", "task-ingress-sni-passthrough.yaml");
    const r = await httpsToGateway(f, "nginx.example.com", "/");
    assert.equal(r.status, 200, r.body);
    assert.equal(r.peer, "nginx.example.com", "nginx's own certificate, end to end");
    const echo = JSON.parse(r.body) as EchoAnswer;
    assert.deepEqual([echo.name, echo.port, echo.servername], ["nginx-1", 443, "nginx.example.com"]);
    await assert.rejects(httpsToGateway(f, "other.example.com", "/"), "an SNI no route names is refused");
  }));

test("authorization with JWT task: httpbin requires a token from testing@secure.istio.io (keys from the task's jwksUri), then its groups claim", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "httpbin", "task-authz-jwt.yaml");
    const sleep = f.agent("sleep");
    const url = "http://httpbin:8000/headers";
    const bearer = (claims: Record<string, unknown>) => ({ authorization: `Bearer ${token(claims)}` });
    // Each sidecar fetches the keys once its listener is up: wait for both endpoints to take a token.
    await waitFor("both httpbin sidecars accept a valid token", async () => {
      const s = await answers(f, "sleep", url, 8, bearer({}));
      return s.byStatus["200"] === 8 ? { ok: true, value: undefined } : { ok: false, why: JSON.stringify(s.byStatus) };
    });
    assert.equal((await sleep.get(url)).status, 403, "no token: no request principal");
    assert.equal((await sleep.get(url, { authorization: "Bearer not.a.token" })).status, 401, "a malformed token");
    const forged = `${token({}).slice(0, -8)}AAAAAAAA`;
    assert.equal((await sleep.get(url, { authorization: `Bearer ${forged}` })).status, 401, "a bad signature");
    await corpus.apply(f, "httpbin", "task-authz-jwt-groups.yaml");
    // A token with group1 passes the old policy too: wait until both sidecars refuse one without it.
    await waitFor("both httpbin sidecars take the groups policy", async () => {
      const s = await answers(f, "sleep", url, 8, bearer({ groups: ["group2"] }));
      return s.byStatus["403"] === 8 ? { ok: true, value: undefined } : { ok: false, why: JSON.stringify(s.byStatus) };
    });
    await waitFor("a token with group1 passes", async () => {
      const s = await answers(f, "sleep", url, 8, bearer({ groups: ["group1", "group2"] }));
      return s.byStatus["200"] === 8 ? { ok: true, value: undefined } : { ok: false, why: JSON.stringify(s.byStatus) };
    });
    assert.equal((await sleep.get(url, bearer({ groups: ["group2"] }))).status, 403, "no group1");
    assert.equal((await sleep.get(url, bearer({}))).status, 403, "no groups claim");
  }));

// The egress tasks declare their external hosts with resolution: DNS and no endpoints. A sidecar
// cannot resolve them itself: its resolver reads the /etc/hosts that maps each to the service's
// loopback address for the application (real Envoy 1.40 found its own address, or none). gitmesh
// resolves them (src/runtime/dns-resolution.ts) through the DNS server of its host's resolv.conf
// (the internet host's, answering with its own address) and serves the addresses as EDS.

/** The addresses sleep's sidecar holds for an outbound cluster (/clusters). */
async function endpointsOf(f: Fleet, cluster: string): Promise<string[]> {
  const text = (await f.agent("sleep").envoy("/clusters")).text;
  return [...new Set(text.split("\n").filter((l) => l.startsWith(`${cluster}::`) && l.includes("::health_flags::")).map((l) => l.split("::")[1] ?? ""))].sort();
}

/**
 * The host's cluster in sleep's sidecar has the internet host alone as its endpoint (at port),
 * within 5 s (the config is served first without an address, then again with gitmesh's first
 * answer), and every one of count requests is answered 200 by it.
 */
async function assertEgress(f: Fleet, cluster: string, port: number, url: string, count: number, ca?: string): Promise<EchoAnswer> {
  const resolved = await waitFor(`sleep's sidecar resolving ${cluster}`, async () => {
    const endpoints = await endpointsOf(f, cluster);
    return endpoints.length > 0 ? { ok: true, value: endpoints } : { ok: false, why: "no address" };
  }, 5_000, 100);
  assert.deepEqual(resolved, [`${f.address("internet")}:${port}`], "gitmesh's answer: the server, not the sidecar itself");
  const results = await f.agent("sleep").http({ url, count, timeoutMs: 5_000, ...(ca === undefined ? {} : { ca }) });
  assert.deepEqual(results.map((r) => `${r.status ?? r.error} ${answeredBy(r.body)}`), results.map(() => "200 internet"), JSON.stringify(results[0]));
  return results[0]?.body as EchoAnswer;
}

test("external sample (aptget): deb.debian.org over plain HTTP through the sidecar", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "external", "aptget.yaml");
    const echo = await assertEgress(f, "outbound|80||deb.debian.org", 80, "http://deb.debian.org/debian/dists/", 2);
    assert.equal(echo.path, "/debian/dists/");
  }));

test("egress task: httpbin.org over HTTP with the VirtualService's 3s timeout", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "external", "task-egress-http-timeout.yaml");
    await assertEgress(f, "outbound|80||httpbin.org", 80, "http://httpbin.org/headers", 2);
    const [slow] = await f.agent("sleep").http({ url: "http://httpbin.org/delay/5", headers: { "x-echo-delay-ms": "5000" }, timeoutMs: 8_000 });
    assert.equal(slow?.status, 504, JSON.stringify(slow));
    assert.ok((slow?.ms ?? 0) >= 2_900 && (slow?.ms ?? 0) < 4_900, `cut at 3s: ${slow?.ms} ms`);
  }));

// Istio's default resolution, NONE, for a named host: passthrough to the original destination,
// which without interception is what the name resolves to (services.ts, gitmeshResolves).
const PASSTHROUGH = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: httpbin-passthrough }
spec:
  hosts: [httpbin.org]
  location: MESH_EXTERNAL
  ports: [{ number: 80, name: http, protocol: HTTP }]
`;

test("resolution NONE (Istio's default) for a named host: passed through to the address its name resolves to", (t) =>
  fleet.row(t, async (f) => {
    await f.commit({ "scenario.yaml": PASSTHROUGH }, "resolution NONE");
    await assertEgress(f, "outbound|80||httpbin.org", 80, "http://httpbin.org/headers", 2);
  }));

test("egress task: www.google.com over the application's own TLS (protocol HTTPS)", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "external", "task-egress-https.yaml");
    const echo = await assertEgress(f, "outbound|443||www.google.com", 443, "https://www.google.com/", 2, publicCa.certPem);
    assert.equal(echo.servername, "www.google.com");
  }));

test("egress TLS origination task: HTTP from the application, TLS from the sidecar verified against the system roots", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "external", "task-egress-tls-origination.yaml");
    const echo = await assertEgress(f, "outbound|80||edition.cnn.com", 443, "http://edition.cnn.com/politics", 2);
    assert.deepEqual([echo.port, echo.servername, echo.path], [443, "edition.cnn.com", "/politics"], "TLS to the server's 443, SNI from the request's host");
  }));

test("egress gateway task: HTTP to edition.cnn.com leaves through the egress gateway", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "external", "task-egress-gateway-http.yaml");
    const echo = await assertEgress(f, "outbound|80||edition.cnn.com", 80, "http://edition.cnn.com/politics", 2);
    assert.equal(echo.path, "/politics");
    const through = (await f.agent("egress").envoy(`/stats?filter=${encodeURIComponent("edition.cnn.com.upstream_rq_total")}`)).text;
    assert.match(through, /upstream_rq_total: [1-9]/, `through the egress gateway: ${through}`);
  }));

test("every scenario of httpbin, tcp-echo, nginx and external is served by a row above", (t) =>
  fleet.row(t, async () => {
    assert.deepEqual(corpus.unapplied(), []);
  }));
