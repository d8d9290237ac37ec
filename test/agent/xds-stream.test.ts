// The agent's own xDS client against a real gitmesh xDS server in this process: what it is sent is
// applied before it is ACKed; a secret it cannot use is NACKed with the reason (the others of the
// response are taken), and its files stay as they were; a wildcard Cluster subscription follows additions and removals.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { SecretFiles } from "../../src/agent/secret-files.js";
import { AgentStream, type DeltaUpdate } from "../../src/agent/xds-stream.js";
import { createRootAuthority, issueWorkloadCertificate } from "../../src/ca/index.js";
import { CERT_FILES } from "../../src/cli/ca-usage.js";
import { TypeUrl } from "../../src/envoy/index.js";
import { silentLogger } from "../../src/log.js";
import { resource, type NackRecord } from "../../src/xds/index.js";
import { edsCluster, endpoints, snapshot } from "../support/fixtures.js";
import { tempDir } from "../support/git-repo.js";
import { startServer } from "../support/harness.js";

const identity = { trustDomain: "cluster.local", namespace: "shop", serviceAccount: "ratings" };
const node = { id: "agent-under-test", cluster: "test" };

function workloadSecret(chainPem: string, keyPem: string) {
  return resource("envoy.extensions.transport_sockets.tls.v3.Secret", "default", { name: "default", tls_certificate: { certificate_chain: { inline_string: chainPem }, private_key: { inline_string: keyPem } } });
}
function rootSecret(bundlePem: string) {
  return resource("envoy.extensions.transport_sockets.tls.v3.Secret", "ROOTCA", { name: "ROOTCA", validation_context: { trusted_ca: { inline_string: bundlePem } } });
}

/** Resolves with the next value `register` hands over. */
function next<T>(register: (deliver: (v: T) => void) => void): Promise<T> {
  return new Promise((resolve) => register(resolve));
}

test("a secret the agent cannot use is NACKed with the reason and writes no file; the good ones are written and ACKed", async (t) => {
  let onNack: (r: NackRecord) => void = () => {};
  const server = await startServer(t, { onNack: (r) => onNack(r) });
  const ca = await createRootAuthority({ trustDomain: "cluster.local", keyType: "ecdsa" });
  const bundle = ca.cert.toString();
  const [a, b] = await Promise.all([issueWorkloadCertificate(ca, identity, { keyType: "ecdsa" }), issueWorkloadCertificate(ca, identity, { keyType: "ecdsa" })]);
  const dir = await tempDir("gmq-certs-");
  const files = new SecretFiles(dir, silentLogger);
  let applied: (u: DeltaUpdate) => void = () => {};
  const stream = new AgentStream({
    address: server.address,
    node,
    subscribe: { [TypeUrl.Secret]: ["default", "ROOTCA"] },
    onUpdate: async (u) => {
      const result = await files.apply(u);
      applied(u);
      return result;
    },
    logger: silentLogger,
  });
  t.after(() => stream.close());

  // A chain with another certificate's key, beside a good bundle: the bundle is taken, the chain
  // refused (a partial NACK, as Envoy's), and no certificate file written.
  server.cache.set(node.id, snapshot(workloadSecret(a.chainPem, b.keyPem), rootSecret(bundle)));
  const nacked = next<NackRecord>((d) => (onNack = d));
  stream.start();
  const nack = await nacked;
  assert.equal(nack.type, "SDS");
  assert.equal(nack.message, "secret default: the certificate and its key do not match");
  assert.deepEqual(readdirSync(dir), [CERT_FILES.bundle], "the bundle only");
  assert.ok(!files.complete);

  // The next content is taken: the certificate and its key, 0600.
  const written = next<DeltaUpdate>((d) => (applied = d));
  server.cache.set(node.id, snapshot(workloadSecret(a.chainPem, a.keyPem), rootSecret(bundle)));
  assert.deepEqual((await written).resources.map((r) => r.name), ["default"]);
  assert.equal(statSync(join(dir, CERT_FILES.key)).mode & 0o777, 0o600);
  assert.equal(readFileSync(join(dir, CERT_FILES.chain), "utf8"), a.chainPem);
  assert.equal(readFileSync(join(dir, CERT_FILES.key), "utf8"), a.keyPem);
  assert.equal(readFileSync(join(dir, CERT_FILES.bundle), "utf8"), bundle);
  assert.ok(files.complete);
  assert.equal(files.bundlePem, bundle);
});

test("a wildcard Cluster subscription gets every cluster, then additions and removals", async (t) => {
  const server = await startServer(t);
  const clusters = new Set<string>();
  let applied: () => void = () => {};
  const stream = new AgentStream({
    address: server.address,
    node,
    subscribe: { [TypeUrl.Cluster]: ["*"] },
    onUpdate: (u) => {
      for (const r of u.resources) clusters.add(r.name);
      for (const n of u.removed) clusters.delete(n);
      applied();
    },
    logger: silentLogger,
  });
  t.after(() => stream.close());
  const c = (host: string) => edsCluster(`outbound|80||${host}`);
  const e = (host: string) => endpoints(`outbound|80||${host}`, "10.0.0.1:80");
  const settled = (want: string[]) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if ([...clusters].sort().join() === want.join()) resolve();
      };
      applied = check;
      check();
    });
  server.cache.set(node.id, snapshot(c("a.x"), e("a.x"), c("b.x"), e("b.x")));
  stream.start();
  await settled(["outbound|80||a.x", "outbound|80||b.x"]);
  server.cache.set(node.id, snapshot(c("b.x"), e("b.x"), c("c.x"), e("c.x")));
  await settled(["outbound|80||b.x", "outbound|80||c.x"]);
});
