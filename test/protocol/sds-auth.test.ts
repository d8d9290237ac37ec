// Secrets over SDS on the TLS endpoint: an authenticated proxy gets its own identity and the
// trust bundle; every way of asking without the right credential is refused before anything is
// sent, and the plaintext endpoint never sends a secret. A scripted client over real gRPC+TLS.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { connect as connectTls } from "node:tls";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { credentials, Metadata, status } from "@grpc/grpc-js";
import { createRootAuthority, issueToken, loadOrCreateTokenKey, rotate, trustBundlePem } from "../../src/ca/index.js";
import { MeshPusher } from "../../src/runtime/index.js";
import { openSecure } from "../../src/runtime/index.js";
import { WorkloadSecrets } from "../../src/runtime/index.js";
import { loadMesh } from "../../src/config/load.js";
import { decodeMessage, TypeUrl } from "../../src/envoy/index.js";
import { silentLogger } from "../../src/log.js";
import { CDS, SDS, SnapshotCache, XdsServer } from "../../src/xds/index.js";
import { ScriptedClient, type SotwResponse, type SotwStream } from "../support/xds-client.js";

const MESH = loadMesh([
  {
    path: "mesh.yaml",
    text: `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: api, namespace: default }
spec:
  hosts: [api.default.svc.cluster.local]
  resolution: STATIC
  ports: [{ number: 8080, name: http, protocol: HTTP }]
  endpoints: [{ address: 10.0.0.1 }]
`,
  },
]);

async function start(t: TestContext, lifetimeMs = 3600_000) {
  const stateDir = mkdtempSync(join(tmpdir(), "gitmesh-sds-"));
  const secure = await openSecure({ stateDir, trustDomain: "cluster.local", logger: silentLogger });
  const cache = new SnapshotCache();
  const secrets = new WorkloadSecrets({ ca: secure.ca, trustDomain: "cluster.local", keyType: "ecdsa", lifetimeMs, logger: silentLogger });
  const pusher = new MeshPusher(cache, silentLogger, { secrets });
  const server = new XdsServer({ source: cache, logger: silentLogger, ...pusher.serverHooks() });
  const plainPort = await server.listen("127.0.0.1:0");
  const tlsPort = await server.listen("127.0.0.1:0", secure.credentials, secure.policy);
  assert.ok(MESH.ok);
  pusher.setModel(MESH.model);
  const key = await loadOrCreateTokenKey(stateDir);
  const bundle = trustBundlePem(secure.ca);
  const clients: ScriptedClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    secrets.close();
    pusher.close();
    await server.shutdown(1_000);
  });
  const connect = (tls: boolean) => {
    const c = tls ? new ScriptedClient(`localhost:${tlsPort}`, {}, credentials.createSsl(Buffer.from(bundle))) : new ScriptedClient(`127.0.0.1:${plainPort}`);
    clients.push(c);
    return c;
  };
  t.after(() => secure.close());
  return { key, bundle, connect, stateDir, secrets, ca: secure.ca, secure, tlsPort, server };
}

function proxyNode(id: string, namespace: string, serviceAccount: string) {
  const str = (v: string) => ({ stringValue: v });
  return { id, cluster: "test", metadata: { fields: { NAMESPACE: str(namespace), SERVICE_ACCOUNT: str(serviceAccount), PROXY_KIND: str("sidecar") } } };
}

function basic(): Metadata {
  const m = new Metadata();
  m.set("authorization", "Basic Zm9vOmJhcg==");
  return m;
}

function bearer(token: string): Metadata {
  const m = new Metadata();
  m.set("authorization", `Bearer ${token}`);
  return m;
}

/** Secrets in a response, by name, decoded. */
function secretsIn(res: SotwResponse): Map<string, Record<string, unknown>> {
  return new Map(res.resources.map((r) => {
    const s = decodeMessage("envoy.extensions.transport_sockets.tls.v3.Secret", r.value);
    return [String(s["name"]), s];
  }));
}

async function nextSecrets(s: SotwStream): Promise<{ res: SotwResponse; secrets: Map<string, Record<string, unknown>> }> {
  for (;;) {
    const res = await s.next();
    if (res.type_url === TypeUrl.Secret) return { res, secrets: secretsIn(res) };
  }
}

function askForSecrets(s: SotwStream, node: object, versionInfo = "", nonce = ""): void {
  s.send({ node, type_url: SDS.typeUrl, resource_names: ["default", "ROOTCA"], version_info: versionInfo, response_nonce: nonce });
}

test("an authenticated proxy gets its own SPIFFE identity and the trust bundle", async (t) => {
  const { key, bundle, connect } = await start(t);
  const s = connect(true).sotw(undefined, bearer(issueToken(key, "default", "frontend")));
  askForSecrets(s, proxyNode("frontend-1", "default", "frontend"));
  // The bundle may come first, alone, while the certificate is being issued.
  let got = await nextSecrets(s);
  while (!got.secrets.has("default")) {
    askForSecrets(s, proxyNode("frontend-1", "default", "frontend"), got.res.version_info, got.res.nonce);
    got = await nextSecrets(s);
  }
  const chain = String((got.secrets.get("default")?.["tls_certificate"] as { certificate_chain: { inline_string: string } }).certificate_chain.inline_string);
  const cert = new X509Certificate(chain);
  assert.equal(cert.subjectAltName, "URI:spiffe://cluster.local/ns/default/sa/frontend");
  const root = new X509Certificate(bundle);
  assert.ok(cert.checkIssued(root) && cert.verify(root.publicKey), "signed by the mesh root");
  const ca = (got.secrets.get("ROOTCA")?.["validation_context"] as { trusted_ca: { inline_string: string } }).trusted_ca.inline_string;
  assert.equal(ca, bundle, "ROOTCA is the trust bundle");
});

/** The token with one bit of its signature changed (not in the last character, whose spare bits decoding ignores). */
function forged(token: string): string {
  const at = token.length - 6;
  return `${token.slice(0, at)}${token[at] === "A" ? "B" : "A"}${token.slice(at + 1)}`;
}

const refusals: { name: string; metadata: (key: Buffer) => Metadata; node: object; code: number; details: RegExp }[] = [
  { name: "no credential", metadata: () => new Metadata(), node: proxyNode("p", "default", "frontend"), code: status.UNAUTHENTICATED, details: /missing/ },
  { name: "not a bearer token", metadata: () => basic(), node: proxyNode("p", "default", "frontend"), code: status.UNAUTHENTICATED, details: /malformed/ },
  { name: "a forged signature", metadata: (key) => bearer(forged(issueToken(key, "default", "frontend"))), node: proxyNode("p", "default", "frontend"), code: status.UNAUTHENTICATED, details: /bad-signature/ },
  { name: "a token signed with another key", metadata: () => bearer(issueToken(Buffer.alloc(32, 7), "default", "frontend")), node: proxyNode("p", "default", "frontend"), code: status.UNAUTHENTICATED, details: /bad-signature/ },
  { name: "an expired token", metadata: (key) => bearer(issueToken(key, "default", "frontend", 60_000, new Date(Date.now() - 3600_000))), node: proxyNode("p", "default", "frontend"), code: status.UNAUTHENTICATED, details: /expired/ },
  { name: "a token for another identity", metadata: (key) => bearer(issueToken(key, "default", "payments")), node: proxyNode("p", "default", "frontend"), code: status.PERMISSION_DENIED, details: /for default\/payments, but the node says it is default\/frontend/ },
  { name: "a token for another namespace", metadata: (key) => bearer(issueToken(key, "prod", "frontend")), node: proxyNode("p", "default", "frontend"), code: status.PERMISSION_DENIED, details: /prod\/frontend/ },
];

test("every way of asking without the right credential is refused and gets nothing", async (t) => {
  const { key, connect } = await start(t);
  for (const r of refusals) {
    const s = connect(true).sotw(undefined, r.metadata(key));
    askForSecrets(s, r.node);
    // Served instead of refused is a failure, not a wait: whichever comes first.
    const end = await Promise.race([s.ended(), s.next().then(() => ({ code: status.OK, details: "it was served" }))]);
    assert.equal(end.code, r.code, `${r.name}: ${end.details}`);
    assert.match(end.details, r.details, r.name);
    assert.deepEqual(s.received, [], `${r.name}: nothing was sent`);
  }
});

test("the plaintext endpoint never sends a secret, even to a proxy holding one", async (t) => {
  const { key, connect } = await start(t);
  // The proxy holds its certificate through an authenticated stream...
  const tls = connect(true).sotw(undefined, bearer(issueToken(key, "default", "frontend")));
  askForSecrets(tls, proxyNode("frontend-1", "default", "frontend"));
  let got = await nextSecrets(tls);
  while (!got.secrets.has("default")) {
    askForSecrets(tls, proxyNode("frontend-1", "default", "frontend"), got.res.version_info, got.res.nonce);
    got = await nextSecrets(tls);
  }
  // ...and the same node on the plaintext port, token and all, is refused: an Envoy proxy's config
  // names secrets, so it belongs on the TLS port.
  const plain = connect(false).sotw(undefined, bearer(issueToken(key, "default", "frontend")));
  askForSecrets(plain, proxyNode("frontend-1", "default", "frontend"));
  const end = await plain.ended();
  assert.equal(end.code, status.PERMISSION_DENIED);
  assert.match(end.details, /TLS xDS port/);
  assert.deepEqual(plain.received, []);
  // A proxyless client is served there, and asking for secrets gets it none.
  const grpc = connect(false).sotw(undefined, bearer(issueToken(key, "default", "frontend")));
  askForSecrets(grpc, { ...proxyNode("frontend-2", "default", "frontend"), metadata: { fields: { NAMESPACE: { stringValue: "default" }, SERVICE_ACCOUNT: { stringValue: "frontend" }, PROXY_KIND: { stringValue: "grpc" } } } });
  grpc.send({ type_url: CDS.typeUrl });
  const first = await grpc.next();
  assert.equal(first.type_url, CDS.typeUrl, "requests are answered in order: no secret came before the clusters");
  assert.ok(grpc.received.every((r) => r.type_url !== TypeUrl.Secret));
});

test("a certificate is renewed and pushed before it expires", async (t) => {
  const { key, connect } = await start(t, 3_000);
  const s = connect(true).sotw(undefined, bearer(issueToken(key, "default", "frontend")));
  const node = proxyNode("frontend-1", "default", "frontend");
  askForSecrets(s, node);
  const serials: string[] = [];
  let expiresAt = 0;
  let got = await nextSecrets(s);
  while (serials.length < 2) {
    const d = got.secrets.get("default");
    if (d !== undefined) {
      const cert = new X509Certificate(String((d["tls_certificate"] as { certificate_chain: { inline_string: string } }).certificate_chain.inline_string));
      if (serials.length === 0) expiresAt = Date.parse(cert.validTo);
      else assert.ok(Date.now() < expiresAt, "the new certificate arrived before the old one expired");
      if (!serials.includes(cert.serialNumber)) serials.push(cert.serialNumber);
    }
    askForSecrets(s, node, got.res.version_info, got.res.nonce);
    if (serials.length < 2) got = await nextSecrets(s);
  }
  assert.notEqual(serials[0], serials[1]);
});

/** The certificates of a PEM bundle. */
function roots(bundlePem: string): X509Certificate[] {
  return (bundlePem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
}

function trustedBy(cert: X509Certificate, bundlePem: string): boolean {
  return roots(bundlePem).some((r) => cert.checkIssued(r) && cert.verify(r.publicKey));
}

test("a root rotation reaches the proxy step by step, and every certificate in use stays trusted by every bundle in use", async (t) => {
  const { key, connect, ca, secrets } = await start(t);
  const s = connect(true).sotw(undefined, bearer(issueToken(key, "default", "frontend")));
  const node = proxyNode("frontend-1", "default", "frontend");
  askForSecrets(s, node);
  let last = await nextSecrets(s);
  /** Waits for secrets satisfying `done`, ACKing what comes before. */
  const until = async (done: (cert: X509Certificate | undefined, bundle: string) => boolean) => {
    for (;;) {
      const d = last.secrets.get("default");
      const cert = d === undefined ? undefined : new X509Certificate(String((d["tls_certificate"] as { certificate_chain: { inline_string: string } }).certificate_chain.inline_string));
      const bundle = String((last.secrets.get("ROOTCA")?.["validation_context"] as { trusted_ca: { inline_string: string } }).trusted_ca.inline_string);
      if (done(cert, bundle)) return { cert: cert ?? assert.fail("no certificate"), bundle };
      askForSecrets(s, node, last.res.version_info, last.res.nonce);
      last = await nextSecrets(s);
    }
  };
  const before = await until((c) => c !== undefined);
  assert.equal(roots(before.bundle).length, 1);

  const introduced = await rotate(ca, { t: "introduce", authority: await createRootAuthority({ trustDomain: "cluster.local", keyType: "ecdsa" }) });
  assert.ok(introduced.ok);
  secrets.setCa(introduced.ca); // what serve does when it reads the saved step
  const both = await until((_c, b) => roots(b).length === 2);
  assert.equal(both.cert.serialNumber, before.cert.serialNumber, "introducing a root re-issues nothing");
  assert.ok(trustedBy(before.cert, before.bundle) && trustedBy(before.cert, both.bundle), "the old certificate is trusted by the old and the new bundle");

  const switched = await rotate(introduced.ca, { t: "switch" });
  assert.ok(switched.ok);
  secrets.setCa(switched.ca);
  const renewed = await until((c) => c !== undefined && c.serialNumber !== before.cert.serialNumber);
  assert.ok(!trustedBy(renewed.cert, before.bundle), "the new certificate comes from the new root");
  assert.ok(trustedBy(renewed.cert, renewed.bundle) && trustedBy(before.cert, renewed.bundle), "while both roots are trusted, old and new certificates are accepted");

  const dropped = await rotate(switched.ca, { t: "drop", maxLifetimeMs: 0, force: true });
  assert.ok(dropped.ok);
  secrets.setCa(dropped.ca);
  const after = await until((_c, b) => roots(b).length === 1);
  assert.equal(after.cert.serialNumber, renewed.cert.serialNumber, "dropping the old root re-issues nothing");
  assert.ok(trustedBy(after.cert, after.bundle) && trustedBy(after.cert, renewed.bundle), "the certificate in use is trusted by the bundles before and after the drop");
  assert.ok(!trustedBy(before.cert, after.bundle), "the old root is no longer trusted");
});

const SDS_DELTA = "/envoy.service.secret.v3.SecretDiscoveryService/DeltaSecrets";
const SDS_SOTW = "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets";

test("delta ADS and the SecretDiscoveryService serve the same secrets, and refuse the same way", async (t) => {
  const { key, connect } = await start(t);
  const node = proxyNode("frontend-2", "default", "frontend");
  // Delta (on ADS and on the SDS service): the certificate arrives by name, with its version.
  for (const path of [undefined, SDS_DELTA]) {
    const d = connect(true).delta(path, bearer(issueToken(key, "default", "frontend")));
    d.send({ node, type_url: SDS.typeUrl, resource_names_subscribe: ["default", "ROOTCA"] });
    const names = new Set<string>();
    while (!names.has("default")) {
      const res = await d.next();
      assert.equal(res.type_url, TypeUrl.Secret);
      for (const r of res.resources) {
        names.add(r.name);
        if (r.name === "default") {
          const s = decodeMessage("envoy.extensions.transport_sockets.tls.v3.Secret", r.resource.value);
          const cert = new X509Certificate(String((s["tls_certificate"] as { certificate_chain: { inline_string: string } }).certificate_chain.inline_string));
          assert.equal(cert.subjectAltName, "URI:spiffe://cluster.local/ns/default/sa/frontend", `${path ?? "delta ADS"}`);
        }
      }
      d.send({ type_url: SDS.typeUrl, response_nonce: res.nonce });
    }
    assert.ok(names.has("ROOTCA"));
  }
  // State of the world on the SDS service itself.
  const s = connect(true).sotw(SDS_SOTW, bearer(issueToken(key, "default", "frontend")));
  askForSecrets(s, node);
  let got = await nextSecrets(s);
  while (!got.secrets.has("default")) {
    askForSecrets(s, node, got.res.version_info, got.res.nonce);
    got = await nextSecrets(s);
  }
  // And every service refuses a stream without a credential.
  const deltas = [connect(true).delta(SDS_DELTA), connect(true).delta()];
  for (const d of deltas) d.send({ node, type_url: SDS.typeUrl, resource_names_subscribe: ["default"] });
  const sotw = connect(true).sotw(SDS_SOTW);
  askForSecrets(sotw, node);
  for (const stream of [...deltas, sotw]) {
    const end = await stream.ended();
    assert.equal(end.code, status.UNAUTHENTICATED);
    assert.deepEqual(stream.received, []);
  }
});

/** The certificate the TLS port presents to a new connection. */
function servedCertificate(port: number, ca: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connectTls({ host: "127.0.0.1", port, servername: "localhost", ca, ALPNProtocols: ["h2"] }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (cert === undefined) reject(new Error("no certificate"));
      else resolve(cert);
    });
    socket.once("error", reject);
  });
}

test("the TLS port's certificate is replaced without rebinding, and moves to the new root at a switch", async (t) => {
  const { secure, tlsPort, ca } = await start(t);
  const first = await servedCertificate(tlsPort, trustBundlePem(ca));
  assert.match(first.subjectAltName ?? "", /DNS:localhost/);
  const introduced = await rotate(ca, { t: "introduce", authority: await createRootAuthority({ trustDomain: "cluster.local", keyType: "ecdsa" }) });
  assert.ok(introduced.ok);
  const switched = await rotate(introduced.ca, { t: "switch" });
  assert.ok(switched.ok);
  await secure.reissue(switched.ca);
  const bundle = trustBundlePem(switched.ca);
  const second = await servedCertificate(tlsPort, bundle);
  assert.notEqual(second.serialNumber, first.serialNumber);
  const [oldRoot] = roots(trustBundlePem(ca));
  const newRoot = roots(bundle).find((r) => r.fingerprint256 !== oldRoot?.fingerprint256);
  assert.ok(newRoot !== undefined && second.verify(newRoot.publicKey), "signed by the new root");
  assert.ok(oldRoot !== undefined && first.verify(oldRoot.publicKey) && !second.verify(oldRoot.publicKey), "no longer by the old one");
});

test("a stream that takes another proxy's node id never receives that proxy's key", async (t) => {
  const { key, connect, server } = await start(t);
  // The attacker holds a valid token for its own identity and claims the victim's node id first.
  const attacker = connect(true).sotw(undefined, bearer(issueToken(key, "default", "attacker")));
  askForSecrets(attacker, proxyNode("shared-id", "default", "attacker"));
  const victim = connect(true).sotw(undefined, bearer(issueToken(key, "default", "frontend")));
  const node = proxyNode("shared-id", "default", "frontend");
  askForSecrets(victim, node);
  let got = await nextSecrets(victim);
  while (!got.secrets.has("default")) {
    askForSecrets(victim, node, got.res.version_info, got.res.nonce);
    got = await nextSecrets(victim);
  }
  const victimCert = new X509Certificate(String((got.secrets.get("default")?.["tls_certificate"] as { certificate_chain: { inline_string: string } }).certificate_chain.inline_string));
  assert.equal(victimCert.subjectAltName, "URI:spiffe://cluster.local/ns/default/sa/frontend");
  // The two streams are two proxies to gitmesh, whatever their nodes say: they never share a
  // snapshot, so what is issued to one is never sent on the other.
  const watched = server.status.list().filter((st) => st.nodeId === "shared-id").map((st) => st.proxy);
  assert.equal(watched.length, 2);
  assert.notEqual(watched[0], watched[1], "each identity is its own proxy");
  // The attacker's own certificate arrives on its stream (an event to wait on); nothing it got
  // names the victim's identity.
  let mine = await nextSecrets(attacker);
  while (!mine.secrets.has("default")) {
    askForSecrets(attacker, proxyNode("shared-id", "default", "attacker"), mine.res.version_info, mine.res.nonce);
    mine = await nextSecrets(attacker);
  }
  for (const res of attacker.received.filter((r) => r.type_url === TypeUrl.Secret)) {
    for (const [, secret] of secretsIn(res)) {
      const chain = (secret["tls_certificate"] as { certificate_chain?: { inline_string?: string } } | undefined)?.certificate_chain?.inline_string;
      if (chain !== undefined) assert.equal(new X509Certificate(chain).subjectAltName, "URI:spiffe://cluster.local/ns/default/sa/attacker");
    }
  }
});
