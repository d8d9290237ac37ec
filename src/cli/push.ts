import type { MeshModel } from "../config/load.js";
import type { Node__Output } from "../envoy/index.js";
import type { Logger } from "../log.js";
import { resourcesForProxy, translateMesh, type MeshTranslation } from "../translators/mesh.js";
import { proxyFromNode, type ProxyIdentity } from "../translators/proxy.js";
import { makeSnapshot, resourceOf, type SnapshotCache } from "../xds/index.js";

/**
 * Keeps every connected proxy's snapshot in step with the served model: translates once per
 * model, and sets a proxy's snapshot when it connects and when the model changes.
 */
export class MeshPusher {
  private translation: MeshTranslation | undefined;
  private readonly proxies = new Map<string, { identity: ProxyIdentity; streams: number }>();

  constructor(
    private readonly cache: SnapshotCache,
    private readonly logger: Logger,
  ) {}

  /** The node contract check for XdsServer.admitNode: a message when the node breaks it. */
  admit(node: Node__Output): string | undefined {
    const r = proxyFromNode(node);
    return r.ok ? undefined : r.problems.join("; ");
  }

  setModel(model: MeshModel): void {
    const started = performance.now();
    this.translation = translateMesh(model);
    for (const key of this.proxies.keys()) this.push(key);
    this.logger.info("config translated and pushed", { proxies: this.proxies.size, ms: Math.round(performance.now() - started) });
  }

  connected(key: string, node: Node__Output): void {
    const existing = this.proxies.get(key);
    if (existing !== undefined) {
      existing.streams++;
      return;
    }
    const r = proxyFromNode(node);
    if (!r.ok) return; // admit() refused it already
    this.proxies.set(key, { identity: r.proxy, streams: 1 });
    this.push(key);
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
    const built = makeSnapshot(resourcesForProxy(this.translation, p.identity).map(resourceOf));
    if (!built.ok) {
      this.logger.error("bug: translation produced an invalid snapshot", { proxy: key, problems: JSON.stringify(built.problems) });
      return;
    }
    const set = this.cache.set(key, built.snapshot);
    if (!set.ok) this.logger.error("bug: translation produced an inconsistent snapshot", { proxy: key, problems: JSON.stringify(set.problems) });
  }
}
