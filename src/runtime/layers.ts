// Snapshots of layers, shared between proxies: proxies alike get one snapshot, and a sidecar's
// own snapshot shares its scope's layer with its peers (see composeSnapshot). Each layer and each
// combination is held for as long as a connected proxy uses it: when the last one leaves, it is
// dropped, so a fleet that comes and goes under a stable config leaves nothing behind.
//
// A new translation builds every layer again, but what it did not change is not made again: while
// proxies are pushed after a translation, the previous translation's layers are kept aside, and a
// layer built of the very same resource objects is the previous snapshot itself, a combination of
// the very same layers is the previous combination, and a changed layer keeps the types it did
// not change (makeSnapshot, composeSnapshot). A config change that touches one route then costs
// each proxy a few lookups, and its streams see one changed type.
import type { Logger } from "../log.js";
import type { ProxyLayer } from "../translators/proxy-resources.js";
import type { Translated } from "../translators/translated.js";
import { sameItems } from "../common/arrays.js";
import type { Steps } from "../common/steps.js";
import { composeSnapshot, makeSnapshotSteps, referencesOf, replaceInSnapshot, unresolvedSince, type EncodedResource, type ResourceEncoder, type Snapshot } from "../xds/index.js";

interface Entry {
  readonly snapshot: Snapshot;
  /**
   * A layer: the translator objects it was built from. Holding them keeps caches that hold them
   * weakly (TranslationMemo's inbound listeners) warm for exactly as long as a proxy uses them,
   * and tells whether the next translation built the same layer.
   */
  readonly sources: readonly Translated[];
  /** A layer: each source's encoding, in the same order (what the next build of the layer need not look up again). */
  readonly encoded: readonly EncodedResource[];
  /** A combination: the layers' snapshots it was composed of. */
  readonly parts: readonly Snapshot[];
  /** Proxies using it. */
  readonly users: Set<string>;
}

/**
 * Resources encoded between two places the build may pause (a sidecar scope has thousands). Small:
 * runInSlices pauses only once its slice has passed, and the first encodings of a process (cold
 * code, protobufjs writers built on first use) take up to half a millisecond each.
 */
const ENCODE_STEP = 8;

/** Most resources a layer's rebuild replaces in place (patch) rather than making the layer anew. */
const PATCH_MOST = 64;

export class SnapshotLayers {
  /** Layers and whole combinations, by key (a combination's key lists its layers' keys). */
  private entries = new Map<string, Entry>();
  /** The previous translation's, until every proxy has been pushed again (settle). */
  private previous = new Map<string, Entry>();
  /** The keys each proxy holds. */
  private readonly held = new Map<string, readonly string[]>();
  /** Bumped by clear(): a build paused across a new translation is of the old one, and dropped. */
  private epoch = 0;

  constructor(
    private readonly encoder: ResourceEncoder,
    private readonly logger: Logger,
  ) {}

  /**
   * The proxy's snapshot of these layers, in steps (building a layer of thousands of resources
   * pauses as it encodes them); what it held before is released. Undefined when a layer cannot be
   * made into a snapshot (logged as a bug), or when a new translation came while it was paused
   * (the proxy is pushed again).
   */
  *snapshotSteps(proxy: string, layers: readonly ProxyLayer[]): Steps<Snapshot | undefined> {
    const epoch = this.epoch;
    const parts: Snapshot[] = [];
    for (const layer of layers) {
      const part = yield* this.layer(layer);
      if (part === undefined || epoch !== this.epoch) return undefined;
      parts.push(part);
    }
    const [only] = parts;
    if (only !== undefined && parts.length === 1) {
      this.hold(proxy, [layers[0]?.key ?? ""]);
      return only;
    }
    const key = JSON.stringify(layers.map((l) => l.key));
    let whole = this.entries.get(key);
    if (whole === undefined || !sameItems(whole.parts, parts)) {
      const before = whole ?? this.previous.get(key);
      if (before !== undefined && sameItems(before.parts, parts)) {
        whole = { snapshot: before.snapshot, sources: [], encoded: [], parts, users: whole?.users ?? new Set() };
      } else {
        const composed = composeSnapshot(parts, before?.snapshot);
        if (!composed.ok) {
          this.logger.error("bug: a proxy's layers overlap", { proxy, problems: JSON.stringify(composed.problems) });
          return undefined;
        }
        unresolvedSince(composed.snapshot, before?.snapshot);
        whole = { snapshot: composed.snapshot, sources: [], encoded: [], parts, users: whole?.users ?? new Set() };
      }
      this.entries.set(key, whole);
    }
    this.hold(proxy, [key, ...layers.map((l) => l.key)]);
    return whole.snapshot;
  }

  /** The proxy left: whatever only it used is dropped. */
  release(proxy: string): void {
    for (const key of this.held.get(proxy) ?? []) this.unuse(key, proxy);
    this.held.delete(proxy);
  }

  /**
   * A new translation: every layer is built again as proxies are pushed, reusing what did not
   * change until settle() is called.
   */
  clear(): void {
    // A translation during a push keeps the oldest layers aside: the ones proxies were last sent.
    for (const [key, entry] of this.entries) if (!this.previous.has(key)) this.previous.set(key, entry);
    this.entries = new Map();
    this.held.clear();
    this.epoch++;
  }

  /** Every proxy has been pushed since the last clear(): the previous layers can go. */
  settle(): void {
    this.previous = new Map();
  }

  /** Layers and combinations held (for leak checks). */
  get size(): number {
    return this.entries.size + this.previous.size;
  }

  private *layer(layer: ProxyLayer): Steps<Snapshot | undefined> {
    const entry = this.entries.get(layer.key);
    if (entry !== undefined && (layer.own !== true || sameItems(entry.sources, layer.resources()))) return entry.snapshot;
    const before = entry ?? this.previous.get(layer.key);
    // A keyed layer (a sidecar's inbound side) of the same key is made of the same things: its
    // resources are not asked for again (two thousand sidecars after every commit).
    if (before !== undefined && layer.keyed === true && layer.own !== true) {
      this.entries.set(layer.key, { ...before, users: entry?.users ?? new Set() });
      return before.snapshot;
    }
    const sources = layer.resources();
    if (before !== undefined && sameItems(before.sources, sources)) {
      this.entries.set(layer.key, { ...before, users: entry?.users ?? new Set() });
      return before.snapshot;
    }
    const epoch = this.epoch;
    const patched = before === undefined ? undefined : this.patch(before, sources);
    if (patched !== undefined) {
      yield "tick";
      unresolvedSince(patched.snapshot, before?.snapshot);
      if (epoch !== this.epoch) return undefined;
      this.entries.set(layer.key, { snapshot: patched.snapshot, sources, encoded: patched.encoded, parts: [], users: entry?.users ?? new Set() });
      return patched.snapshot;
    }
    const encoded: EncodedResource[] = [];
    for (const r of sources) {
      const e = this.encoder.encode(r);
      // What it refers to, read back from its bytes now, a few at a time: the cache's consistency
      // check of this layer then finds every answer kept (referencesOf memoises on the resource).
      referencesOf(e);
      encoded.push(e);
      if (encoded.length % ENCODE_STEP === 0) yield "tick";
    }
    if (epoch !== this.epoch) return undefined; // of a translation no longer served
    yield "tick";
    const built = yield* makeSnapshotSteps(encoded, before?.snapshot);
    if (!built.ok) {
      this.logger.error("bug: translation produced an invalid snapshot", { layer: layer.key, problems: JSON.stringify(built.problems) });
      return undefined;
    }
    yield "tick";
    // What it leaves unresolved, in a step of its own: the cache checks every snapshot made of
    // this layer through this answer, which the snapshot keeps.
    unresolvedSince(built.snapshot, before?.snapshot);
    yield "tick";
    if (epoch !== this.epoch) return undefined;
    this.entries.set(layer.key, { snapshot: built.snapshot, sources, encoded, parts: [], users: entry?.users ?? new Set() });
    return built.snapshot;
  }

  /**
   * The layer's new snapshot when its sources are the previous build's in the same places with a
   * few replaced by resources of the same names (a route change in a sidecar scope of thousands):
   * only those are encoded, and only their types made again (replaceInSnapshot). Undefined when
   * the layer must be made anew.
   */
  private patch(before: Entry, sources: readonly Translated[]): { snapshot: Snapshot; encoded: EncodedResource[] } | undefined {
    if (before.sources.length !== sources.length || before.encoded.length !== sources.length) return undefined;
    const encoded = before.encoded.slice();
    const replaced: EncodedResource[] = [];
    let looked = 0;
    for (let i = 0; i < sources.length; i++) {
      const source = sources[i] as Translated;
      if (source === before.sources[i]) continue;
      // Many new objects (even of the same bytes): the full build, which pauses as it encodes.
      if (replaced.length === PATCH_MOST || ++looked > PATCH_MOST * 4) return undefined;
      const e = this.encoder.encode(source);
      referencesOf(e);
      if (e.name !== before.encoded[i]?.name || e.typeUrl !== before.encoded[i]?.typeUrl) return undefined;
      if (e !== before.encoded[i]) replaced.push(e);
      encoded[i] = e;
    }
    const snapshot = replaced.length === 0 ? before.snapshot : replaceInSnapshot(before.snapshot, replaced);
    return snapshot === undefined ? undefined : { snapshot, encoded };
  }

  private hold(proxy: string, keys: readonly string[]): void {
    const before = this.held.get(proxy);
    for (const key of keys) this.entries.get(key)?.users.add(proxy);
    this.held.set(proxy, keys);
    if (before === undefined) return;
    const now = new Set(keys);
    for (const key of before) if (!now.has(key)) this.unuse(key, proxy);
  }

  private unuse(key: string, proxy: string): void {
    const e = this.entries.get(key);
    if (e === undefined) return;
    e.users.delete(proxy);
    if (e.users.size === 0) this.entries.delete(key);
  }
}
