// Gateway TLS certificates, by the credentialName a Gateway server names. They are secrets, so
// they live outside the config repo, in a directory of NAME/tls.crt, NAME/tls.key and (for
// MUTUAL) NAME/ca.crt: the key names of a Kubernetes TLS secret, which users already have.
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

export interface TlsCredential {
  readonly cert: string;
  readonly key: string;
  readonly ca?: string;
}

export interface CredentialsRead {
  readonly credentials: ReadonlyMap<string, TlsCredential>;
  /** One line per credential that cannot be used, naming the file and what is wrong. */
  readonly problems: readonly string[];
}

/** Reads every credential in dir; a broken one is reported and left out, never half served. */
export async function readCredentials(dir: string): Promise<CredentialsRead> {
  const credentials = new Map<string, TlsCredential>();
  const problems: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    return { credentials, problems: [`${dir}: cannot read the credentials directory: ${(e as Error).message}`] };
  }
  for (const entry of entries.filter((e) => e.isDirectory() || e.isSymbolicLink()).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const base = join(dir, entry.name);
    const read = async (file: string) => readFile(join(base, file), "utf8").catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? undefined : Promise.reject(e)));
    try {
      const [cert, key, ca] = await Promise.all([read("tls.crt"), read("tls.key"), read("ca.crt")]);
      if (cert === undefined && key === undefined && ca === undefined) continue; // not a credential
      const problem = checkCredential(base, cert, key, ca);
      if (problem !== undefined) problems.push(problem);
      else if (cert !== undefined && key !== undefined) credentials.set(entry.name, { cert, key, ...(ca === undefined ? {} : { ca }) });
    } catch (e) {
      problems.push(`${base}: cannot read: ${(e as Error).message}`);
    }
  }
  return { credentials, problems };
}

function checkCredential(base: string, cert: string | undefined, key: string | undefined, ca: string | undefined): string | undefined {
  if (cert === undefined) return `${join(base, "tls.crt")} is missing: put the certificate chain (PEM) there`;
  if (key === undefined) return `${join(base, "tls.key")} is missing: put the private key (PEM) there`;
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (e) {
    return `${join(base, "tls.crt")} is not a PEM certificate: ${(e as Error).message}`;
  }
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(key))) return `${join(base, "tls.key")} does not belong to the certificate in tls.crt`;
  } catch (e) {
    return `${join(base, "tls.key")} is not a PEM private key: ${(e as Error).message}`;
  }
  if (ca !== undefined) {
    try {
      new X509Certificate(ca);
    } catch (e) {
      return `${join(base, "ca.crt")} is not a PEM certificate: ${(e as Error).message}`;
    }
  }
  return undefined;
}
