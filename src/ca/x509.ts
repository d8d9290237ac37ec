// X.509 v3 certificates built with forge's ASN.1 and signed by node:crypto (native RSA and
// ECDSA; forge's own signer is pure JavaScript and RSA only). See docs/ca.md for the figures.
import { createHash, randomBytes, sign, type KeyObject } from "node:crypto";
import { bits, bool, decode, encode, explicit, implicit, namedBits, nul, octets, oid, seq, set, smallInt, time, uint, utf8, type Asn1 } from "./der.js";

/** One extension: its OID, whether a verifier that does not know it must reject the certificate. */
export interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Asn1;
}

/** Everything a certificate says, before it is signed. */
export interface CertificateTemplate {
  /** Positive, at most 20 bytes (RFC 5280 4.1.2.2). */
  readonly serial: Buffer;
  /** DER of the issuer's subject Name, copied byte for byte from the issuer's certificate. */
  readonly issuer: Buffer;
  /** DER of the subject Name; an empty Name for workloads (the identity is in the SAN). */
  readonly subject: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKey: KeyObject;
  readonly extensions: readonly Extension[];
}

export const OID = {
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  sha256WithRSA: "1.2.840.113549.1.1.11",
  ecdsaWithSHA256: "1.2.840.10045.4.3.2",
  ecdsaWithSHA384: "1.2.840.10045.4.3.3",
  ed25519: "1.3.101.112",
} as const;

/** keyUsage bit numbers (RFC 5280 4.2.1.3). */
export const KeyUsage = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

interface SignatureScheme {
  readonly algorithm: Asn1;
  /** The digest node:crypto.sign takes; null for Ed25519, which hashes itself. */
  readonly digest: string | null;
}

/** How a key signs certificates, or undefined for a key the CA cannot sign with. */
export function signatureScheme(key: KeyObject): SignatureScheme | undefined {
  const d = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case "rsa":
      return { algorithm: seq([oid(OID.sha256WithRSA), nul()]), digest: "sha256" };
    case "ec":
      if (d?.namedCurve === "prime256v1") return { algorithm: seq([oid(OID.ecdsaWithSHA256)]), digest: "sha256" };
      if (d?.namedCurve === "secp384r1") return { algorithm: seq([oid(OID.ecdsaWithSHA384)]), digest: "sha384" };
      return undefined;
    case "ed25519":
      return { algorithm: seq([oid(OID.ed25519)]), digest: null };
    default:
      return undefined;
  }
}

/** Signs the template with the issuer's key; returns the certificate's DER. Throws for a key signatureScheme refuses (a bug: keys are checked on load). */
export function signCertificate(t: CertificateTemplate, issuerKey: KeyObject): Buffer {
  const scheme = signatureScheme(issuerKey);
  if (scheme === undefined) throw new Error(`cannot sign with a ${issuerKey.asymmetricKeyType ?? "symmetric"} key`);
  const tbs = seq([
    explicit(0, smallInt(2)),
    uint(t.serial),
    scheme.algorithm,
    decode(t.issuer),
    seq([time(t.notBefore), time(t.notAfter)]),
    decode(t.subject),
    decode(t.publicKey.export({ type: "spki", format: "der" })),
    explicit(3, seq(t.extensions.map(extension))),
  ]);
  const tbsDer = encode(tbs);
  const signature = sign(scheme.digest, tbsDer, issuerKey);
  return encode(seq([tbs, scheme.algorithm, bits(signature)]));
}

function extension(e: Extension): Asn1 {
  return seq([oid(e.oid), ...(e.critical ? [bool(true)] : []), octets(encode(e.value))]);
}

/** A Name of the attributes given, in order (empty when none). */
export function nameDer(attributes: readonly { readonly oid: string; readonly value: string }[]): Buffer {
  return encode(seq(attributes.map((a) => set([seq([oid(a.oid), utf8(a.value)])]))));
}

/** A random positive 16-byte serial (CA/B Forum asks for 64 bits of entropy or more). */
export function randomSerial(): Buffer {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  return serial;
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's bytes. */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = decode(publicKey.export({ type: "spki", format: "der" }));
  const keyBits = (spki.value as Asn1[])[1]!.value as string;
  return createHash("sha1").update(Buffer.from(keyBits.slice(1), "binary")).digest();
}

export const ext = {
  basicConstraints(ca: boolean, pathLen?: number): Extension {
    const items = ca ? [bool(true), ...(pathLen === undefined ? [] : [smallInt(pathLen)])] : [];
    return { oid: OID.basicConstraints, critical: true, value: seq(items) };
  },
  keyUsage(usages: readonly number[]): Extension {
    return { oid: OID.keyUsage, critical: true, value: namedBits(usages) };
  },
  extKeyUsage(purposes: readonly string[]): Extension {
    return { oid: OID.extKeyUsage, critical: false, value: seq(purposes.map(oid)) };
  },
  /** URI SANs; critical when the subject is empty (RFC 5280 4.2.1.6). */
  uriSubjectAltName(uris: readonly string[], critical: boolean): Extension {
    return { oid: OID.subjectAltName, critical, value: seq(uris.map((u) => implicit(6, u))) };
  },
  /** DNS names and IP addresses (a server's names, for the TLS xDS port); critical with an empty subject. */
  serverSubjectAltName(dnsNames: readonly string[], ipAddresses: readonly Buffer[], critical: boolean): Extension {
    return { oid: OID.subjectAltName, critical, value: seq([...dnsNames.map((d) => implicit(2, d)), ...ipAddresses.map((ip) => implicit(7, ip.toString("binary")))]) };
  },
  subjectKeyIdentifier(id: Buffer): Extension {
    return { oid: OID.subjectKeyIdentifier, critical: false, value: octets(id) };
  },
  authorityKeyIdentifier(id: Buffer): Extension {
    return { oid: OID.authorityKeyIdentifier, critical: false, value: seq([implicit(0, id.toString("binary"))]) };
  },
};

export function toPem(der: Buffer): string {
  const b64 = der.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}
