import { TypeUrl } from "../envoy/index.js";
import { runSteps, type Steps } from "../common/steps.js";
import { ADS_ORDER, kindOf } from "./resource-kinds.js";
import { contentHash } from "./hash.js";
import { Memo } from "./memo.js";
import type { Inconsistency } from "./references.js";
import type { EncodedResource } from "./resource.js";
import type { View } from "./views.js";

/** The resources of one type in a snapshot, sorted by name. */
export interface TypeResources {
  readonly typeUrl: string;
  /** Hash of every (name, version) pair: the state-of-the-world version of the full set. */
  readonly version: string;
  readonly items: readonly EncodedResource[];
  readonly byName: ReadonlyMap<string, EncodedResource>;
  /**
   * Merged by composeSnapshot for a proxy's own combination of layers, which few streams share:
   * its response body is built per send, not kept (a sidecar's listeners would otherwise pin
   * hundreds of KB per proxy).
   */
  readonly composed?: true;
  /** Its full-set view and response body, built once and shared by every wildcard subscriber. */
  readonly memo: Memo<{ fullView: View; fullBody: Buffer }>;
}

/**
 * Everything one proxy should have, by type. Snapshots are plain data: build one with
 * makeSnapshot, hand it to the cache, never change it.
 */
export interface Snapshot {
  readonly types: ReadonlyMap<string, TypeResources>;
  /** The shared snapshots this one was composed of (composeSnapshot), if any. */
  readonly layers?: readonly Snapshot[];
  /**
   * What it leaves unresolved, by missing name (checked once, cache.ts), and its copy without
   * secrets (plaintext streams).
   */
  readonly memo: Memo<{ unresolved: ReadonlyMap<string, readonly Inconsistency[]>; withoutSecrets: Snapshot }>;
}

export type SnapshotProblem =
  | { readonly t: "unknown-type"; readonly typeUrl: string; readonly name: string }
  | { readonly t: "duplicate-name"; readonly typeUrl: string; readonly name: string };

export type SnapshotResult =
  | { readonly ok: true; readonly snapshot: Snapshot }
  | { readonly ok: false; readonly problems: readonly SnapshotProblem[] };

/** The version of an ordered list of resources; makeSnapshot and stream views agree on it. */
export function versionOf(items: readonly EncodedResource[]): string {
  return contentHash([items.map((r) => `${r.name}\0${r.version}`).join("\n")]);
}

const EMPTY: readonly EncodedResource[] = [];

export function typeResources(typeUrl: string, items: readonly EncodedResource[]): TypeResources {
  return { typeUrl, version: versionOf(items), items, byName: new Map(items.map((r) => [r.name, r])), memo: new Memo() };
}

/**
 * Groups resources by type, sorts them by name and computes versions. Given the snapshot this one
 * replaces, a type whose resources are the very same keeps that snapshot's object for it, with
 * the views and bodies streams built of it.
 */
export function makeSnapshot(resources: Iterable<EncodedResource>, previous?: Snapshot): SnapshotResult {
  return runSteps(makeSnapshotSteps(resources, previous));
}

/** Resources grouped between two places makeSnapshotSteps may pause. */
const GROUP_STEP = 512;

/**
 * makeSnapshot in steps (see common/steps.ts): a sidecar scope's layer at 10,000 services has
 * tens of thousands of resources, whose grouping, sorting and versions would otherwise be one
 * step of a hundred milliseconds or more. It pauses while grouping, and after each type.
 */
export function* makeSnapshotSteps(resources: Iterable<EncodedResource>, previous?: Snapshot): Steps<SnapshotResult> {
  const problems: SnapshotProblem[] = [];
  const grouped = new Map<string, Map<string, EncodedResource>>(ADS_ORDER.map((k) => [k.typeUrl, new Map()]));
  let seen = 0;
  for (const r of resources) {
    if (++seen % GROUP_STEP === 0) yield "tick";
    const group = grouped.get(r.typeUrl);
    if (group === undefined || kindOf(r.typeUrl) === undefined) {
      problems.push({ t: "unknown-type", typeUrl: r.typeUrl, name: r.name });
    } else if (group.has(r.name)) {
      problems.push({ t: "duplicate-name", typeUrl: r.typeUrl, name: r.name });
    } else {
      group.set(r.name, r);
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  const types = new Map<string, TypeResources>();
  for (const [typeUrl, group] of grouped) {
    const kept = previous?.types.get(typeUrl);
    // The very same resources as before (a route change leaves a scope's clusters alone): found by
    // name, without sorting thousands of names again.
    if (kept !== undefined && kept.items.length === group.size && kept.items.every((r) => group.get(r.name) === r)) {
      types.set(typeUrl, kept);
      continue;
    }
    if (group.size > GROUP_STEP) yield "tick";
    const items = [...group.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (group.size > GROUP_STEP) yield "tick";
    types.set(typeUrl, typeResources(typeUrl, items.length === 0 ? EMPTY : items));
  }
  return { ok: true, snapshot: { types, memo: new Memo() } };
}

/**
 * The snapshot with a few resources replaced by others of the same type and name (a route change
 * in a layer of thousands): the types they belong to are made again from the previous sorted
 * lists, without grouping or sorting; the others are the very same objects. Undefined when a
 * replacement has no namesake in the snapshot (the caller makes the snapshot anew).
 */
export function replaceInSnapshot(previous: Snapshot, replacements: readonly EncodedResource[]): Snapshot | undefined {
  const byType = new Map<string, EncodedResource[]>();
  for (const r of replacements) {
    const kept = previous.types.get(r.typeUrl);
    if (kept === undefined || !kept.byName.has(r.name) || previous.layers !== undefined) return undefined;
    byType.set(r.typeUrl, [...(byType.get(r.typeUrl) ?? []), r]);
  }
  const types = new Map(previous.types);
  for (const [typeUrl, list] of byType) {
    const kept = previous.types.get(typeUrl) as TypeResources;
    const swap = new Map(list.map((r) => [r.name, r]));
    types.set(typeUrl, typeResources(typeUrl, kept.items.map((r) => swap.get(r.name) ?? r)));
  }
  return { types, memo: new Memo() };
}

/** The resources of a type (an empty set for a type the snapshot has none of). */
export function resourcesOf(snapshot: Snapshot, typeUrl: string): TypeResources {
  return snapshot.types.get(typeUrl) ?? typeResources(typeUrl, EMPTY);
}

/** The per-type versions, in ADS order: what a status page shows for a snapshot. */
export function snapshotVersions(snapshot: Snapshot): Record<string, string> {
  return Object.fromEntries(ADS_ORDER.map((k) => [k.short, resourcesOf(snapshot, k.typeUrl).version]));
}

/**
 * A proxy's snapshot made of layers: snapshots shared by many proxies (the outbound side every
 * sidecar in a Sidecar scope gets) and one of its own (its inbound listeners). A type only one
 * layer has is taken as that layer's object, so its bodies and views stay shared; a type several
 * layers have is merged without copying the resources. The merged version is a hash of the
 * layers' versions, so the same layers give the same version on every replica and restart. Given
 * the composition this one replaces, a type whose layers' parts are the very same objects keeps
 * that composition's merge (after a change to one route, a sidecar's listeners are not merged
 * again).
 */
export function composeSnapshot(layers: readonly Snapshot[], previous?: Snapshot): SnapshotResult {
  if (layers.length === 1 && layers[0] !== undefined) return { ok: true, snapshot: layers[0] };
  const problems: SnapshotProblem[] = [];
  const types = new Map<string, TypeResources>();
  for (const { typeUrl } of ADS_ORDER) {
    const before = previous?.layers;
    const kept = previous?.types.get(typeUrl);
    if (kept !== undefined && before !== undefined && before.length === layers.length && layers.every((l, i) => l.types.get(typeUrl) === before[i]?.types.get(typeUrl))) {
      types.set(typeUrl, kept);
      continue;
    }
    const parts = layers.map((l) => resourcesOf(l, typeUrl)).filter((t) => t.items.length > 0);
    const [first] = parts;
    if (first === undefined) types.set(typeUrl, typeResources(typeUrl, EMPTY));
    else if (parts.length === 1) types.set(typeUrl, first);
    else {
      const merged = mergeSorted(parts.map((p) => p.items));
      for (let i = 1; i < merged.length; i++) {
        if (merged[i]?.name === merged[i - 1]?.name) problems.push({ t: "duplicate-name", typeUrl, name: merged[i]?.name ?? "" });
      }
      types.set(typeUrl, { typeUrl, version: contentHash(parts.map((p) => p.version)), items: merged, byName: new LayeredMap(parts.map((p) => p.byName)), composed: true, memo: new Memo() });
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, snapshot: { types, layers, memo: new Memo() } };
}

function mergeSorted(lists: readonly (readonly EncodedResource[])[]): EncodedResource[] {
  return lists.reduce<EncodedResource[]>((merged, list) => mergeTwo(merged, list), []);
}

/** Two sorted lists as one (a sidecar's thousand outbound listeners and its few inbound ones). */
function mergeTwo(a: readonly EncodedResource[], b: readonly EncodedResource[]): EncodedResource[] {
  // A few into many (the usual case): copy the long list whole and place the few by binary
  // search, rather than comparing names all the way along.
  if (b.length <= 8 && a.length > 64) return insertFew(a, b);
  if (a.length <= 8 && b.length > 64) return insertFew(b, a);
  const out = new Array<EncodedResource>(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as EncodedResource;
    const y = b[j] as EncodedResource;
    if (y.name < x.name) {
      out[k++] = y;
      j++;
    } else {
      out[k++] = x;
      i++;
    }
  }
  while (i < a.length) out[k++] = a[i++] as EncodedResource;
  while (j < b.length) out[k++] = b[j++] as EncodedResource;
  return out;
}

function insertFew(many: readonly EncodedResource[], few: readonly EncodedResource[]): EncodedResource[] {
  const out = many.slice();
  for (const item of few) {
    let lo = 0;
    let hi = out.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((out[mid] as EncodedResource).name <= item.name) lo = mid + 1;
      else hi = mid;
    }
    out.splice(lo, 0, item);
  }
  return out;
}

/** Several disjoint maps read as one, without copying them. */
class LayeredMap implements ReadonlyMap<string, EncodedResource> {
  constructor(private readonly maps: readonly ReadonlyMap<string, EncodedResource>[]) {}
  get size(): number {
    return this.maps.reduce((n, m) => n + m.size, 0);
  }
  get(key: string): EncodedResource | undefined {
    for (const m of this.maps) {
      const v = m.get(key);
      if (v !== undefined) return v;
    }
    return undefined;
  }
  has(key: string): boolean {
    return this.maps.some((m) => m.has(key));
  }
  *entries(): MapIterator<[string, EncodedResource]> {
    for (const m of this.maps) yield* m.entries();
  }
  *keys(): MapIterator<string> {
    for (const m of this.maps) yield* m.keys();
  }
  *values(): MapIterator<EncodedResource> {
    for (const m of this.maps) yield* m.values();
  }
  [Symbol.iterator](): MapIterator<[string, EncodedResource]> {
    return this.entries();
  }
  forEach(fn: (value: EncodedResource, key: string, map: ReadonlyMap<string, EncodedResource>) => void): void {
    for (const [k, v] of this.entries()) fn(v, k, this);
  }
}

/**
 * The snapshot without its secrets: what a stream on the plaintext endpoint may see. The same
 * object for the same snapshot (kept by it), so views and bodies stay shared between such streams.
 */
export function withoutSecrets(snapshot: Snapshot): Snapshot {
  if (resourcesOf(snapshot, TypeUrl.Secret).items.length === 0) return snapshot;
  return snapshot.memo.get("withoutSecrets", () => {
    const types = new Map(snapshot.types);
    types.set(TypeUrl.Secret, typeResources(TypeUrl.Secret, EMPTY));
    return { types, memo: new Memo() };
  });
}
