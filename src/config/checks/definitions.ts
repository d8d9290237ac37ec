import { excerpt } from "../diagnostics.js";
import { re2Problem } from "../re2.js";
import type { MeshResource } from "../resources.js";
import type { CheckContext, Path } from "./context.js";

/**
 * GM0310 a regular expression Envoy's RE2 engine would refuse, GM0311 a ServiceEntry port number
 * or name used twice, GM0312 a DestinationRule subset name used twice, GM0313 a host two
 * ServiceEntries declare, GM0314 a host with two DestinationRules. Envoy would NACK the first and
 * quietly pick one of the duplicates; all are better caught before a commit is served.
 */
export function checkDefinitions(ctx: CheckContext): void {
  for (const vs of ctx.ofKind("VirtualService")) {
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
  }
  for (const se of ctx.ofKind("ServiceEntry")) {
    const numbers = new Set<number>();
    const names = new Set<string>();
    (se.spec.ports ?? []).forEach((p, i) => {
      if (numbers.has(p.number)) ctx.report(se, ["spec", "ports", i, "number"], "GM0311", "error", `port ${p.number} is listed twice; list each port once`);
      if (p.name !== undefined && names.has(p.name)) ctx.report(se, ["spec", "ports", i, "name"], "GM0311", "error", `port name ${p.name} is used twice; give each port its own name`);
      numbers.add(p.number);
      if (p.name !== undefined) names.add(p.name);
    });
  }
  // GM0313 / GM0314: one host, one ServiceEntry and one DestinationRule. Istio merges duplicates
  // by rules operators rarely know; gitmesh asks for one place instead.
  const seHosts = new Map<string, { se: MeshResource<"ServiceEntry">; index: number }>();
  for (const se of ctx.ofKind("ServiceEntry")) {
    se.spec.hosts.forEach((h, i) => {
      const first = seHosts.get(h);
      // The same name twice is GM0301's to report.
      if (first !== undefined && (first.se.namespace !== se.namespace || first.se.name !== se.name)) {
        ctx.report(se, ["spec", "hosts", i], "GM0313", "error", `host ${h} is already declared by ServiceEntry ${first.se.namespace}/${first.se.name} (${ctx.where(first.se, ["spec", "hosts", first.index])}); declare each host in one ServiceEntry`);
      } else if (first === undefined) seHosts.set(h, { se, index: i });
    });
  }
  const drHosts = new Map<string, MeshResource<"DestinationRule">>();
  for (const dr of ctx.ofKind("DestinationRule")) {
    const host = ctx.qualify(dr.spec.host, dr.namespace);
    const first = drHosts.get(host);
    if (first !== undefined) ctx.report(dr, ["spec", "host"], "GM0314", "error", `${host} already has DestinationRule ${first.namespace}/${first.name} (${ctx.where(first, ["spec", "host"])}); merge the two into one`);
    else drHosts.set(host, dr);
  }
  for (const dr of ctx.ofKind("DestinationRule")) {
    const seen = new Set<string>();
    (dr.spec.subsets ?? []).forEach((s, i) => {
      if (seen.has(s.name)) ctx.report(dr, ["spec", "subsets", i, "name"], "GM0312", "error", `subset ${s.name} is defined twice; merge the two or rename one`);
      seen.add(s.name);
    });
  }
}

function checkRegex(ctx: CheckContext, r: Parameters<CheckContext["report"]>[0], path: Path, regex: string | undefined): void {
  if (regex === undefined) return;
  const problem = re2Problem(regex);
  if (problem !== undefined) ctx.report(r, path, "GM0310", "error", `${excerpt(regex, 200)} is not a valid regular expression (${problem}); fix it (Envoy uses RE2 syntax)`);
}
