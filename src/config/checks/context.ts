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

/**
 * Builds a value from some inputs, or hands back the value built last time from the very same
 * inputs (see MeshChecker: an index over workloads survives a change to a VirtualService).
 */
export type Reuse = <T>(name: string, inputs: readonly (readonly unknown[])[], build: () => T) => T;

const buildAlways: Reuse = (_name, _inputs, build) => build();

export function checkContext(resources: readonly AnyMeshResource[], invalid: readonly AnyMeshResource[], naming: MeshNaming, out: Diagnostic[], reuse: Reuse = buildAlways): CheckContext {
  const naming_ = [naming.rootNamespace, naming.clusterDomain, naming.trustDomain];
  const { invalidDeclares, invalidWildcards } = reuse("invalid", [invalid, naming_], () => {
    const declares = new Set(invalid.flatMap((r) => [`${r.kind} ${r.namespace}/${r.name}`, ...declaredHosts(r, naming)]));
    return { invalidDeclares: declares, invalidWildcards: [...declares].filter((h) => h.startsWith("*")) };
  });
  const byKind = new Map<string, AnyMeshResource[]>();
  for (const r of resources) {
    const list = byKind.get(r.kind);
    if (list === undefined) byKind.set(r.kind, [r]);
    else list.push(r);
  }
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
  let byPair: Map<string, MeshResource<WorkloadKind>[]> | undefined;
  const pairIndex = () => {
    const workloads = [ofKind("WorkloadEntry"), ofKind("WorkloadGroup")] as const;
    byPair = reuse("label pairs", workloads, () => {
      const index = new Map<string, MeshResource<WorkloadKind>[]>();
      for (const list of workloads) {
        for (const w of list) {
          for (const [k, v] of Object.entries(workloadLabels(w))) {
            const key = `${w.kind}\0${w.namespace}\0${k}\0${v}`;
            const same = index.get(key);
            if (same === undefined) index.set(key, [w]);
            else same.push(w);
          }
        }
      }
      return index;
    });
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
    ofKind,
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
