// Keeps every connected proxy's snapshot in step with what it is served from: the config model,
// the gateway credentials, the workloads registered by their proxies, the addresses of gitmesh's
// own DNS lookups (dns-resolution.ts) and each proxy's own secrets.
// Translates once per change and sets a proxy's snapshot when it connects and when its resources
// change. Proxies are pushed in slices of a few milliseconds (common/steps.ts): pushing two
// thousand sidecars after a commit never holds up the ACKs, health checks and keepalives the
// event loop also serves, and a newer translation meanwhile simply becomes what the proxies not
// yet pushed get. Everything it caches (encodings, layers, the translation memo) is owned here and lives
// as long as the pusher; what a departed proxy alone used leaves with it.
import type { MeshModel } from "../config/load.js";
import type { Node__Output } from "../envoy/index.js";
import type { Logger } from "../log.js";
import type { Credentials } from "../translators/gateway.js";
import { createTranslationMemo, translateMeshSteps, type MeshTranslation } from "../translators/mesh.js";
import { peerHost, proxyFromNode, canonicalProxy, type ProxyIdentity } from "../translators/proxy.js";
import type { AccessLogging } from "../translators/access-log.js";
import { proxyPlanSteps, type ProxyLayer } from "../translators/proxy-resources.js";
import { withRegistrations, type RegisteredEntries, type RegistrationProblems } from "../translators/registration.js";
import type { DnsAnswers } from "../translators/services.js";
import { ResourceEncoder, type AdmitRefusal, type SnapshotCache, type StreamIdentity, type XdsServerOptions } from "../xds/index.js";
import { runInSlices, type Steps } from "../common/steps.js";
import { SnapshotLayers } from "./layers.js";
import { ProxyNotices } from "./notices.js";
import type { Registration } from "./registration-store.js";
import { Registrations } from "./registrations.js";
import type { SecretSource } from "./workload-secrets.js";

export interface PusherOptions {
  /** Secrets for authenticated proxies; without it no proxy gets workload certificates. */
  readonly secrets?: SecretSource;
  /** How long a self-registered workload stays an endpoint after its stream ends (default 10 s). */
  readonly registrationGraceMs?: number;
  /**
   * How long registrations are gathered before the mesh is translated again (default 50 ms):
   * a fleet starting at once costs one translation, not one per proxy.
   */
  readonly registrationBatchMs?: number;
  /**
   * Registrations of a previous run (registration-store.ts): endpoints again at once, each
   * ending after restoredGraceMs unless its proxy reconnects.
   */
  readonly restored?: readonly Registration[];
  /**
   * How long a restored registration waits for its proxy (default: the grace period plus 30 s,
   * Envoy's longest back-off between two attempts to reach its control plane, so a proxy that
   * kept retrying while gitmesh was down has time to come back).
   */
  readonly restoredGraceMs?: number;
  /** Called with every registration held whenever the mesh is translated (to keep them across restarts). */
  readonly onRegistrations?: (registrations: readonly Registration[]) => void;
  /** Mesh-wide access logging for sidecars and gateways (serve --access-log). */
  readonly accessLog?: AccessLogging;
}

/** Envoy's longest wait between two attempts to open its xDS stream (its back-off is 0.5 s to 30 s). */
const ENVOY_MAX_BACKOFF_MS = 30_000;

/** The outcome of applying a model: a failure leaves the previous model and translation served. */
export type ApplyResult = { readonly ok: true } | { readonly ok: false; readonly error: string };

interface Connected {
  readonly identity: ProxyIdentity;
  /** canonicalProxy(identity), worked out once: what a reconnecting proxy is compared by. */
  readonly canonical: string;
  /** The credential its streams showed (only streams of one identity share a key). */
  readonly credential: StreamIdentity | undefined;
  streams: number;
}

/** Envoy proxies' config names SDS secrets; only an authenticated stream is sent secrets. */
const ENVOY_KINDS: ReadonlySet<ProxyIdentity["kind"]> = new Set(["sidecar", "gateway"]);

export class MeshPusher {
  private translation: MeshTranslation | undefined;
  private model: MeshModel | undefined;
  private credentials: Credentials = new Map();
  private dnsAnswers: DnsAnswers = new Map();
  private registrationProblems: RegistrationProblems = new Map();
  private readonly proxies = new Map<string, Connected>();
  private readonly registrations: Registrations;
  private readonly encoder = new ResourceEncoder();
  private readonly layers: SnapshotLayers;
  private readonly memo = createTranslationMemo();
  /** Registered proxies' WorkloadEntries, the same object while the proxy and its group are (registration.ts). */
  private readonly registered: RegisteredEntries = new WeakMap();
  readonly notices: ProxyNotices;
  private batch: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  /** Proxies whose snapshot is to be set again, in the order they were asked for. */
  private readonly pending = new Set<string>();
  /** The pushing of `pending`, while it runs. */
  private draining: Promise<void> | undefined;
  /** Counts translations started: one that a newer one overtook stops where it is. */
  private generation = 0;
  /** The translation in flight, if any. */
  private translating: Promise<ApplyResult> | undefined;

  constructor(
    private readonly cache: SnapshotCache,
    private readonly logger: Logger,
    private readonly options: PusherOptions = {},
  ) {
    this.layers = new SnapshotLayers(this.encoder, logger);
    this.notices = new ProxyNotices(logger);
    this.registrations = new Registrations(options.registrationGraceMs ?? 10_000, () => this.translateSoon());
    const restoredGraceMs = options.restoredGraceMs ?? (options.registrationGraceMs ?? 10_000) + ENVOY_MAX_BACKOFF_MS;
    for (const r of options.restored ?? []) this.registrations.restore(r.key, r.identity, restoredGraceMs);
    options.secrets?.onChanged((proxy) => this.schedule(proxy));
  }

  /** The XdsServer options that connect it to this pusher: node admission and proxy lifecycle. */
  serverHooks(): Pick<XdsServerOptions, "admitNode" | "onProxyConnected" | "onProxyDisconnected"> {
    return {
      admitNode: (node, identity) => this.admit(node, identity),
      onProxyConnected: (key, node, peer, credential) => this.connected(key, node, peer, credential),
      onProxyDisconnected: (key) => this.disconnected(key),
    };
  }

  /**
   * The node contract check, and the endpoint rule: Envoy sidecars and gateways connect where
   * streams authenticate (the TLS port), because their config names secrets (their certificate,
   * the trust bundle, a gateway's keys) that the plaintext port never sends. Proxyless gRPC reads
   * its certificates from files and may use either port.
   */
  admit(node: Node__Output, identity?: StreamIdentity): AdmitRefusal | undefined {
    const r = proxyFromNode(node);
    if (!r.ok) return { code: "INVALID_ARGUMENT", message: r.problems.join("; ") };
    if (identity === undefined && ENVOY_KINDS.has(r.proxy.kind)) {
      return {
        code: "PERMISSION_DENIED",
        message: `an Envoy ${r.proxy.kind} must connect to gitmesh's TLS xDS port (15012) with a token: its config names secrets (its certificate, the trust bundle) that the plaintext port never sends. Write its bootstrap with gitmesh bootstrap --xds-ca-file FILE --token TOKEN (docs/proxies.md)`,
      };
    }
    return undefined;
  }

  /**
   * Serves a new model: translated, then pushed to every connected proxy. When translating fails
   * (a bug), the previous model stays served and the caller is told, so it does not record the new
   * model as served or save it as the last good one.
   */
  async setModel(model: MeshModel): Promise<ApplyResult> {
    const previous = this.model;
    this.model = model;
    const r = await this.translate("config");
    if (!r.ok && this.model === model) this.model = previous;
    return r;
  }

  /** Gateway certificates changed (the credentials directory was read again). */
  async setCredentials(credentials: Credentials): Promise<void> {
    const previous = this.credentials;
    this.credentials = credentials;
    const r = await this.translate("credentials");
    if (!r.ok && this.credentials === credentials) this.credentials = previous;
  }

  /** gitmesh's own DNS lookups changed (dns-resolution.ts): the hosts they resolve get the new addresses. */
  async setDnsAnswers(answers: DnsAnswers): Promise<void> {
    const previous = this.dnsAnswers;
    this.dnsAnswers = answers;
    const r = await this.translate("dns");
    if (!r.ok && this.dnsAnswers === answers) this.dnsAnswers = previous;
  }

  /** Registered workloads now: those serving as endpoints, and those refused with why. */
  get registrationStatus(): { registered: string[]; refused: Record<string, string> } {
    const claims = this.registrations.current();
    return {
      registered: [...claims.keys()].filter((k) => !this.registrationProblems.has(k)).sort(),
      refused: Object.fromEntries(this.registrationProblems),
    };
  }

  /** Sizes of what the pusher holds, for leak checks and metrics. */
  get held(): { readonly proxies: number; readonly layers: number; readonly encodings: number; readonly inboundListeners: number } {
    return { proxies: this.proxies.size, layers: this.layers.size, encodings: this.encoder.pooled, inboundListeners: this.memo.inboundListeners };
  }

  /**
   * Resolves once every proxy asked for so far has its snapshot set from the newest translation
   * (benches and tests wait on it; serve never needs to).
   */
  async settled(): Promise<void> {
    while (this.translating !== undefined || this.draining !== undefined) {
      await this.translating;
      await this.draining;
    }
  }

  /** Stops pushing: nothing is translated or set after this, whatever is still in flight. */
  close(): void {
    this.closed = true;
    this.generation++;
    this.pending.clear();
    if (this.batch !== undefined) clearTimeout(this.batch);
    this.batch = undefined;
    this.registrations.close();
  }

  connected(key: string, node: Node__Output, peer = "", credential?: StreamIdentity): void {
    if (this.closed) return;
    const r = proxyFromNode(node);
    if (!r.ok) return; // admit() refused it already
    const address = peerHost(peer);
    const identity: ProxyIdentity = {
      ...r.proxy,
      ...(address === undefined ? {} : { peerAddress: address }),
      ...(credential === undefined ? {} : { authenticated: true }),
    };
    const existing = this.proxies.get(key);
    const canonical = canonicalProxy(identity);
    // The newest stream's node wins: a restarted proxy may reuse its id as something else.
    this.proxies.set(key, { identity, canonical, credential: credential ?? existing?.credential, streams: (existing?.streams ?? 0) + 1 });
    this.registrations.connected(key, identity);
    if (existing === undefined || existing.canonical !== canonical) this.schedule(key);
  }

  disconnected(key: string): void {
    const p = this.proxies.get(key);
    if (p === undefined) return;
    if (--p.streams > 0) return;
    this.proxies.delete(key);
    this.pending.delete(key);
    this.cache.delete(key);
    this.layers.release(key);
    this.notices.delete(key);
    this.options.secrets?.forget(key);
    this.registrations.disconnected(key);
  }

  /**
   * Translates the current model, registrations and credentials, in slices; then every proxy is
   * pushed. A translation that a newer one overtakes (a registration batch during a reload)
   * stops where it is: the newer one includes everything it would have.
   */
  private translate(reason: string): Promise<ApplyResult> {
    const running = this.translateSteps(reason);
    this.translating = running;
    const done = () => {
      if (this.translating === running) this.translating = undefined;
    };
    running.then(done, done); // its failures are the caller's: this only notes it ended
    return running;
  }

  private async translateSteps(reason: string): Promise<ApplyResult> {
    if (this.closed || this.model === undefined) return { ok: true };
    if (this.batch !== undefined) clearTimeout(this.batch);
    this.batch = undefined;
    const generation = ++this.generation;
    const started = performance.now();
    let translation: MeshTranslation | undefined;
    let problems: RegistrationProblems;
    try {
      const registered = withRegistrations(this.model, this.registrations.current(), this.registered);
      problems = registered.problems;
      const grpcClients = [...this.proxies.values()].some((p) => p.identity.kind === "grpc");
      translation = await runInSlices(this.unlessOvertaken(generation, this.translationSteps(registered.model, grpcClients)));
      if (translation === undefined) return { ok: true };
    } catch (e) {
      const error = (e as Error).stack ?? String(e);
      this.logger.error("bug: translating the mesh failed; proxies keep what they have", { reason, error });
      return { ok: false, error: `translating the mesh failed: ${(e as Error).message}` };
    }
    this.translation = translation;
    this.registrationProblems = problems;
    this.options.onRegistrations?.([...this.registrations.current()].map(([key, identity]) => ({ key, identity })));
    this.layers.clear();
    for (const key of this.proxies.keys()) this.pending.add(key);
    this.drain();
    this.logger.info("mesh translated", { reason, proxies: this.proxies.size, registered: this.registrations.current().size - problems.size, ms: Math.round(performance.now() - started) });
    return { ok: true };
  }

  private translateSoon(): void {
    if (this.closed || this.batch !== undefined) return;
    this.batch = setTimeout(() => {
      this.batch = undefined;
      void this.translate("registrations");
    }, this.options.registrationBatchMs ?? 50);
    this.batch.unref();
  }

  /**
   * The mesh translated; with gRPC clients connected, what they take of each service too, a
   * service at a time, rather than all at once when the first of them is pushed.
   */
  private *translationSteps(model: MeshModel, grpcClients: boolean): Steps<MeshTranslation> {
    const translation = yield* translateMeshSteps(model, this.memo, { credentials: this.credentials, dnsAnswers: this.dnsAnswers });
    if (grpcClients) {
      for (const s of translation.services) {
        s.grpc();
        yield "tick";
      }
    }
    return translation;
  }

  /** The steps, stopped (undefined) once a newer translation has started or the pusher closed. */
  private *unlessOvertaken<T>(generation: number, steps: Steps<T>): Steps<T | undefined> {
    for (;;) {
      if (generation !== this.generation) return undefined;
      const r = steps.next();
      if (r.done === true) return r.value;
      yield r.value;
    }
  }

  /** Sets the proxy's snapshot again soon (in the next slice of pushes). */
  private schedule(key: string): void {
    if (this.closed) return;
    this.pending.add(key);
    this.drain();
  }

  /** Pushes the pending proxies in slices, until none is left. */
  private drain(): void {
    if (this.draining !== undefined || this.closed) return;
    this.draining = runInSlices(this.pushSteps())
      .catch((e: unknown) => this.logger.error("bug: pushing to proxies failed", { error: (e as Error).stack ?? String(e) }))
      .finally(() => {
        this.draining = undefined;
        if (this.pending.size > 0) this.drain();
        else this.layers.settle();
      });
  }

  private *pushSteps(): Steps<void> {
    for (const key of this.pending) {
      if (this.closed) return;
      this.pending.delete(key);
      yield* this.push(key);
      yield "tick";
    }
  }

  private *push(key: string): Steps<void> {
    const p = this.proxies.get(key);
    if (this.closed || p === undefined || this.translation === undefined) return;
    try {
      const registration = this.registrationProblems.get(key);
      const translation = this.translation;
      const plan = yield* proxyPlanSteps(translation, p.identity);
      // A newer translation came while it was worked out: every proxy is pushed again from that one.
      if (translation !== this.translation) return;
      this.notices.set(key, [...(registration === undefined ? [] : [registration]), ...plan.notes()]);
      const layers = plan.layers;
      const own = this.secretsLayer(key, p);
      if (own === "not ready") return;
      const logged = this.options.accessLog?.layers(p.identity.kind, layers) ?? layers;
      const snapshot = yield* this.layers.snapshotSteps(key, own === undefined ? logged : [...logged, own]);
      const now = this.proxies.get(key);
      if (now === undefined) {
        this.layers.release(key); // it left while its layers were built
        return;
      }
      // It came back as something else meanwhile: connected() asked for another push.
      if (this.closed || now.canonical !== p.canonical) return;
      if (snapshot === undefined) return;
      const set = this.cache.set(key, snapshot);
      if (!set.ok) this.logger.error("bug: translation produced an inconsistent snapshot; the proxy keeps what it has", { proxy: key, problems: JSON.stringify(set.problems.slice(0, 10)) });
    } catch (e) {
      // One proxy's failure must not keep the others on old config.
      this.logger.error("bug: could not build a proxy's snapshot", { proxy: key, error: (e as Error).stack ?? String(e) });
    }
  }

  /**
   * An authenticated proxy's snapshot gains a layer of its own secrets (never shared). An Envoy
   * proxy gets nothing until its certificate is issued: its listeners and clusters name it, and a
   * name it cannot resolve would leave them warming. A gateway credential named like a workload
   * secret ("default", "ROOTCA") collides with it: the layers then overlap and the proxy keeps
   * what it has, logged, rather than gitmesh guessing which key is meant.
   */
  private secretsLayer(key: string, p: Connected): ProxyLayer | "not ready" | undefined {
    const secrets = this.options.secrets;
    if (p.credential === undefined || secrets === undefined) return undefined;
    const own = secrets.secretsFor(key, p.credential);
    if (!own.ready && ENVOY_KINDS.has(p.identity.kind)) return "not ready";
    return { key: `secrets:${key}`, resources: () => own.secrets, own: true };
  }
}
