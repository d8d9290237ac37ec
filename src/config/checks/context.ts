import type { Diagnostic, Severity } from "../diagnostics.js";
import { fieldPath } from "../diagnostics.js";
import { hostMatches, labelsMatch, qualifyHost, refOf, type AnyMeshResource, type MeshNaming, type MeshResource } from "../resources.js";
import { positionOf } from "../source.js";
import type { MeshKind } from "../types.js";

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

/** A workload's labels, as a selector matches them. */
function workloadLabels(r: MeshResource<WorkloadKind>): Readonly<Record<string, string>> {
  return (r.kind === "WorkloadEntry" ? (r as MeshResource<"WorkloadEntry">).spec.labels : (r as MeshResource<"WorkloadGroup">).spec.metadata?.labels) ?? {};
}

export function checkContext(resources: readonly AnyMeshResource[], invalid: readonly AnyMeshResource[], naming: MeshNaming, out: Diagnostic[]): CheckContext {
  const invalidDeclares = new Set(invalid.flatMap((r) => [`${r.kind} ${r.namespace}/${r.name}`, ...declaredHosts(r, naming)]));
  const byKind = new Map<string, AnyMeshResource[]>();
  for (const r of resources) {
    const list = byKind.get(r.kind);
    if (list === undefined) byKind.set(r.kind, [r]);
    else list.push(r);
  }
  const serviceEntries = (byKind.get("ServiceEntry") ?? []) as MeshResource<"ServiceEntry">[];
  // ServiceEntry hosts are taken literally, as Istio does (only VirtualService and
  // DestinationRule hosts expand a short name).
  const exact = new Map<string, MeshResource<"ServiceEntry">[]>();
  const wildcards: { host: string; se: MeshResource<"ServiceEntry"> }[] = [];
  for (const se of serviceEntries) {
    for (const h of se.spec.hosts ?? []) {
      if (h.startsWith("*")) wildcards.push({ host: h, se });
      else exact.set(h, [...(exact.get(h) ?? []), se]);
    }
  }
  const invalidWildcards = [...invalidDeclares].filter((h) => h.startsWith("*"));
  const byNamespace = new Map<string, AnyMeshResource[]>();
  for (const r of resources) {
    const key = `${r.kind}\0${r.namespace}`;
    const list = byNamespace.get(key);
    if (list === undefined) byNamespace.set(key, [r]);
    else list.push(r);
  }
  const inNamespace = <K extends MeshKind>(kind: K, namespace: string) => (byNamespace.get(`${kind}\0${namespace}`) ?? []) as MeshResource<K>[];
  // Built on first use: kind, namespace and one label pair to the workloads having it, in order.
  let byPair: Map<string, MeshResource<WorkloadKind>[]> | undefined;
  const pairIndex = () => {
    byPair = new Map();
    for (const kind of ["WorkloadEntry", "WorkloadGroup"] as const) {
      for (const w of byKind.get(kind) ?? []) {
        for (const [k, v] of Object.entries(workloadLabels(w as MeshResource<WorkloadKind>))) {
          const key = `${kind}\0${w.namespace}\0${k}\0${v}`;
          const list = byPair.get(key);
          if (list === undefined) byPair.set(key, [w as MeshResource<WorkloadKind>]);
          else list.push(w as MeshResource<WorkloadKind>);
        }
      }
    }
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
      let candidates: MeshResource<WorkloadKind>[] | undefined;
      for (const [k, v] of pairs) {
        const list = index.get(`${kind}\0${namespace}\0${k}\0${v}`) ?? [];
        if (candidates === undefined || list.length < candidates.length) candidates = list;
      }
      return (candidates ?? []).filter((w) => labelsMatch(selector, workloadLabels(w))) as MeshResource<K>[];
    },
    ofKind: <K extends MeshKind>(kind: K) => (byKind.get(kind) ?? []) as MeshResource<K>[],
    servicesFor: (host) => [...(exact.get(host) ?? []), ...wildcards.filter((d) => hostMatches(d.host, host)).map((d) => d.se)],
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
