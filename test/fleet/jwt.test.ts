// End-user JWTs and the AuthorizationPolicy fields around them, on real Envoy: RequestAuthentication
// (keys fetched by the sidecar from a JWKS server on its own host, and keys inline), tokens signed
// here with node:crypto, and what Istio promises: a valid token passes, an invalid one is refused
// (401), none at all is left to AuthorizationPolicy; requestPrincipals and request.auth.* decide
// from the verified token. Then AUDIT, serviceAccounts, remoteIpBlocks and the other condition keys.
import assert from "node:assert/strict";
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { request as httpRequest } from "node:http";
import { connect as tcpConnect } from "node:net";
import { after, test } from "node:test";
import type { EchoAnswer, HttpResult } from "./support/agent.js";
import { issueLeaf, organisationCa } from "./support/certs.js";
import { sharedFleet, type Fleet, type FleetSpec } from "./support/fleet.js";
import { destinationRule, docs, serviceEntry, workloadEntry } from "./support/mesh-yaml.js";
import { waitFor } from "./support/wait.js";

// ---- tokens ----

interface SigningKey {
  readonly kid: string;
  readonly alg: "RS256" | "ES256";
  readonly key: KeyObject;
  /** The public key as a JWK, as a JWKS lists it. */
  readonly jwk: Record<string, unknown>;
}

function rsaKey(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { kid, alg: "RS256", key: privateKey, jwk: { ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" } };
}

function ecKey(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { kid, alg: "ES256", key: privateKey, jwk: { ...publicKey.export({ format: "jwk" }), kid, alg: "ES256", use: "sig" } };
}

const b64url = (data: string | Buffer) => Buffer.from(data).toString("base64url");

/** A compact JWS over the claims, signed with the key (ES256 signatures in JOSE's r||s form). */
function jwt(k: SigningKey, claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64url(JSON.stringify({ alg: k.alg, typ: "JWT", kid: k.kid }))}.${b64url(JSON.stringify({ iat: now, exp: now + 3600, ...claims }))}`;
  const signature = sign("sha256", Buffer.from(input), k.alg === "ES256" ? { key: k.key, dsaEncoding: "ieee-p1363" } : k.key);
  return `${input}.${b64url(signature)}`;
}

const jwks = (...keys: SigningKey[]) => JSON.stringify({ keys: keys.map((k) => k.jwk) });

const company = rsaKey("company-1");
const partner = ecKey("partner-1");
/** Same kid as company's, another key: a forged signature. */
const forger = rsaKey("company-1");
/** The company issuer's tokens; its keys are fetched by the sidecar from the JWKS server. */
const ISS = "http://login.example.com:8000";
/** The partner's issuer has "/" in it, and so do its subjects: requestPrincipals must split right. */
const PARTNER = "https://partner.example.org/realms/shop";

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const companyToken = (claims: Record<string, unknown> = {}) => jwt(company, { iss: ISS, sub: "alice", aud: "shop", ...claims });

// ---- the fleet ----

/** An https issuer whose certificate no system CA signed: a sidecar must refuse to take its keys. */
const UNTRUSTED = "https://login.example.com:8443";
const untrustedCert = issueLeaf(organisationCa("not a public CA"), "login.example.com", { server: ["login.example.com"] });

/** The JWKS server: a real HTTP server on its own host (and the same keys over https), counting what it serves. */
const JWKS_SERVER = `
const http = require("node:http");
const https = require("node:https");
let served = 0;
const handler = (req, res) => {
  if (req.url === "/jwks.json") { served++; res.writeHead(200, { "content-type": "application/json" }); res.end(process.env.JWKS); return; }
  if (req.url === "/served") { res.end(String(served)); return; }
  res.writeHead(404); res.end();
};
https.createServer({ cert: process.env.CERT, key: process.env.KEY }, handler).listen(8443, "0.0.0.0", () =>
  http.createServer(handler).listen(8000, "0.0.0.0", () => console.log("ready")));
`;

const HTTP = [{ number: 8080, name: "http", protocol: "HTTP" }];
const workloads = [
  { name: "client", namespace: "demo", labels: { app: "client" } },
  { name: "intruder", namespace: "demo", labels: { app: "intruder" } },
  { name: "outsider", namespace: "other", labels: { app: "outsider" } },
  { name: "api-1", namespace: "demo", labels: { app: "api" }, serviceAccount: "api", http: [8080] },
  { name: "audited-1", namespace: "demo", labels: { app: "audited" }, serviceAccount: "audited", http: [8080], tcp: [5432] },
  { name: "ingress", namespace: "demo", labels: { istio: "ingressgateway" }, proxy: "gateway" },
] as const;

/** The ingress gateway verifies tokens (the mesh-wide RequestAuthentication applies to it too), then routes on their claims. */
const INGRESS = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: public, namespace: demo }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 8080, name: http, protocol: HTTP }
      hosts: [api.example.com]
    - port: { number: 5432, name: tcp, protocol: TCP }
      hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: db-public, namespace: demo }
spec:
  hosts: ["*"]
  gateways: [public]
  tcp: [{ route: [{ destination: { host: audited-db, port: { number: 5432 } } }] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api-public, namespace: demo }
spec:
  hosts: [api.example.com]
  gateways: [public]
  http:
    - match: [{ headers: { "@request.auth.claims.groups": { exact: beta } } }]
      route: [{ destination: { host: api, port: { number: 8080 } }, headers: { request: { set: { x-lane: beta } } } }]
    - match: [{ headers: { "@request.auth.claims.org.tier": { prefix: gold } } }]
      route: [{ destination: { host: api, port: { number: 8080 } }, headers: { request: { set: { x-lane: gold } } } }]
    - match: [{ withoutHeaders: { "@request.auth.claims.sub": {} } }]
      route: [{ destination: { host: api, port: { number: 8080 } }, headers: { request: { set: { x-lane: anonymous } } } }]
    - route: [{ destination: { host: api, port: { number: 8080 } }, headers: { request: { set: { x-lane: default } } } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ingress-private, namespace: demo }
spec:
  selector: { matchLabels: { istio: ingressgateway } }
  action: DENY
  rules:
    - from: [{ source: { notRequestPrincipals: ["*"] } }]
      to: [{ operation: { paths: ["/private/*"] } }]
`;

const SECURITY = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec:
  mtls: { mode: STRICT }
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: company, namespace: istio-system }
spec:
  jwtRules:
    - issuer: ${ISS}
      jwksUri: ${ISS}/jwks.json
      audiences: [shop]
      outputClaimToHeaders: [{ header: x-user, claim: sub }]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: partner, namespace: demo }
spec:
  selector: { matchLabels: { app: api } }
  jwtRules:
    - issuer: ${PARTNER}
      jwks: '${jwks(partner)}'
      fromHeaders: [{ name: x-partner-token, prefix: "Token " }]
      forwardOriginalToken: true
    - issuer: ${UNTRUSTED}
      jwksUri: ${UNTRUSTED}/jwks.json
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: require-jwt, namespace: demo }
spec:
  selector: { matchLabels: { app: api } }
  action: DENY
  rules:
    - from: [{ source: { notRequestPrincipals: ["*"] } }]
      to: [{ operation: { paths: ["/secure/*"] } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: api, namespace: demo }
spec:
  selector: { matchLabels: { app: api } }
  rules:
    - to: [{ operation: { paths: [/open, "/secure/*"] } }]
    - from: [{ source: { requestPrincipals: ["${ISS}/alice", "${PARTNER}/svc/orders"] } }]
      to: [{ operation: { paths: [/admin] } }]
    - from: [{ source: { requestPrincipals: ["${PARTNER}/svc/*"] } }]
      to: [{ operation: { paths: [/partner] } }]
    - to: [{ operation: { paths: [/claims] } }]
      when:
        - { key: "request.auth.claims[groups]", values: [admin] }
        - { key: "request.auth.claims[org][team]", values: ["shop-*"] }
    - to: [{ operation: { paths: [/aud] } }]
      when: [{ key: request.auth.audiences, values: [shop] }, { key: request.auth.presenter, values: [web-app] }]
    - to: [{ operation: { paths: [/principal] } }]
      when: [{ key: request.auth.principal, values: ["*/alice"] }]
    - from: [{ source: { serviceAccounts: [demo/client] } }]
      to: [{ operation: { paths: [/sa] } }]
    - from: [{ source: { remoteIpBlocks: [203.0.113.0/24] } }]
      to: [{ operation: { paths: [/remote] } }]
    - to: [{ operation: { paths: [/keys] } }]
      when:
        - { key: source.principal, values: [cluster.local/ns/demo/sa/client] }
        - { key: source.namespace, values: [demo] }
        - { key: source.serviceAccount, values: [demo/client] }
        - { key: remote.ip, notValues: [203.0.113.0/24] }
        - { key: destination.port, values: ["8080"] }
        - { key: connection.sni, values: [api.demo.internal] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-intruder-by-sa, namespace: demo }
spec:
  selector: { matchLabels: { app: api } }
  action: DENY
  rules:
    - from: [{ source: { serviceAccounts: [demo/intruder] } }]
      to: [{ operation: { paths: [/sa] } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: audit-writes, namespace: demo }
spec:
  selector: { matchLabels: { app: audited } }
  action: AUDIT
  rules:
    - to: [{ operation: { methods: [POST] } }]
`;

function spec(): FleetSpec {
  return {
    workloads: [
      ...workloads,
      {
        name: "login",
        proxy: "none",
        programs: [{ argv: [process.execPath, "-e", JWKS_SERVER], env: { JWKS: jwks(company), CERT: untrustedCert.certPem, KEY: untrustedCert.keyPem }, ready: /^ready$/ }],
      },
    ],
    extraHosts: (address) => [`${address("login")} login.example.com`],
    config: (address) => ({
      "services.yaml": docs(
        serviceEntry("api", "demo", HTTP, { app: "api" }),
        // The client's sidecar names the server it dials: what connection.sni checks.
        destinationRule("api", "demo", "trafficPolicy:\n  tls: { mode: ISTIO_MUTUAL, sni: api.demo.internal }"),
        serviceEntry("audited", "demo", HTTP, { app: "audited" }),
        serviceEntry("audited-db", "demo", [{ number: 5432, name: "tcp", protocol: "TCP" }], { app: "audited" }),
      ),
      "workloads.yaml": docs(...workloads.map((w) => workloadEntry(w.name, w.namespace, address(w.name), w.labels, "serviceAccount" in w ? w.serviceAccount : w.name))),
      "security.yaml": SECURITY,
      "ingress.yaml": INGRESS,
    }),
  };
}

const fleet = sharedFleet(spec);
after(() => fleet.close());

const url = (path: string, service = "api") => `http://${service}.demo.svc.cluster.local:8080${path}`;
const echo = (r: HttpResult) => r.body as EchoAnswer;
const show = (r: HttpResult) => `${r.status ?? r.error ?? "?"} ${JSON.stringify(r.body)}`;

/** The api sidecar has fetched the company's keys (async_fetch starts when the listener arrives). */
async function keysFetched(f: Fleet, proxy = "api-1"): Promise<void> {
  await waitFor(`${proxy}'s jwks_fetch_success`, async () => {
    const stats = (await f.agent(proxy).envoy(`/stats?filter=${encodeURIComponent("jwks_fetch")}`)).text;
    return /jwks_fetch_success: [1-9]/.test(stats) ? { ok: true, value: undefined } : { ok: false, why: stats };
  });
}

test("RequestAuthentication: a valid token passes, an invalid one is refused with 401, a request without one is left to AuthorizationPolicy", (t) =>
  fleet.row(t, async (f) => {
    await keysFetched(f);
    const client = f.agent("client");
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Record<string, string>, number][] = [
      ["no token", {}, 200],
      ["valid, keys from jwksUri", bearer(companyToken()), 200],
      ["valid, as the access_token parameter", {}, 200],
      ["forged signature", bearer(jwt(forger, { iss: ISS, sub: "alice", aud: "shop" })), 401],
      ["expired", bearer(companyToken({ iat: now - 7200, exp: now - 3600 })), 401],
      // Envoy's jwt_authn answers 403 here, not 401 (so does Istio, which uses the same filter).
      ["another audience", bearer(companyToken({ aud: "billing" })), 403],
      ["unknown issuer", bearer(jwt(company, { iss: "https://evil.example.com", sub: "alice", aud: "shop" })), 401],
      ["not a JWT", bearer("not.a.jwt"), 401],
      ["partner, keys inline, from its own header", { "x-partner-token": `Token ${jwt(partner, { iss: PARTNER, sub: "svc/orders" })}` }, 200],
      ["partner token in the wrong place", bearer(jwt(partner, { iss: PARTNER, sub: "svc/orders" })), 401],
      ["an https issuer whose certificate the sidecar does not trust: its keys are never taken", bearer(jwt(company, { iss: UNTRUSTED, sub: "alice" })), 401],
    ];
    for (const [what, headers, status] of cases) {
      const path = what.includes("access_token") ? `/open?access_token=${companyToken()}` : "/open";
      const r = await client.get(url(path), headers);
      assert.equal(r.status, status, `${what}: ${show(r)}`);
      if (status !== 200) assert.match(String(r.body), /^(Jwt|Jwks) |^Audiences in Jwt/, `${what}: jwt_authn refused it`);
    }
    // What the application receives: the company token is removed (forwardOriginalToken false), its
    // sub copied into x-user; the partner's is kept (forwardOriginalToken true).
    const removed = echo(await client.get(url("/open"), bearer(companyToken())));
    assert.equal(removed.headers["authorization"], undefined);
    assert.equal(removed.headers["x-user"], "alice");
    const partnerToken = jwt(partner, { iss: PARTNER, sub: "svc/orders" });
    const kept = echo(await client.get(url("/open"), { "x-partner-token": `Token ${partnerToken}` }));
    assert.equal(kept.headers["x-partner-token"], `Token ${partnerToken}`);
    const served = await (await fetch(`http://${f.address("login")}:8000/served`)).text();
    assert.ok(Number(served) >= 1, `the JWKS server served the keys (${served})`);
    const stats = (await f.agent("api-1").envoy(`/stats?filter=${encodeURIComponent("jwt_authn")}`)).text;
    assert.match(stats, /jwks_fetch_failed: [1-9]/, `the https fetch failed verification:\n${stats}`);
  }));

test("AuthorizationPolicy on the verified token: notRequestPrincipals, requestPrincipals (issuers and subjects with '/'), claims, audiences, presenter", (t) =>
  fleet.row(t, async (f) => {
    await keysFetched(f);
    const client = f.agent("client");
    const partnerAs = (sub: string) => ({ "x-partner-token": `Token ${jwt(partner, { iss: PARTNER, sub })}` });
    const cases: [string, string, Record<string, string>, number][] = [
      ["no token on a path that requires one", "/secure/a", {}, 403],
      ["a token on it", "/secure/a", bearer(companyToken()), 200],
      ["alice, by iss/sub", "/admin", bearer(companyToken()), 200],
      ["bob is not alice", "/admin", bearer(companyToken({ sub: "bob" })), 403],
      ["no token is nobody", "/admin", {}, 403],
      ["partner svc/orders: iss and sub both hold '/'", "/admin", partnerAs("svc/orders"), 200],
      ["partner svc/billing is not svc/orders", "/admin", partnerAs("svc/billing"), 403],
      ["partner svc/* prefix", "/partner", partnerAs("svc/billing"), 200],
      ["partner user/x is outside svc/*", "/partner", partnerAs("user/x"), 403],
      ["company alice is not the partner", "/partner", bearer(companyToken()), 403],
      ["groups holds admin, nested org.team matches shop-*", "/claims", bearer(companyToken({ groups: ["dev", "admin"], org: { team: "shop-web" } })), 200],
      ["groups as a single string", "/claims", bearer(companyToken({ groups: "admin", org: { team: "shop-api" } })), 200],
      ["groups without admin", "/claims", bearer(companyToken({ groups: ["dev"], org: { team: "shop-web" } })), 403],
      ["org.team outside shop-*", "/claims", bearer(companyToken({ groups: ["admin"], org: { team: "billing" } })), 403],
      ["no claims at all", "/claims", bearer(companyToken()), 403],
      ["audience shop and presenter web-app", "/aud", bearer(companyToken({ azp: "web-app" })), 200],
      ["another presenter", "/aud", bearer(companyToken({ azp: "cli" })), 403],
      ["request.auth.principal suffix */alice", "/principal", bearer(companyToken()), 200],
      ["request.auth.principal: bob", "/principal", bearer(companyToken({ sub: "bob" })), 403],
    ];
    for (const [what, path, headers, status] of cases) {
      const r = await client.get(url(path), headers);
      assert.equal(r.status, status, `${what}: ${path} ${show(r)}`);
      if (status === 403) assert.equal(r.body, "RBAC: access denied", what);
    }
  }));

test("AuthorizationPolicy serviceAccounts, remoteIpBlocks and the connection's condition keys (source.*, remote.ip, destination.port, connection.sni)", (t) =>
  fleet.row(t, async (f) => {
    const cases: [string, string, string, Record<string, string>, number][] = [
      ["client", "serviceAccounts demo/client", "/sa", {}, 200],
      ["outsider", "another service account", "/sa", {}, 403],
      ["intruder", "DENY by serviceAccounts", "/sa", {}, 403],
      ["client", "remoteIpBlocks: the original client from x-forwarded-for", "/remote", { "x-forwarded-for": "203.0.113.7" }, 200],
      ["client", "remoteIpBlocks: another original client", "/remote", { "x-forwarded-for": "198.51.100.7" }, 403],
      ["client", "remoteIpBlocks: the peer itself is not in the block", "/remote", {}, 403],
      ["client", "every connection key holds", "/keys", {}, 200],
      ["client", "remote.ip notValues", "/keys", { "x-forwarded-for": "203.0.113.9" }, 403],
      ["outsider", "source.principal, namespace, serviceAccount", "/keys", {}, 403],
    ];
    for (const [who, what, path, headers, status] of cases) {
      const r = await f.agent(who).get(url(path), headers);
      assert.equal(r.status, status, `${who}: ${what}: ${path} ${show(r)}`);
    }
  }));

test("AuthorizationPolicy AUDIT: every request passes; those matching a rule are counted against it (the audit filter's own stats)", (t) =>
  fleet.row(t, async (f) => {
    const stats = async () => {
      const text = (await f.agent("audited-1").envoy(`/stats?filter=${encodeURIComponent("rbac.audit.")}`)).text;
      const n = (name: string) => Number(new RegExp(`inbound_8080\\.rbac\\.audit\\.${name.replace(/[[\].]/g, "\\$&")}: (\\d+)`).exec(text)?.[1] ?? 0);
      return { passed: n("allowed"), refused: n("denied"), audited: n("policy.ns[demo]-policy[audit-writes]-rule[0].allowed"), text };
    };
    const before = await stats();
    const client = f.agent("client");
    for (const method of ["POST", "POST", "GET"]) {
      const r = await client.get(url("/write", "audited"), {}, method);
      assert.equal(r.status, 200, `${method} passes: ${show(r)}`);
    }
    const after = await stats();
    assert.equal(after.passed - before.passed, 3, after.text);
    assert.equal(after.refused - before.refused, 0, after.text);
    assert.equal(after.audited - before.audited, 2, `the two POSTs matched the AUDIT rule:\n${after.text}`);
  }));

test("VirtualService matches on @request.auth.claims at the ingress gateway, which verifies the token first (and enforces its own AuthorizationPolicy)", (t) =>
  fleet.row(t, async (f) => {
    await keysFetched(f, "ingress");
    // node:http, not fetch: fetch does not let a caller set Host.
    const call = (path: string, headers: Record<string, string>) =>
      new Promise<{ status: number | undefined; lane: unknown }>((resolve, reject) => {
        const req = httpRequest({ host: f.address("ingress"), port: 8080, path, headers: { host: "api.example.com", ...headers }, timeout: 10_000 }, (res) => {
          let text = "";
          res.setEncoding("utf8").on("data", (c: string) => (text += c)).on("end", () => {
            resolve({ status: res.statusCode, lane: res.statusCode === 200 ? (JSON.parse(text) as EchoAnswer).headers["x-lane"] : text });
          });
        });
        req.on("error", reject).on("timeout", () => req.destroy(new Error("timed out"))).end();
      });
    const cases: [string, string, Record<string, string>, number, string][] = [
      ["groups list holds beta", "/open", bearer(companyToken({ groups: ["dev", "beta"] })), 200, "beta"],
      ["groups string beta", "/open", bearer(companyToken({ groups: "beta" })), 200, "beta"],
      ["nested org.tier prefix gold", "/open", bearer(companyToken({ org: { tier: "gold-plus" } })), 200, "gold"],
      ["a token without those claims", "/open", bearer(companyToken({ groups: ["dev"] })), 200, "default"],
      ["no token: no sub claim", "/open", {}, 200, "anonymous"],
      ["a forged token claiming beta is refused before routing", "/open", bearer(jwt(forger, { iss: ISS, sub: "alice", aud: "shop", groups: ["beta"] })), 401, "Jwt verification fails"],
      ["the gateway's DENY without a token", "/private/x", {}, 403, "RBAC: access denied"],
    ];
    for (const [what, path, headers, status, lane] of cases) {
      const r = await call(path, headers);
      assert.equal(r.status, status, `${what}: ${JSON.stringify(r)}`);
      assert.equal(r.lane, lane, what);
    }
    // With a token the gateway lets /private/* through; the api's own policy then decides (403 there: not in its ALLOW list).
    const through = await call("/private/x", bearer(companyToken()));
    assert.equal(through.status, 403);
    assert.equal(through.lane, "RBAC: access denied");
    const gatewayStats = (await f.agent("ingress").envoy(`/stats?filter=${encodeURIComponent("gateway_8080.rbac.denied")}`)).text;
    const apiStats = (await f.agent("api-1").envoy(`/stats?filter=${encodeURIComponent("inbound_8080.rbac.denied")}`)).text;
    assert.match(gatewayStats, /rbac\.denied: [1-9]/, gatewayStats);
    assert.match(apiStats, /rbac\.denied: [1-9]/, "the second refusal came from the api's sidecar");
  }));

test("A gateway's TCP server enforces the gateway's policies too: a DENY whose fields only HTTP has denies every connection there, as in Istio", (t) =>
  fleet.row(t, async (f) => {
    const reply = await new Promise<string>((resolve, reject) => {
      let got = "";
      const socket = tcpConnect(5432, f.address("ingress"), () => socket.write("select 1"));
      socket.setEncoding("utf8").on("data", (d: string) => (got += d)).on("close", () => resolve(got)).on("error", reject);
      socket.setTimeout(10_000, () => socket.destroy(new Error("timed out")));
    });
    assert.equal(reply, "", "closed without an answer");
    const stats = (await f.agent("ingress").envoy(`/stats?filter=${encodeURIComponent("gateway_5432.rbac.denied")}`)).text;
    assert.match(stats, /rbac\.denied: [1-9]/, stats);
    // Through a sidecar the same TCP service answers: the refusal is the gateway's policy.
    const [direct] = await f.agent("client").tcp({ host: "audited-db.demo.svc.cluster.local", port: 5432, payload: "select 1" });
    assert.equal(direct?.reply, "audited-1:5432:select 1");
  }));
