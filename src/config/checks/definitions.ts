import { excerpt } from "../diagnostics.js";
import { indexDestinationRules, ruleOrder } from "../merge-destination-rules.js";
import { mergeServiceEntries } from "../merge-service-entries.js";
import { re2Problem } from "../re2.js";
import { labelsMatch, type MeshResource } from "../resources.js";
import { each, whole, type Check, type CheckContext, type Path } from "./context.js";

/**
 * GM0310 a regular expression Envoy's RE2 engine would refuse, GM0311 a ServiceEntry port number
 * or name used twice, GM0312 a DestinationRule subset name used twice, GM0313 what ServiceEntries
 * declaring one host cannot merge, GM0314 (a warning) what merging a host's DestinationRules drops. Envoy
 * would NACK the first and quietly pick one of the duplicates; all are better caught before a
 * commit is served.
 */
export const definitionChecks: readonly Check[] = [
  each("VirtualService", (ctx, vs) => {
    (vs.spec.http ?? []).forEach((route, i) => {
      (route.match ?? []).forEach((m, j) => {
        const at: Path = ["spec", "http", i, "match", j];
        checkRegex(ctx, vs, [...at, "uri", "regex"], m.uri?.regex);
        for (const [name, sm] of Object.entries(m.headers ?? {})) checkRegex(ctx, vs, [...at, "headers", name, "regex"], sm.regex);
        for (const [name, sm] of Object.entries(m.queryParams ?? {})) checkRegex(ctx, vs, [...at, "queryParams", name, "regex"], sm.regex);
        checkRegex(ctx, vs, [...at, "authority", "regex"], m.authority?.regex);
        checkRegex(ctx, vs, [...at, "scheme", "regex"], m.scheme?.regex);
      });
      checkRegex(ctx, vs, ["spec", "http", i, "rewrite", "uriRegexRewrite", "match"], route.rewrite?.uriRegexRewrite?.match);
      (route.corsPolicy?.allowOrigins ?? []).forEach((o, k) => checkRegex(ctx, vs, ["spec", "http", i, "corsPolicy", "allowOrigins", k, "regex"], o.regex));
    });
  }),
  each("ServiceEntry", (ctx, se) => {
    const numbers = new Set<number>();
    const names = new Set<string>();
    (se.spec.ports ?? []).forEach((p, i) => {
      if (numbers.has(p.number)) ctx.report(se, ["spec", "ports", i, "number"], "GM0311", "error", `port ${p.number} is listed twice; list each port once`);
      if (p.name !== undefined && names.has(p.name)) ctx.report(se, ["spec", "ports", i, "name"], "GM0311", "error", `port name ${p.name} is used twice; give each port its own name`);
      numbers.add(p.number);
      if (p.name !== undefined) names.add(p.name);
    });
  }),
  whole((ctx) => {
    // GM0313: ServiceEntries for one host merge as in Istio (merge-service-entries.ts); what
    // cannot be merged is an error at the later entry, naming the first.
    for (const c of mergeServiceEntries(ctx.ofKind("ServiceEntry")).conflicts) {
      ctx.report(c.at, c.path, "GM0313", "error", `${c.message} (ServiceEntry ${c.first.namespace}/${c.first.name}, ${ctx.where(c.first, c.firstPath)})`);
    }
  }),
  whole(checkRuleMerge),
  whole(checkSelectorOverlap),
  each("DestinationRule", (ctx, dr) => {
    const seen = new Set<string>();
    (dr.spec.subsets ?? []).forEach((s, i) => {
      if (seen.has(s.name)) ctx.report(dr, ["spec", "subsets", i, "name"], "GM0312", "error", `subset ${s.name} is defined twice; merge the two or rename one`);
      seen.add(s.name);
    });
  }),
];

function checkRuleMerge(ctx: CheckContext): void {
  // GM0314: several DestinationRules for one host merge as in Istio (merge-destination-rules.ts);
  // what the merge drops (a subset name defined again, a second top-level trafficPolicy) is a
  // warning at the dropped place naming the kept one, as file order decides where Istio's
  // creation time would.
  for (const f of indexDestinationRules(ctx.ofKind("DestinationRule"), ctx.naming).findings) {
    const kept = `${f.kept.rule.namespace}/${f.kept.rule.name} (${ctx.where(f.kept.rule, f.kept.path)})`;
    const what = f.what === "subset" ? `subset ${f.name ?? ""} of ${f.host} is already defined by DestinationRule ${kept}` : `${f.host} already has a top-level trafficPolicy from DestinationRule ${kept}`;
    ctx.report(f.dropped.rule, f.dropped.path, "GM0314", "warning", `${what}, which comes first in file order; as Istio merges rules for one host this one is ignored: remove it or rename it`, f.what === "subset" ? "value" : "key");
  }
}

/**
 * GM0314 (warning): a workload two workloadSelector rules for one host select with different
 * selectors takes the first in file order only (Istio: the oldest), the other ignored for it.
 */
function checkSelectorOverlap(ctx: CheckContext): void {
  const groups = new Map<string, MeshResource<"DestinationRule">[]>();
  for (const dr of [...ctx.ofKind("DestinationRule")].sort(ruleOrder)) {
    if (dr.spec.workloadSelector === undefined) continue;
    const key = `${dr.namespace}\0${ctx.qualify(dr.spec.host, dr.namespace)}`;
    groups.set(key, [...(groups.get(key) ?? []), dr]);
  }
  for (const rules of groups.values()) {
    const [first] = rules;
    if (rules.length < 2 || first === undefined) continue;
    const workloads = [
      ...ctx.inNamespace("WorkloadEntry", first.namespace).map((w) => ({ name: w.name, labels: w.spec.labels ?? {} })),
      ...ctx.inNamespace("WorkloadGroup", first.namespace).map((g) => ({ name: g.name, labels: g.spec.metadata?.labels ?? {} })),
    ];
    const reported = new Set<MeshResource<"DestinationRule">>();
    for (const w of workloads) {
      const taking = rules.filter((r) => labelsMatch(r.spec.workloadSelector?.matchLabels, w.labels));
      const [kept, ...ignored] = taking;
      if (kept === undefined) continue;
      for (const dr of ignored) {
        if (reported.has(dr) || JSON.stringify(dr.spec.workloadSelector) === JSON.stringify(kept.spec.workloadSelector)) continue; // equal selectors merge
        reported.add(dr);
        ctx.report(dr, ["spec", "workloadSelector"], "GM0314", "warning", `workload ${w.name} is also selected by DestinationRule ${kept.namespace}/${kept.name} (${ctx.where(kept, ["spec", "workloadSelector"])}) for ${ctx.qualify(dr.spec.host, dr.namespace)}, which comes first in file order; as in Istio it takes that one only and this one is ignored for it: make the selectors disjoint`, "key");
      }
    }
  }
}

function checkRegex(ctx: CheckContext, r: Parameters<CheckContext["report"]>[0], path: Path, regex: string | undefined): void {
  if (regex === undefined) return;
  const problem = re2Problem(regex);
  if (problem !== undefined) ctx.report(r, path, "GM0310", "error", `${excerpt(regex, 200)} is not a valid regular expression (${problem}); fix it (Envoy uses RE2 syntax)`);
}
