// Certificates from outside the mesh, for the fleet: a gateway's credentials (credentialName), the
// CA and server certificate of an external TLS service, and client certificates for MUTUAL.
import { generateKeyPairSync } from "node:crypto";
import { ext, KeyUsage, keyIdentifier, nameDer, OID, randomSerial, signCertificate, toPem } from "../../../src/ca/x509.js";
import { inspect } from "../../../src/ca/inspect.js";
import { makeCa, type TestCa } from "../../support/pki.js";

export interface Leaf {
  readonly certPem: string;
  readonly keyPem: string;
}

const DAY = 86_400_000;
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/** An organisation's root (ECDSA P-256). */
export function organisationCa(cn: string): TestCa {
  return makeCa({ cn, keyType: "ec" });
}

/** A leaf signed by ca: a server certificate for dnsNames, or a client certificate. */
export function issueLeaf(ca: TestCa, cn: string, usage: { readonly server?: readonly string[]; readonly client?: boolean }): Leaf {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const now = Date.now();
  const der = signCertificate(
    {
      serial: randomSerial(),
      issuer: inspect(ca.cert).subjectName,
      subject: nameDer([{ oid: OID.commonName, value: cn }]),
      notBefore: new Date(now - DAY),
      notAfter: new Date(now + 30 * DAY),
      publicKey,
      extensions: [
        ext.basicConstraints(false),
        ext.keyUsage([KeyUsage.digitalSignature]),
        ext.extKeyUsage([...(usage.server === undefined ? [] : [SERVER_AUTH]), ...(usage.client === true ? [CLIENT_AUTH] : [])]),
        ...(usage.server === undefined ? [] : [ext.serverSubjectAltName(usage.server, [], false)]),
        ext.subjectKeyIdentifier(keyIdentifier(publicKey)),
        ext.authorityKeyIdentifier(keyIdentifier(ca.cert.publicKey)),
      ],
    },
    ca.key,
  );
  return { certPem: toPem(der), keyPem: privateKey.export({ type: "pkcs8", format: "pem" }) as string };
}
