// Several DestinationRules for one host, merged and chosen as Istio does (pilot/pkg/model:
// setDestinationRules, mergeDestinationRule, destinationRule, SidecarScope.DestinationRule), so
// that validate and serve make one decision:
// - Rules are taken in a fixed order: those with a workloadSelector first (as Istio sorts them),
//   then by file path, then by their place in the file. Istio orders by creation time, which git
//   has not: the file order stands in for it, and what the order decides is reported (findings).
// - Rules of one namespace for one host with equal exportTo (and both without a workloadSelector,
//   or with equal ones) become one: subsets are appended, a subset name already there keeps the
//   first; the top-level trafficPolicy is the first one's (a later one only fills its absence).
//   Rules with different exportTo stay apart, each seen where it is exported.
// - A rule with a workloadSelector applies only to the proxies it selects in its own namespace,
//   and is preferred for them; it is never exported.
// - A proxy takes the most specific rule of its own namespace for the host, else one exported to
//   it from the service's namespace, else one exported from the root namespace; else none.
import { fileOrder, hostMatches, labelsMatch, qualifyHost, type MeshNaming, type MeshResource } from "./resources.js";
import type { DestinationRuleSpec } from "./types.js";

type Rule = MeshResource<"DestinationRule">;

/** One or more DestinationRules merged into one, as a proxy takes it. */
export interface ConsolidatedRule {
  /** The host as the rules wrote it, qualified. */
  readonly host: string;
  /** The first rule, its spec replaced by the merged one (the same object when nothing merged into it). */
  readonly rule: Rule;
  /** The rules merged into it, in order; the first is `rule`'s. */
  readonly from: readonly Rule[];
  readonly exportTo: ReadonlySet<string>;
}

/** Something Istio would silently drop when merging: named at both places. */
export interface MergeFinding {
  readonly what: "subset" | "trafficPolicy";
  readonly host: string;
  /** The rule whose value is kept, and the path of that value. */
  readonly kept: { readonly rule: Rule; readonly path: readonly (string | number)[] };
  /** The rule whose value is dropped. */
  readonly dropped: { readonly rule: Rule; readonly path: readonly (string | number)[] };
  /** The subset's name, for "subset". */
  readonly name?: string;
}

export interface ProxyView {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface DestinationRuleIndex {
  /** The rule a proxy takes for a service (host, namespace of its ServiceEntry), or none. */
  ruleFor(host: string, serviceNamespace: string, proxy: ProxyView): ConsolidatedRule | undefined;
  /** Whether some rule has a workloadSelector: then a proxy's labels matter as well as its namespace. */
  readonly selective: boolean;
  /** What the merging dropped, once each. */
  readonly findings: readonly MergeFinding[];
}

/** A merged rule while it is built: where each subset and the trafficPolicy came from. */
interface Building {
  host: string;
  rule: Rule;
  spec: DestinationRuleSpec;
  from: Rule[];
  exportTo: ReadonlySet<string>;
  subsetFrom: Map<string, { rule: Rule; index: number }>;
  policyFrom?: Rule;
}

/** Rules for hosts of one pool, exact and wildcard (*.example.com) apart: a lookup scans the wildcards only. */
interface Pool {
  readonly exact: Map<string, Building[]>;
  readonly wildcard: Map<string, Building[]>;
}

const newPool = (): Pool => ({ exact: new Map(), wildcard: new Map() });

/** The order rules are merged in: selector first, then file, then place in the file. */
export function ruleOrder(a: Rule, b: Rule): number {
  const sa = a.spec.workloadSelector !== undefined ? 0 : 1;
  const sb = b.spec.workloadSelector !== undefined ? 0 : 1;
  return sa - sb || fileOrder(a, b);
}

export function indexDestinationRules(rules: readonly Rule[], naming: MeshNaming): DestinationRuleIndex {
  const root = naming.rootNamespace;
  const local = new Map<string, Pool>();
  const exported = new Map<string, Pool>();
  const rootLocal = newPool();
  const findings = new Map<string, MergeFinding>();
  const note = (f: MergeFinding) => {
    const key = `${f.what}|${f.host}|${f.kept.rule.source.file}|${f.kept.rule.source.index}|${f.dropped.rule.source.file}|${f.dropped.rule.source.index}|${f.name ?? ""}`;
    if (!findings.has(key)) findings.set(key, f);
  };
  const poolOf = (pools: Map<string, Pool>, ns: string) => {
    let p = pools.get(ns);
    if (p === undefined) pools.set(ns, (p = newPool()));
    return p;
  };
  for (const dr of [...rules].sort(ruleOrder)) {
    const exportTo: ReadonlySet<string> = dr.spec.workloadSelector === undefined ? new Set(dr.spec.exportTo ?? []) : new Set(["."]);
    if (exportTo.size === 0 || exportTo.has("*") || exportTo.has(".") || exportTo.has(dr.namespace)) merge(poolOf(local, dr.namespace), dr, exportTo, naming, note);
    const privateOnly = exportTo.size === 1 && (exportTo.has(".") || exportTo.has(dr.namespace));
    if (!privateOnly) merge(poolOf(exported, dr.namespace), dr, exportTo, naming, note);
    else if (dr.namespace === root) merge(rootLocal, dr, exportTo, naming, note);
  }
  const frozen = new Map<Building, ConsolidatedRule>();
  const freeze = (b: Building): ConsolidatedRule => {
    let c = frozen.get(b);
    if (c === undefined) {
      c = { host: b.host, rule: b.from.length === 1 ? b.rule : { ...b.rule, spec: b.spec }, from: b.from, exportTo: b.exportTo };
      frozen.set(b, c);
    }
    return c;
  };
  const exportedFrom = (ns: string, host: string, client: string): Building[] =>
    (mostSpecific(exported.get(ns), host) ?? []).filter((b) => b.exportTo.size === 0 || b.exportTo.has("*") || b.exportTo.has(client));
  const candidates = (host: string, serviceNamespace: string, client: string): Building[] => {
    const own = client !== root ? mostSpecific(local.get(client), host) : mostSpecific(rootLocal, host);
    if (own !== undefined) return own;
    const fromService = exportedFrom(serviceNamespace, host, client);
    if (fromService.length > 0) return fromService;
    return exportedFrom(root, host, client);
  };
  return {
    selective: rules.some((r) => r.spec.workloadSelector !== undefined),
    findings: [...findings.values()],
    ruleFor(host, serviceNamespace, proxy) {
      let catchAll: Building | undefined;
      for (const b of candidates(host, serviceNamespace, proxy.namespace)) {
        const selector = b.rule.spec.workloadSelector;
        if (selector === undefined) catchAll = b;
        else if (b.rule.namespace === proxy.namespace && labelsMatch(selector.matchLabels, proxy.labels)) return freeze(b);
      }
      return catchAll === undefined ? undefined : freeze(catchAll);
    },
  };
}

/** Istio's mergeDestinationRule, with ENABLE_ENHANCED_DESTINATIONRULE_MERGE (its default). */
function merge(pool: Pool, dr: Rule, exportTo: ReadonlySet<string>, naming: MeshNaming, note: (f: MergeFinding) => void): void {
  const host = qualifyHost(dr.spec.host, dr.namespace, naming);
  const hosts = host.startsWith("*") ? pool.wildcard : pool.exact;
  const list = hosts.get(host);
  const fresh = (): Building => ({
    host,
    rule: dr,
    spec: dr.spec,
    from: [dr],
    exportTo,
    subsetFrom: new Map((dr.spec.subsets ?? []).map((s, index) => [s.name, { rule: dr, index }])),
    ...(dr.spec.trafficPolicy === undefined ? {} : { policyFrom: dr }),
  });
  if (list === undefined) {
    hosts.set(host, [fresh()]);
    return;
  }
  let separately = true;
  for (const b of list) {
    if (sameSet(exportTo, b.exportTo)) separately = false;
    else if (!(b.exportTo.size > 0 && superset(exportTo, b.exportTo))) continue;
    else separately = true;
    const mine = dr.spec.workloadSelector;
    const theirs = b.rule.spec.workloadSelector;
    const bothWith = mine !== undefined && theirs !== undefined;
    const selectorsMatch = sameLabels(mine?.matchLabels, theirs?.matchLabels);
    if (bothWith && !selectorsMatch) {
      separately = true;
      continue;
    }
    if ((mine === undefined && theirs === undefined) || (bothWith && selectorsMatch)) separately = false;
    b.from = [...b.from, dr];
    const subsets = [...(b.spec.subsets ?? [])];
    (dr.spec.subsets ?? []).forEach((s, index) => {
      const first = b.subsetFrom.get(s.name);
      if (first === undefined) {
        subsets.push(s);
        b.subsetFrom.set(s.name, { rule: dr, index });
      } else {
        note({ what: "subset", host, name: s.name, kept: { rule: first.rule, path: ["spec", "subsets", first.index, "name"] }, dropped: { rule: dr, path: ["spec", "subsets", index, "name"] } });
      }
    });
    let trafficPolicy = b.spec.trafficPolicy;
    if (dr.spec.trafficPolicy !== undefined) {
      if (b.policyFrom === undefined) {
        trafficPolicy = dr.spec.trafficPolicy;
        b.policyFrom = dr;
      } else note({ what: "trafficPolicy", host, kept: { rule: b.policyFrom, path: ["spec", "trafficPolicy"] }, dropped: { rule: dr, path: ["spec", "trafficPolicy"] } });
    }
    b.spec = { ...b.spec, subsets, ...(trafficPolicy === undefined ? {} : { trafficPolicy }) };
  }
  if (separately) list.push(fresh());
}

/** Istio's MostSpecificHostMatch: the host's own rules, else those of the longest wildcard covering it. */
function mostSpecific(pool: Pool | undefined, host: string): Building[] | undefined {
  if (pool === undefined) return undefined;
  const exact = (host.startsWith("*") ? pool.wildcard : pool.exact).get(host);
  if (exact !== undefined) return exact;
  let best: string | undefined;
  for (const h of pool.wildcard.keys()) {
    if (!hostMatches(h, host)) continue;
    if (best === undefined || h.length > best.length || (h.length === best.length && h < best)) best = h;
  }
  return best === undefined ? undefined : pool.wildcard.get(best);
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

function superset(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return [...b].every((x) => a.has(x));
}

function sameLabels(a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>> | undefined): boolean {
  const ea = Object.entries(a ?? {});
  return ea.length === Object.keys(b ?? {}).length && ea.every(([k, v]) => b?.[k] === v);
}

/** The rules a consolidated rule is made of, by identity (`id`): equal for the same rules, for cache and layer keys. */
export function fromKey(from: readonly object[] | undefined, id: (o: object) => string): string {
  return from === undefined ? "-" : from.map(id).join("+");
}
