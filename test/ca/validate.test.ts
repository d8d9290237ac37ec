// An organisation's CA files, good and bad: every bad one is refused with a problem that names
// the file, says what is wrong, and never quotes key material.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import { test } from "node:test";
import { loadCaFiles, type CaFileProblem } from "../../src/ca/index.js";
import { makeCa, tempFiles } from "../support/pki.js";

const root = makeCa({ cn: "Example Root" });
const inter = makeCa({ cn: "Mesh Intermediate", parent: root });
const other = makeCa({ cn: "Other Root" });
const leaf = makeCa({ cn: "Not a CA", ca: false, parent: root });
const noSign = makeCa({ cn: "No keyCertSign", keyCertSign: false });
const expired = makeCa({ cn: "Expired Root", fromDays: -400, toDays: -1 });
const future = makeCa({ cn: "Future Root", fromDays: 2, toDays: 400 });
const strictRoot = makeCa({ cn: "Strict Root", pathLen: 0 });
const interUnderStrict = makeCa({ cn: "Second Level", parent: makeCa({ cn: "First Level", parent: strictRoot }) });
const encrypted = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "x" }) as string;
const ecRoot = makeCa({ cn: "EC Root", keyType: "ec" });

interface Case {
  readonly name: string;
  readonly files: Record<string, string>;
  readonly chain?: boolean;
  readonly expect: readonly [CaFileProblem["code"], string][];
}

const cases: Case[] = [
  { name: "a missing key file", files: { "cert.pem": root.certPem }, expect: [["CA_FILE_UNREADABLE", "key.pem"]] },
  { name: "a cert file that is not PEM", files: { "cert.pem": "hello", "key.pem": root.keyPem }, expect: [["CA_CERT_INVALID", "cert.pem"]] },
  { name: "a key file that is not a key", files: { "cert.pem": root.certPem, "key.pem": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" }, expect: [["CA_KEY_INVALID", "key.pem"]] },
  { name: "a passphrase-protected key", files: { "cert.pem": root.certPem, "key.pem": encrypted }, expect: [["CA_KEY_INVALID", "key.pem"]] },
  { name: "a key that is not the certificate's", files: { "cert.pem": root.certPem, "key.pem": other.keyPem }, expect: [["CA_KEY_MISMATCH", "key.pem"]] },
  { name: "a leaf certificate", files: { "cert.pem": leaf.certPem, "key.pem": leaf.keyPem, "chain.pem": root.certPem }, chain: true, expect: [["CA_NOT_A_CA", "cert.pem"]] },
  { name: "a CA without keyCertSign", files: { "cert.pem": noSign.certPem, "key.pem": noSign.keyPem }, expect: [["CA_NOT_A_CA", "cert.pem"]] },
  { name: "an expired root", files: { "cert.pem": expired.certPem, "key.pem": expired.keyPem }, expect: [["CA_EXPIRED", "cert.pem"]] },
  { name: "a root not valid yet", files: { "cert.pem": future.certPem, "key.pem": future.keyPem }, expect: [["CA_NOT_YET_VALID", "cert.pem"]] },
  { name: "an intermediate given as a root", files: { "cert.pem": inter.certPem, "key.pem": inter.keyPem }, expect: [["CA_NOT_A_ROOT", "cert.pem"]] },
  { name: "an intermediate with an empty chain", files: { "cert.pem": inter.certPem, "key.pem": inter.keyPem, "chain.pem": "" }, chain: true, expect: [["CA_NOT_A_ROOT", "chain.pem"]] },
  { name: "a chain from another root", files: { "cert.pem": inter.certPem, "key.pem": inter.keyPem, "chain.pem": other.certPem }, chain: true, expect: [["CA_CHAIN_BROKEN", "chain.pem"]] },
  {
    name: "a chain that stops short of the root",
    files: { "cert.pem": interUnderStrict.certPem, "key.pem": interUnderStrict.keyPem, "chain.pem": makeCa({ cn: "Unrelated", parent: strictRoot }).certPem },
    chain: true,
    expect: [["CA_CHAIN_BROKEN", "chain.pem"]],
  },
  { name: "two certificates in the cert file", files: { "cert.pem": root.certPem + other.certPem, "key.pem": root.keyPem }, expect: [["CA_CERT_INVALID", "cert.pem"]] },
];

for (const c of cases) {
  test(`refused: ${c.name}`, async () => {
    const dir = tempFiles(c.files);
    const r = await loadCaFiles({ cert: join(dir, "cert.pem"), key: join(dir, "key.pem"), ...(c.chain === true ? { chain: join(dir, "chain.pem") } : {}) }, new Date());
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.deepEqual(
      r.problems.map((p) => [p.code, p.file]),
      c.expect.map(([code, file]) => [code, join(dir, file)]),
      JSON.stringify(r.problems),
    );
    for (const p of r.problems) {
      assert.match(p.message, /: /, "says what is wrong and then what to do");
      assert.doesNotMatch(p.message, /PRIVATE KEY|MII/, "never quotes key material");
    }
  });
}

test("refused: a chain whose CA allows fewer CAs below it than stand there", async () => {
  const first = makeCa({ cn: "First Level", parent: strictRoot });
  const second = makeCa({ cn: "Second Level", parent: first });
  const dir = tempFiles({ "cert.pem": second.certPem, "key.pem": second.keyPem, "chain.pem": first.certPem + strictRoot.certPem });
  const r = await loadCaFiles({ cert: join(dir, "cert.pem"), key: join(dir, "key.pem"), chain: join(dir, "chain.pem") }, new Date());
  assert.ok(!r.ok);
  assert.deepEqual(
    r.problems.map((p) => p.code),
    ["CA_PATH_LENGTH"],
  );
});

test("a chain that ends below the root asks for the root", async () => {
  const first = makeCa({ cn: "First Level", parent: root });
  const second = makeCa({ cn: "Second Level", parent: first });
  const dir = tempFiles({ "cert.pem": second.certPem, "key.pem": second.keyPem, "chain.pem": first.certPem });
  const r = await loadCaFiles({ cert: join(dir, "cert.pem"), key: join(dir, "key.pem"), chain: join(dir, "chain.pem") }, new Date());
  assert.ok(!r.ok);
  assert.equal(r.problems[0]?.code, "CA_CHAIN_NO_ROOT");
  assert.match(r.problems[0]!.message, /append the root/);
});

const good = [
  { name: "an RSA root", files: { "cert.pem": root.certPem, "key.pem": root.keyPem }, chain: false, root: root, depth: 0 },
  { name: "an ECDSA root", files: { "cert.pem": ecRoot.certPem, "key.pem": ecRoot.keyPem }, chain: false, root: ecRoot, depth: 0 },
  { name: "an intermediate and its root", files: { "cert.pem": inter.certPem, "key.pem": inter.keyPem, "chain.pem": root.certPem }, chain: true, root, depth: 0 },
  // Istio's cert-chain.pem starts with the CA certificate itself: accepted too.
  { name: "a chain that repeats the intermediate first", files: { "cert.pem": inter.certPem, "key.pem": inter.keyPem, "chain.pem": inter.certPem + root.certPem }, chain: true, root, depth: 0 },
] as const;

for (const c of good) {
  test(`accepted: ${c.name}`, async () => {
    const dir = tempFiles(c.files);
    const r = await loadCaFiles({ cert: join(dir, "cert.pem"), key: join(dir, "key.pem"), ...(c.chain ? { chain: join(dir, "chain.pem") } : {}) }, new Date());
    assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
    assert.equal(r.authority.root.fingerprint256, c.root.cert.fingerprint256);
    assert.equal(r.authority.intermediates.length, c.depth);
  });
}
