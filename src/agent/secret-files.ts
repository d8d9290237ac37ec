// A workload's certificate and the mesh's trust bundle, from what gitmesh sends over SDS
// ("default" and "ROOTCA"), as the files gRPC's file_watcher certificate provider reads. Each
// secret is checked before its files are written: one that fails is rejected (NACKed) and its
// files stay as they were.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { decodeMessage, TypeUrl } from "../envoy/index.js";
import type { Logger } from "../log.js";
import { SDS_ROOT_CA, SDS_WORKLOAD_CERT } from "../translators/tls-contexts.js";
import { writeCertFiles, type CertFiles } from "./cert-files.js";
import type { Applied, DeltaUpdate } from "./xds-stream.js";

/** The SDS names of a workload's certificate and of the trust bundle, as the translators name them. */
export { SDS_ROOT_CA as ROOT_SECRET, SDS_WORKLOAD_CERT as WORKLOAD_SECRET };

interface DataSource {
  readonly inline_string?: string;
  readonly inline_bytes?: Buffer;
}
const text = (d: DataSource | undefined): string => d?.inline_string ?? d?.inline_bytes?.toString("utf8") ?? "";
const certificates = (pem: string): number => pem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;

/** What one secret holds, checked: a chain whose leaf matches its key, or a bundle of certificates. */
export function checkedSecret(name: string, bytes: Buffer): CertFiles {
  const s = decodeMessage("envoy.extensions.transport_sockets.tls.v3.Secret", bytes) as {
    tls_certificate?: { certificate_chain?: DataSource; private_key?: DataSource };
    validation_context?: { trusted_ca?: DataSource };
  };
  if (name === SDS_WORKLOAD_CERT) {
    const chainPem = text(s.tls_certificate?.certificate_chain);
    const keyPem = text(s.tls_certificate?.private_key);
    let matches: boolean;
    try {
      matches = new X509Certificate(chainPem).checkPrivateKey(createPrivateKey(keyPem));
    } catch (e) {
      throw new Error(`secret ${name}: not a certificate and key (${(e as Error).message})`);
    }
    // A chain whose key does not match would fail every handshake.
    if (!matches) throw new Error(`secret ${name}: the certificate and its key do not match`);
    return { identity: { chainPem, keyPem } };
  }
  if (name === SDS_ROOT_CA) {
    const bundlePem = text(s.validation_context?.trusted_ca);
    if (certificates(bundlePem) === 0) throw new Error(`secret ${name}: the trust bundle holds no certificate`);
    return { bundlePem };
  }
  throw new Error(`secret ${name}: not one the agent asked for`);
}

export class SecretFiles {
  private identity = false;
  private bundle: string | undefined;

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  /** Both files are there: the certificate with its key, and the trust bundle. */
  get complete(): boolean {
    return this.identity && this.bundle !== undefined;
  }

  /** The trust bundle gitmesh sent last (during a root rotation it trusts the new root already). */
  get bundlePem(): string | undefined {
    return this.bundle;
  }

  /**
   * Applies one SDS update (other types are ignored): each secret is checked, and written if it is
   * good; the bad ones are returned with why (the caller NACKs them) and their files left alone.
   */
  async apply(u: DeltaUpdate): Promise<Applied> {
    if (u.typeUrl !== TypeUrl.Secret) return;
    const rejected = new Map<string, string>();
    for (const r of u.resources) {
      let files: CertFiles;
      try {
        files = checkedSecret(r.name, r.value);
      } catch (e) {
        rejected.set(r.name, (e as Error).message);
        continue;
      }
      await writeCertFiles(this.dir, files);
      if (files.identity !== undefined) {
        const leaf = new X509Certificate(files.identity.chainPem);
        this.identity = true;
        this.logger.info("workload certificate written", { dir: this.dir, spiffeId: leaf.subjectAltName ?? "", notAfter: new Date(leaf.validTo).toISOString() });
      }
      if (files.bundlePem !== undefined) {
        this.bundle = files.bundlePem;
        this.logger.info("trust bundle written", { dir: this.dir, roots: certificates(files.bundlePem) });
      }
    }
    return { rejected };
  }
}
