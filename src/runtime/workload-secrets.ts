// The secrets an authenticated proxy receives over SDS: "default" (its own certificate chain and
// key, for the identity its credential names) and "ROOTCA" (the trust bundle). Each proxy gets
// its own key; the certificate is renewed at a jittered point of its life and pushed.
import { issuer, issueWorkloadCertificate, renewalTime, trustBundlePem, type IssuedCertificate, type KeyType, type MeshCa } from "../ca/index.js";
import type { Logger } from "../log.js";
import { translated, type Translated } from "../translators/translated.js";
import type { StreamIdentity } from "../xds/index.js";

export const WORKLOAD_SECRET = "default";
export const ROOT_SECRET = "ROOTCA";

export interface WorkloadSecretsOptions {
  readonly ca: MeshCa;
  readonly trustDomain: string;
  readonly keyType: KeyType;
  readonly lifetimeMs?: number;
  readonly logger: Logger;
  /** A proxy's secrets changed (first issued, or renewed): push it. */
  readonly onChange: (proxy: string) => void;
  readonly random?: () => number;
}

interface Held {
  readonly identity: StreamIdentity;
  issued?: IssuedCertificate;
  secret?: Translated;
  timer?: NodeJS.Timeout;
  /** Bumped when the proxy goes, so an issuance that finishes afterwards is dropped. */
  generation: number;
}

export class WorkloadSecrets {
  private readonly held = new Map<string, Held>();
  private rootSecret: Translated;
  private generations = 0;
  private ca: MeshCa;

  constructor(private readonly options: WorkloadSecretsOptions) {
    this.ca = options.ca;
    this.rootSecret = rootSecret(trustBundlePem(options.ca));
  }

  /**
   * A step of a root rotation was taken (gitmesh ca rotate): every proxy gets the new trust
   * bundle, and, when the issuing authority changed, a certificate from the new one. Certificates
   * from the old root keep working while both are trusted, so no connection fails meanwhile.
   */
  setCa(ca: MeshCa): void {
    const issuerChanged = issuer(ca).id !== issuer(this.ca).id;
    this.ca = ca;
    this.rootSecret = rootSecret(trustBundlePem(ca));
    for (const [proxy, h] of this.held) {
      if (issuerChanged) {
        if (h.timer !== undefined) clearTimeout(h.timer);
        this.issue(proxy, h);
      }
      this.options.onChange(proxy);
    }
  }

  /**
   * The proxy's secrets, or only the trust bundle while its certificate is being issued (the
   * proxy waits for "default" before it serves). Starts the issuance on first call.
   */
  secretsFor(proxy: string, identity: StreamIdentity): readonly Translated[] {
    let h = this.held.get(proxy);
    if (h !== undefined && (h.identity.namespace !== identity.namespace || h.identity.serviceAccount !== identity.serviceAccount)) {
      this.forget(proxy); // the same node id is now another identity: never hand it the old key
      h = undefined;
    }
    if (h === undefined) {
      h = { identity, generation: ++this.generations };
      this.held.set(proxy, h);
      this.issue(proxy, h);
    }
    return h.secret === undefined ? [this.rootSecret] : [h.secret, this.rootSecret];
  }

  /** The proxy is gone: its key is dropped and its renewal cancelled. */
  forget(proxy: string): void {
    const h = this.held.get(proxy);
    if (h === undefined) return;
    if (h.timer !== undefined) clearTimeout(h.timer);
    h.generation = -1;
    this.held.delete(proxy);
  }

  /** What is held, for debug pages: never the keys. */
  describe(): { proxy: string; spiffeId?: string; notAfter?: string }[] {
    return [...this.held].map(([proxy, h]) => ({ proxy, ...(h.issued === undefined ? {} : { spiffeId: h.issued.spiffeId, notAfter: h.issued.notAfter.toISOString() }) }));
  }

  close(): void {
    for (const proxy of [...this.held.keys()]) this.forget(proxy);
  }

  private issue(proxy: string, h: Held): void {
    const generation = h.generation;
    const { trustDomain, keyType, lifetimeMs } = this.options;
    issueWorkloadCertificate(issuer(this.ca), { trustDomain, ...h.identity }, { keyType, ...(lifetimeMs === undefined ? {} : { lifetimeMs }) }).then(
      (issued) => {
        if (h.generation !== generation) return;
        h.issued = issued;
        h.secret = translated("envoy.extensions.transport_sockets.tls.v3.Secret", WORKLOAD_SECRET, {
          name: WORKLOAD_SECRET,
          tls_certificate: { certificate_chain: { inline_string: issued.chainPem }, private_key: { inline_string: issued.keyPem } },
        });
        const at = renewalTime(issued.issuedAt, issued.notAfter, this.options.random);
        h.timer = setTimeout(() => this.issue(proxy, h), Math.max(0, at.getTime() - Date.now()));
        h.timer.unref();
        this.options.logger.info("workload certificate issued", { proxy, spiffeId: issued.spiffeId, notAfter: issued.notAfter.toISOString(), renewAt: at.toISOString() });
        this.options.onChange(proxy);
      },
      (e: unknown) => {
        if (h.generation !== generation) return;
        this.options.logger.error("could not issue a workload certificate; trying again in 10 s", { proxy, error: (e as Error).message });
        h.timer = setTimeout(() => this.issue(proxy, h), 10_000);
        h.timer.unref();
      },
    );
  }
}

function rootSecret(bundlePem: string): Translated {
  return translated("envoy.extensions.transport_sockets.tls.v3.Secret", ROOT_SECRET, { name: ROOT_SECRET, validation_context: { trusted_ca: { inline_string: bundlePem } } });
}
