// Snapshots of layers, shared between proxies: proxies alike get one snapshot, and a sidecar's
// own snapshot shares its scope's layer with its peers (see composeSnapshot). Each layer and each
// combination is held for as long as a connected proxy uses it: when the last one leaves, it is
// dropped, so a fleet that comes and goes under a stable config leaves nothing behind.
import type { Logger } from "../log.js";
import type { ProxyLayer } from "../translators/proxy-resources.js";
import type { Translated } from "../translators/translated.js";
import { composeSnapshot, makeSnapshot, type ResourceEncoder, type Snapshot } from "../xds/index.js";

interface Entry {
  readonly snapshot: Snapshot;
  /**
   * The translator objects it was built from: holding them keeps caches that hold them weakly
   * (TranslationMemo's inbound listeners) warm for exactly as long as a proxy uses them.
   */
  readonly sources: readonly Translated[];
  /** Proxies using it. */
  readonly users: Set<string>;
}

export class SnapshotLayers {
  /** Layers and whole combinations, by key (a combination's key lists its layers' keys). */
  private readonly entries = new Map<string, Entry>();
  /** The keys each proxy holds. */
  private readonly held = new Map<string, readonly string[]>();

  constructor(
    private readonly encoder: ResourceEncoder,
    private readonly logger: Logger,
  ) {}

  /**
   * The proxy's snapshot of these layers; what it held before is released. Undefined (logged as
   * a bug) when a layer cannot be made into a snapshot.
   */
  snapshotFor(proxy: string, layers: readonly ProxyLayer[]): Snapshot | undefined {
    const only = layers.length === 1 ? layers[0] : undefined;
    const key = only?.key ?? JSON.stringify(layers.map((l) => l.key));
    const keys = only !== undefined ? [key] : [key, ...layers.map((l) => l.key)];
    let whole = this.entries.get(key)?.snapshot;
    if (whole === undefined) {
      const parts: Snapshot[] = [];
      for (const layer of layers) {
        let entry = this.entries.get(layer.key);
        if (entry === undefined) {
          const built = this.build(layer);
          if (built === undefined) return undefined;
          entry = { ...built, users: new Set() };
          this.entries.set(layer.key, entry);
        }
        parts.push(entry.snapshot);
      }
      const composed = composeSnapshot(parts);
      if (!composed.ok) {
        this.logger.error("bug: a proxy's layers overlap", { proxy, problems: JSON.stringify(composed.problems) });
        return undefined;
      }
      whole = composed.snapshot;
      if (only === undefined) this.entries.set(key, { snapshot: whole, sources: [], users: new Set() });
    }
    this.hold(proxy, keys);
    return whole;
  }

  /** The proxy left: whatever only it used is dropped. */
  release(proxy: string): void {
    for (const key of this.held.get(proxy) ?? []) {
      const e = this.entries.get(key);
      if (e === undefined) continue;
      e.users.delete(proxy);
      if (e.users.size === 0) this.entries.delete(key);
    }
    this.held.delete(proxy);
  }

  /** A new translation: every layer is built again as proxies are pushed. */
  clear(): void {
    this.entries.clear();
    this.held.clear();
  }

  /** Layers and combinations held (for leak checks). */
  get size(): number {
    return this.entries.size;
  }

  private hold(proxy: string, keys: readonly string[]): void {
    const before = this.held.get(proxy);
    for (const key of keys) this.entries.get(key)?.users.add(proxy);
    this.held.set(proxy, keys);
    if (before === undefined) return;
    const now = new Set(keys);
    for (const key of before) {
      if (now.has(key)) continue;
      const e = this.entries.get(key);
      if (e === undefined) continue;
      e.users.delete(proxy);
      if (e.users.size === 0) this.entries.delete(key);
    }
  }

  private build(layer: ProxyLayer): { snapshot: Snapshot; sources: readonly Translated[] } | undefined {
    const sources = layer.resources();
    const built = makeSnapshot(sources.map((r) => this.encoder.encode(r)));
    if (!built.ok) {
      this.logger.error("bug: translation produced an invalid snapshot", { layer: layer.key, problems: JSON.stringify(built.problems) });
      return undefined;
    }
    return { snapshot: built.snapshot, sources };
  }
}
