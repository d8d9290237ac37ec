// An organisation's PKI for CA tests: roots and intermediates with whatever flaws a test needs.
import { generateKeyPairSync, X509Certificate, type KeyObject } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { issueWorkloadCertificate, type Authority, type IssuedCertificate } from "../../src/ca/index.js";
import { ext, KeyUsage, keyIdentifier, nameDer, OID, randomSerial, signCertificate, toPem } from "../../src/ca/x509.js";
import { inspect } from "../../src/ca/inspect.js";

export interface TestCa {
  readonly cert: X509Certificate;
  readonly key: KeyObject;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface CaSpec {
  readonly cn: string;
  /** Signed by this CA; self-signed when absent. */
  readonly parent?: TestCa;
  readonly ca?: boolean;
  readonly keyCertSign?: boolean;
  readonly pathLen?: number;
  readonly keyType?: "rsa" | "ec";
  /** Validity as offsets from now, in days (default -1 to 3650). */
  readonly fromDays?: number;
  readonly toDays?: number;
}

const DAY = 86_400_000;

export function makeCa(spec: CaSpec): TestCa {
  const { privateKey, publicKey } = spec.keyType === "ec" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("rsa", { modulusLength: 2048 });
  const subject = nameDer([
    { oid: OID.organization, value: "Example Org" },
    { oid: OID.commonName, value: spec.cn },
  ]);
  const keyId = keyIdentifier(publicKey);
  const now = Date.now();
  const der = signCertificate(
    {
      serial: randomSerial(),
      issuer: spec.parent === undefined ? subject : inspect(spec.parent.cert).subjectName,
      subject,
      notBefore: new Date(now + (spec.fromDays ?? -1) * DAY),
      notAfter: new Date(now + (spec.toDays ?? 3650) * DAY),
      publicKey,
      extensions: [
        ext.basicConstraints(spec.ca ?? true, spec.pathLen),
        ext.keyUsage(spec.keyCertSign === false ? [KeyUsage.digitalSignature] : [KeyUsage.keyCertSign, KeyUsage.cRLSign]),
        ext.subjectKeyIdentifier(keyId),
        ext.authorityKeyIdentifier(spec.parent === undefined ? keyId : keyIdentifier(spec.parent.cert.publicKey)),
      ],
    },
    spec.parent?.key ?? privateKey,
  );
  const certPem = toPem(der);
  return { cert: new X509Certificate(certPem), key: privateKey, certPem, keyPem: privateKey.export({ type: "pkcs8", format: "pem" }) as string };
}

/** Writes named files into a new temporary directory; returns its path. */
export function tempFiles(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "gitmesh-ca-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** Splits a PEM bundle into certificates, in order. */
export function pemCerts(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((b) => new X509Certificate(b));
}

/**
 * Whether a chain (leaf first) verifies to one of the roots: each certificate issued and signed
 * by the next, the last by a root.
 */
export function chainVerifies(chain: readonly X509Certificate[], roots: readonly X509Certificate[]): boolean {
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i]!.checkIssued(chain[i + 1]!) || !chain[i]!.verify(chain[i + 1]!.publicKey)) return false;
    if (chain[i + 1]!.ca !== true) return false;
  }
  const top = chain.at(-1);
  return top !== undefined && roots.some((r) => top.checkIssued(r) && top.verify(r.publicKey));
}

export const frontend = { trustDomain: "cluster.local", namespace: "default", serviceAccount: "frontend" } as const;

export function issueFrontend(a: Authority, keyType: "rsa" | "ecdsa" = "ecdsa"): Promise<IssuedCertificate> {
  return issueWorkloadCertificate(a, frontend, { keyType });
}
