// What a loader keeps between two loads so that a one-file change updates the mesh's lists instead
// of building them again: the files' resources put together (gather), and the model's order
// (createModelOrder). Both fall back to building everything when a change is more than some
// resources replaced by others at their places.
import type { Diagnostic } from "./diagnostics.js";
import type { AnyMeshResource } from "./resources.js";

/** What one file yields on its own: depends only on its path and text, so it can be reused. */
export interface FileResult {
  readonly text: string;
  /** The file was not read (SourceFile.refused). */
  readonly refused: boolean;
  readonly documents: number;
  readonly diagnostics: readonly Diagnostic[];
  readonly resources: readonly AnyMeshResource[];
  readonly invalid: readonly AnyMeshResource[];
}

/** The files' results as one list each, in file order. */
export interface Gathered {
  readonly results: readonly FileResult[];
  readonly resources: readonly AnyMeshResource[];
  readonly invalid: readonly AnyMeshResource[];
  readonly diagnostics: readonly Diagnostic[];
  readonly documents: number;
  /** Where each file's resources start in resources. */
  readonly starts: readonly number[];
}

/**
 * How this load's resources differ from the last load's (base): only by the resources replaced,
 * each by one of its kind at its place (old to new). A file whose text changed but not the kinds
 * and number of what it declares (a weight, a subset, a label) gives that.
 */
export interface Replacement {
  readonly base: readonly AnyMeshResource[];
  readonly replaced: ReadonlyMap<AnyMeshResource, AnyMeshResource>;
}

/**
 * Where each new resource goes: its old one's place (places: a resource's index in a list kept
 * across loads), and places updated to say so; undefined, changing nothing, when an old one has
 * no place.
 */
export function movePlaces(replacement: Replacement, places: Map<AnyMeshResource, number>): readonly (readonly [AnyMeshResource, number])[] | undefined {
  const moves: [AnyMeshResource, AnyMeshResource, number][] = [];
  for (const [was, now] of replacement.replaced) {
    const i = places.get(was);
    if (i === undefined) return undefined;
    moves.push([was, now, i]);
  }
  for (const [was, now, i] of moves) {
    places.delete(was);
    places.set(now, i);
  }
  return moves.map(([, now, i]) => [now, i] as const);
}

/**
 * The files' results put together, by updating what was put together last time (before) when
 * the same number of files each yields the same kinds and number of resources as at its place
 * last time, and the changed ones neither diagnostics nor invalid resources; otherwise from the
 * start. The replacement is given when it was an update.
 */
export function gather(results: readonly FileResult[], before: Gathered | undefined): { readonly gathered: Gathered; readonly replacement?: Replacement } {
  const updated = before === undefined ? undefined : update(results, before);
  if (updated !== undefined) return updated;
  const resources: AnyMeshResource[] = [];
  const invalid: AnyMeshResource[] = [];
  const diagnostics: Diagnostic[] = [];
  const starts: number[] = [];
  let documents = 0;
  for (const r of results) {
    starts.push(resources.length);
    for (const d of r.diagnostics) diagnostics.push(d);
    for (const x of r.resources) resources.push(x);
    for (const x of r.invalid) invalid.push(x);
    documents += r.documents;
  }
  return { gathered: { results, resources, invalid, diagnostics, documents, starts } };
}

function update(results: readonly FileResult[], before: Gathered): { gathered: Gathered; replacement: Replacement } | undefined {
  if (results.length !== before.results.length) return undefined;
  const replaced = new Map<AnyMeshResource, AnyMeshResource>();
  const changed: number[] = [];
  let documents = before.documents;
  for (let i = 0; i < results.length; i++) {
    const now = results[i] as FileResult;
    const was = before.results[i] as FileResult;
    if (now === was) continue;
    if (now.resources.length !== was.resources.length || now.invalid.length + was.invalid.length + now.diagnostics.length + was.diagnostics.length > 0) return undefined;
    for (let j = 0; j < now.resources.length; j++) {
      const [x, y] = [was.resources[j] as AnyMeshResource, now.resources[j] as AnyMeshResource];
      if (x.kind !== y.kind) return undefined;
      replaced.set(x, y);
    }
    documents += now.documents - was.documents;
    changed.push(i);
  }
  const resources = replaced.size === 0 ? before.resources : [...before.resources];
  for (const i of changed) {
    const start = before.starts[i] as number;
    (results[i] as FileResult).resources.forEach((r, j) => ((resources as AnyMeshResource[])[start + j] = r));
  }
  return { gathered: { ...before, results, resources, documents }, replacement: { base: before.resources, replaced } };
}

/** Sorts the model's resources by kind, namespace and name (see createModelOrder). */
export interface ModelOrder {
  sorted(resources: readonly AnyMeshResource[], replacement?: Replacement): readonly AnyMeshResource[];
}

/**
 * The model's order, remembered: when the resources are last time's with some replaced by others
 * of the same kind, namespace and name, the sorted order is last time's (the sort is stable), so
 * the new ones are put at their old ones' places without sorting again.
 */
export function createModelOrder(): ModelOrder {
  let before: { readonly resources: readonly AnyMeshResource[]; readonly sorted: readonly AnyMeshResource[]; readonly rank: Map<AnyMeshResource, number> } | undefined;
  const keyOf = (r: AnyMeshResource) => `${r.kind}\0${r.namespace}\0${r.name}`;
  return {
    sorted(resources, replacement) {
      if (before !== undefined && replacement !== undefined && replacement.base === before.resources) {
        const { rank } = before;
        const moves = [...replacement.replaced].every(([was, now]) => keyOf(was) === keyOf(now)) ? movePlaces(replacement, rank) : undefined;
        if (moves !== undefined) {
          const sorted = [...before.sorted];
          for (const [now, i] of moves) sorted[i] = now;
          before = { resources, sorted, rank };
          return sorted;
        }
      }
      // Each sort key made once, not twice per comparison (that sort was a reload's longest step).
      const keyed = resources.map((r) => ({ r, key: keyOf(r) }));
      keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const sorted = keyed.map((k) => k.r);
      before = { resources, sorted, rank: new Map(sorted.map((r, i) => [r, i])) };
      return sorted;
    },
  };
}
