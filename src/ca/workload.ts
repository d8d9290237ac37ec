// Workload certificates: an X.509-SVID for spiffe://TRUST_DOMAIN/ns/NS/sa/SA, signed by the
// issuing authority, sent with the chain above it.
import { X509Certificate, type KeyObject } from "node:crypto";
import { CLOCK_SKEW_MS, issuingChain, type Authority } from "./authority.js";
import { inspect } from "./inspect.js";
import { generateKey, privateKeyPem, type KeyType } from "./keys.js";
import { spiffeId, type WorkloadIdentity } from "./spiffe.js";
import { ext, KeyUsage, keyIdentifier, nameDer, OID, randomSerial, signCertificate } from "./x509.js";

export const WORKLOAD_LIFETIME_MS = 24 * 3600_000;

export interface WorkloadOptions {
  readonly keyType?: KeyType;
  /** Default 24 h; cut short so the certificate never outlives its issuer's chain. */
  readonly lifetimeMs?: number;
  readonly now?: Date;
}

/** A workload's certificate and key, as SDS "default" and gRPC's file_watcher want them. */
export interface IssuedCertificate {
  readonly spiffeId: string;
  /** The workload certificate, then the CA certificates above it up to (not including) the root. */
  readonly chainPem: string;
  /** PKCS#8 PEM. Key material: never log it. */
  readonly keyPem: string;
  readonly serialHex: string;
  /** When it was signed; renewal is timed from here (notBefore is set back for clock skew). */
  readonly issuedAt: Date;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

const EMPTY_NAME = nameDer([]);

/** The issuer's subject Name and key id, parsed once per CA certificate. */
const issuerFacts = new WeakMap<X509Certificate, { readonly name: Buffer; readonly keyId: Buffer }>();
function factsOf(cert: X509Certificate): { readonly name: Buffer; readonly keyId: Buffer } {
  let facts = issuerFacts.get(cert);
  if (facts === undefined) {
    const parsed = inspect(cert);
    facts = { name: parsed.subjectName, keyId: parsed.subjectKeyId ?? keyIdentifier(cert.publicKey) };
    issuerFacts.set(cert, facts);
  }
  return facts;
}

/** Signs a workload certificate for a public key (the signing step alone; see issueWorkloadCertificate). */
export function signWorkloadCertificate(issuer: Authority, publicKey: KeyObject, identity: WorkloadIdentity, options: WorkloadOptions = {}): Buffer {
  const now = options.now ?? new Date();
  const chainEnd = Math.min(...[issuer.cert, ...issuer.intermediates, issuer.root].map((c) => Date.parse(c.validTo)));
  const notAfter = new Date(Math.min(now.getTime() + (options.lifetimeMs ?? WORKLOAD_LIFETIME_MS), chainEnd));
  const { name, keyId } = factsOf(issuer.cert);
  const usages = publicKey.asymmetricKeyType === "rsa" ? [KeyUsage.digitalSignature, KeyUsage.keyEncipherment] : [KeyUsage.digitalSignature];
  return signCertificate(
    {
      serial: randomSerial(),
      issuer: name,
      subject: EMPTY_NAME,
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter,
      publicKey,
      extensions: [
        ext.basicConstraints(false),
        ext.keyUsage(usages),
        ext.extKeyUsage([OID.serverAuth, OID.clientAuth]),
        ext.uriSubjectAltName([spiffeId(identity)], true),
        ext.subjectKeyIdentifier(keyIdentifier(publicKey)),
        ext.authorityKeyIdentifier(keyId),
      ],
    },
    issuer.key,
  );
}

/** A new key and a certificate for it. The caller has checked the identity (identityProblems). */
export async function issueWorkloadCertificate(issuer: Authority, identity: WorkloadIdentity, options: WorkloadOptions = {}): Promise<IssuedCertificate> {
  const { privateKey, publicKey } = await generateKey(options.keyType ?? "rsa");
  const now = options.now ?? new Date();
  const cert = new X509Certificate(signWorkloadCertificate(issuer, publicKey, identity, { ...options, now }));
  return {
    spiffeId: spiffeId(identity),
    chainPem: [cert, ...issuingChain(issuer)].map((c) => c.toString()).join(""),
    keyPem: privateKeyPem(privateKey),
    serialHex: cert.serialNumber,
    issuedAt: now,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
  };
}
