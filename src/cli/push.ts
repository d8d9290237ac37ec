import type { MeshModel } from "../config/load.js";
import type { Node__Output } from "../envoy/index.js";
import type { Logger } from "../log.js";
import { createTranslationMemo, translateMesh, type MeshTranslation } from "../translators/mesh.js";
import { proxyLayers } from "../translators/proxy-resources.js";
import { peerHost, proxyFromNode, type ProxyIdentity } from "../translators/proxy.js";
import { composeSnapshot, makeSnapshot, resourceOf, type Snapshot, type SnapshotCache, type XdsServerOptions } from "../xds/index.js";

/**
 * Keeps every connected proxy's snapshot in step with the served model: translates once per
 * model, and sets a proxy's snapshot when it connects and when the model changes.
 */
export class MeshPusher {
  private translation: MeshTranslation | undefined;
  private readonly proxies = new Map<string, { identity: ProxyIdentity; streams: number }>();
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
  ) {}

  /** The XdsServer options that connect it to this pusher: node admission and proxy lifecycle. */
  serverHooks(): Pick<XdsServerOptions, "admitNode" | "onProxyConnected" | "onProxyDisconnected"> {
    return {
      admitNode: (node) => this.admit(node),
      onProxyConnected: (key, node, peer) => this.connected(key, node, peer),
      onProxyDisconnected: (key) => this.disconnected(key),
    };
  }

  /** The node contract check for XdsServer.admitNode: a message when the node breaks it. */
  admit(node: Node__Output): string | undefined {
    const r = proxyFromNode(node);
    return r.ok ? undefined : r.problems.join("; ");
  }

  setModel(model: MeshModel): void {
    const started = performance.now();
    this.translation = translateMesh(model, this.memo);
    this.shared = new Map();
    for (const key of this.proxies.keys()) this.push(key);
    this.logger.info("config translated and pushed", { proxies: this.proxies.size, ms: Math.round(performance.now() - started) });
  }

  connected(key: string, node: Node__Output, peer = ""): void {
    const r = proxyFromNode(node);
    if (!r.ok) return; // admit() refused it already
    const address = peerHost(peer);
    const identity: ProxyIdentity = address === undefined ? r.proxy : { ...r.proxy, peerAddress: address };
    const existing = this.proxies.get(key);
    // The newest stream's node wins: a restarted proxy may reuse its id as something else.
    this.proxies.set(key, { identity, streams: (existing?.streams ?? 0) + 1 });
    if (existing === undefined || JSON.stringify(existing.identity) !== JSON.stringify(identity)) this.push(key);
  }

  disconnected(key: string): void {
    const p = this.proxies.get(key);
    if (p === undefined) return;
    if (--p.streams > 0) return;
    this.proxies.delete(key);
    this.cache.delete(key);
  }

  private push(key: string): void {
    const p = this.proxies.get(key);
    if (p === undefined || this.translation === undefined) return;
    try {
      const snapshot = this.snapshotFor(p.identity);
      if (snapshot === undefined) return;
      const set = this.cache.set(key, snapshot);
      if (!set.ok) this.logger.error("bug: translation produced an inconsistent snapshot", { proxy: key, problems: JSON.stringify(set.problems) });
    } catch (e) {
      // One proxy's failure must not keep the others on old config.
      this.logger.error("bug: could not build a proxy's snapshot", { proxy: key, error: (e as Error).stack ?? String(e) });
    }
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
