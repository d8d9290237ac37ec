// Root rotation: the steps as data, and the overlap in which certificates from the old root and
// from the new one both verify against the bundle, checked by node:crypto and by real mTLS.
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { connect, createServer } from "node:tls";
import { createRootAuthority, issuer, openCa, openOrCreateCa, rotate, trustBundlePem, type IssuedCertificate, type RotationState } from "../../src/ca/index.js";
import { dropPrevious, introduce, issuingId, switchIssuer, trustedIds, abandon } from "../../src/ca/rotation.js";
import { chainVerifies, issueFrontend, pemCerts, tempFiles } from "../support/pki.js";

const DAY = 86_400_000;
const t0 = new Date("2026-03-01T00:00:00Z");
const steady: RotationState = { phase: "steady", current: "old" };

test("rotation steps: trust widens before issuing moves, and narrows only after old certificates expire", () => {
  const introduced = introduce(steady, "new", t0);
  assert.ok(introduced.ok);
  assert.deepEqual(trustedIds(introduced.state), ["old", "new"]);
  assert.equal(issuingId(introduced.state), "old");

  const switched = switchIssuer(introduced.state, t0);
  assert.ok(switched.ok);
  assert.deepEqual(trustedIds(switched.state), ["new", "old"]);
  assert.equal(issuingId(switched.state), "new");

  const early = dropPrevious(switched.state, new Date(t0.getTime() + DAY - 1), DAY);
  assert.ok(!early.ok);
  assert.match(early.reason, /may be valid until 2026-03-02T00:00:00.000Z/);
  assert.ok(dropPrevious(switched.state, new Date(t0.getTime() + DAY - 1), DAY, true).ok, "unless forced");
  const dropped = dropPrevious(switched.state, new Date(t0.getTime() + DAY), DAY);
  assert.ok(dropped.ok);
  assert.deepEqual(dropped.state, { phase: "steady", current: "new" });

  const abandoned = abandon(introduced.state);
  assert.ok(abandoned.ok);
  assert.deepEqual(abandoned.state, steady);
});

for (const [name, result] of [
  ["switch with nothing introduced", switchIssuer(steady, t0)],
  ["drop with nothing to drop", dropPrevious(steady, t0, DAY)],
  ["introduce the current authority", introduce(steady, "old", t0)],
  ["introduce during a rotation", introduce({ phase: "introduced", current: "old", next: "new", since: t0.toISOString() }, "third", t0)],
  ["abandon after the switch", abandon({ phase: "switched", previous: "old", current: "new", since: t0.toISOString() })],
] as const) {
  test(`rotation refuses to ${name}`, () => {
    assert.equal(result.ok, false);
  });
}

/** Completes an mTLS handshake with `server` serving and `client` presenting, both trusting `bundle`. */
async function mtls(server: IssuedCertificate, client: IssuedCertificate, bundle: string): Promise<boolean> {
  const srv = createServer({ cert: server.chainPem, key: server.keyPem, ca: bundle, requestCert: true, rejectUnauthorized: true }, (s) => s.end("ok"));
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  try {
    return await new Promise<boolean>((resolve) => {
      const port = (srv.address() as AddressInfo).port;
      // Identity is the SPIFFE URI, checked by Envoy's SAN matcher; here only the chain is.
      const sock = connect({ host: "127.0.0.1", port, cert: client.chainPem, key: client.keyPem, ca: bundle, checkServerIdentity: () => undefined });
      let data = "";
      sock.on("data", (d: Buffer) => (data += d.toString()));
      sock.on("end", () => resolve(data === "ok"));
      sock.on("error", () => resolve(false));
    });
  } finally {
    srv.close();
  }
}

test("a full rotation, saved at each step: during the overlap old and new certificates verify and connect both ways", async () => {
  const stateDir = tempFiles();
  const opened = await openOrCreateCa(stateDir, { trustDomain: "cluster.local", keyType: "ecdsa" });
  assert.ok(opened.ok);
  const oldCert = await issueFrontend(issuer(opened.ca));
  const oldRoot = issuer(opened.ca).root;

  const newAuthority = await createRootAuthority({ trustDomain: "cluster.local", keyType: "ecdsa" });
  const introduced = await rotate(opened.ca, { t: "introduce", authority: newAuthority });
  assert.ok(introduced.ok);
  assert.equal(pemCerts(trustBundlePem(introduced.ca)).length, 2);
  assert.equal(issuer(introduced.ca).id, issuer(opened.ca).id, "the old root still issues");

  const switched = await rotate(introduced.ca, { t: "switch" });
  assert.ok(switched.ok);
  assert.equal(issuer(switched.ca).id, newAuthority.id);
  const newCert = await issueFrontend(issuer(switched.ca));

  const bundle = trustBundlePem(switched.ca);
  const roots = pemCerts(bundle);
  assert.ok(chainVerifies(pemCerts(oldCert.chainPem), roots), "old certificate verifies against the bundle");
  assert.ok(chainVerifies(pemCerts(newCert.chainPem), roots), "new certificate verifies against the bundle");
  assert.ok(await mtls(oldCert, newCert, bundle), "old server, new client");
  assert.ok(await mtls(newCert, oldCert, bundle), "new server, old client");

  const reopened = await openCa(stateDir);
  assert.ok(reopened.ok && reopened.ca !== undefined);
  assert.deepEqual(reopened.ca.rotation, switched.ca.rotation, "the state survives a restart");
  assert.equal(trustBundlePem(reopened.ca), bundle);

  const early = await rotate(switched.ca, { t: "drop", maxLifetimeMs: DAY });
  assert.ok(!early.ok, "the old root stays while its certificates may be valid");
  const dropped = await rotate(switched.ca, { t: "drop", maxLifetimeMs: DAY }, new Date(Date.now() + DAY + 1000));
  assert.ok(dropped.ok);
  const after = pemCerts(trustBundlePem(dropped.ca));
  assert.deepEqual(
    after.map((c) => c.fingerprint256),
    [newAuthority.root.fingerprint256],
  );
  assert.ok(!chainVerifies(pemCerts(oldCert.chainPem), after), "after the drop the old root is no longer trusted");
  assert.ok(!(await mtls(newCert, oldCert, trustBundlePem(dropped.ca))));
  const final = await openCa(stateDir);
  assert.ok(final.ok && final.ca !== undefined);
  assert.deepEqual([...final.ca.authorities.keys()], [newAuthority.id]);
  assert.equal(oldRoot.fingerprint256 === newAuthority.root.fingerprint256, false);
});

test("introduce cross-signs the new root with the old one: a chain through it verifies against either root", async () => {
  const state = tempFiles();
  const opened = await openOrCreateCa(state, { trustDomain: "cluster.local", keyType: "ecdsa" });
  assert.ok(opened.ok);
  const oldRoot = issuer(opened.ca).root;
  const introduced = await rotate(opened.ca, { t: "introduce", authority: await createRootAuthority({ trustDomain: "cluster.local", keyType: "ecdsa" }) });
  assert.ok(introduced.ok);
  const switched = await rotate(introduced.ca, { t: "switch" });
  assert.ok(switched.ok);
  const newAuthority = issuer(switched.ca);
  const [cross] = switched.ca.crossSigned?.get(newAuthority.id) ?? [];
  assert.ok(cross !== undefined, "the new authority carries a cross-signed certificate");
  assert.equal(cross.subject, newAuthority.cert.subject);
  assert.ok(cross.publicKey.equals(newAuthority.cert.publicKey), "for the new root's own key");
  assert.ok(cross.verify(oldRoot.publicKey) && cross.issuer === oldRoot.subject, "signed by the old root");
  // It survives the drop and a reload from disk, so proxies that never got the new bundle keep reaching the TLS port.
  const dropped = await rotate(switched.ca, { t: "drop", maxLifetimeMs: 0, force: true });
  assert.ok(dropped.ok);
  const reopened = await openCa(state);
  assert.ok(reopened.ok && reopened.ca !== undefined);
  assert.equal(reopened.ca.crossSigned?.get(newAuthority.id)?.[0]?.fingerprint256, cross.fingerprint256);
  const leaf = await issueFrontend(newAuthority);
  const chain = [...pemCerts(leaf.chainPem), cross];
  assert.ok(chainVerifies(chain, [oldRoot]), "the old root verifies leaf -> cross-signed new root");
  assert.ok(chainVerifies(pemCerts(leaf.chainPem), [newAuthority.root]), "the new root verifies the leaf alone");
});
