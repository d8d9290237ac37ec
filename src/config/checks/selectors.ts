import { labelsMatch, type AnyMeshResource, type MeshResource } from "../resources.js";
import type { MeshKind } from "../types.js";
import { each, type Check, type CheckContext, type Path } from "./context.js";

interface Workload {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** The workloads selectors are checked against (see workloadIndex). */
interface WorkloadIndex {
  /** Workloads by one label pair, in a namespace ("NS\0key\0value") and mesh-wide ("*\0key\0value"). */
  readonly byPair: ReadonlyMap<string, readonly Workload[]>;
  /** The ServiceEntries' workload selectors. */
  readonly serviceSelectors: readonly Workload[];
}

type Of = <K extends MeshKind>(kind: K) => readonly MeshResource<K>[];

/**
 * Every workload the config knows (WorkloadEntries, ServiceEntries' inline endpoints,
 * WorkloadGroups' template labels: workloads that register later) by label pair: checking a
 * selector looks at the workloads sharing its rarest pair, not at every workload (1,000 selectors
 * by 2,000 workloads was most of a reload).
 */
function workloadIndex(of: Of): WorkloadIndex {
  const workloads: Workload[] = [
    ...of("WorkloadEntry").map((w) => ({ namespace: w.namespace, labels: w.spec.labels ?? {} })),
    ...of("ServiceEntry").flatMap((se) => (se.spec.endpoints ?? []).map((e) => ({ namespace: se.namespace, labels: e.labels ?? {} }))),
    ...of("WorkloadGroup").map((g) => ({ namespace: g.namespace, labels: g.spec.metadata?.labels ?? {} })),
  ];
  const byPair = new Map<string, Workload[]>();
  const add = (key: string, w: Workload) => {
    const list = byPair.get(key);
    if (list === undefined) byPair.set(key, [w]);
    else list.push(w);
  };
  for (const w of workloads) {
    for (const [k, v] of Object.entries(w.labels)) {
      add(`${w.namespace}\0${k}\0${v}`, w);
      add(`*\0${k}\0${v}`, w);
    }
  }
  const serviceSelectors = of("ServiceEntry").flatMap((se) => (se.spec.workloadSelector === undefined ? [] : [{ namespace: se.namespace, labels: se.spec.workloadSelector.labels ?? {} }]));
  return { byPair, serviceSelectors };
}

/** What workloadIndex reads of a resource: its namespace and labels (an address may change). */
function labelsOf(r: AnyMeshResource): string {
  if (r.kind === "WorkloadEntry") return JSON.stringify([r.namespace, r.spec.labels]);
  if (r.kind === "WorkloadGroup") return JSON.stringify([r.namespace, r.spec.metadata?.labels]);
  if (r.kind === "ServiceEntry") return JSON.stringify([r.namespace, (r.spec.endpoints ?? []).map((e) => e.labels), r.spec.workloadSelector]);
  return JSON.stringify([r.kind, r.namespace, r.name]);
}

/**
 * A selector that matches no workload: neither a WorkloadEntry, a ServiceEntry's inline endpoint,
 * nor a WorkloadGroup's template labels. Selectors in the root namespace apply mesh-wide, so they
 * may match workloads in any namespace. GM0316 (error) for an AuthorizationPolicy,
 * PeerAuthentication or RequestAuthentication: the policy the operator meant to enforce silently
 * applies to nothing.
 * GM0309 (warning) for a Sidecar, ServiceEntry, DestinationRule or Gateway selector.
 */
export const selectorChecks: readonly Check[] = [
  each("PeerAuthentication", (ctx, p) => checkSelector(ctx, p, p.spec.selector?.matchLabels, ["spec", "selector"])),
  each("AuthorizationPolicy", (ctx, p) => checkSelector(ctx, p, p.spec.selector?.matchLabels, ["spec", "selector"])),
  each("RequestAuthentication", (ctx, p) => checkSelector(ctx, p, p.spec.selector?.matchLabels, ["spec", "selector"])),
  each("Sidecar", (ctx, s) => checkSelector(ctx, s, s.spec.workloadSelector?.labels, ["spec", "workloadSelector"])),
  each("ServiceEntry", (ctx, se) => checkSelector(ctx, se, se.spec.workloadSelector?.labels, ["spec", "workloadSelector"])),
  each("DestinationRule", (ctx, dr) => checkSelector(ctx, dr, dr.spec.workloadSelector?.matchLabels, ["spec", "workloadSelector"])),
  // Istio picks gateway workloads in every namespace.
  each("Gateway", (ctx, g) => checkSelector(ctx, g, g.spec.selector, ["spec", "selector"], true)),
];

function checkSelector(ctx: CheckContext, r: AnyMeshResource, selector: Readonly<Record<string, string>> | undefined, path: Path, meshWide = false): void {
  const policy = r.kind === "AuthorizationPolicy" || r.kind === "PeerAuthentication" || r.kind === "RequestAuthentication";
  if (selector === undefined || Object.keys(selector).length === 0) return;
  const { byPair, serviceSelectors } = ctx.derive("workloads by label pair", ["WorkloadEntry", "ServiceEntry", "WorkloadGroup"], workloadIndex, labelsOf);
  const everywhere = meshWide || r.namespace === ctx.naming.rootNamespace;
  const scope = everywhere ? "*" : r.namespace;
  const lists = Object.entries(selector).map(([k, v]) => byPair.get(`${scope}\0${k}\0${v}`) ?? []);
  const candidates = lists.reduce((a, b) => (b.length < a.length ? b : a));
  if (candidates.some((w) => labelsMatch(selector, w.labels)) || brokenMayMatch(ctx, selector, everywhere ? undefined : r.namespace)) return;
  const labels = Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(",");
  const where = everywhere ? "in any namespace" : `in namespace ${r.namespace}`;
  // Workloads that register at run time (proxyless gRPC servers, agents) are declared only by
  // the ServiceEntry selecting them: a policy selector that could match such a workload (no label
  // with another value) is given the benefit of the doubt.
  const serviceSelects = serviceSelectors.some((s) => (everywhere || s.namespace === r.namespace) && Object.entries(selector).every(([k, v]) => s.labels[k] === undefined || s.labels[k] === v) && Object.keys(s.labels).some((k) => selector[k] !== undefined));
  if (policy && !serviceSelects) {
    ctx.report(r, path, "GM0316", "error", `selector ${labels} matches no workload ${where}, so this ${r.kind} applies to nothing; fix the labels, or declare the workload it is for (a WorkloadEntry, a WorkloadGroup, or a ServiceEntry workloadSelector)`, "key");
  } else if (!policy) ctx.report(r, path, "GM0309", "warning", `selector ${labels} matches no workload ${where}; it has no effect until one has these labels`, "key");
}

/**
 * A WorkloadEntry, WorkloadGroup or ServiceEntry that failed its schema or YAML may be the workload
 * a selector is for: its own error says enough, so the selector is not reported too. Its labels
 * are read defensively; when they cannot be read at all it may match anything.
 */
function brokenMayMatch(ctx: CheckContext, selector: Readonly<Record<string, string>>, namespace: string | undefined): boolean {
  const labelSets = (r: AnyMeshResource): unknown[] => {
    const spec = r.spec as unknown as Record<string, unknown> | null;
    if (spec === null || typeof spec !== "object") return [undefined];
    if (r.kind === "WorkloadEntry") return [spec["labels"]];
    if (r.kind === "WorkloadGroup") return [(spec["metadata"] as Record<string, unknown> | undefined)?.["labels"]];
    const endpoints = spec["endpoints"];
    return Array.isArray(endpoints) ? endpoints.map((e) => (e as Record<string, unknown> | null)?.["labels"]) : [];
  };
  return ctx.invalid.some(
    (r) =>
      (namespace === undefined || r.namespace === namespace) &&
      (r.kind === "WorkloadEntry" || r.kind === "WorkloadGroup" || r.kind === "ServiceEntry") &&
      labelSets(r).some((l) => l === null || typeof l !== "object" || labelsMatch(selector, l as Record<string, string>)),
  );
}
