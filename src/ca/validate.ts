// Checking CA files a user hands us (an organisation's root, or an intermediate with its chain)
// and the ones the state directory holds. Every problem is data naming the file and the fix.
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { authorityId, isSelfSigned, signedBy, type Authority } from "./authority.js";
import { inspect } from "./inspect.js";
import { KeyUsage, signatureScheme } from "./x509.js";

/** One problem with a CA file. The message says what is wrong and what to do about it. */
export interface CaFileProblem {
  readonly code:
    | "CA_FILE_UNREADABLE"
    | "CA_CERT_INVALID"
    | "CA_KEY_INVALID"
    | "CA_KEY_MISMATCH"
    | "CA_KEY_UNSUPPORTED"
    | "CA_NOT_A_CA"
    | "CA_NOT_YET_VALID"
    | "CA_EXPIRED"
    | "CA_NOT_A_ROOT"
    | "CA_CHAIN_BROKEN"
    | "CA_CHAIN_NO_ROOT"
    | "CA_PATH_LENGTH"
    | "CA_STATE_MISSING"
    | "CA_STATE_INVALID"
    | "TOKEN_KEY_INVALID"
    | "REVOCATIONS_UNREADABLE";
  readonly file: string;
  readonly message: string;
}

/** "FILE: MESSAGE [CODE]": how a problem is shown to a user, by the CLI and by serve alike. */
export function formatProblem(p: CaFileProblem): string {
  return `${p.file}: ${p.message} [${p.code}]`;
}

export type CaLoadResult = { readonly ok: true; readonly authority: Authority } | { readonly ok: false; readonly problems: readonly CaFileProblem[] };

/** A file's name (for messages) and its text. */
export interface NamedText {
  readonly file: string;
  readonly text: string;
}

/** What makes an authority: a CA certificate and its key, and (for an intermediate) the chain above it up to the root. */
export interface CaFiles {
  readonly cert: NamedText;
  readonly key: NamedText;
  /** Absent or empty: cert must be a self-signed root. */
  readonly chain?: NamedText;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function certificates(f: NamedText, problems: CaFileProblem[]): X509Certificate[] {
  const blocks = f.text.match(PEM_CERT) ?? [];
  const out: X509Certificate[] = [];
  for (const [i, block] of blocks.entries()) {
    try {
      out.push(new X509Certificate(block));
    } catch (e) {
      problems.push({ code: "CA_CERT_INVALID", file: f.file, message: `certificate ${i + 1} cannot be parsed (${(e as Error).message}): give PEM certificates` });
    }
  }
  return out;
}

function privateKey(f: NamedText, problems: CaFileProblem[]): KeyObject | undefined {
  if (/ENCRYPTED/.test(f.text)) {
    problems.push({ code: "CA_KEY_INVALID", file: f.file, message: `the key is passphrase-protected: decrypt it first (openssl pkey -in ${f.file} -out plain.pem) and keep the result mode 0600` });
    return undefined;
  }
  try {
    return createPrivateKey(f.text);
  } catch {
    // Node's message is not echoed: it could quote the bytes of a key.
    problems.push({ code: "CA_KEY_INVALID", file: f.file, message: "not a private key in PEM (PKCS#8, PKCS#1 or SEC1): give the CA's unencrypted private key" });
    return undefined;
  }
}

function describe(cert: X509Certificate): string {
  return (cert.subject ?? "").replace(/\n/g, ", ") || "(empty subject)";
}

/** The checks every CA certificate in the chain must pass. */
function checkCa(cert: X509Certificate, file: string, now: Date, signing: boolean, problems: CaFileProblem[]): void {
  const facts = inspect(cert);
  const who = describe(cert);
  if (facts.basicConstraints?.ca !== true) {
    problems.push({ code: "CA_NOT_A_CA", file, message: `"${who}" is not a CA certificate (basicConstraints CA:TRUE is missing): give the CA's certificate, not a leaf` });
  }
  const ku = facts.keyUsage;
  if ((signing && ku === undefined) || (ku !== undefined && !ku.includes(KeyUsage.keyCertSign))) {
    problems.push({ code: "CA_NOT_A_CA", file, message: `"${who}" may not sign certificates (keyUsage lacks keyCertSign): issue the CA certificate with keyUsage keyCertSign` });
  }
  if (now.getTime() < Date.parse(cert.validFrom)) {
    problems.push({ code: "CA_NOT_YET_VALID", file, message: `"${who}" is not valid until ${new Date(cert.validFrom).toISOString()}: check this machine's clock or wait` });
  }
  if (now.getTime() > Date.parse(cert.validTo)) {
    problems.push({ code: "CA_EXPIRED", file, message: `"${who}" expired on ${new Date(cert.validTo).toISOString()}: renew it with your PKI and import the new one` });
  }
}

/**
 * Checks CA files and, when they pass, returns the authority they make: the key matches the
 * certificate, every certificate is a CA that may sign, is within its validity, and the chain
 * verifies link by link up to a self-signed root.
 */
export function validateCaFiles(files: CaFiles, now: Date = new Date()): CaLoadResult {
  const problems: CaFileProblem[] = [];
  const certs = certificates(files.cert, problems);
  const key = privateKey(files.key, problems);
  const [cert] = certs;
  if (cert === undefined) {
    if (problems.length === 0) problems.push({ code: "CA_CERT_INVALID", file: files.cert.file, message: "no PEM certificate found (-----BEGIN CERTIFICATE-----): give the CA certificate in PEM" });
    return { ok: false, problems };
  }
  if (certs.length > 1) {
    problems.push({ code: "CA_CERT_INVALID", file: files.cert.file, message: `holds ${certs.length} certificates: give only the CA certificate here and the ones above it as the chain` });
  }
  if (key !== undefined) {
    if (!cert.checkPrivateKey(key)) {
      problems.push({ code: "CA_KEY_MISMATCH", file: files.key.file, message: `this key does not belong to the certificate in ${files.cert.file}: give the key the CA certificate was issued for` });
    } else if (signatureScheme(key) === undefined) {
      problems.push({ code: "CA_KEY_UNSUPPORTED", file: files.key.file, message: `a ${key.asymmetricKeyType ?? "?"} ${key.asymmetricKeyDetails?.namedCurve ?? ""} key cannot sign here: use RSA, ECDSA P-256/P-384 or Ed25519`.replace("  ", " ") });
    }
  }
  checkCa(cert, files.cert.file, now, true, problems);

  const chainFile = files.chain;
  const above = chainFile === undefined ? [] : certificates(chainFile, problems).filter((c, i) => !(i === 0 && c.fingerprint256 === cert.fingerprint256));
  if (chainFile === undefined || above.length === 0) {
    if (!isSelfSigned(cert)) {
      const file = chainFile?.file ?? files.cert.file;
      problems.push({ code: "CA_NOT_A_ROOT", file, message: `"${describe(cert)}" is issued by "${(cert.issuer ?? "").replace(/\n/g, ", ")}", not self-signed: import it as an intermediate with its chain up to the root` });
    }
  } else {
    let below = cert;
    for (const [i, c] of above.entries()) {
      if (!signedBy(below, c)) {
        problems.push({ code: "CA_CHAIN_BROKEN", file: chainFile.file, message: `certificate ${i + 1} ("${describe(c)}") did not issue "${describe(below)}": order the chain from the intermediate's issuer up to the root` });
        break;
      }
      checkCa(c, chainFile.file, now, false, problems);
      const pathLen = inspect(c).basicConstraints?.pathLen;
      if (pathLen !== undefined && pathLen < i + 1) {
        problems.push({ code: "CA_PATH_LENGTH", file: chainFile.file, message: `"${describe(c)}" allows ${pathLen} CA(s) below it but ${i + 1} stand there: issue the mesh CA directly under a CA that allows it` });
      }
      below = c;
    }
    if (!problems.some((p) => p.code === "CA_CHAIN_BROKEN") && !isSelfSigned(below)) {
      problems.push({ code: "CA_CHAIN_NO_ROOT", file: chainFile.file, message: `the chain ends at "${describe(below)}", which is not self-signed: append the root certificate` });
    }
  }
  if (problems.length > 0 || key === undefined) return { ok: false, problems };
  const root = above.at(-1) ?? cert;
  return { ok: true, authority: { id: authorityId(cert), cert, key, intermediates: above.slice(0, -1), root } };
}
