// The ingress gateway rows of the behaviour matrix: a real Envoy gateway bootstrapped by gitmesh,
// serving HTTP, HTTPS (SIMPLE and MUTUAL, certificates from the credentials directory over SDS)
// and TCP to a client outside the mesh (the test itself), in front of a sidecar'd backend.
import assert from "node:assert/strict";
import { request } from "node:https";
import { connect as tcpConnect } from "node:net";
import { after, test } from "node:test";
import { connect as tlsConnect, type PeerCertificate, type TLSSocket } from "node:tls";
import type { EchoAnswer } from "./support/agent.js";
import { issueLeaf, organisationCa, type Leaf } from "./support/certs.js";
import { waitFor } from "./support/wait.js";
import { sharedFleet, type FleetSpec } from "./support/fleet.js";
import { docs, serviceEntry, workloadEntry } from "./support/mesh-yaml.js";

const NS = "demo";
const serverCa = organisationCa("edge CA");
const clientCa = organisationCa("partner CA");
const webCert = issueLeaf(serverCa, "web.example.com", { server: ["web.example.com"] });
const mutualCert = issueLeaf(serverCa, "mutual.example.com", { server: ["mutual.example.com"] });
const dbCert = issueLeaf(serverCa, "db.example.com", { server: ["db.example.com"] });
const partner = issueLeaf(clientCa, "partner", { client: true });
const stranger = issueLeaf(organisationCa("stranger CA"), "stranger", { client: true });

const workloads = [
  // The gateway's workload is declared: its identity is demo/ingress, which the Gateway selects.
  { name: "ingress", labels: { istio: "ingressgateway" }, proxy: "gateway" as const },
  { name: "web-1", labels: { app: "web" }, serviceAccount: "web", http: [8080] },
  { name: "db-1", labels: { app: "db" }, serviceAccount: "db", tcp: [5432] },
] as const;

const GATEWAY = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: ingress, namespace: demo }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 8080, name: http, protocol: HTTP }
      hosts: ["*"]
    - port: { number: 8443, name: https, protocol: HTTPS }
      hosts: [web.example.com]
      tls: { mode: SIMPLE, credentialName: web-cert }
    - port: { number: 9443, name: https-mutual, protocol: HTTPS }
      hosts: [mutual.example.com]
      tls: { mode: MUTUAL, credentialName: mutual-cert }
    - port: { number: 5432, name: tcp, protocol: TCP }
      hosts: ["*"]
    - port: { number: 6432, name: tls, protocol: TLS }
      hosts: [db.example.com]
      tls: { mode: SIMPLE, credentialName: db-cert }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: edge, namespace: demo }
spec:
  hosts: ["*"]
  gateways: [ingress]
  http:
    - route: [{ destination: { host: web, port: { number: 8080 } } }]
  tcp:
    - match: [{ port: 5432 }]
      route: [{ destination: { host: db, port: { number: 5432 } } }]
    - match: [{ port: 6432 }]
      route: [{ destination: { host: db, port: { number: 5432 } } }]
`;

function spec(): FleetSpec {
  return {
    workloads: workloads.map((w) => ({ ...w, namespace: NS })),
    // Mesh-wide access logs: the gateway's lines are checked below.
    serveArgs: ["--access-log", "stdout"],
    credentials: {
      "web-cert": { "tls.crt": webCert.certPem, "tls.key": webCert.keyPem },
      "mutual-cert": { "tls.crt": mutualCert.certPem, "tls.key": mutualCert.keyPem, "ca.crt": clientCa.certPem },
      "db-cert": { "tls.crt": dbCert.certPem, "tls.key": dbCert.keyPem },
    },
    config: (address) => ({
      "services.yaml": docs(serviceEntry("web", NS, [{ number: 8080, name: "http", protocol: "HTTP" }], { app: "web" }), serviceEntry("db", NS, [{ number: 5432, name: "tcp", protocol: "TCP" }], { app: "db" })),
      "workloads.yaml": docs(...workloads.map((w) => workloadEntry(w.name, NS, address(w.name), w.labels, "serviceAccount" in w ? w.serviceAccount : w.name))),
      "gateway.yaml": GATEWAY,
    }),
  };
}

const fleet = sharedFleet(spec);
after(() => fleet.close());

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly peer: PeerCertificate;
}

/** An HTTPS request from outside the mesh (the test's own host) to the gateway. */
function https(address: string, port: number, servername: string, client?: Leaf): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: address, port, path: "/shop", servername, ca: serverCa.certPem, headers: { host: servername }, ...(client === undefined ? {} : { cert: client.certPem, key: client.keyPem }), agent: false },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString("utf8")));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, peer: (res.socket as TLSSocket).getPeerCertificate() }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

test("ingress gateway: HTTP to a mesh service, which sees the gateway's identity", (t) =>
  fleet.row(t, async (f) => {
    const res = await fetch(`http://${f.address("ingress")}:8080/shop?x=1`, { headers: { host: "shop.example.com" } });
    assert.equal(res.status, 200);
    const echo = (await res.json()) as EchoAnswer;
    assert.equal(echo.name, "web-1");
    assert.equal(echo.path, "/shop?x=1");
    assert.match(String(echo.headers["x-forwarded-client-cert"]), /URI=spiffe:\/\/cluster\.local\/ns\/demo\/sa\/ingress$/, "gateway to sidecar is mutual TLS");
  }));

test("ingress gateway: HTTPS SIMPLE with the certificate from the credentials directory", (t) =>
  fleet.row(t, async (f) => {
    const r = await https(f.address("ingress"), 8443, "web.example.com");
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as EchoAnswer).name, "web-1");
    assert.equal(r.peer.subject.CN, "web.example.com", "the credential's certificate");
    assert.equal(r.peer.fingerprint256, new (await import("node:crypto")).X509Certificate(webCert.certPem).fingerprint256);
  }));

test("ingress gateway: HTTPS MUTUAL takes a client certificate from the credential's CA and no other", (t) =>
  fleet.row(t, async (f) => {
    const ok = await https(f.address("ingress"), 9443, "mutual.example.com", partner);
    assert.equal(ok.status, 200, ok.body);
    assert.equal((JSON.parse(ok.body) as EchoAnswer).name, "web-1");
    await assert.rejects(https(f.address("ingress"), 9443, "mutual.example.com"), "no client certificate: refused");
    await assert.rejects(https(f.address("ingress"), 9443, "mutual.example.com", stranger), "a certificate from another CA: refused");
  }));

test("ingress gateway: with serve --access-log, each HTTP request and TCP connection is a JSON line in the gateway's output", (t) =>
  fleet.row(t, async (f) => {
    const envoy = f.workload("ingress").envoy;
    assert.ok(envoy !== undefined);
    const mark = envoy.lineCount;
    const res = await fetch(`http://${f.address("ingress")}:8080/shop?logged=1`, { headers: { host: "shop.example.com" } });
    assert.equal(res.status, 200);
    await new Promise<void>((resolve, reject) => {
      const s = tcpConnect(5432, f.address("ingress"), () => s.end("logged"));
      s.on("data", () => {});
      s.on("close", () => resolve());
      s.on("error", reject);
    });
    const lines = await waitFor("the gateway's access log lines", async () => {
      const logged = envoy.linesSince(mark).filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
      const http = logged.find((l) => l["path"] === "/shop?logged=1");
      const tcp = logged.find((l) => l["method"] === null && String(l["upstream_cluster"]).includes("5432"));
      return http !== undefined && tcp !== undefined ? { ok: true, value: { http, tcp } } : { ok: false, why: JSON.stringify(logged).slice(0, 400) };
    });
    assert.equal(lines.http["response_code"], 200);
    // fetch sends the URL's host whatever the headers say: that is the authority Envoy saw.
    assert.equal(lines.http["authority"], `${f.address("ingress")}:8080`);
    assert.ok(Number(lines.tcp["bytes_received"]) > 0);
  }));

test("ingress gateway: TCP to a mesh service", (t) =>
  fleet.row(t, async (f) => {
    const reply = await new Promise<string>((resolve, reject) => {
      const s = tcpConnect(5432, f.address("ingress"), () => s.write("select 1"));
      let text = "";
      s.on("data", (d) => (text += d.toString("utf8")));
      s.on("end", () => resolve(text));
      s.on("error", reject);
    });
    assert.equal(reply, "db-1:5432:select 1");
  }));

test("ingress gateway: a TLS server terminates TLS and passes the stream to a mesh service over TCP", (t) =>
  fleet.row(t, async (f) => {
    const reply = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: f.address("ingress"), port: 6432, servername: "db.example.com", ca: serverCa.certPem }, () => s.write("select 2"));
      let text = "";
      s.on("data", (d: Buffer) => (text += d.toString("utf8")));
      s.on("end", () => resolve(text));
      s.on("error", reject);
    });
    assert.equal(reply, "db-1:5432:select 2");
  }));

test("ingress gateway: a TLS client for a name no server has gets no certificate", (t) =>
  fleet.row(t, async (f) => {
    const outcome = await new Promise<string>((resolve) => {
      const s = tlsConnect({ host: f.address("ingress"), port: 8443, servername: "unknown.example.com", ca: serverCa.certPem }, () => resolve("handshake"));
      s.on("error", (e) => resolve((e as NodeJS.ErrnoException).code ?? e.message));
    });
    assert.notEqual(outcome, "handshake");
  }));
