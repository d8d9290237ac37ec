import { X509Certificate, type KeyObject } from "node:crypto";
import { generateKey, type KeyType } from "./keys.js";
import { ext, KeyUsage, keyIdentifier, nameDer, OID, randomSerial, signCertificate, toPem } from "./x509.js";

/** A certificate authority the mesh can sign with, and the chain that makes it trusted. */
export interface Authority {
  /** Stable name: the first 16 hex digits of the signing certificate's SHA-256 fingerprint. */
  readonly id: string;
  /** The certificate workload certificates are issued under (the root itself when self-signed). */
  readonly cert: X509Certificate;
  /** Its private key. Never logged, never printed, written only with mode 0600. */
  readonly key: KeyObject;
  /** Certificates between `cert` and the root, nearest first; empty when cert is the root or its child. */
  readonly intermediates: readonly X509Certificate[];
  /** The self-signed root at the top: what workloads trust. Equal to cert for a mesh-made root. */
  readonly root: X509Certificate;
}

export const ROOT_LIFETIME_MS = 10 * 365 * 24 * 3600_000;
/** How far notBefore is set back, for clocks a little behind ours. */
export const CLOCK_SKEW_MS = 5 * 60_000;

export function authorityId(cert: X509Certificate): string {
  return cert.fingerprint256.replace(/:/g, "").slice(0, 16).toLowerCase();
}

/**
 * Whether `parent` signed `child`: names chain and the signature verifies. Unlike checkIssued,
 * it does not look at the parent's key usage, which validation reports on its own.
 */
export function signedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return child.issuer === parent.subject && child.verify(parent.publicKey);
}

export function isSelfSigned(cert: X509Certificate): boolean {
  return signedBy(cert, cert);
}

/** The certificates an issued leaf is sent with: the signing CA and those above it, root excluded. */
export function issuingChain(a: Authority): readonly X509Certificate[] {
  return a.cert === a.root || a.cert.fingerprint256 === a.root.fingerprint256 ? [] : [a.cert, ...a.intermediates];
}

export interface RootOptions {
  readonly trustDomain: string;
  readonly keyType?: KeyType;
  readonly lifetimeMs?: number;
  readonly now?: Date;
}

/** A new self-signed mesh root: O=TRUST_DOMAIN, CN=gitmesh root CA, 10 years by default. */
export async function createRootAuthority(options: RootOptions): Promise<Authority> {
  const now = options.now ?? new Date();
  const { privateKey, publicKey } = await generateKey(options.keyType ?? "rsa");
  const name = nameDer([
    { oid: OID.organization, value: options.trustDomain },
    { oid: OID.commonName, value: "gitmesh root CA" },
  ]);
  const keyId = keyIdentifier(publicKey);
  const der = signCertificate(
    {
      serial: randomSerial(),
      issuer: name,
      subject: name,
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter: new Date(now.getTime() + (options.lifetimeMs ?? ROOT_LIFETIME_MS)),
      publicKey,
      extensions: [
        ext.basicConstraints(true),
        ext.keyUsage([KeyUsage.digitalSignature, KeyUsage.keyCertSign, KeyUsage.cRLSign]),
        ext.subjectKeyIdentifier(keyId),
        ext.authorityKeyIdentifier(keyId),
      ],
    },
    privateKey,
  );
  const cert = new X509Certificate(toPem(der));
  return { id: authorityId(cert), cert, key: privateKey, intermediates: [], root: cert };
}
