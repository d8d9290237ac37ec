// Egress on real Envoy: traffic from a sidecar to services outside the mesh. An "external" host
// (no proxy) runs HTTPS servers with a certificate from an organisation's CA; the client's sidecar
// originates TLS to it as Istio does (the server verified, by default against the system roots,
// the SNI and the certificate's name taken from the request's host), and passes through the TLS
// the application makes itself (ServiceEntry protocol HTTPS).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";
import { REPO_ROOT } from "../support/peers.js";
import type { EchoAnswer } from "./support/agent.js";
import { issueLeaf, organisationCa } from "./support/certs.js";
import { sharedFleet, type Fleet, type FleetSpec } from "./support/fleet.js";
import { destinationRule, docs, workloadEntry } from "./support/mesh-yaml.js";

const NS = "demo";
const certDir = mkdtempSync(join(tmpdir(), `gmf-${process.pid}-egress-`));
const orgCa = organisationCa("egress test CA");
// The external server's certificate names secure.example.com only.
const server = issueLeaf(orgCa, "secure.example.com", { server: ["secure.example.com"] });
// A second server on the same host, for wiki.example.org and mirror.example.org.
const mirror = issueLeaf(orgCa, "mirror.example.org", { server: ["mirror.example.org", "wiki.example.org"] });
// The edge gateway's own certificate (credentialName edge-cert), for its HTTPS servers.
const edgeCert = issueLeaf(orgCa, "edge", { server: ["modern.example.com", "legacy.example.com", "ciphers.example.com"] });
const CA_FILE = join(certDir, "org-ca.pem");
writeFileSync(CA_FILE, orgCa.certPem);

/**
 * An external service at the external host: port 80 is plain HTTP from the application, sent on
 * as TLS to the server's 8443 under `tls`; port 8443 (protocol HTTPS) is the application's own TLS.
 */
function external(host: string, address: string, tls: string): string {
  const name = host.split(".")[0] ?? host;
  return docs(
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: ${NS} }
spec:
  hosts: [${host}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
    - { number: 80, name: http, protocol: HTTP, targetPort: 8443 }
    - { number: 8443, name: https, protocol: HTTPS }
  endpoints: [{ address: ${address} }]
`,
    `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name}, namespace: ${NS} }
spec:
  host: ${host}
  trafficPolicy:
    portLevelSettings:
      - port: { number: 80 }
        tls: ${tls}
`,
  );
}

/**
 * TLS passed through and routed by SNI. At the sidecar: wiki.example.org's VirtualService sends
 * SNI wiki.example.org to mirror.example.org (the server on 9443, whose certificate names both),
 * where the service itself is the server on 8443 (whose certificate does not). At the gateway: a
 * PASSTHROUGH server for secure.example.com and *.example.org, routed by a VirtualService's tls
 * routes to the two servers.
 */
function passthrough(outside: string): string {
  const entry = (host: string, port: number) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${host.split(".")[0] ?? host}, namespace: ${NS} }
spec:
  hosts: [${host}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{ number: ${port}, name: tls, protocol: TLS }]
  endpoints: [{ address: ${outside} }]
`;
  return docs(
    entry("wiki.example.org", 8443),
    entry("mirror.example.org", 9443),
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: wiki, namespace: ${NS} }
spec:
  hosts: [wiki.example.org]
  tls:
    - match: [{ port: 8443, sniHosts: [wiki.example.org] }]
      route: [{ destination: { host: mirror.example.org, port: { number: 9443 } } }]
`,
    `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge, namespace: ${NS} }
spec:
  selector: { istio: edgegateway }
  servers:
    - port: { number: 443, name: tls, protocol: TLS }
      hosts: [secure.example.com, "*.example.org"]
      tls: { mode: PASSTHROUGH }
    - port: { number: 8080, name: http, protocol: HTTP }
      hosts: [redirect.example.com]
      tls: { httpsRedirect: true }
    - port: { number: 8444, name: https-modern, protocol: HTTPS }
      hosts: [modern.example.com]
      tls: { mode: SIMPLE, credentialName: edge-cert, minProtocolVersion: TLSV1_3 }
    - port: { number: 8445, name: https-legacy, protocol: HTTPS }
      hosts: [legacy.example.com]
      tls: { mode: SIMPLE, credentialName: edge-cert, maxProtocolVersion: TLSV1_2, cipherSuites: [ECDHE-ECDSA-AES256-GCM-SHA384] }
    - port: { number: 8446, name: https-ciphers, protocol: HTTPS }
      hosts: [ciphers.example.com]
      tls: { mode: SIMPLE, credentialName: edge-cert, cipherSuites: [${CIPHERS.join(", ")}] }
    - port: { number: 8447, name: https-mesh, protocol: HTTPS }
      hosts: [edge-mesh.${NS}.svc.cluster.local]
      tls: { mode: ISTIO_MUTUAL }
`,
    // The gateway as a mesh service its clients reach with mesh mutual TLS.
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: edge-mesh, namespace: ${NS} }
spec:
  hosts: [edge-mesh.${NS}.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 8447, name: http, protocol: HTTP }]
  workloadSelector: { labels: { istio: edgegateway } }
`,
    `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: edge-mesh, namespace: ${NS} }
spec:
  host: edge-mesh
  trafficPolicy: { tls: { mode: ISTIO_MUTUAL, sni: edge-mesh.${NS}.svc.cluster.local } }
`,
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: edge-mesh, namespace: ${NS} }
spec:
  hosts: [edge-mesh.${NS}.svc.cluster.local]
  gateways: [edge]
  # The origination's SNI and SAN check follow the request's host: name the server's.
  http: [{ rewrite: { authority: secure.example.com }, route: [{ destination: { host: secure.example.com, port: { number: 80 } } }] }]
`,
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: edge-http, namespace: ${NS} }
spec:
  hosts: [redirect.example.com, modern.example.com, legacy.example.com, ciphers.example.com]
  gateways: [edge]
  http: [{ route: [{ destination: { host: secure.example.com, port: { number: 80 } } }] }]
`,
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: edge, namespace: ${NS} }
spec:
  hosts: [secure.example.com, "*.example.org"]
  gateways: [edge]
  tls:
    - match: [{ port: 443, sniHosts: [secure.example.com] }]
      route: [{ destination: { host: secure.example.com, port: { number: 8443 } } }]
    - match: [{ port: 443, sniHosts: ["*.example.org"] }]
      route: [{ destination: { host: mirror.example.org, port: { number: 9443 } } }]
`,
  );
}

/** Every cipher suite name the Gateway schema admits: Envoy must take them all. */
const CIPHERS = JSON.parse(readFileSync(join(REPO_ROOT, "schemas/gateway.schema.json"), "utf8")).definitions.server.properties.tls.properties.cipherSuites.items.enum as string[];

/** A service of the finance namespace, at the outside host's plain HTTP port, with this exportTo. */
function exported(name: string, exportTo: string, outside: string): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: finance }
spec:
  hosts: [${name}.finance.svc.cluster.local]
  exportTo: ${exportTo}
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{ number: 8080, name: http, protocol: HTTP }]
  endpoints: [{ address: ${outside} }]
`;
}

/** A VirtualService for a finance service, exported as given, that marks the requests it routes. */
function routedIn(name: string, exportTo: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: finance }
spec:
  hosts: [${name}.finance.svc.cluster.local]
  exportTo: ${exportTo}
  http:
    - headers: { request: { set: { x-routed: ${name} } } }
      route: [{ destination: { host: ${name}.finance.svc.cluster.local } }]
`;
}

function spec(): FleetSpec {
  return {
    credentials: { "edge-cert": { "tls.crt": edgeCert.certPem, "tls.key": edgeCert.keyPem } },
    workloads: [
      { name: "client", namespace: NS, labels: { app: "client" } },
      {
        name: "outside",
        proxy: "none",
        http: [8080],
        https: [
          { port: 8443, cert: server.certPem, key: server.keyPem },
          { port: 9443, cert: mirror.certPem, key: mirror.keyPem },
        ],
      },
      { name: "edge", namespace: NS, labels: { istio: "edgegateway" }, proxy: "gateway" },
    ],
    // A host no ServiceEntry declares, as DNS would answer it.
    extraHosts: (address) => [`${address("outside")} undeclared.example.com`],
    config: (address) => ({
      "workloads.yaml": docs(workloadEntry("client", NS, address("client"), { app: "client" }, "client"), workloadEntry("edge", NS, address("edge"), { istio: "edgegateway" }, "edge")),
      "passthrough.yaml": passthrough(address("outside")),
      "exported.yaml": docs(
        exported("ledger", '["."]', address("outside")),
        exported("payroll", `[${NS}]`, address("outside")),
        exported("audit", '["*"]', address("outside")),
        routedIn("payroll", `[${NS}]`),
        routedIn("audit", '["."]'),
        // payroll's subsets hold where it is routed; audit's TLS (its server speaks plain HTTP) only in finance.
        destinationRule("payroll", "finance", `exportTo: [${NS}]\nsubsets: [{ name: v1 }]`),
        destinationRule("audit", "finance", 'exportTo: ["."]\ntrafficPolicy: { tls: { mode: SIMPLE } }'),
      ),
      // Istio's default made explicit; a Sidecar without egress listeners sees every service.
      "sidecar.yaml": `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: ${NS} }
spec:
  outboundTrafficPolicy: { mode: ALLOW_ANY }
`,
      "external.yaml": docs(
        // The organisation's CA, no sni, no subjectAltNames: both come from the request's host.
        external("secure.example.com", address("outside"), `{ mode: SIMPLE, caCertificates: ${CA_FILE} }`),
        // The same server under a name its certificate does not carry.
        external("misnamed.example.com", address("outside"), `{ mode: SIMPLE, caCertificates: ${CA_FILE} }`),
        // No caCertificates: the system roots, which never signed the organisation's CA.
        external("public.example.com", address("outside"), "{ mode: SIMPLE }"),
        // insecureSkipVerify: neither the chain nor the name is checked.
        external("lab.example.com", address("outside"), "{ mode: SIMPLE, insecureSkipVerify: true }"),
      ),
    }),
  };
}

const fleet = sharedFleet(spec);
after(async () => {
  await fleet.close();
  rmSync(certDir, { recursive: true, force: true });
});

/** The client sidecar's SSL counters for a cluster (fail_verify_error, fail_verify_san ...). */
async function sslStats(f: Fleet, host: string, port: number): Promise<Record<string, number>> {
  const prefix = `cluster.outbound|${port}||${host}.ssl.`;
  const text = (await f.agent("client").envoy(`/stats?filter=${encodeURIComponent(`${host}.ssl.`)}`)).text;
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    if (!line.startsWith(prefix)) continue;
    const [key, value] = line.slice(prefix.length).split(": ");
    if (key !== undefined && value !== undefined && !key.includes(".")) out[key] = Number(value);
  }
  return out;
}

test("TLS origination without sni or subjectAltNames: the SNI is the request's host and the certificate must name it", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const ok = await client.get("http://secure.example.com/hello");
    assert.equal(ok.status, 200, JSON.stringify(ok));
    const echo = ok.body as EchoAnswer;
    assert.deepEqual([echo.name, echo.port, echo.path, echo.servername], ["outside", 8443, "/hello", "secure.example.com"]);
    const misnamed = await client.get("http://misnamed.example.com/hello");
    assert.equal(misnamed.status, 503, `a certificate that does not name the host is refused: ${JSON.stringify(misnamed)}`);
    const stats = await sslStats(f, "misnamed.example.com", 80);
    t.diagnostic(`misnamed.example.com ssl: ${JSON.stringify(stats)}`);
    assert.ok((stats["fail_verify_san"] ?? 0) >= 1, JSON.stringify(stats));
  }));

test("TLS origination without caCertificates verifies against the system roots, and insecureSkipVerify turns verification off", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const refused = await client.get("http://public.example.com/x");
    assert.equal(refused.status, 503, `the organisation's CA is not a system root: ${JSON.stringify(refused)}`);
    const stats = await sslStats(f, "public.example.com", 80);
    t.diagnostic(`public.example.com ssl: ${JSON.stringify(stats)}`);
    assert.ok((stats["fail_verify_error"] ?? 0) >= 1, JSON.stringify(stats));
    const lab = await client.get("http://lab.example.com/y");
    assert.equal(lab.status, 200, JSON.stringify(lab));
    assert.deepEqual([(lab.body as EchoAnswer).path, (lab.body as EchoAnswer).servername], ["/y", "lab.example.com"], "unverified, and still the request's host as SNI");
  }));

test("ServiceEntry protocol HTTPS: the application's own TLS passes through the sidecar to the server", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const before = await cxTotal(f, "secure.example.com", 8443);
    const [r] = await client.http({ url: "https://secure.example.com:8443/tls", ca: orgCa.certPem });
    assert.equal(r?.status, 200, JSON.stringify(r));
    const echo = r?.body as EchoAnswer;
    assert.deepEqual([echo.name, echo.port, echo.path, echo.servername], ["outside", 8443, "/tls", "secure.example.com"]);
    assert.equal(await cxTotal(f, "secure.example.com", 8443), before + 1, "through the sidecar's cluster for the HTTPS port");
  }));

async function cxTotal(f: Fleet, host: string, port: number): Promise<number> {
  const name = `cluster.outbound|${port}||${host}.upstream_cx_total`;
  const text = (await f.agent("client").envoy(`/stats?filter=${encodeURIComponent(`${host}.upstream_cx_total`)}`)).text;
  const line = text.split("\n").find((l) => l.startsWith(`${name}: `));
  return Number(line?.split(": ")[1] ?? 0);
}

test("Sidecar outboundTrafficPolicy ALLOW_ANY: a host no ServiceEntry declares is reached directly, and the Sidecar (without egress) hides no service", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const r = await client.get("http://undeclared.example.com:8080/direct");
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.deepEqual([(r.body as EchoAnswer).name, (r.body as EchoAnswer).path], ["outside", "/direct"]);
    assert.equal(r.headers?.["x-envoy-upstream-service-time"], undefined, "not through the sidecar");
    const listeners = (await client.envoy("/listeners")).text;
    assert.doesNotMatch(listeners, /undeclared/);
    for (const host of ["secure", "misnamed", "public", "lab"]) assert.match((await client.envoy("/clusters")).text, new RegExp(`outbound\\|80\\|\\|${host}\\.example\\.com::`), host);
  }));

test("VirtualService tls routes at a sidecar: the application's TLS goes where its SNI is routed", (t) =>
  fleet.row(t, async (f) => {
    const [r] = await f.agent("client").http({ url: "https://wiki.example.org:8443/sni", ca: orgCa.certPem });
    assert.equal(r?.status, 200, JSON.stringify(r));
    const echo = r?.body as EchoAnswer;
    assert.deepEqual([echo.port, echo.path, echo.servername], [9443, "/sni", "wiki.example.org"], "the route's destination, not the service's own endpoint (8443)");
  }));

test("Gateway tls.mode PASSTHROUGH: the client's TLS reaches the server its SNI is routed to, untouched; an SNI no route names is refused", (t) =>
  fleet.row(t, async (f) => {
    const edge = f.address("edge");
    const secure = await tlsGet(edge, 443, "secure.example.com");
    assert.deepEqual([secure.port, secure.servername, secure.peer], [8443, "secure.example.com", "secure.example.com"]);
    const wiki = await tlsGet(edge, 443, "wiki.example.org");
    assert.deepEqual([wiki.port, wiki.servername, wiki.peer], [9443, "wiki.example.org", "mirror.example.org"]);
    await assert.rejects(tlsGet(edge, 443, "unrouted.example.net"), (e: Error) => /socket hang up|ECONNRESET|disconnected/.test(e.message), "no chain for the name: Envoy closes the connection");
  }));

/** An HTTPS request from outside the mesh (the test's host) with this SNI, verified end to end against the organisation's CA. */
function tlsGet(address: string, port: number, servername: string): Promise<{ port: number; servername: unknown; peer: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: address, port, path: "/edge", servername, ca: orgCa.certPem, headers: { host: servername }, agent: false, timeout: 10_000 }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString("utf8")));
      res.on("end", () => {
        const echo = JSON.parse(body) as EchoAnswer;
        resolve({ port: echo.port, servername: echo.servername, peer: String((res.socket as TLSSocket).getPeerCertificate().subject.CN) });
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

test("Gateway httpsRedirect: a plaintext request is answered with a redirect to https", (t) =>
  fleet.row(t, async (f) => {
    // node:http, not fetch: fetch does not let a caller set Host.
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest({ host: f.address("edge"), port: 8080, path: "/cart?id=7", headers: { host: "redirect.example.com" }, agent: false, timeout: 10_000 }, resolve);
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", reject).end();
    });
    res.resume();
    assert.equal(res.statusCode, 301);
    assert.equal(res.headers.location, "https://redirect.example.com/cart?id=7");
  }));

test("Gateway minProtocolVersion, maxProtocolVersion and cipherSuites: the handshake takes only what the server allows", (t) =>
  fleet.row(t, async (f) => {
    const edge = f.address("edge");
    const modern = await handshake(edge, 8444, "modern.example.com", {});
    assert.equal(modern.protocol, "TLSv1.3");
    await assert.rejects(handshake(edge, 8444, "modern.example.com", { maxVersion: "TLSv1.2" }), "TLS 1.2 is below the server's minimum");
    const legacy = await handshake(edge, 8445, "legacy.example.com", {});
    assert.deepEqual([legacy.protocol, legacy.cipher], ["TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384"], "TLS 1.3 is above the server's maximum; its one suite");
    await assert.rejects(handshake(edge, 8445, "legacy.example.com", { ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256" }), "a suite the server does not list");
    const all = await handshake(edge, 8446, "ciphers.example.com", { maxVersion: "TLSv1.2" });
    t.diagnostic(`every schema cipher suite accepted by Envoy (${CIPHERS.length}); negotiated ${all.cipher}`);
  }));

/** A TLS handshake with the gateway from outside the mesh: the version and suite agreed. */
function handshake(address: string, port: number, servername: string, options: ConnectionOptions): Promise<{ protocol: string | null; cipher: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: address, port, servername, ca: orgCa.certPem, ...options }, () => {
      resolve({ protocol: socket.getProtocol(), cipher: socket.getCipher().name });
      socket.end();
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error("timeout")));
    socket.on("error", reject);
  });
}

test("Gateway tls.mode ISTIO_MUTUAL: a sidecar's mesh certificate is taken, a client without one is refused", (t) =>
  fleet.row(t, async (f) => {
    const r = await f.agent("client").get(`http://edge-mesh.${NS}.svc.cluster.local:8447/mesh`);
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.deepEqual([(r.body as EchoAnswer).name, (r.body as EchoAnswer).path], ["outside", "/mesh"], "through the gateway's mTLS server and its route");
    const handshakes = (await f.agent("edge").envoy(`/stats?filter=${encodeURIComponent("0.0.0.0_8447.ssl.handshake")}`)).text;
    assert.match(handshakes, /ssl\.handshake: [1-9]/, handshakes);
    await assert.rejects(
      new Promise((resolve, reject) => {
        const req = httpsRequest({ host: f.address("edge"), port: 8447, path: "/mesh", servername: `edge-mesh.${NS}.svc.cluster.local`, rejectUnauthorized: false, agent: false, timeout: 10_000 }, resolve);
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject).end();
      }),
      (e: Error) => !/timeout/.test(e.message),
      "no client certificate: the handshake fails",
    );
  }));

test("ServiceEntry exportTo: a sidecar gets the services exported to its namespace and none other", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const payroll = await client.get("http://payroll.finance.svc.cluster.local:8080/pay");
    assert.equal(payroll.status, 200, JSON.stringify(payroll));
    assert.equal((payroll.body as EchoAnswer).path, "/pay");
    const clusters = (await client.envoy("/clusters")).text;
    assert.match(clusters, /outbound\|8080\|\|payroll\.finance\.svc\.cluster\.local::/);
    assert.doesNotMatch(clusters, /ledger/, "exportTo: [\".\"] keeps it in its namespace");
    const ledger = await client.get("http://ledger.finance.svc.cluster.local:8080/books");
    assert.equal(ledger.error, "ECONNREFUSED", `no listener for it: ${JSON.stringify(ledger)}`);
    const gateway = (await f.agent("edge").envoy("/clusters")).text;
    assert.match(gateway, /payroll/, "the gateway, in the client's namespace, sees what is exported there");
    assert.doesNotMatch(gateway, /ledger/, "and no more");
  }));

test("VirtualService exportTo: a sidecar takes the routes exported to its namespace; elsewhere the service is routed as if it had none", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const payroll = await client.get("http://payroll.finance.svc.cluster.local:8080/pay");
    assert.equal(payroll.status, 200, JSON.stringify(payroll));
    assert.equal((payroll.body as EchoAnswer).headers["x-routed"], "payroll", "exported to the client's namespace: its routes apply");
    const audit = await client.get("http://audit.finance.svc.cluster.local:8080/log");
    assert.equal(audit.status, 200, JSON.stringify(audit));
    assert.equal((audit.body as EchoAnswer).headers["x-routed"], undefined, "exported to finance only: the default route");
  }));

test("DestinationRule exportTo: a sidecar takes the rules exported to its namespace; elsewhere the service's clusters have no rule", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const clusters = (await client.envoy("/clusters")).text;
    assert.match(clusters, /outbound\|8080\|v1\|payroll\.finance\.svc\.cluster\.local::/, "payroll's rule is exported here: its subset");
    const audit = await client.get("http://audit.finance.svc.cluster.local:8080/plain");
    assert.equal(audit.status, 200, `audit's rule (TLS to a plaintext server) holds in finance only: ${JSON.stringify(audit)}`);
  }));
