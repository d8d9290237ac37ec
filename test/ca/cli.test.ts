// `gitmesh ca|token|cert` as separate processes: exit codes, files and what is printed.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createPrivateKey } from "node:crypto";
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { inspect, loadOrCreateTokenKey, verifyToken } from "../../src/ca/index.js";
import { chainVerifies, makeCa, pemCerts, tempFiles } from "../support/pki.js";

const script = fileURLToPath(new URL("../support/ca-cli.js", import.meta.url));

function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

test("ca init makes a root once; ca show describes it and never prints a key", async () => {
  const state = tempFiles();
  const init = await run("ca", "init", "--state-dir", state, "--trust-domain", "example.org", "--key-type", "ecdsa");
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stdout, /created a new root/);
  const again = await run("ca", "init", "--state-dir", state);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /already exists in .*; nothing changed/);

  const show = await run("ca", "show", "--state-dir", state);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /subject: +O=example\.org, CN=gitmesh root CA/);
  assert.match(show.stdout, /valid: +\S+ to \S+ \(36\d\d days left\)/);
  assert.match(show.stdout, /sha256: +([0-9A-F]{2}:){31}[0-9A-F]{2}/);
  assert.match(show.stdout, /trust bundle: 1 root\(s\)/);
  assert.doesNotMatch(show.stdout + init.stdout, /PRIVATE KEY/);
});

test("ca init writes the trust bundle (0644, the CA's roots); ca bundle prints it; a rotation step writes it again", async () => {
  const state = tempFiles();
  assert.equal((await run("ca", "init", "--state-dir", state, "--key-type", "ecdsa")).code, 0);
  const file = join(state, "trust-bundle.pem");
  assert.equal(statSync(file).mode & 0o777, 0o644);
  const show = await run("ca", "show", "--state-dir", state);
  const rootSha = /sha256: +(\S+)/.exec(show.stdout)?.[1];
  assert.deepEqual(
    pemCerts(readFileSync(file, "utf8")).map((c) => c.fingerprint256),
    [rootSha],
  );
  const bundle = await run("ca", "bundle", "--state-dir", state);
  assert.equal(bundle.code, 0, bundle.stderr);
  assert.equal(bundle.stdout, readFileSync(file, "utf8"), "ca bundle prints the file's contents");

  assert.equal((await run("ca", "rotate", "introduce", "--state-dir", state, "--key-type", "ecdsa")).code, 0);
  assert.equal(pemCerts(readFileSync(file, "utf8")).length, 2, "both roots once the new one is introduced");
  assert.equal((await run("ca", "bundle", "--state-dir", state)).stdout, readFileSync(file, "utf8"));

  rmSync(file);
  assert.equal((await run("ca", "init", "--state-dir", state)).code, 0, "ca init on an existing CA");
  assert.equal(readFileSync(file, "utf8"), (await run("ca", "bundle", "--state-dir", state)).stdout, "writes a missing bundle again");
  const empty = await run("ca", "bundle", "--state-dir", tempFiles());
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /no CA in .*: run gitmesh ca init/);
});

test("cert issue writes what gRPC's file_watcher reads: chain, key 0600, trust bundle", async () => {
  const state = tempFiles();
  assert.equal((await run("ca", "init", "--state-dir", state)).code, 0);
  const out = join(tempFiles(), "certs");
  const r = await run("cert", "issue", "--state-dir", state, "--namespace", "shop", "--service-account", "cart", "--out", out, "--key-type", "ecdsa", "--ttl", "2h");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /issued spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart/);
  assert.equal(statSync(join(out, "private_key.pem")).mode & 0o777, 0o600);
  const chain = pemCerts(readFileSync(join(out, "certificates.pem"), "utf8"));
  const roots = pemCerts(readFileSync(join(out, "ca_certificates.pem"), "utf8"));
  assert.equal(chain.length, 1);
  assert.equal(roots.length, 1);
  assert.ok(chainVerifies(chain, roots));
  assert.deepEqual(inspect(chain[0]!).uriSans, ["spiffe://cluster.local/ns/shop/sa/cart"]);
  assert.ok(chain[0]!.checkPrivateKey(createPrivateKey(readFileSync(join(out, "private_key.pem")))));
  const hours = (Date.parse(chain[0]!.validTo) - Date.now()) / 3_600_000;
  assert.ok(hours > 1.99 && hours <= 2);
});

test("ca init imports an organisation's intermediate; issued chains carry it, bundles its root", async () => {
  const orgRoot = makeCa({ cn: "Example Root" });
  const inter = makeCa({ cn: "Mesh CA", parent: orgRoot });
  const files = tempFiles({ "inter.pem": inter.certPem, "inter-key.pem": inter.keyPem, "chain.pem": orgRoot.certPem });
  const state = tempFiles();
  const init = await run("ca", "init", "--state-dir", state, "--intermediate-cert", join(files, "inter.pem"), "--intermediate-key", join(files, "inter-key.pem"), "--chain", join(files, "chain.pem"));
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stdout, /imported the intermediate/);
  const out = tempFiles();
  assert.equal((await run("cert", "issue", "--state-dir", state, "--namespace", "default", "--service-account", "frontend", "--out", out)).code, 0);
  const chain = pemCerts(readFileSync(join(out, "certificates.pem"), "utf8"));
  const roots = pemCerts(readFileSync(join(out, "ca_certificates.pem"), "utf8"));
  assert.deepEqual(
    chain.slice(1).map((c) => c.fingerprint256),
    [inter.cert.fingerprint256],
  );
  assert.deepEqual(
    roots.map((c) => c.fingerprint256),
    [orgRoot.cert.fingerprint256],
  );
  assert.ok(chainVerifies(chain, roots));
  assert.equal(chain[0]!.publicKey.asymmetricKeyType, "rsa", "RSA by default");

  const reimport = await run("ca", "init", "--state-dir", state, "--root-cert", join(files, "inter.pem"), "--root-key", join(files, "inter-key.pem"));
  assert.equal(reimport.code, 1);
  assert.match(reimport.stderr, /already exists/);
});

test("ca init with bad files exits 1 naming the file and the fix", async () => {
  const leaf = makeCa({ cn: "leaf", ca: false });
  const files = tempFiles({ "cert.pem": leaf.certPem, "key.pem": leaf.keyPem });
  const state = tempFiles();
  const r = await run("ca", "init", "--state-dir", state, "--root-cert", join(files, "cert.pem"), "--root-key", join(files, "key.pem"));
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`${join(files, "cert.pem")}: "O=Example Org, CN=leaf" is not a CA certificate .*: give .* \\[CA_NOT_A_CA\\]`));
  const show = await run("ca", "show", "--state-dir", state);
  assert.equal(show.code, 1, "nothing was saved");
  assert.match(show.stderr, /no CA in .*: run gitmesh ca init/);
});

test("token issue prints a token the state directory's key verifies", async () => {
  const state = tempFiles();
  const r = await run("token", "issue", "--state-dir", state, "--namespace", "default", "--service-account", "frontend", "--ttl", "1h");
  assert.equal(r.code, 0, r.stderr);
  const v = verifyToken(await loadOrCreateTokenKey(state), r.stdout.trim());
  assert.ok(v.ok && v.namespace === "default" && v.serviceAccount === "frontend");
  assert.ok(Math.abs(v.expiresAt.getTime() - Date.now() - 3_600_000) < 5000);
  assert.deepEqual(v.binding, { t: "any" });
  for (const [flags, binding] of [
    [["--node-id", "sidecar~frontend-1.default"], { t: "node", nodeId: "sidecar~frontend-1.default" }],
    [["--workload-group", "frontend"], { t: "workload-group", name: "frontend" }],
  ] as const) {
    const bound = await run("token", "issue", "--state-dir", state, "--namespace", "default", "--service-account", "frontend", ...flags);
    assert.equal(bound.code, 0, bound.stderr);
    const b = verifyToken(await loadOrCreateTokenKey(state), bound.stdout.trim());
    assert.ok(b.ok);
    assert.deepEqual(b.binding, binding);
  }
});

test("token inspect, revoke (by token or id) and list-revoked", async () => {
  const state = tempFiles();
  const issue = (...more: string[]) => run("token", "issue", "--state-dir", state, "--namespace", "shop", "--service-account", "cart", ...more);
  const token = (await issue("--workload-group", "cart")).stdout.trim();
  assert.equal((await run("token", "list-revoked", "--state-dir", state)).stdout.trim(), "no revoked tokens");
  const before = await run("token", "inspect", token, "--state-dir", state);
  assert.equal(before.code, 0, before.stderr);
  const id = /id: +([0-9a-f]{32})/.exec(before.stdout)?.[1];
  assert.ok(id !== undefined, before.stdout);
  assert.match(before.stdout, /identity: +shop\/cart/);
  assert.match(before.stdout, /bound to: +WorkloadGroup cart/);
  assert.match(before.stdout, /revoked: +no/);

  const revoked = await run("token", "revoke", token, "--state-dir", state);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.match(revoked.stdout, new RegExp(`revoked token ${id} \\(shop/cart, WorkloadGroup cart, expires `));
  assert.match((await run("token", "inspect", token, "--state-dir", state)).stdout, /revoked: +yes/);
  assert.equal(statSync(join(state, "ca", "revoked-tokens", `${id}.json`)).mode & 0o777, 0o600);

  const other = "0123456789abcdef0123456789abcdef";
  assert.equal((await run("token", "revoke", other, "--state-dir", state)).code, 0);
  const list = await run("token", "list-revoked", "--state-dir", state);
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(
    list.stdout.trim().split("\n").map((l) => l.split(" ")[0]),
    [id, other],
  );
  assert.match(list.stdout, new RegExp(`${other} +revoked \\S+ +\\(revoked by id\\)`));

  const forged = await run("token", "revoke", `${token.slice(0, -2)}AA`, "--state-dir", state);
  assert.equal(forged.code, 1);
  assert.match(forged.stderr, /not a token of this gitmesh \(bad-signature/);
});

for (const [name, args] of [
  ["no subcommand", ["ca"]],
  ["an unknown subcommand", ["token", "renew"]],
  ["revoke without a token", ["token", "revoke"]],
  ["revoke with two", ["token", "revoke", "a", "b"]],
  ["a token bound two ways", ["token", "issue", "--namespace", "a", "--service-account", "b", "--node-id", "n", "--workload-group", "g"]],
  ["a node id with a space", ["token", "issue", "--namespace", "a", "--service-account", "b", "--node-id", "n 1"]],
  ["a group that is not a name", ["token", "issue", "--namespace", "a", "--service-account", "b", "--workload-group", "G_1"]],
  ["an unknown option", ["ca", "show", "--verbose"]],
  ["a missing service account", ["token", "issue", "--namespace", "default"]],
  ["an invalid namespace", ["token", "issue", "--namespace", "Default", "--service-account", "x"]],
  ["a bad ttl", ["token", "issue", "--namespace", "a", "--service-account", "b", "--ttl", "soon"]],
  ["a bad key type", ["cert", "issue", "--namespace", "a", "--service-account", "b", "--out", "x", "--key-type", "dsa"]],
  ["no --out", ["cert", "issue", "--namespace", "a", "--service-account", "b"]],
  ["half a root import", ["ca", "init", "--root-cert", "x.pem"]],
  ["root and intermediate together", ["ca", "init", "--root-cert", "a", "--root-key", "b", "--intermediate-cert", "c", "--intermediate-key", "d", "--chain", "e"]],
] as const) {
  test(`usage error (exit 2): ${name}`, async () => {
    const r = await run(...args, "--state-dir", tempFiles());
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^gitmesh: /);
  });
}

test("ca rotate takes the steps in order and refuses them out of order", async () => {
  const state = tempFiles();
  assert.equal((await run("ca", "init", "--state-dir", state, "--key-type", "ecdsa")).code, 0);
  const early = await run("ca", "rotate", "switch", "--state-dir", state);
  assert.equal(early.code, 1, "nothing to switch to yet");
  assert.match(early.stderr, /cannot switch/);
  const introduce = await run("ca", "rotate", "introduce", "--state-dir", state, "--key-type", "ecdsa");
  assert.equal(introduce.code, 0, introduce.stderr);
  assert.match(introduce.stdout, /trust bundle: 2 root\(s\)/);
  assert.equal((await run("ca", "rotate", "switch", "--state-dir", state)).code, 0);
  const tooSoon = await run("ca", "rotate", "drop", "--state-dir", state);
  assert.equal(tooSoon.code, 1, "certificates from the old root may still be in use");
  const dropped = await run("ca", "rotate", "drop", "--force", "--state-dir", state);
  assert.equal(dropped.code, 0, dropped.stderr);
  assert.match(dropped.stdout, /trust bundle: 1 root\(s\)/);
  const usage = await run("ca", "rotate", "sideways", "--state-dir", state);
  assert.equal(usage.code, 2);
});

test("the trust domain is one setting per state directory: ca init records it, cert issue takes it, a conflicting flag is refused", async () => {
  const state = tempFiles();
  const out = join(tempFiles(), "certs");
  assert.equal((await run("ca", "init", "--state-dir", state, "--trust-domain", "corp.example", "--key-type", "ecdsa")).code, 0);
  const issued = await run("cert", "issue", "--state-dir", state, "--namespace", "shop", "--service-account", "web", "--key-type", "ecdsa", "--out", out);
  assert.equal(issued.code, 0, issued.stderr);
  assert.match(issued.stdout, /issued spiffe:\/\/corp\.example\/ns\/shop\/sa\/web/);
  const conflicting = await run("cert", "issue", "--state-dir", state, "--namespace", "shop", "--service-account", "web", "--trust-domain", "cluster.local", "--out", out);
  assert.equal(conflicting.code, 2);
  assert.match(conflicting.stderr, /--trust-domain cluster\.local conflicts with the trust domain this mesh was started with, corp\.example/);
});
