// Reading what node:crypto's X509Certificate does not expose: the extensions as DER says them.
import { X509Certificate } from "node:crypto";
import { Class, bytesOf, childrenOf, decode, encode, oidOf, readNamedBits, Type, type Asn1 } from "./der.js";
import { OID } from "./x509.js";

/** The extensions a CA and its tests care about, as the certificate states them. */
export interface CertificateFacts {
  /** Present only when the certificate has a basicConstraints extension. */
  readonly basicConstraints?: { readonly ca: boolean; readonly pathLen?: number };
  /** keyUsage bit numbers, or undefined when the extension is absent. */
  readonly keyUsage?: readonly number[];
  readonly extKeyUsage?: readonly string[];
  readonly uriSans: readonly string[];
  readonly subjectKeyId?: Buffer;
  readonly authorityKeyId?: Buffer;
  /** OIDs of the extensions marked critical. */
  readonly critical: readonly string[];
  /** DER of the subject Name, byte for byte: the issuer Name of what this certificate signs. */
  readonly subjectName: Buffer;
}

/** Throws on DER that is not a certificate (callers hold an X509Certificate node already parsed). */
export function inspect(cert: X509Certificate | Buffer): CertificateFacts {
  const der = cert instanceof X509Certificate ? cert.raw : cert;
  const tbs = childrenOf(childrenOf(decode(der))[0]!);
  const versioned = tbs[0]?.tagClass === Class.CONTEXT_SPECIFIC;
  const subject = tbs[versioned ? 5 : 4]!;
  const extList = tbs.find((n) => n.tagClass === Class.CONTEXT_SPECIFIC && n.type === 3);
  const facts: { -readonly [K in keyof CertificateFacts]: CertificateFacts[K] } = { uriSans: [], critical: [], subjectName: encode(subject) };
  for (const e of extList === undefined ? [] : childrenOf(childrenOf(extList)[0]!)) {
    const parts = childrenOf(e);
    const id = oidOf(parts[0]!);
    const critical = parts.length === 3 && bytesOf(parts[1]!)[0] !== 0;
    if (critical) facts.critical = [...facts.critical, id];
    const value = decode(bytesOf(parts[parts.length - 1]!));
    switch (id) {
      case OID.basicConstraints: {
        const [first, second] = childrenOf(value);
        const ca = first?.type === Type.BOOLEAN && bytesOf(first)[0] !== 0;
        const lenNode = first?.type === Type.INTEGER ? first : second;
        facts.basicConstraints = lenNode === undefined ? { ca } : { ca, pathLen: bytesOf(lenNode).readUIntBE(0, Math.min(6, bytesOf(lenNode).length)) };
        break;
      }
      case OID.keyUsage:
        facts.keyUsage = readNamedBits(bytesOf(value));
        break;
      case OID.extKeyUsage:
        facts.extKeyUsage = childrenOf(value).map(oidOf);
        break;
      case OID.subjectAltName:
        facts.uriSans = childrenOf(value)
          .filter((g: Asn1) => g.tagClass === Class.CONTEXT_SPECIFIC && g.type === 6)
          .map((g) => bytesOf(g).toString("latin1"));
        break;
      case OID.subjectKeyIdentifier:
        facts.subjectKeyId = bytesOf(value);
        break;
      case OID.authorityKeyIdentifier: {
        const keyId = childrenOf(value).find((n) => n.tagClass === Class.CONTEXT_SPECIFIC && n.type === 0);
        if (keyId !== undefined) facts.authorityKeyId = bytesOf(keyId);
        break;
      }
    }
  }
  return facts;
}
