// Workload certificates issued per second (issue 5 target: 200 or better), for two ways of
// building and signing an X.509 certificate with the same extensions:
//   forge:  node-forge's certificate object and cert.sign (pure-JavaScript RSA; no ECDSA keys)
//   native: forge's ASN.1 for the TBSCertificate, node:crypto.sign for the signature (src/ca)
// "issue" includes the workload key's generation (node:crypto, off the event loop, N at a time);
// "sign" is the certificate alone, for a key made beforehand.
//
//   node dist/bench/ca-issue.js [--seconds 3] [--concurrency 4] [--ca-key rsa|ecdsa]
import { generateKeyPairSync, X509Certificate, type KeyObject } from "node:crypto";
import forge from "node-forge";
import { createRootAuthority, generateKey, issueWorkloadCertificate, signWorkloadCertificate, type KeyType } from "../src/ca/index.js";
import { privateKeyPem } from "../src/ca/keys.js";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const seconds = Number(option("seconds", "3"));
const concurrency = Number(option("concurrency", "4"));
const caKey = option("ca-key", "rsa") as KeyType;
const identity = { trustDomain: "cluster.local", namespace: "default", serviceAccount: "frontend" };

/** Runs `batch` (which issues `concurrency` certificates) until `seconds` pass; certificates per second. */
async function rate(batch: () => Promise<void> | void): Promise<number> {
  await batch(); // warm-up
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    await batch();
    n += concurrency;
  }
  return n / ((performance.now() - t0) / 1000);
}

function forgeSign(caForgeKey: forge.pki.rsa.PrivateKey, caForgeCert: forge.pki.Certificate, publicKey: KeyObject): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }) as string);
  cert.serialNumber = forge.util.bytesToHex(forge.random.getBytesSync(16)).replace(/^[89a-f]/, "4");
  cert.validity.notBefore = new Date(Date.now() - 300_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setIssuer(caForgeCert.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true, clientAuth: true },
    { name: "subjectAltName", altNames: [{ type: 6, value: "spiffe://cluster.local/ns/default/sa/frontend" }], critical: true },
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: caForgeCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caForgeKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

const ca = await createRootAuthority({ trustDomain: "cluster.local", keyType: caKey });
const times = (f: () => unknown) => () => {
  for (let i = 0; i < concurrency; i++) f();
};
const parallel = (f: () => Promise<unknown>) => async () => {
  await Promise.all(Array.from({ length: concurrency }, f));
};
const presets: Record<KeyType, KeyObject> = {
  rsa: generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey,
  ecdsa: generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey,
};

const rows: [string, string, string, string][] = [];
const fmt = (r: number | undefined) => (r === undefined ? "n/a" : r.toFixed(r < 100 ? 1 : 0));

if (caKey === "rsa") {
  const caForgeKey = forge.pki.privateKeyFromPem(privateKeyPem(ca.key)) as forge.pki.rsa.PrivateKey;
  const caForgeCert = forge.pki.certificateFromPem(ca.cert.toString());
  // Check once that forge's output is a certificate node:crypto accepts, under our root.
  const sample = new X509Certificate(forgeSign(caForgeKey, caForgeCert, presets.rsa));
  if (!sample.verify(ca.cert.publicKey)) throw new Error("forge certificate does not verify");
  for (const kt of ["rsa", "ecdsa"] as const) {
    let supported = true;
    try {
      forgeSign(caForgeKey, caForgeCert, presets[kt]);
    } catch {
      supported = false; // forge's certificates carry RSA public keys only
    }
    const sign = supported ? await rate(times(() => forgeSign(caForgeKey, caForgeCert, presets[kt]))) : undefined;
    const issue = supported ? await rate(parallel(async () => forgeSign(caForgeKey, caForgeCert, (await generateKey(kt)).publicKey))) : undefined;
    rows.push(["forge cert.sign", kt, fmt(issue), fmt(sign)]);
  }
}
for (const kt of ["rsa", "ecdsa"] as const) {
  const sign = await rate(times(() => signWorkloadCertificate(ca, presets[kt], identity)));
  const issue = await rate(parallel(() => issueWorkloadCertificate(ca, identity, { keyType: kt })));
  rows.push(["forge ASN.1 + node:crypto.sign", kt, fmt(issue), fmt(sign)]);
}

console.log(`CA key: ${caKey === "rsa" ? "RSA 2048" : "ECDSA P-256"}; ${seconds} s per figure; concurrency ${concurrency}; node ${process.version}`);
console.log("| approach | workload key | issue/s (key gen + sign) | sign/s (certificate only) |");
console.log("| --- | --- | ---: | ---: |");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
