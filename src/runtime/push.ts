import type { MeshModel } from "../config/load.js";
import type { Node__Output } from "../envoy/index.js";
import type { Logger } from "../log.js";
import { createTranslationMemo, translateMesh, type MeshTranslation } from "../translators/mesh.js";
import type { Credentials } from "../translators/gateway.js";
import { proxyLayers } from "../translators/proxy-resources.js";
import { withRegistrations } from "../translators/registration.js";
import { peerHost, proxyFromNode, type ProxyIdentity } from "../translators/proxy.js";
import type { Translated } from "../translators/translated.js";
import type { Registration } from "./registrations.js";
import { composeSnapshot, makeSnapshot, resourceOf, type Snapshot, type SnapshotCache, type StreamIdentity, type XdsServerOptions } from "../xds/index.js";

/** Per-proxy secrets for proxies that authenticated (workload-secrets.ts). */
export interface SecretSource {
  secretsFor(proxy: string, identity: StreamIdentity): readonly Translated[];
  forget(proxy: string): void;
}

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
   * Registrations of a previous run (registrations.ts): endpoints again at once, each leaving after
   * restoredGraceMs unless its proxy reconnects.
   */
  readonly restored?: readonly Registration[];
  /**
   * How long a restored registration waits for its proxy (default: the grace period plus 30 s,
   * Envoy's longest back-off between two attempts to reach its control plane, so a proxy that
   * kept retrying while gitmesh was down has time to come back).
   */
  readonly restoredGraceMs?: number;
  /** Called with every registration held, whenever they changed (to keep them across restarts). */
  readonly onRegistrations?: (registrations: readonly Registration[]) => void;
}

/** Envoy's longest wait between two attempts to open its xDS stream (its back-off is 0.5 s to 30 s). */
const ENVOY_MAX_BACKOFF_MS = 30_000;

/**
 * Keeps every connected proxy's snapshot in step with what it is served from: the config model,
 * the gateway credentials and the workloads registered by their proxies. Translates once per
 * change, and sets a proxy's snapshot when it connects and when its resources change.
 */
export class MeshPusher {
  private translation: MeshTranslation | undefined;
  private model: MeshModel | undefined;
  private credentials: Credentials = new Map();
  /** Proxies registered as endpoints (WORKLOAD_GROUP), by proxy key. */
  private readonly registered = new Map<string, ProxyIdentity>();
  private readonly expiring = new Map<string, NodeJS.Timeout>();
  private batch: NodeJS.Timeout | undefined;
  private lastProblems = "";
  private readonly proxies = new Map<string, { identity: ProxyIdentity; streams: number; credential: StreamIdentity | undefined }>();
  /**
   * Snapshots of layers (proxyLayers) and of whole proxies, by their layer keys: proxies alike
   * share one snapshot, and a sidecar's own snapshot shares its scope's layer with its peers.
   */
  private shared = new Map<string, Snapshot>();
  /** Unchanged services keep their resource objects across models, so they are not re-encoded. */
  private readonly memo = createTranslationMemo();

  constructor(
    private readonly cache: SnapshotCache,
    private readonly logger: Logger,
    private readonly options: PusherOptions = {},
  ) {
    for (const r of options.restored ?? []) {
      this.registered.set(r.key, r.identity);
      this.expireLater(r.key, options.restoredGraceMs ?? (options.registrationGraceMs ?? 10_000) + ENVOY_MAX_BACKOFF_MS);
    }
  }

  /** The XdsServer options that connect it to this pusher: node admission and proxy lifecycle. */
  serverHooks(): Pick<XdsServerOptions, "admitNode" | "onProxyConnected" | "onProxyDisconnected"> {
    return {
      admitNode: (node) => this.admit(node),
      onProxyConnected: (key, node, peer, credential) => this.connected(key, node, peer, credential),
      onProxyDisconnected: (key) => this.disconnected(key),
    };
  }

  /** The node contract check for XdsServer.admitNode: a message when the node breaks it. */
  admit(node: Node__Output): string | undefined {
    const r = proxyFromNode(node);
    return r.ok ? undefined : r.problems.join("; ");
  }

  setModel(model: MeshModel): void {
    this.model = model;
    this.translate("config");
  }

  /** Gateway certificates changed (the credentials directory was read again). */
  setCredentials(credentials: Credentials): void {
    this.credentials = credentials;
    this.translate("credentials");
  }

  /** Registered workloads now (for debug pages). */
  get registrations(): readonly ProxyIdentity[] {
    return [...this.registered.values()];
  }

  private translate(reason: string): void {
    if (this.model === undefined) return;
    if (this.batch !== undefined) clearTimeout(this.batch);
    this.batch = undefined;
    const started = performance.now();
    const { model, problems } = withRegistrations(this.model, [...this.registered.values()]);
    const said = problems.join("\n");
    if (said !== this.lastProblems && problems.length > 0) for (const p of problems) this.logger.warn("workload not registered", { problem: p });
    this.lastProblems = said;
    this.options.onRegistrations?.([...this.registered].map(([key, identity]) => ({ key, identity })));
    this.translation = translateMesh(model, this.memo, { credentials: this.credentials });
    this.shared = new Map();
    for (const key of this.proxies.keys()) this.push(key);
    this.logger.info("mesh translated and pushed", { reason, proxies: this.proxies.size, registered: this.registered.size, ms: Math.round(performance.now() - started) });
  }

  private translateSoon(): void {
    if (this.batch !== undefined) return;
    this.batch = setTimeout(() => this.translate("registrations"), this.options.registrationBatchMs ?? 50);
    this.batch.unref();
  }

  connected(key: string, node: Node__Output, peer = "", credential?: StreamIdentity): void {
    const r = proxyFromNode(node);
    if (!r.ok) return; // admit() refused it already
    const address = peerHost(peer);
    const identity: ProxyIdentity = address === undefined ? r.proxy : { ...r.proxy, peerAddress: address };
    const existing = this.proxies.get(key);
    // The newest stream's node wins: a restarted proxy may reuse its id as something else.
    // A credential, once shown on any of the proxy's streams, holds while one of them is open.
    this.proxies.set(key, { identity, streams: (existing?.streams ?? 0) + 1, credential: credential ?? existing?.credential });
    const expiring = this.expiring.get(key);
    if (expiring !== undefined) clearTimeout(expiring);
    this.expiring.delete(key);
    const wasRegistered = this.registered.get(key);
    if (identity.workloadGroup !== undefined) this.registered.set(key, identity);
    else this.registered.delete(key);
    if (JSON.stringify(wasRegistered) !== JSON.stringify(this.registered.get(key))) this.translateSoon();
    if (existing === undefined || JSON.stringify(existing.identity) !== JSON.stringify(identity) || existing.credential !== this.proxies.get(key)?.credential) this.push(key);
  }

  disconnected(key: string): void {
    const p = this.proxies.get(key);
    if (p === undefined) return;
    if (--p.streams > 0) return;
    this.proxies.delete(key);
    this.cache.delete(key);
    this.options.secrets?.forget(key);
    if (!this.registered.has(key)) return;
    this.expireLater(key);
  }

  /** A proxy restarting or reconnecting keeps its place; one that is gone leaves after the grace. */
  private expireLater(key: string, afterMs = this.options.registrationGraceMs ?? 10_000): void {
    const timer = setTimeout(() => {
      this.expiring.delete(key);
      if (this.proxies.has(key) || !this.registered.delete(key)) return;
      this.translateSoon();
    }, afterMs);
    timer.unref();
    this.expiring.set(key, timer);
  }

  /** Stops the timers (the server is shutting down). */
  close(): void {
    if (this.batch !== undefined) clearTimeout(this.batch);
    for (const t of this.expiring.values()) clearTimeout(t);
    this.expiring.clear();
  }

  /** Sets one proxy's snapshot again (its secrets changed). */
  refresh(key: string): void {
    this.push(key);
  }

  private push(key: string): void {
    const p = this.proxies.get(key);
    if (p === undefined || this.translation === undefined) return;
    try {
      const snapshot = this.withSecrets(key, p.credential, this.snapshotFor(p.identity));
      if (snapshot === undefined) return;
      const set = this.cache.set(key, snapshot);
      if (!set.ok) this.logger.error("bug: translation produced an inconsistent snapshot", { proxy: key, problems: JSON.stringify(set.problems) });
    } catch (e) {
      // One proxy's failure must not keep the others on old config.
      this.logger.error("bug: could not build a proxy's snapshot", { proxy: key, error: (e as Error).stack ?? String(e) });
    }
  }

  /** An authenticated proxy's snapshot gains a layer of its own secrets (never shared). */
  private withSecrets(key: string, credential: StreamIdentity | undefined, snapshot: Snapshot | undefined): Snapshot | undefined {
    const secrets = this.options.secrets;
    if (snapshot === undefined || credential === undefined || secrets === undefined) return snapshot;
    const own = makeSnapshot(secrets.secretsFor(key, credential).map(resourceOf));
    const composed = own.ok ? composeSnapshot([snapshot, own.snapshot]) : own;
    if (!composed.ok) {
      // A gateway credential named "default" or "ROOTCA" would collide: never guess which key is meant.
      this.logger.error("a proxy's secrets collide with its config; serving it without them", { proxy: key, problems: JSON.stringify(composed.problems) });
      return snapshot;
    }
    return composed.snapshot;
  }

  private snapshotFor(identity: ProxyIdentity): Snapshot | undefined {
    if (this.translation === undefined) return undefined;
    const layers = proxyLayers(this.translation, identity);
    const key = JSON.stringify(layers.map((l) => l.key));
    const cached = this.shared.get(key);
    if (cached !== undefined) return cached;
    const parts: Snapshot[] = [];
    for (const layer of layers) {
      let part = this.shared.get(layer.key);
      if (part === undefined) {
        const built = makeSnapshot(layer.resources().map(resourceOf));
        if (!built.ok) {
          this.logger.error("bug: translation produced an invalid snapshot", { kind: identity.kind, layer: layer.key, problems: JSON.stringify(built.problems) });
          return undefined;
        }
        part = built.snapshot;
        this.shared.set(layer.key, part);
      }
      parts.push(part);
    }
    const composed = composeSnapshot(parts);
    if (!composed.ok) {
      this.logger.error("bug: a proxy's layers overlap", { kind: identity.kind, problems: JSON.stringify(composed.problems) });
      return undefined;
    }
    this.shared.set(key, composed.snapshot);
    return composed.snapshot;
  }
}
