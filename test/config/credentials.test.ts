// Gateway credentials read from a directory: good ones served, broken ones reported by file.
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { readCredentials } from "../../src/config/credentials.js";

const fixtures = fileURLToPath(new URL("../../../test/golden/sidecars/credentials/", import.meta.url));

test("credentials are read by name; broken ones are left out with the file and the fix", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gitmesh-creds-"));
  cpSync(join(fixtures, "shop-cert"), join(dir, "good"), { recursive: true });
  cpSync(join(fixtures, "partner-mtls"), join(dir, "mutual"), { recursive: true });
  mkdirSync(join(dir, "no-key"));
  cpSync(join(fixtures, "shop-cert/tls.crt"), join(dir, "no-key/tls.crt"));
  mkdirSync(join(dir, "wrong-key"));
  cpSync(join(fixtures, "shop-cert/tls.crt"), join(dir, "wrong-key/tls.crt"));
  cpSync(join(fixtures, "partner-mtls/tls.key"), join(dir, "wrong-key/tls.key"));
  mkdirSync(join(dir, "garbage"));
  writeFileSync(join(dir, "garbage/tls.crt"), "not a certificate");
  writeFileSync(join(dir, "garbage/tls.key"), "not a key");
  mkdirSync(join(dir, "unrelated-directory"));

  const read = await readCredentials(dir);
  assert.deepEqual([...read.credentials.keys()], ["good", "mutual"]);
  assert.equal(read.credentials.get("good")?.key, readFileSync(join(fixtures, "shop-cert/tls.key"), "utf8"));
  assert.equal(read.credentials.get("mutual")?.ca, readFileSync(join(fixtures, "partner-mtls/ca.crt"), "utf8"));
  const problems = read.problems.join("\n");
  assert.match(problems, /garbage\/tls\.crt is not a PEM certificate/);
  assert.match(problems, /no-key\/tls\.key is missing: put the private key \(PEM\) there/);
  assert.match(problems, /wrong-key\/tls\.key does not belong to the certificate in tls\.crt/);
  assert.equal(read.problems.length, 3, "a directory without credential files is not a problem");
});

test("a credentials directory that cannot be read is one problem, not a crash", async () => {
  const read = await readCredentials(join(tmpdir(), "gitmesh-no-such-dir-for-credentials"));
  assert.equal(read.credentials.size, 0);
  assert.match(read.problems[0] ?? "", /cannot read the credentials directory/);
});
