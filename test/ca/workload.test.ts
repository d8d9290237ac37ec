// Workload certificates as a verifier sees them: node:crypto's X509Certificate for SAN, validity
// and the chain, the DER for key usage, EKU and basic constraints.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createRootAuthority, inspect, issueWorkloadCertificate, validateCaFiles, type Authority } from "../../src/ca/index.js";
import { OID } from "../../src/ca/x509.js";
import { chainVerifies, frontend, makeCa, pemCerts } from "../support/pki.js";

const HOUR = 3_600_000;

/** An organisation root with the mesh's intermediate under it. */
function orgIntermediate(): Authority {
  const orgRoot = makeCa({ cn: "Example Root" });
  const inter = makeCa({ cn: "Mesh Intermediate", parent: orgRoot, pathLen: 0 });
  const r = validateCaFiles({ cert: { file: "ca-cert.pem", text: inter.certPem }, key: { file: "ca-key.pem", text: inter.keyPem }, chain: { file: "chain.pem", text: orgRoot.certPem } });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
  return r.authority;
}

const meshRoot = await createRootAuthority({ trustDomain: "cluster.local" });
const underOrg = orgIntermediate();

const cases = [
  { name: "RSA under the mesh root", issuer: meshRoot, keyType: "rsa", usage: [0, 2], chainLength: 1 },
  { name: "ECDSA under the mesh root", issuer: meshRoot, keyType: "ecdsa", usage: [0], chainLength: 1 },
  { name: "RSA under an organisation's intermediate", issuer: underOrg, keyType: "rsa", usage: [0, 2], chainLength: 2 },
  { name: "ECDSA under an organisation's intermediate", issuer: underOrg, keyType: "ecdsa", usage: [0], chainLength: 2 },
] as const;

for (const c of cases) {
  test(`workload certificate: ${c.name}`, async () => {
    const now = new Date();
    const issued = await issueWorkloadCertificate(c.issuer, frontend, { keyType: c.keyType, now });
    const chain = pemCerts(issued.chainPem);
    assert.equal(chain.length, c.chainLength, "leaf, then the intermediates; never the root");
    const leaf = chain[0]!;

    assert.equal(leaf.subjectAltName, "URI:spiffe://cluster.local/ns/default/sa/frontend");
    const facts = inspect(leaf);
    assert.deepEqual(facts.uriSans, ["spiffe://cluster.local/ns/default/sa/frontend"]);
    assert.ok(facts.critical.includes(OID.subjectAltName), "SAN critical: the subject is empty");
    assert.equal(leaf.subject ?? "", "", "empty subject, as Istio's");

    const from = Date.parse(leaf.validFrom);
    const to = Date.parse(leaf.validTo);
    assert.ok(from < now.getTime() && from >= now.getTime() - 10 * 60_000, "notBefore set back a little");
    assert.ok(Math.abs(to - (now.getTime() + 24 * HOUR)) < 1000, "24 h by default");
    assert.equal(issued.notAfter.getTime(), to);

    assert.equal(leaf.ca, false);
    assert.deepEqual(facts.basicConstraints, { ca: false });
    assert.deepEqual(facts.keyUsage, c.usage);
    assert.deepEqual(facts.extKeyUsage, [OID.serverAuth, OID.clientAuth]);
    assert.ok(facts.subjectKeyId !== undefined && facts.subjectKeyId.length === 20);
    assert.deepEqual(facts.authorityKeyId, inspect(c.issuer.cert).subjectKeyId);

    assert.ok(chainVerifies(chain, [c.issuer.root]), "chain verifies to the root");
    assert.ok(!chainVerifies(chain, [makeCa({ cn: "Stranger" }).cert]), "and not to another root");
    assert.ok(leaf.checkPrivateKey((await import("node:crypto")).createPrivateKey(issued.keyPem)), "the key is the certificate's");
    assert.equal(leaf.publicKey.asymmetricKeyType, c.keyType === "rsa" ? "rsa" : "ec");
  });
}

test("serials are random and lifetimes configurable, never past the issuer's expiry", async () => {
  const a = await issueWorkloadCertificate(meshRoot, frontend, { keyType: "ecdsa", lifetimeMs: HOUR });
  const b = await issueWorkloadCertificate(meshRoot, frontend, { keyType: "ecdsa", lifetimeMs: HOUR });
  assert.notEqual(a.serialHex, b.serialHex);
  assert.ok(Math.abs(a.notAfter.getTime() - a.issuedAt.getTime() - HOUR) < 1000);

  const shortRoot = await createRootAuthority({ trustDomain: "cluster.local", keyType: "ecdsa", lifetimeMs: 2 * HOUR });
  const clamped = await issueWorkloadCertificate(shortRoot, frontend, { keyType: "ecdsa" });
  assert.equal(clamped.notAfter.getTime(), Date.parse(shortRoot.cert.validTo));
});

test("the mesh root is a self-signed CA that may sign certificates, ten years by default", async () => {
  const root = await createRootAuthority({ trustDomain: "example.org", keyType: "ecdsa" });
  assert.equal(root.cert.ca, true);
  assert.ok(root.cert.checkIssued(root.cert) && root.cert.verify(root.cert.publicKey));
  assert.match(root.cert.subject, /O=example\.org/);
  const facts = inspect(root.cert);
  assert.deepEqual(facts.basicConstraints, { ca: true });
  assert.ok(facts.keyUsage?.includes(5), "keyCertSign");
  const years = (Date.parse(root.cert.validTo) - Date.now()) / (365 * 24 * HOUR);
  assert.ok(years > 9.99 && years <= 10);
});
