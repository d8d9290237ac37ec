// The CA in the state directory: made once, loaded after, keys 0600, files replaced whole.
import assert from "node:assert/strict";
import { readdirSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { caDir, openCa, openOrCreateCa, issuer } from "../../src/ca/index.js";
import { writeFileAtomic } from "../../src/common/files.js";
import { makeCa, tempFiles } from "../support/pki.js";

const mode = (path: string) => statSync(path).mode & 0o777;

test("the CA is created on first open, kept 0600/0700, and the same one is loaded after", async () => {
  const stateDir = tempFiles();
  const first = await openOrCreateCa(stateDir, { trustDomain: "cluster.local", keyType: "ecdsa" });
  assert.ok(first.ok && first.created === true);
  const id = issuer(first.ca).id;
  const dir = join(caDir(stateDir), "authorities", id);
  assert.equal(mode(join(dir, "ca-key.pem")), 0o600);
  assert.equal(mode(caDir(stateDir)), 0o700);
  assert.equal(mode(join(caDir(stateDir), "rotation.json")), 0o600);

  const again = await openOrCreateCa(stateDir, { trustDomain: "cluster.local" });
  assert.ok(again.ok && again.created === false);
  assert.equal(issuer(again.ca).id, id);
  assert.equal(issuer(again.ca).cert.fingerprint256, issuer(first.ca).cert.fingerprint256);
});

test("a stored CA that no longer checks out is refused with the file named", async () => {
  const stateDir = tempFiles();
  const created = await openOrCreateCa(stateDir, { trustDomain: "cluster.local", keyType: "ecdsa" });
  assert.ok(created.ok);
  const keyFile = join(caDir(stateDir), "authorities", issuer(created.ca).id, "ca-key.pem");
  writeFileSync(keyFile, makeCa({ cn: "Other", keyType: "ec" }).keyPem);
  const r = await openCa(stateDir);
  assert.ok(!r.ok);
  assert.deepEqual(
    r.problems.map((p) => [p.code, p.file]),
    [["CA_KEY_MISMATCH", keyFile]],
  );

  writeFileSync(join(caDir(stateDir), "rotation.json"), "{");
  const broken = await openCa(stateDir);
  assert.ok(!broken.ok);
  assert.match(broken.problems[0]!.message, /not a CA rotation state/);
});

test("writeFileAtomic: a reader sees the old file or the new one, never part of either", async () => {
  const dir = tempFiles();
  const path = join(dir, "key.pem");
  const versions = ["a", "b", "c", "d"].map((c) => c.repeat(1 << 20));
  await writeFileAtomic(path, versions[0]!, 0o600);
  let writing = true;
  const reads: Promise<void> = (async () => {
    while (writing) {
      const text = await readFile(path, "utf8");
      assert.ok(versions.includes(text), `a torn read of ${text.length} bytes`);
    }
  })();
  for (let i = 1; i < 40; i++) await writeFileAtomic(path, versions[i % versions.length]!, 0o600);
  writing = false;
  await reads;
  assert.equal(mode(path), 0o600);
  assert.deepEqual(readdirSync(dir), ["key.pem"], "no temporary files left");
});

test("writeFileAtomic: a key is never readable by others, whatever the umask", async () => {
  const dir = tempFiles();
  const old = process.umask(0);
  try {
    await writeFileAtomic(join(dir, "k.pem"), "secret", 0o600);
  } finally {
    process.umask(old);
  }
  assert.equal(mode(join(dir, "k.pem")), 0o600);
});
