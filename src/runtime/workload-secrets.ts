// The secrets an authenticated proxy receives over SDS: "default" (its own certificate chain and
// key, for the identity its credential names) and "ROOTCA" (the trust bundle). Each proxy gets its
// own key; the certificate is renewed at a jittered point of its life, never outlives the proxy's
// credential, and moves to the new issuer at a root switch. Issuance goes through a queue that is
// fair between identities (issuance-queue.ts).
import { issuer, issueWorkloadCertificate, renewalTime, trustBundlePem, type IssuedCertificate, type KeyType, type MeshCa } from "../ca/index.js";
import { after, at, type Timer } from "../common/timers.js";
import type { Logger } from "../log.js";
import { translated, type Translated } from "../translators/translated.js";
import type { StreamIdentity } from "../xds/index.js";
import { IssuanceQueue } from "./issuance-queue.js";

export const WORKLOAD_SECRET = "default";
export const ROOT_SECRET = "ROOTCA";

/** A credential with less time left than this gets no certificate: it is about to expire. */
const MIN_LIFETIME_MS = 10_000;
const RETRY_MS = 10_000;

export interface WorkloadSecretsOptions {
  readonly ca: MeshCa;
  readonly trustDomain: string;
  readonly keyType: KeyType;
  readonly lifetimeMs?: number;
  readonly logger: Logger;
  readonly random?: () => number;
  /** Issuances at once (default 2). */
  readonly concurrency?: number;
  /** How a certificate is issued (tests hold it to put a rotation or a departure in between). */
  readonly issue?: typeof issueWorkloadCertificate;
}

/** What the pusher reads: a proxy's secrets, and word when they change. */
export interface SecretSource {
  /** The proxy's secrets; starts issuing on first call. `ready` once its certificate is there. */
  secretsFor(proxy: string, identity: StreamIdentity): { readonly ready: boolean; readonly secrets: readonly Translated[] };
  forget(proxy: string): void;
  /** Called with a proxy whose secrets changed (issued, renewed, rotated). */
  onChanged(listener: (proxy: string) => void): void;
}

interface Current {
  readonly issued: IssuedCertificate;
  readonly secret: Translated;
  readonly issuerId: string;
}

/** Where a proxy's issuance stands; `current` keeps serving meanwhile. */
type Work = { readonly t: "queued" } | { readonly t: "issuing" } | { readonly t: "idle"; readonly timer: Timer | undefined };

interface Held {
  readonly identity: StreamIdentity;
  current: Current | undefined;
  work: Work;
  /** Bumped whenever a running issuance must not count any more (the proxy left, the issuer changed). */
  generation: number;
}

export class WorkloadSecrets implements SecretSource {
  private readonly held = new Map<string, Held>();
  private readonly listeners: ((proxy: string) => void)[] = [];
  private readonly queue: IssuanceQueue;
  private rootSecret: Translated;
  private ca: MeshCa;
  private issued = 0;

  constructor(private readonly options: WorkloadSecretsOptions) {
    this.ca = options.ca;
    this.rootSecret = rootSecret(trustBundlePem(options.ca));
    this.queue = new IssuanceQueue(options.concurrency ?? 2);
  }

  onChanged(listener: (proxy: string) => void): void {
    this.listeners.push(listener);
  }

  /**
   * A step of a root rotation was taken (gitmesh ca rotate): every proxy gets the new trust
   * bundle, and, when the issuing authority changed, a certificate from the new one. An issuance
   * already running under the old issuer is discarded when it ends. Certificates from the old
   * root keep working while both are trusted, so no connection fails meanwhile.
   */
  setCa(ca: MeshCa): void {
    const issuerChanged = issuer(ca).id !== issuer(this.ca).id;
    this.ca = ca;
    this.rootSecret = rootSecret(trustBundlePem(ca));
    for (const [proxy, h] of this.held) {
      if (issuerChanged) this.schedule(proxy, h);
      this.changed(proxy);
    }
  }

  secretsFor(proxy: string, identity: StreamIdentity): { readonly ready: boolean; readonly secrets: readonly Translated[] } {
    let h = this.held.get(proxy);
    if (h !== undefined && (h.identity.namespace !== identity.namespace || h.identity.serviceAccount !== identity.serviceAccount)) {
      this.forget(proxy); // the same key is now another identity: never hand it the old key
      h = undefined;
    }
    if (h === undefined) {
      h = { identity, current: undefined, work: { t: "idle", timer: undefined }, generation: 0 };
      this.held.set(proxy, h);
      this.schedule(proxy, h);
    }
    return h.current === undefined ? { ready: false, secrets: [this.rootSecret] } : { ready: true, secrets: [h.current.secret, this.rootSecret] };
  }

  /** The proxy is gone: its key is dropped, its queued or running issuance and its renewal cancelled. */
  forget(proxy: string): void {
    const h = this.held.get(proxy);
    if (h === undefined) return;
    h.generation = -1;
    if (h.work.t === "idle") h.work.timer?.cancel();
    this.queue.remove(proxy);
    this.held.delete(proxy);
  }

  /** What is held, for debug pages: never the keys. */
  describe(): { proxy: string; state: Work["t"]; spiffeId?: string; notAfter?: string }[] {
    return [...this.held].map(([proxy, h]) => ({
      proxy,
      state: h.work.t,
      ...(h.current === undefined ? {} : { spiffeId: h.current.issued.spiffeId, notAfter: h.current.issued.notAfter.toISOString() }),
    }));
  }

  /** Counters for metrics and tests. */
  get stats(): { readonly held: number; readonly waiting: number; readonly issued: number } {
    return { held: this.held.size, waiting: this.queue.waiting, issued: this.issued };
  }

  close(): void {
    this.queue.stop();
    for (const proxy of [...this.held.keys()]) this.forget(proxy);
  }

  /** Queues a (new) issuance for the proxy; whatever was running or scheduled no longer counts. */
  private schedule(proxy: string, h: Held): void {
    h.generation++;
    if (h.work.t === "idle") h.work.timer?.cancel();
    h.work = { t: "queued" };
    const generation = h.generation;
    this.queue.add({
      proxy,
      identity: `${h.identity.namespace}/${h.identity.serviceAccount}`,
      run: () => this.issue(proxy, h, generation),
    });
  }

  private async issue(proxy: string, h: Held, generation: number): Promise<void> {
    if (h.generation !== generation) return;
    const credentialLeft = h.identity.expiresAt === undefined ? Infinity : h.identity.expiresAt.getTime() - Date.now();
    const lifetimeMs = Math.min(this.options.lifetimeMs ?? 24 * 3600_000, credentialLeft);
    if (credentialLeft < MIN_LIFETIME_MS) {
      // The stream is closed when its credential expires; a certificate now would outlive it.
      h.work = { t: "idle", timer: undefined };
      this.options.logger.warn("no workload certificate: the proxy's credential expires too soon", { proxy, expiresAt: h.identity.expiresAt?.toISOString() });
      return;
    }
    h.work = { t: "issuing" };
    const authority = issuer(this.ca);
    const { trustDomain, keyType } = this.options;
    let issued: IssuedCertificate;
    try {
      issued = await (this.options.issue ?? issueWorkloadCertificate)(authority, { trustDomain, namespace: h.identity.namespace, serviceAccount: h.identity.serviceAccount }, { keyType, lifetimeMs });
    } catch (e) {
      if (h.generation !== generation) return;
      this.options.logger.error("could not issue a workload certificate; trying again in 10 s", { proxy, error: (e as Error).message });
      h.work = { t: "idle", timer: after(RETRY_MS, () => this.schedule(proxy, h)) };
      return;
    }
    // The proxy left, or the issuer changed (a rotation switch) while this ran: it does not count.
    if (h.generation !== generation) return;
    if (issuer(this.ca).id !== authority.id) {
      this.schedule(proxy, h);
      return;
    }
    this.issued++;
    h.current = {
      issued,
      issuerId: authority.id,
      secret: translated("envoy.extensions.transport_sockets.tls.v3.Secret", WORKLOAD_SECRET, {
        name: WORKLOAD_SECRET,
        tls_certificate: { certificate_chain: { inline_string: issued.chainPem }, private_key: { inline_string: issued.keyPem } },
      }),
    };
    const renewAt = renewalTime(issued.issuedAt, issued.notAfter, this.options.random);
    h.work = { t: "idle", timer: at(renewAt, () => this.schedule(proxy, h)) };
    this.options.logger.info("workload certificate issued", { proxy, spiffeId: issued.spiffeId, notAfter: issued.notAfter.toISOString(), renewAt: renewAt.toISOString() });
    this.changed(proxy);
  }

  private changed(proxy: string): void {
    for (const l of this.listeners) l(proxy);
  }
}

function rootSecret(bundlePem: string): Translated {
  return translated("envoy.extensions.transport_sockets.tls.v3.Secret", ROOT_SECRET, { name: ROOT_SECRET, validation_context: { trusted_ca: { inline_string: bundlePem } } });
}
