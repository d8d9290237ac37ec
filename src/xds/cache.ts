import { checkConsistency, type Inconsistency } from "./references.js";
import { TypeUrl } from "../envoy/index.js";
import { resourcesOf, type Snapshot, type TypeResources } from "./snapshot.js";

/** How the server finds a proxy's snapshots: the one thing it needs from a cache. */
export interface SnapshotSource {
  /**
   * Calls listener with the proxy's current snapshot (at once, if there is one) and with every
   * later one, until the returned function is called.
   */
  watch(proxy: string, listener: (snapshot: Snapshot) => void): () => void;
}

export type SetResult = { readonly ok: true } | { readonly ok: false; readonly problems: readonly Inconsistency[] };

const NONE: ReadonlyMap<string, readonly Inconsistency[]> = new Map();

/**
 * What a snapshot leaves unresolved, by the missing resource (typeUrl NUL name): a few names, each
 * with the resources that refer to it. A snapshot is immutable, and one snapshot is often shared
 * by thousands of proxies: it is checked once, and the answer is kept by the snapshot.
 */
export function unresolved(snapshot: Snapshot): ReadonlyMap<string, readonly Inconsistency[]> {
  return snapshot.memo.get("unresolved", () => {
    const out = new Map<string, readonly Inconsistency[]>();
    const layers = snapshot.layers;
    if (layers === undefined || layers.length === 0) {
      // Thousands of clusters name the same two secrets: each list grows in place.
      const lists = new Map<string, Inconsistency[]>();
      for (const p of checkConsistency(snapshot)) {
        const key = `${p.missing.typeUrl}\0${p.missing.name}`;
        const list = lists.get(key);
        if (list === undefined) lists.set(key, [p]);
        else list.push(p);
      }
      for (const [key, list] of lists) out.set(key, list);
    } else {
      // Checked through its layers: what each leaves unresolved (a sidecar scope's thousands of
      // clusters name the proxy's own certificate and trust bundle: two names) is looked up in the
      // whole once per distinct name, and the referrers' lists are shared, not copied.
      for (const layer of layers) {
        for (const [key, list] of unresolved(layer)) {
          const sep = key.indexOf("\0");
          if (resourcesOf(snapshot, key.slice(0, sep)).byName.has(key.slice(sep + 1))) continue;
          const before = out.get(key);
          out.set(key, before === undefined ? list : [...before, ...list]);
        }
      }
    }
    return out.size === 0 ? NONE : out;
  });
}

/**
 * unresolved(snapshot), taking the answer of the snapshot it replaces when nothing that answer
 * rests on changed: for a layer, the same clusters and listeners (the very same objects)
 * referring into the same names of assignments, routes and secrets; for a composition, the same
 * layers' answers looked up in the same types. A route change rebuilds a sidecar scope's layer of
 * thousands of resources, and two thousand sidecars' compositions, but leaves these answers as
 * they were.
 */
export function unresolvedSince(snapshot: Snapshot, previous: Snapshot | undefined): ReadonlyMap<string, readonly Inconsistency[]> {
  if (previous === undefined) return unresolved(snapshot);
  const layers = snapshot.layers;
  const before = previous.layers;
  if (layers !== undefined && before !== undefined) {
    // A composition: the same answer when each layer's answer is the very same, and every type a
    // missing name was looked up in is the very same (a sidecar after a route change).
    if (layers.length === before.length && layers.every((l, i) => unresolved(l) === unresolved(before[i] as Snapshot))) {
      const looked = new Set(layers.flatMap((l) => [...unresolved(l).keys()].map((k) => k.slice(0, k.indexOf("\0")))));
      if ([...looked].every((typeUrl) => resourcesOf(snapshot, typeUrl) === resourcesOf(previous, typeUrl))) {
        const answer = unresolved(previous);
        return snapshot.memo.get("unresolved", () => answer);
      }
    }
    return unresolved(snapshot);
  }
  if (snapshot.layers === undefined && previous.layers === undefined) {
    const same = (typeUrl: string) => resourcesOf(snapshot, typeUrl) === resourcesOf(previous, typeUrl);
    if (same(TypeUrl.Cluster) && same(TypeUrl.Listener) && [TypeUrl.ClusterLoadAssignment, TypeUrl.RouteConfiguration, TypeUrl.Secret].every((typeUrl) => sameNames(resourcesOf(snapshot, typeUrl), resourcesOf(previous, typeUrl)))) {
      const answer = unresolved(previous);
      return snapshot.memo.get("unresolved", () => answer);
    }
  }
  return unresolved(snapshot);
}

function sameNames(a: TypeResources, b: TypeResources): boolean {
  if (a === b) return true;
  if (a.items.length !== b.items.length) return false;
  for (let i = 0; i < a.items.length; i++) if (a.items[i]?.name !== b.items[i]?.name) return false;
  return true;
}

function consistencyOf(snapshot: Snapshot): readonly Inconsistency[] {
  const byMissing = unresolved(snapshot);
  return byMissing.size === 0 ? [] : [...byMissing.values()].flat();
}

/** Snapshots keyed by proxy (the node id unless the server is told otherwise). */
export class SnapshotCache implements SnapshotSource {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly watchers = new Map<string, Set<(snapshot: Snapshot) => void>>();

  /**
   * Replaces a proxy's snapshot and notifies its streams. An inconsistent snapshot is refused and
   * the proxy keeps the one it had: a dangling reference would leave Envoy warming forever.
   */
  set(proxy: string, snapshot: Snapshot): SetResult {
    if (this.snapshots.get(proxy) === snapshot) return { ok: true }; // its streams have it
    const problems = consistencyOf(snapshot);
    if (problems.length > 0) return { ok: false, problems };
    this.snapshots.set(proxy, snapshot);
    // A copy: a listener that starts a new watch gets the snapshot from watch() itself, once.
    for (const listener of [...(this.watchers.get(proxy) ?? [])]) listener(snapshot);
    return { ok: true };
  }

  /** Forgets a proxy's snapshot (its streams, if any, keep what they were sent). */
  delete(proxy: string): void {
    this.snapshots.delete(proxy);
  }

  get(proxy: string): Snapshot | undefined {
    return this.snapshots.get(proxy);
  }

  proxies(): string[] {
    return [...this.snapshots.keys()].sort();
  }

  watch(proxy: string, listener: (snapshot: Snapshot) => void): () => void {
    let set = this.watchers.get(proxy);
    if (set === undefined) {
      set = new Set();
      this.watchers.set(proxy, set);
    }
    set.add(listener);
    const current = this.snapshots.get(proxy);
    if (current !== undefined) listener(current);
    return () => {
      const listeners = this.watchers.get(proxy);
      if (listeners === undefined) return;
      listeners.delete(listener);
      if (listeners.size === 0) this.watchers.delete(proxy);
    };
  }

  /** Number of proxies with at least one open watch (for leak checks and metrics). */
  watchedProxies(): number {
    return this.watchers.size;
  }
}
