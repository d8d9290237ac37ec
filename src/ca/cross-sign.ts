// Cross-signing at a root rotation: a certificate for the new root's name and key, signed by the
// root in use. Proxies read the bundle they verify gitmesh's TLS port with from a file at start
// (an Envoy bootstrap's trusted_ca), so one started before a rotation trusts only the old root;
// once the TLS port's certificate comes from the new root, such a proxy could not reconnect. The
// TLS port sends this certificate after its own, so the old root verifies the chain too: proxies
// that never saw the new bundle reconnect through a switch, a drop and a restart. Consul does the
// same (its new root is cross-signed by the old one).
import { X509Certificate } from "node:crypto";
import { CLOCK_SKEW_MS, isSelfSigned, type Authority } from "./authority.js";
import { inspect } from "./inspect.js";
import { ext, KeyUsage, keyIdentifier, randomSerial, signCertificate, toPem } from "./x509.js";

/**
 * The new root's name and key, vouched for by `by`. Only between roots gitmesh can sign for:
 * both self-signed (an organisation's intermediate has path constraints gitmesh must not stretch).
 */
export function crossSign(target: Authority, by: Authority, now: Date = new Date()): X509Certificate | undefined {
  if (!isSelfSigned(target.cert) || !isSelfSigned(by.cert) || target.id === by.id) return undefined;
  const subject = inspect(target.cert);
  const issuer = inspect(by.cert);
  const notAfter = new Date(Math.min(Date.parse(target.cert.validTo), Date.parse(by.cert.validTo)));
  const der = signCertificate(
    {
      serial: randomSerial(),
      issuer: issuer.subjectName,
      subject: subject.subjectName,
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter,
      publicKey: target.cert.publicKey,
      extensions: [
        ext.basicConstraints(true),
        ext.keyUsage([KeyUsage.digitalSignature, KeyUsage.keyCertSign, KeyUsage.cRLSign]),
        ext.subjectKeyIdentifier(subject.subjectKeyId ?? keyIdentifier(target.cert.publicKey)),
        ext.authorityKeyIdentifier(issuer.subjectKeyId ?? keyIdentifier(by.cert.publicKey)),
      ],
    },
    by.key,
  );
  return new X509Certificate(toPem(der));
}
