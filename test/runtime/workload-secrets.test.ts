// Workload secrets under the races and floods an outside run found (issue 9): a root switch while a
// certificate is being issued, a proxy that leaves meanwhile, one credential opening hundreds of
// node ids, and a certificate that would outlive its credential. Issuance is held at will here
// (the `issue` option) so each race is taken exactly, every time.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { test } from "node:test";
import { createRootAuthority, issuer, issueWorkloadCertificate, openOrCreateCa, rotate, type IssuedCertificate, type MeshCa } from "../../src/ca/index.js";
import { silentLogger } from "../../src/log.js";
import { IssuanceQueue, WorkloadSecrets } from "../../src/runtime/index.js";
import type { StreamIdentity } from "../../src/xds/index.js";
import { tempFiles } from "../support/pki.js";

type Issue = typeof issueWorkloadCertificate;

/** An issue function whose calls wait until the test lets each go; records who it issued for and under which issuer. */
function heldIssuance() {
  const calls: { identity: string; issuerId: string; release: () => void }[] = [];
  const waiting: (() => void)[] = [];
  const issue: Issue = async (authority, identity, options) => {
    await new Promise<void>((resolve) => {
      calls.push({ identity: `${identity.namespace}/${identity.serviceAccount}`, issuerId: authority.id, release: resolve });
      for (const w of waiting.splice(0)) w();
    });
    return issueWorkloadCertificate(authority, identity, { ...options, keyType: "ecdsa" });
  };
  /** Resolves once `n` calls have started. */
  const started = (n: number) =>
    new Promise<void>((resolve) => {
      const check = () => (calls.length >= n ? resolve() : waiting.push(check));
      check();
    });
  return { issue, calls, started };
}

async function ca(): Promise<MeshCa> {
  const opened = await openOrCreateCa(tempFiles(), { trustDomain: "cluster.local", keyType: "ecdsa" });
  assert.ok(opened.ok);
  return opened.ca;
}

async function switched(old: MeshCa): Promise<MeshCa> {
  const introduced = await rotate(old, { t: "introduce", authority: await createRootAuthority({ trustDomain: "cluster.local", keyType: "ecdsa" }) });
  assert.ok(introduced.ok);
  const r = await rotate(introduced.ca, { t: "switch" });
  assert.ok(r.ok);
  return r.ca;
}

/** Resolves with the proxy's certificate the next time its secrets change. */
function changed(secrets: WorkloadSecrets, proxy: string, identity: StreamIdentity): Promise<IssuedCertificate["chainPem"]> {
  return new Promise((resolve) =>
    secrets.onChanged((p) => {
      if (p !== proxy) return;
      const own = secrets.secretsFor(proxy, identity);
      const d = own.secrets.find((s) => s.name === "default");
      if (own.ready && d !== undefined) resolve(String((d.message as { tls_certificate: { certificate_chain: { inline_string: string } } }).tls_certificate.certificate_chain.inline_string));
    }),
  );
}

const web: StreamIdentity = { namespace: "shop", serviceAccount: "web" };

test("a root switch while a certificate is being issued: the proxy ends on the new issuer", async () => {
  const before = await ca();
  const held = heldIssuance();
  const secrets = new WorkloadSecrets({ ca: before, trustDomain: "cluster.local", keyType: "ecdsa", logger: silentLogger, issue: held.issue });
  const done = changed(secrets, "p1", web);
  secrets.secretsFor("p1", web);
  await held.started(1);
  const after = await switched(before);
  secrets.setCa(after);
  held.calls[0]?.release(); // the old issuer's certificate arrives after the switch: it must not count
  await held.started(2);
  assert.equal(held.calls[1]?.issuerId, issuer(after).id, "issued again, under the new issuer");
  held.calls[1]?.release();
  const chain = new X509Certificate(await done);
  assert.ok(chain.checkIssued(issuer(after).cert), "the certificate the proxy holds is from the new issuer");
  assert.equal(secrets.stats.issued, 1, "the stale one was discarded, not served");
  secrets.close();
});

test("a proxy that leaves while its certificate is being issued gets nothing, and nothing is issued for it again", async () => {
  const held = heldIssuance();
  const secrets = new WorkloadSecrets({ ca: await ca(), trustDomain: "cluster.local", keyType: "ecdsa", logger: silentLogger, issue: held.issue });
  let changes = 0;
  secrets.onChanged(() => changes++);
  secrets.secretsFor("gone", web);
  await held.started(1);
  secrets.forget("gone");
  held.calls[0]?.release();
  // Another proxy's issuance after it proves the queue moved on past the departed one.
  const other = changed(secrets, "p2", web);
  secrets.secretsFor("p2", web);
  await held.started(2);
  held.calls[1]?.release();
  await other;
  assert.equal(changes, 1, "only p2 changed");
  assert.equal(held.calls.length, 2, "no issuance for the departed proxy after it left");
  assert.equal(secrets.stats.held, 1);
  secrets.close();
});

test("300 node ids of one credential, opened and abandoned, cost nothing; a proxy of another identity is next", async () => {
  const held = heldIssuance();
  const secrets = new WorkloadSecrets({ ca: await ca(), trustDomain: "cluster.local", keyType: "ecdsa", logger: silentLogger, issue: held.issue, concurrency: 1 });
  const attacker: StreamIdentity = { namespace: "attacker-ns", serviceAccount: "nobody" };
  secrets.secretsFor("a-0", attacker);
  await held.started(1); // one issuance is under way when the flood comes
  for (let i = 1; i <= 300; i++) secrets.secretsFor(`a-${i}`, attacker);
  for (let i = 1; i <= 300; i++) secrets.forget(`a-${i}`);
  const legit = changed(secrets, "web-1", web);
  secrets.secretsFor("web-1", web);
  held.calls[0]?.release();
  await held.started(2);
  assert.equal(held.calls[1]?.identity, "shop/web", "the legitimate proxy is issued next");
  held.calls[1]?.release();
  await legit;
  assert.equal(held.calls.length, 2, "nothing was issued for the abandoned node ids");
  secrets.close();
});

test("an identity flooding the queue with live node ids waits behind itself: another identity is served within one turn", async () => {
  const held = heldIssuance();
  const secrets = new WorkloadSecrets({ ca: await ca(), trustDomain: "cluster.local", keyType: "ecdsa", logger: silentLogger, issue: held.issue, concurrency: 1 });
  const attacker: StreamIdentity = { namespace: "attacker-ns", serviceAccount: "nobody" };
  for (let i = 0; i < 300; i++) secrets.secretsFor(`a-${i}`, attacker);
  await held.started(1);
  const legit = changed(secrets, "web-1", web);
  secrets.secretsFor("web-1", web);
  held.calls[0]?.release();
  await held.started(2);
  assert.equal(held.calls[1]?.identity, "shop/web", "its turn comes right after the issuance under way");
  held.calls[1]?.release();
  await legit;
  await held.started(3);
  assert.equal(held.calls[2]?.identity, "attacker-ns/nobody", "then the flood goes on");
  assert.equal(secrets.stats.waiting, 298, "in its own line");
  secrets.close();
});

test("no certificate outlives the credential it was issued for", async () => {
  const secrets = new WorkloadSecrets({ ca: await ca(), trustDomain: "cluster.local", keyType: "ecdsa", logger: silentLogger, lifetimeMs: 24 * 3600_000 });
  const expiresAt = new Date(Date.now() + 3600_000);
  const identity: StreamIdentity = { ...web, expiresAt };
  const pem = changed(secrets, "p1", identity);
  secrets.secretsFor("p1", identity);
  const cert = new X509Certificate(await pem);
  assert.ok(Date.parse(cert.validTo) <= expiresAt.getTime(), `${cert.validTo} is after the token's expiry ${expiresAt.toISOString()}`);
  secrets.close();
});

test("the issuance queue serves the identity served longest ago, and drops what is removed", async () => {
  const q = new IssuanceQueue(1);
  const order: string[] = [];
  let release: () => void = () => {};
  const job = (proxy: string, identity: string) => ({
    proxy,
    identity,
    run: () =>
      new Promise<void>((resolve) => {
        order.push(proxy);
        release = resolve;
      }),
  });
  q.add(job("a1", "A")); // runs at once
  for (const p of ["a2", "a3", "a4"]) q.add(job(p, "A"));
  q.add(job("b1", "B"));
  q.add(job("c1", "C"));
  q.remove("a3");
  for (let i = 0; i < 5; i++) {
    const r = release;
    r();
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.deepEqual(order, ["a1", "b1", "c1", "a2", "a4"], "the identity served longest ago goes next");
  q.stop();
});
