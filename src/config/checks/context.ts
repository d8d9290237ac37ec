import type { Diagnostic, Severity } from "../diagnostics.js";
import { fieldPath } from "../diagnostics.js";
import { hostMatches, labelsMatch, qualifyHost, refOf, type AnyMeshResource, type MeshNaming, type MeshResource } from "../resources.js";
import { positionOf } from "../source.js";
import type { MeshKind } from "../types.js";
import { viewFindings, type RouteFinding, type ViewFindings } from "../virtual-services.js";

export type Path = readonly (string | number)[];

/** What every cross-resource check sees, and how it reports. */
export interface CheckContext {
  readonly resources: readonly AnyMeshResource[];
  readonly naming: MeshNaming;
  ofKind<K extends MeshKind>(kind: K): MeshResource<K>[];
  /**
   * The resources of a kind in one namespace: a check that looks at each ServiceEntry's workloads
   * reads its namespace's, not every workload of the mesh (a thousand services by two thousand
   * workloads was most of a reload).
   */
  inNamespace<K extends MeshKind>(kind: K, namespace: string): MeshResource<K>[];
  /**
   * The WorkloadEntries (labels) or WorkloadGroups (template labels) of a namespace a selector
   * matches, in config order: the same as filtering inNamespace with labelsMatch, but through an
   * index by label pair (each ServiceEntry of a thousand looked at every workload of its
   * namespace, twice: most of a reload).
   */
  selected<K extends WorkloadKind>(kind: K, namespace: string, selector: Readonly<Record<string, string>>): MeshResource<K>[];
  /** The ServiceEntries declaring a host (exactly, or by a wildcard like *.example.com). */
  servicesFor(host: string): MeshResource<"ServiceEntry">[];
  /** The first resource of a kind (in config order) named "namespace/name", if any. */
  named<K extends MeshKind>(kind: K, ref: string): MeshResource<K> | undefined;
  /**
   * A value made from the resources of some kinds and the naming alone (build sees nothing else),
   * kept across loads while those are the very same: an index a check of one resource at a time
   * looks things up in. With shape (what build reads of a resource, as a string), it is also kept
   * when the resources are replaced by others of the same shape at their places.
   */
  derive<T>(name: string, kinds: readonly MeshKind[], build: (of: <K extends MeshKind>(kind: K) => readonly MeshResource<K>[], naming: MeshNaming) => T, shape?: (r: AnyMeshResource) => string): T;
  /** What the merged view of the VirtualServices (virtual-services.ts) leaves out or refuses. */
  routeFindings(): readonly RouteFinding[];
  /** The resources of a kind named like an earlier one, in config order, with that earlier one. */
  duplicates(kind: MeshKind): readonly Duplicate[];
  /** The DestinationRules for a host: its own, or a wildcard one covering it (*.local). */
  rulesFor(host: string): MeshResource<"DestinationRule">[];
  /**
   * Whether a resource that failed its schema declares this (host, or Kind namespace/name): its
   * own error is reported, so references to it are not reported again.
   */
  declaredByInvalid(what: string): boolean;
  /** Resources that failed their schema or their YAML, read defensively (their specs are suspect). */
  readonly invalid: readonly AnyMeshResource[];
  /** A host as written in a resource of `namespace`, fully qualified. */
  qualify(host: string, namespace: string): string;
  report(resource: AnyMeshResource, path: Path, code: string, severity: Severity, message: string, at?: "key" | "value"): void;
  /** Where a field of a resource is, as file:line:col: a conflict names both places. */
  where(resource: AnyMeshResource, path: Path): string;
}

type WorkloadKind = "WorkloadEntry" | "WorkloadGroup";

/**
 * A cross-resource check as the checker (index.ts) runs it. A "mesh" check looks at several
 * resources together (a host two ServiceEntries declare, the VirtualServices of one host) and runs
 * again when anything it read changed. What an "each" check says of a resource depends only on
 * that resource and on what it reads through the context (a destination's ServiceEntries, its
 * host's DestinationRules): when one VirtualService of a thousand changes, that one is checked
 * again and the others' findings are said again.
 */
export type Check = MeshCheck | EachCheck;

export interface MeshCheck {
  readonly t: "mesh";
  readonly run: (ctx: CheckContext) => void;
}

export interface EachCheck {
  readonly t: "each";
  readonly kind: MeshKind;
  /** Given only resources of kind (see each). */
  readonly run: (ctx: CheckContext, r: AnyMeshResource) => void;
}

export function whole(run: (ctx: CheckContext) => void): MeshCheck {
  return { t: "mesh", run };
}

/** A check of each resource of a kind on its own (see Check). */
export function each<K extends MeshKind>(kind: K, run: (ctx: CheckContext, r: MeshResource<K>) => void): EachCheck {
  // The checker hands run only resources of this kind (ctx.ofKind(kind)).
  return { t: "each", kind, run: run as (ctx: CheckContext, r: AnyMeshResource) => void };
}

/** A workload's labels, as a selector matches them. */
function workloadLabels(r: MeshResource<WorkloadKind>): Readonly<Record<string, string>> {
  return (r.kind === "WorkloadEntry" ? (r as MeshResource<"WorkloadEntry">).spec.labels : (r as MeshResource<"WorkloadGroup">).spec.metadata?.labels) ?? {};
}

/**
 * Builds a value from some inputs, or hands back the value built last time from the very same
 * inputs (see MeshChecker: an index over workloads survives a change to a VirtualService). build
 * is given the value built last time under that name (from other inputs), which it may update.
 */
export type Reuse = <T>(name: string, inputs: readonly (readonly unknown[])[], build: (before: T | undefined) => T) => T;

const buildAlways: Reuse = (_name, _inputs, build) => build(undefined);

/** The resources by kind, in config order. */
export function byKindOf(resources: readonly AnyMeshResource[]): Map<string, AnyMeshResource[]> {
  const byKind = new Map<string, AnyMeshResource[]>();
  for (const r of resources) {
    const list = byKind.get(r.kind);
    if (list === undefined) byKind.set(r.kind, [r]);
    else list.push(r);
  }
  return byKind;
}

/** A context over resources; byKind, when given, is byKindOf(resources) (kept across loads: see MeshChecker). */
export function checkContext(
  resources: readonly AnyMeshResource[],
  invalid: readonly AnyMeshResource[],
  naming: MeshNaming,
  out: Diagnostic[],
  reuse: Reuse = buildAlways,
  byKind: ReadonlyMap<string, readonly AnyMeshResource[]> = byKindOf(resources),
): CheckContext {
  const naming_ = [naming.rootNamespace, naming.clusterDomain, naming.trustDomain];
  const { invalidDeclares, invalidWildcards } = reuse("invalid", [invalid, naming_], () => {
    const declares = new Set(invalid.flatMap((r) => [`${r.kind} ${r.namespace}/${r.name}`, ...declaredHosts(r, naming)]));
    return { invalidDeclares: declares, invalidWildcards: [...declares].filter((h) => h.startsWith("*")) };
  });
  const ofKind = <K extends MeshKind>(kind: K) => (byKind.get(kind) ?? []) as MeshResource<K>[];
  const serviceEntries = ofKind("ServiceEntry");
  // ServiceEntry hosts are taken literally, as Istio does (only VirtualService and
  // DestinationRule hosts expand a short name).
  const { exact, wildcards } = reuse("hosts", [serviceEntries], () => {
    const exact = new Map<string, MeshResource<"ServiceEntry">[]>();
    const wildcards: { host: string; se: MeshResource<"ServiceEntry"> }[] = [];
    for (const se of serviceEntries) {
      for (const h of se.spec.hosts ?? []) {
        if (h.startsWith("*")) wildcards.push({ host: h, se });
        else {
          const list = exact.get(h);
          if (list === undefined) exact.set(h, [se]);
          else list.push(se);
        }
      }
    }
    return { exact, wildcards };
  });
  // A kind's resources by "namespace/name", built for a kind when first asked for.
  const byName = new Map<string, Names>();
  const names = (kind: MeshKind): Names => {
    let index = byName.get(kind);
    if (index === undefined) {
      const all = byKind.get(kind) ?? [];
      index = reuse<Names>(`names ${kind}`, [all], (before) => (before === undefined ? undefined : renamedNone(before, all)) ?? indexNames(all));
      byName.set(kind, index);
    }
    return index;
  };
  // DestinationRule hosts, qualified in their namespace, built when first asked for.
  let rules: RuleIndex | undefined;
  const ruleIndex = () => {
    const drs = ofKind("DestinationRule");
    rules = reuse("rule hosts", [drs, naming_], () => {
      const index: RuleIndex = { exact: new Map(), wildcards: [] };
      for (const dr of drs) {
        const h = qualifyHost(dr.spec.host, dr.namespace, naming);
        if (h.startsWith("*")) index.wildcards.push({ host: h, dr });
        else {
          const list = index.exact.get(h);
          if (list === undefined) index.exact.set(h, [dr]);
          else list.push(dr);
        }
      }
      return index;
    });
    return rules;
  };
  let routeFindings: ViewFindings | undefined;
  const findRoutes = () => {
    const all = ofKind("VirtualService");
    routeFindings = reuse<ViewFindings>("route findings", [all, naming_], (before) => viewFindings(all, naming, before));
    return routeFindings;
  };
  // A kind's resources by namespace, built for a kind when first asked for.
  const namespaced = new Map<string, Map<string, AnyMeshResource[]>>();
  const inNamespace = <K extends MeshKind>(kind: K, namespace: string): MeshResource<K>[] => {
    let index = namespaced.get(kind);
    if (index === undefined) {
      const all = byKind.get(kind) ?? [];
      index = reuse(`namespaces ${kind}`, [all], () => {
        const byNamespace = new Map<string, AnyMeshResource[]>();
        for (const r of all) {
          const list = byNamespace.get(r.namespace);
          if (list === undefined) byNamespace.set(r.namespace, [r]);
          else list.push(r);
        }
        return byNamespace;
      });
      namespaced.set(kind, index);
    }
    return (index.get(namespace) ?? []) as MeshResource<K>[];
  };
  // Built on first use: kind, namespace and one label pair to the workloads having it, in order.
  let byPair: ReadonlyMap<string, readonly MeshResource<WorkloadKind>[]> | undefined;
  const pairIndex = () => {
    const workloads = [ofKind("WorkloadEntry"), ofKind("WorkloadGroup")] as const;
    byPair = reuse<PairIndex>("label pairs", workloads, (before) => (before === undefined ? undefined : relabelledNone(before, workloads)) ?? indexPairs(workloads)).byPair;
    return byPair;
  };
  return {
    resources,
    naming,
    inNamespace,
    selected<K extends WorkloadKind>(kind: K, namespace: string, selector: Readonly<Record<string, string>>): MeshResource<K>[] {
      const pairs = Object.entries(selector);
      if (pairs.length === 0) return [...inNamespace(kind, namespace)];
      const index = byPair ?? pairIndex();
      // The workloads having the selector's rarest pair, in config order; then the other pairs.
      let candidates: readonly MeshResource<WorkloadKind>[] | undefined;
      for (const [k, v] of pairs) {
        const list = index.get(`${kind}\0${namespace}\0${k}\0${v}`) ?? [];
        if (candidates === undefined || list.length < candidates.length) candidates = list;
      }
      return (candidates ?? []).filter((w) => labelsMatch(selector, workloadLabels(w))) as MeshResource<K>[];
    },
    ofKind,
    named: <K extends MeshKind>(kind: K, ref: string) => names(kind).first.get(ref) as MeshResource<K> | undefined,
    duplicates: (kind) => names(kind).later,
    servicesFor: (host) => [...(exact.get(host) ?? []), ...wildcards.filter((d) => hostMatches(d.host, host)).map((d) => d.se)],
    routeFindings: () => (routeFindings ?? findRoutes()).findings,
    derive<T>(name: string, kinds: readonly MeshKind[], build: (of: <K extends MeshKind>(kind: K) => readonly MeshResource<K>[], naming: MeshNaming) => T, shape?: (r: AnyMeshResource) => string): T {
      const lists = kinds.map((k) => ofKind(k) as readonly AnyMeshResource[]);
      const namingKey = naming_.join("\0");
      const of = <K extends MeshKind>(k: K) => {
        if (!kinds.includes(k)) throw new Error(`derive ${name}: ${k} is not one of its kinds`);
        return ofKind(k);
      };
      const derived = reuse<Derived>(`derived ${name}`, [...lists, naming_], (before) =>
        before !== undefined && shape !== undefined && before.naming === namingKey && sameShapes(before.lists, lists, shape) ? { ...before, lists } : { lists, naming: namingKey, value: build(of, naming) },
      );
      return derived.value as T;
    },
    rulesFor(host) {
      const index = rules ?? ruleIndex();
      return [...(index.exact.get(host) ?? []), ...index.wildcards.filter((r) => hostMatches(r.host, host)).map((r) => r.dr)];
    },
    invalid,
    declaredByInvalid: (what) => invalidDeclares.has(what) || invalidWildcards.some((h) => hostMatches(h, what)),
    qualify: (host, namespace) => qualifyHost(host, namespace, naming),
    where(resource, path) {
      const pos = positionOf(resource.source, path, "value");
      return `${resource.source.file}:${pos.line}:${pos.col}`;
    },
    report(resource, path, code, severity, message, at = "value") {
      const pos = positionOf(resource.source, path, at);
      out.push({ code, severity, message, file: resource.source.file, line: pos.line, col: pos.col, field: fieldPath(path), resource: refOf(resource) });
    },
  };
}

/** A resource named like an earlier one of its kind, and that one. */
export interface Duplicate {
  readonly resource: AnyMeshResource;
  readonly first: AnyMeshResource;
}

/** A kind's resources by "namespace/name": the first of each name, and the later ones. */
interface Names {
  readonly items: readonly AnyMeshResource[];
  readonly first: ReadonlyMap<string, AnyMeshResource>;
  readonly later: readonly Duplicate[];
}

const nameOf = (r: AnyMeshResource) => `${r.namespace}/${r.name}`;

function indexNames(items: readonly AnyMeshResource[]): Names {
  const first = new Map<string, AnyMeshResource>();
  const later: Duplicate[] = [];
  for (const r of items) {
    const key = nameOf(r);
    const was = first.get(key);
    if (was === undefined) first.set(key, r);
    else later.push({ resource: r, first: was });
  }
  return { items, first, later };
}

/**
 * The index of names updated for resources replaced by others of the same name at the same place
 * (a file's text changed, not what it declares), or undefined when some name or place changed.
 */
function renamedNone(before: Names, items: readonly AnyMeshResource[]): Names | undefined {
  if (before.items.length !== items.length) return undefined;
  const replaced = new Map<AnyMeshResource, AnyMeshResource>();
  for (let i = 0; i < items.length; i++) {
    const [r, was] = [items[i] as AnyMeshResource, before.items[i] as AnyMeshResource];
    if (r === was) continue;
    if (nameOf(r) !== nameOf(was)) return undefined;
    replaced.set(was, r);
  }
  const now = (r: AnyMeshResource) => replaced.get(r) ?? r;
  const first = new Map(before.first);
  for (const [was, r] of replaced) if (first.get(nameOf(r)) === was) first.set(nameOf(r), r);
  return { items, first, later: before.later.map((d) => ({ resource: now(d.resource), first: now(d.first) })) };
}

interface RuleIndex {
  readonly exact: Map<string, MeshResource<"DestinationRule">[]>;
  readonly wildcards: { host: string; dr: MeshResource<"DestinationRule"> }[];
}

/** A value derive made, with what it was made from. */
interface Derived {
  readonly lists: readonly (readonly AnyMeshResource[])[];
  readonly naming: string;
  readonly value: unknown;
}

/** The same number of resources in each list, each the same or one of the same shape. */
function sameShapes(before: readonly (readonly AnyMeshResource[])[], now: readonly (readonly AnyMeshResource[])[], shape: (r: AnyMeshResource) => string): boolean {
  return before.length === now.length && now.every((list, l) => {
    const was = before[l] ?? [];
    return was.length === list.length && list.every((r, i) => r === was[i] || shape(r) === shape(was[i] as AnyMeshResource));
  });
}

/** Workloads by kind, namespace and one label pair, in config order, and the lists they were made from. */
interface PairIndex {
  readonly lists: readonly (readonly MeshResource<WorkloadKind>[])[];
  readonly byPair: ReadonlyMap<string, readonly MeshResource<WorkloadKind>[]>;
}

const pairKey = (w: MeshResource<WorkloadKind>, k: string, v: string) => `${w.kind}\0${w.namespace}\0${k}\0${v}`;

function indexPairs(lists: readonly (readonly MeshResource<WorkloadKind>[])[]): PairIndex {
  const byPair = new Map<string, MeshResource<WorkloadKind>[]>();
  for (const list of lists) {
    for (const w of list) {
      for (const [k, v] of Object.entries(workloadLabels(w))) {
        const same = byPair.get(pairKey(w, k, v));
        if (same === undefined) byPair.set(pairKey(w, k, v), [w]);
        else same.push(w);
      }
    }
  }
  return { lists, byPair };
}

/**
 * The index of label pairs updated for workloads replaced by others with the same namespace and
 * labels at the same place (an address changed), or undefined when some labels or places changed.
 */
function relabelledNone(before: PairIndex, lists: readonly (readonly MeshResource<WorkloadKind>[])[]): PairIndex | undefined {
  if (before.lists.length !== lists.length) return undefined;
  const replaced = new Map<MeshResource<WorkloadKind>, MeshResource<WorkloadKind>>();
  for (const [l, list] of lists.entries()) {
    const was = before.lists[l] ?? [];
    if (was.length !== list.length) return undefined;
    for (let i = 0; i < list.length; i++) {
      const [x, y] = [was[i] as MeshResource<WorkloadKind>, list[i] as MeshResource<WorkloadKind>];
      if (x === y) continue;
      if (x.namespace !== y.namespace || !sameLabels(workloadLabels(x), workloadLabels(y))) return undefined;
      replaced.set(x, y);
    }
  }
  const byPair = new Map(before.byPair);
  for (const [x, y] of replaced) {
    for (const [k, v] of Object.entries(workloadLabels(y))) {
      const key = pairKey(y, k, v);
      byPair.set(key, (byPair.get(key) ?? []).map((w) => (w === x ? y : w)));
    }
  }
  return { lists, byPair };
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => b[k] === a[k]);
}

/** Hosts a resource that failed its schema still declares, read defensively (its spec is suspect). */
function declaredHosts(r: AnyMeshResource, naming: MeshNaming): string[] {
  const spec = r.spec as unknown as Record<string, unknown> | null;
  if (spec === null || typeof spec !== "object") return [];
  // A broken ServiceEntry declares its hosts (as written: a list, or a lone string by mistake);
  // a broken DestinationRule declares "rule:HOST" (its subsets).
  const raw = r.kind === "ServiceEntry" ? spec["hosts"] : r.kind === "DestinationRule" ? spec["host"] : undefined;
  const hosts = (Array.isArray(raw) ? raw : [raw]).filter((h): h is string => typeof h === "string");
  return r.kind === "DestinationRule" ? hosts.map((h) => `rule:${qualifyHost(h, r.namespace, naming)}`) : hosts;
}
