// The security rows of the behaviour matrix on real Envoy: PeerAuthentication modes seen from a
// mesh client (its sidecar, automatic mTLS) and from a plaintext client outside the mesh, the
// caller's identity in x-forwarded-client-cert, and AuthorizationPolicy by principal, namespace,
// path, method and header.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { EchoAnswer } from "./support/agent.js";
import { sharedFleet, type FleetSpec } from "./support/fleet.js";
import { destinationRule, docs, serviceEntry, workloadEntry } from "./support/mesh-yaml.js";

const HTTP = [{ number: 8080, name: "http", protocol: "HTTP" }];
const SPIFFE = "spiffe://cluster.local";

const workloads = [
  { name: "client", namespace: "demo", labels: { app: "client" } },
  { name: "intruder", namespace: "demo", labels: { app: "intruder" } },
  { name: "outsider", namespace: "other", labels: { app: "outsider" } },
  { name: "strict-1", namespace: "demo", labels: { app: "strict" }, serviceAccount: "strict", http: [8080] },
  { name: "permissive-1", namespace: "demo", labels: { app: "permissive" }, serviceAccount: "permissive", http: [8080] },
  { name: "disabled-1", namespace: "demo", labels: { app: "disabled" }, serviceAccount: "disabled", http: [8080] },
  { name: "authz-1", namespace: "demo", labels: { app: "authz" }, serviceAccount: "authz", http: [8080] },
  { name: "store-1", namespace: "demo", labels: { app: "store" }, serviceAccount: "store", tcp: [5432] },
] as const;

/** A workload PeerAuthentication in demo for the workloads labelled app=APP. */
function peerAuthentication(app: string, mode: string): string {
  return `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: ${app}, namespace: demo }
spec:
  selector: { matchLabels: { app: ${app} } }
  mtls: { mode: ${mode} }
---
`;
}

const POLICIES = `${peerAuthentication("strict", "STRICT")}${peerAuthentication("disabled", "DISABLE")}${peerAuthentication("authz", "STRICT")}apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-intruder, namespace: demo }
spec:
  selector: { matchLabels: { app: authz } }
  action: DENY
  rules:
    - from: [{ source: { principals: [cluster.local/ns/demo/sa/intruder] } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow, namespace: demo }
spec:
  selector: { matchLabels: { app: authz } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: [cluster.local/ns/demo/sa/client, cluster.local/ns/demo/sa/intruder] } }]
      to: [{ operation: { methods: [GET], paths: ["/api/*"] } }]
    - from: [{ source: { namespaces: [other] } }]
      to: [{ operation: { paths: ["/ns/*"] } }]
    - to: [{ operation: { paths: [/public] } }]
      when: [{ key: "request.headers[x-token]", values: [letmein] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: store, namespace: demo }
spec:
  selector: { matchLabels: { app: store } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: [cluster.local/ns/demo/sa/client] } }]
`;

function spec(): FleetSpec {
  return {
    workloads: [...workloads, { name: "plain", proxy: "none" }],
    config: (address) => ({
      "services.yaml": docs(
        serviceEntry("strict", "demo", HTTP, { app: "strict" }),
        serviceEntry("permissive", "demo", HTTP, { app: "permissive" }),
        serviceEntry("disabled", "demo", HTTP, { app: "disabled" }),
        serviceEntry("authz", "demo", HTTP, { app: "authz" }),
        serviceEntry("store", "demo", [{ number: 5432, name: "tcp", protocol: "TCP" }], { app: "store" }),
        // The strict workload under two more names, each with an explicit ISTIO_MUTUAL.
        serviceEntry("strict-checked", "demo", HTTP, { app: "strict" }),
        destinationRule("strict-checked", "demo", "trafficPolicy:\n  tls: { mode: ISTIO_MUTUAL, subjectAltNames: [spiffe://cluster.local/ns/demo/sa/strict] }"),
        serviceEntry("strict-impostor", "demo", HTTP, { app: "strict" }),
        destinationRule("strict-impostor", "demo", "trafficPolicy:\n  tls: { mode: ISTIO_MUTUAL, subjectAltNames: [spiffe://cluster.local/ns/demo/sa/payments] }"),
      ),
      "workloads.yaml": docs(...workloads.map((w) => workloadEntry(w.name, w.namespace, address(w.name), w.labels, "serviceAccount" in w ? w.serviceAccount : w.name))),
      "security.yaml": POLICIES,
    }),
  };
}

const fleet = sharedFleet(spec);
after(() => fleet.close());

const url = (service: string, path = "/") => `http://${service}.demo.svc.cluster.local:8080${path}`;
const xfcc = (body: unknown) => (body as EchoAnswer).headers["x-forwarded-client-cert"];

test("PeerAuthentication STRICT: mesh clients get through over mTLS, a plaintext request to the inbound is refused", (t) =>
  fleet.row(t, async (f) => {
    const r = await f.agent("client").get(url("strict"));
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.match(String(xfcc(r.body)), new RegExp(`URI=${SPIFFE}/ns/demo/sa/client`), "the request came over mTLS with the client's certificate");
    const plain = await f.agent("plain").get(`http://${f.address("strict-1")}:8080/`);
    assert.equal(plain.status, undefined, `refused: ${JSON.stringify(plain)}`);
    assert.match(String(plain.error), /ECONNRESET|socket hang up|EPIPE/);
  }));

test("PeerAuthentication PERMISSIVE: mTLS from the mesh and plaintext from outside both work", (t) =>
  fleet.row(t, async (f) => {
    const mesh = await f.agent("client").get(url("permissive"));
    assert.equal(mesh.status, 200);
    assert.match(String(xfcc(mesh.body)), new RegExp(`URI=${SPIFFE}/ns/demo/sa/client`), "automatic mTLS between sidecars");
    const plain = await f.agent("plain").get(`http://${f.address("permissive-1")}:8080/`);
    assert.equal(plain.status, 200);
    assert.equal(xfcc(plain.body), undefined, "no certificate, no identity");
  }));

test("PeerAuthentication DISABLE: plaintext only, and mesh clients follow (automatic mTLS off)", (t) =>
  fleet.row(t, async (f) => {
    const mesh = await f.agent("client").get(url("disabled"));
    assert.equal(mesh.status, 200, JSON.stringify(mesh));
    assert.equal(xfcc(mesh.body), undefined, "plaintext between the sidecars");
    const plain = await f.agent("plain").get(`http://${f.address("disabled-1")}:8080/`);
    assert.equal(plain.status, 200);
  }));

test("x-forwarded-client-cert: the application gets its caller's identity, as behind Istio's sidecars, and nobody can forge it", (t) =>
  fleet.row(t, async (f) => {
    const forged = `By=${SPIFFE}/ns/demo/sa/strict;URI=${SPIFFE}/ns/demo/sa/admin`;
    const r = await f.agent("client").get(url("strict"), { "x-forwarded-client-cert": forged });
    const header = String(xfcc(r.body));
    assert.match(header, new RegExp(`^By=${SPIFFE}/ns/demo/sa/strict;Hash=[0-9a-f]{64};Subject="";URI=${SPIFFE}/ns/demo/sa/client$`), header);
    const plain = await f.agent("plain").get(`http://${f.address("permissive-1")}:8080/`, { "x-forwarded-client-cert": forged });
    assert.equal(xfcc(plain.body), undefined, "a plaintext caller's header is removed");
  }));

test("AuthorizationPolicy: ALLOW and DENY by principal, namespace, path, method and header", (t) =>
  fleet.row(t, async (f) => {
    const cases: [string, string, string, Record<string, string>, number][] = [
      ["client", "GET", "/api/items", {}, 200],
      ["client", "POST", "/api/items", {}, 403], // method
      ["client", "GET", "/admin", {}, 403], // path
      ["intruder", "GET", "/api/items", {}, 403], // DENY by principal, though ALLOW names it
      ["outsider", "GET", "/ns/report", {}, 200], // namespace other
      ["client", "GET", "/ns/report", {}, 403], // not from namespace other
      ["client", "GET", "/public", { "x-token": "letmein" }, 200], // header
      ["client", "GET", "/public", { "x-token": "guess" }, 403],
      ["intruder", "GET", "/public", { "x-token": "letmein" }, 403], // DENY comes first
    ];
    for (const [who, method, path, headers, status] of cases) {
      const r = await f.agent(who).get(url("authz", path), headers, method);
      assert.equal(r.status, status, `${who} ${method} ${path} ${JSON.stringify(headers)}: ${JSON.stringify(r.body)}`);
      if (status === 403) assert.equal(r.body, "RBAC: access denied");
    }
    const stats = (await f.agent("authz-1").envoy(`/stats?filter=${encodeURIComponent("rbac")}`)).text;
    assert.match(stats, /rbac\.denied: [1-9]/, stats);
  }));

test("AuthorizationPolicy on a TCP port: the network RBAC filter lets the allowed principal in and closes on the other", (t) =>
  fleet.row(t, async (f) => {
    const call = { host: "store.demo.svc.cluster.local", port: 5432, payload: "select 1" };
    const [allowed] = await f.agent("client").tcp(call);
    assert.equal(allowed?.reply, "store-1:5432:select 1");
    const [refused] = await f.agent("intruder").tcp(call);
    assert.equal(refused?.reply, undefined, `refused: ${JSON.stringify(refused)}`);
    const stats = (await f.agent("store-1").envoy(`/stats?filter=${encodeURIComponent("inbound_5432.rbac")}`)).text;
    assert.match(stats, /rbac\.denied: [1-9]/, stats);
  }));

test("DestinationRule ISTIO_MUTUAL checks the server's identity: the expected one answers, any other is refused", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const checked = await client.get(url("strict-checked"));
    assert.equal(checked.status, 200, JSON.stringify(checked));
    const impostor = await client.get(url("strict-impostor"));
    assert.equal(impostor.status, 503, "the server is not spiffe://cluster.local/ns/demo/sa/payments");
    const stats = (await client.envoy(`/stats?filter=${encodeURIComponent("strict-impostor.demo.svc.cluster.local.ssl.fail_verify_san")}`)).text;
    assert.match(stats, /fail_verify_san: [1-9]/, stats);
  }));
