import { ADS_ORDER, kindOf } from "./resource-kinds.js";
import { contentHash } from "./hash.js";
import type { EncodedResource } from "./resource.js";

/** The resources of one type in a snapshot, sorted by name. */
export interface TypeResources {
  readonly typeUrl: string;
  /** Hash of every (name, version) pair: the state-of-the-world version of the full set. */
  readonly version: string;
  readonly items: readonly EncodedResource[];
  readonly byName: ReadonlyMap<string, EncodedResource>;
}

/**
 * Everything one proxy should have, by type. Snapshots are plain data: build one with
 * makeSnapshot, hand it to the cache, never change it.
 */
export interface Snapshot {
  readonly types: ReadonlyMap<string, TypeResources>;
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
  return { typeUrl, version: versionOf(items), items, byName: new Map(items.map((r) => [r.name, r])) };
}

/** Groups resources by type, sorts them by name and computes versions. */
export function makeSnapshot(resources: Iterable<EncodedResource>): SnapshotResult {
  const problems: SnapshotProblem[] = [];
  const grouped = new Map<string, Map<string, EncodedResource>>(ADS_ORDER.map((k) => [k.typeUrl, new Map()]));
  for (const r of resources) {
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
    const items = [...group.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    types.set(typeUrl, typeResources(typeUrl, items.length === 0 ? EMPTY : items));
  }
  return { ok: true, snapshot: { types } };
}

/** The resources of a type (an empty set for a type the snapshot has none of). */
export function resourcesOf(snapshot: Snapshot, typeUrl: string): TypeResources {
  return snapshot.types.get(typeUrl) ?? typeResources(typeUrl, EMPTY);
}

/** The per-type versions, in ADS order: what a status page shows for a snapshot. */
export function snapshotVersions(snapshot: Snapshot): Record<string, string> {
  return Object.fromEntries(ADS_ORDER.map((k) => [k.short, resourcesOf(snapshot, k.typeUrl).version]));
}
