// The certificate gitmesh serves its TLS xDS port with: issued by the mesh CA for the names and
// addresses proxies dial, so a proxy that trusts the mesh root can verify the control plane.
import { isIPv4, isIPv6 } from "node:net";
import { X509Certificate } from "node:crypto";
import { CLOCK_SKEW_MS, issuingChain, type Authority } from "./authority.js";
import { inspect } from "./inspect.js";
import { generateKey, privateKeyPem, type KeyType } from "./keys.js";
import { ext, KeyUsage, keyIdentifier, nameDer, OID, randomSerial, signCertificate } from "./x509.js";

export interface ServingCertificate {
  /** The certificate, then the CA certificates above it up to (not including) the root. */
  readonly chainPem: string;
  /** Key material: never log it. */
  readonly keyPem: string;
  readonly notAfter: Date;
}

export const SERVING_LIFETIME_MS = 30 * 24 * 3600_000;

/** Names are DNS names or IP addresses (v4 or v6); at least one. */
export async function issueServingCertificate(
  issuer: Authority,
  names: readonly string[],
  options: { keyType?: KeyType; lifetimeMs?: number; now?: Date; crossSigned?: readonly X509Certificate[] } = {},
): Promise<ServingCertificate> {
  if (names.length === 0) throw new Error("bug: a serving certificate needs a name");
  const { privateKey, publicKey } = await generateKey(options.keyType ?? "ecdsa");
  const now = options.now ?? new Date();
  const chainEnd = Math.min(...[issuer.cert, ...issuer.intermediates, issuer.root].map((c) => Date.parse(c.validTo)));
  const notAfter = new Date(Math.min(now.getTime() + (options.lifetimeMs ?? SERVING_LIFETIME_MS), chainEnd));
  const issuerFacts = inspect(issuer.cert);
  const ips = names.filter((n) => isIPv4(n) || isIPv6(n)).map(ipBytes);
  const dns = names.filter((n) => !isIPv4(n) && !isIPv6(n));
  const der = signCertificate(
    {
      serial: randomSerial(),
      issuer: issuerFacts.subjectName,
      subject: nameDer([]),
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter,
      publicKey,
      extensions: [
        ext.basicConstraints(false),
        ext.keyUsage(publicKey.asymmetricKeyType === "rsa" ? [KeyUsage.digitalSignature, KeyUsage.keyEncipherment] : [KeyUsage.digitalSignature]),
        ext.extKeyUsage([OID.serverAuth]),
        ext.serverSubjectAltName(dns, ips, true),
        ext.subjectKeyIdentifier(keyIdentifier(publicKey)),
        ext.authorityKeyIdentifier(issuerFacts.subjectKeyId ?? keyIdentifier(issuer.cert.publicKey)),
      ],
    },
    issuer.key,
  );
  const cert = new X509Certificate(der);
  // After the chain: the issuing root cross-signed by the root before it, for clients that trust
  // only that one (cross-sign.ts).
  const chain = [cert, ...issuingChain(issuer), ...(options.crossSigned ?? [])];
  return { chainPem: chain.map((c) => c.toString()).join(""), keyPem: privateKeyPem(privateKey), notAfter };
}

function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split(".").map(Number));
  // Expand "::" and write eight 16-bit groups.
  const [head = "", tail = ""] = ip.split("::");
  const h = head === "" ? [] : head.split(":");
  const t = ip.includes("::") ? (tail === "" ? [] : tail.split(":")) : [];
  const groups = ip.includes("::") ? [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t] : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
