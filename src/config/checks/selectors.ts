import { labelsMatch, type AnyMeshResource } from "../resources.js";
import type { CheckContext, Path } from "./context.js";

interface Workload {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Every workload the config knows: WorkloadEntries, ServiceEntries' inline endpoints, WorkloadGroups' template labels (workloads that register later). */
export function knownWorkloads(ctx: CheckContext): Workload[] {
  return [
    ...ctx.ofKind("WorkloadEntry").map((w) => ({ namespace: w.namespace, labels: w.spec.labels ?? {} })),
    ...ctx.ofKind("ServiceEntry").flatMap((se) => (se.spec.endpoints ?? []).map((e) => ({ namespace: se.namespace, labels: e.labels ?? {} }))),
    ...ctx.ofKind("WorkloadGroup").map((g) => ({ namespace: g.namespace, labels: g.spec.metadata?.labels ?? {} })),
  ];
}

/**
 * A selector that matches no workload: neither a WorkloadEntry, a ServiceEntry's inline endpoint,
 * nor a WorkloadGroup's template labels. Selectors in the root namespace apply mesh-wide, so they
 * may match workloads in any namespace. GM0316 (error) for an AuthorizationPolicy,
 * PeerAuthentication or RequestAuthentication: the policy the operator meant to enforce silently
 * applies to nothing.
 * GM0309 (warning) for a Sidecar, ServiceEntry, DestinationRule or Gateway selector.
 */
export function checkSelectors(ctx: CheckContext): void {
  const workloads = knownWorkloads(ctx);
  // Candidates by one label pair (in a namespace, and mesh-wide): checking a selector looks at
  // the workloads sharing its rarest pair, not at every workload (1,000 selectors by 2,000
  // workloads was most of a reload).
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
  // Workloads that register at run time (proxyless gRPC servers, agents) are declared only by
  // the ServiceEntry selecting them: a policy selector that could match such a workload (no label
  // with another value) is given the benefit of the doubt.
  const serviceSelectors = ctx.ofKind("ServiceEntry").flatMap((se) => (se.spec.workloadSelector === undefined ? [] : [{ namespace: se.namespace, labels: se.spec.workloadSelector.labels ?? {} }]));
  const serviceSelects = (namespace: string, everywhere: boolean, selector: Readonly<Record<string, string>>) =>
    serviceSelectors.some((s) => (everywhere || s.namespace === namespace) && Object.entries(selector).every(([k, v]) => s.labels[k] === undefined || s.labels[k] === v) && Object.keys(s.labels).some((k) => selector[k] !== undefined));
  const check = (r: AnyMeshResource, selector: Readonly<Record<string, string>> | undefined, path: Path, meshWide = false) => {
    const policy = r.kind === "AuthorizationPolicy" || r.kind === "PeerAuthentication" || r.kind === "RequestAuthentication";
    if (selector === undefined || Object.keys(selector).length === 0) return;
    const everywhere = meshWide || r.namespace === ctx.naming.rootNamespace;
    const scope = everywhere ? "*" : r.namespace;
    const lists = Object.entries(selector).map(([k, v]) => byPair.get(`${scope}\0${k}\0${v}`) ?? []);
    const candidates = lists.reduce((a, b) => (b.length < a.length ? b : a));
    if (!candidates.some((w) => labelsMatch(selector, w.labels)) && !brokenMayMatch(ctx, selector, everywhere ? undefined : r.namespace)) {
      const labels = Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(",");
      const where = everywhere ? "in any namespace" : `in namespace ${r.namespace}`;
      if (policy && !serviceSelects(r.namespace, everywhere, selector)) {
        ctx.report(r, path, "GM0316", "error", `selector ${labels} matches no workload ${where}, so this ${r.kind} applies to nothing; fix the labels, or declare the workload it is for (a WorkloadEntry, a WorkloadGroup, or a ServiceEntry workloadSelector)`, "key");
      } else if (!policy) ctx.report(r, path, "GM0309", "warning", `selector ${labels} matches no workload ${where}; it has no effect until one has these labels`, "key");
    }
  };
  for (const p of ctx.ofKind("PeerAuthentication")) check(p, p.spec.selector?.matchLabels, ["spec", "selector"]);
  for (const p of ctx.ofKind("AuthorizationPolicy")) check(p, p.spec.selector?.matchLabels, ["spec", "selector"]);
  for (const p of ctx.ofKind("RequestAuthentication")) check(p, p.spec.selector?.matchLabels, ["spec", "selector"]);
  for (const s of ctx.ofKind("Sidecar")) check(s, s.spec.workloadSelector?.labels, ["spec", "workloadSelector"]);
  for (const se of ctx.ofKind("ServiceEntry")) check(se, se.spec.workloadSelector?.labels, ["spec", "workloadSelector"]);
  for (const dr of ctx.ofKind("DestinationRule")) check(dr, dr.spec.workloadSelector?.matchLabels, ["spec", "workloadSelector"]);
  // Istio picks gateway workloads in every namespace.
  for (const g of ctx.ofKind("Gateway")) check(g, g.spec.selector, ["spec", "selector"], true);
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
