import { gatewayRef, type MeshResource } from "../resources.js";
import { each, whole, type Check, type CheckContext } from "./context.js";

/**
 * GM0304 (warning) weights that do not add up to 100, GM0325 weights that add up to 0,
 * GM0307 a match an earlier one shadows, GM0308 a gateway that does not exist; and what the merged
 * view of several VirtualServices (virtual-services.ts, the one serve uses) refuses or leaves out:
 * GM0306 a second VirtualService for a sidecar host, GM0360 a gateway catch-all another one's
 * hides, GM0361 a delegate that cannot be resolved, GM0362 a delegate with gateways, tcp or tls,
 * GM0363 delegation from a delegate, GM0364 (warning) a delegate route outside the root's match,
 * GM0365 (warning) a delegate nothing delegates to, GM0308 also for http match gateways, GM0366
 * (warning) a match naming a gateway its VirtualService is not bound to.
 */
export const routeChecks: readonly Check[] = [
  each("VirtualService", (ctx, vs) => {
    const named: { ref: string; path: (string | number)[] }[] = (vs.spec.gateways ?? []).map((g, i) => ({ ref: g, path: ["spec", "gateways", i] }));
    (vs.spec.http ?? []).forEach((h, i) => (h.match ?? []).forEach((m, j) => (m.gateways ?? []).forEach((g, k) => named.push({ ref: g, path: ["spec", "http", i, "match", j, "gateways", k] }))));
    const bound = new Set((vs.spec.gateways ?? ["mesh"]).map((g) => gatewayRef(g, vs.namespace)));
    for (const { ref, path } of named) {
      const key = gatewayRef(ref, vs.namespace);
      if (key !== "mesh" && ctx.named("Gateway", key) === undefined && !ctx.declaredByInvalid(`Gateway ${key}`)) {
        ctx.report(vs, path, "GM0308", "error", `gateway ${key} does not exist; define it, fix the name, or use "mesh" for sidecars`);
      } else if (path[1] === "http" && !bound.has(key)) {
        // As in Istio: spec.gateways decides where the VirtualService is translated at all.
        ctx.report(vs, path, "GM0366", "warning", `this match names ${key}, but the VirtualService is not bound to it (spec.gateways), so it never applies there; add ${ref} to spec.gateways`);
      }
    }
    checkWeights(ctx, vs);
    checkShadowing(ctx, vs);
  }),
  whole((ctx) => {
    for (const f of ctx.routeFindings()) {
      if (f.code === "GM0361" && f.also === undefined && delegateIsInvalid(ctx, f.at, f.path)) continue; // its own error is reported
      const message = f.also === undefined ? f.message : f.message.replace("{where}", ctx.where(f.also.at, f.also.path));
      ctx.report(f.at, f.path, f.code, f.severity, message, f.path.at(-1) === "delegate" || typeof f.path.at(-1) === "number" ? "key" : "value");
    }
  }),
];

/** Whether the delegate a route names failed its own schema (then it is not reported missing again). */
function delegateIsInvalid(ctx: CheckContext, vs: MeshResource<"VirtualService">, path: readonly (string | number)[]): boolean {
  const i = path[2];
  const ref = typeof i === "number" ? vs.spec.http?.[i]?.delegate : undefined;
  return ref !== undefined && ctx.declaredByInvalid(`VirtualService ${ref.namespace ?? vs.namespace}/${ref.name}`);
}

/**
 * Weights are relative, as Istio's API says: each destination gets weight / total of the traffic
 * (Envoy's weighted_clusters do the same). A total other than 100 is allowed but often a slip
 * (GM0304, warning); a total of 0 over several destinations sends traffic nowhere (GM0325, error).
 */
function checkWeights(ctx: CheckContext, vs: MeshResource<"VirtualService">): void {
  const check = (routes: readonly { readonly weight?: number }[], path: (string | number)[]) => {
    // One destination takes all the traffic whatever its weight (as in Istio).
    if (routes.length <= 1) return;
    const total = routes.reduce((sum, r) => sum + (r.weight ?? 0), 0);
    const weights = routes.map((r) => r.weight ?? 0).join(" + ");
    if (total === 0) {
      ctx.report(vs, path, "GM0325", "error", `route weights add up to 0 (${weights}): no destination would get traffic; give the destinations weights`, "key");
    } else if (total !== 100) {
      const shares = routes.map((r) => `${(((r.weight ?? 0) * 100) / total).toFixed(1).replace(/\.0$/, "")}%`).join(", ");
      ctx.report(vs, path, "GM0304", "warning", `route weights add up to ${total} (${weights}); weights are relative, so the split is ${shares}: write weights that add up to 100 if that is not what you meant`, "key");
    }
  };
  (vs.spec.http ?? []).forEach((r, i) => check(r.route ?? [], ["spec", "http", i, "route"]));
  (vs.spec.tcp ?? []).forEach((r, i) => check(r.route ?? [], ["spec", "tcp", i, "route"]));
  (vs.spec.tls ?? []).forEach((r, i) => check(r.route ?? [], ["spec", "tls", i, "route"]));
}

type HttpMatch = NonNullable<NonNullable<MeshResource<"VirtualService">["spec"]["http"]>[number]["match"]>[number];

/** An earlier match that catches every request whose path starts with prefix. */
interface Shadow {
  readonly prefix: string;
  /** An exact match shadows only the same exact path. */
  readonly exact?: boolean;
  readonly ignoreCase: boolean;
  readonly index: number;
}

/** The shadow a match casts: only when its one condition is a URI prefix (or it has none). */
function shadowOf(m: HttpMatch | undefined, index: number): Shadow | undefined {
  if (m === undefined) return { prefix: "", ignoreCase: true, index };
  // An empty map or list is no condition at all.
  const isCondition = (v: unknown) => v !== undefined && !(typeof v === "object" && v !== null && Object.keys(v).length === 0);
  const conditions = Object.entries(m).filter(([k, v]) => isCondition(v) && k !== "name" && k !== "ignoreUriCase" && k !== "uri");
  if (conditions.length > 0) return undefined;
  if (m.uri === undefined) return { prefix: "", ignoreCase: true, index };
  if (m.uri.prefix !== undefined) return { prefix: m.uri.prefix, ignoreCase: m.ignoreUriCase === true, index };
  if (m.uri.exact !== undefined) return { prefix: m.uri.exact, exact: true, ignoreCase: m.ignoreUriCase === true, index };
  return undefined;
}

/** The earlier shadow that covers this match, if any (a regex can never be proven covered). */
function coveredBy(m: HttpMatch | undefined, shadows: readonly Shadow[]): Shadow | undefined {
  const catchAll = shadows.find((s) => s.prefix === "" && s.exact !== true);
  if (catchAll !== undefined) return catchAll; // covers everything, a regex included
  const target = m?.uri === undefined ? undefined : (m.uri.prefix ?? m.uri.exact);
  if (target === undefined) return undefined; // no uri condition, or a regex: cannot be proven covered
  const targetIsExact = m?.uri?.exact !== undefined;
  const ignoreCase = m?.ignoreUriCase === true;
  const fold = (x: string, fold: boolean) => (fold ? x.toLowerCase() : x);
  return shadows.find((s) => {
    if (ignoreCase && !s.ignoreCase) return false; // the later one matches case variants the earlier does not
    const t = fold(target, s.ignoreCase);
    const p = fold(s.prefix, s.ignoreCase);
    return s.exact === true ? targetIsExact && t === p : t.startsWith(p);
  });
}

function checkShadowing(ctx: CheckContext, vs: MeshResource<"VirtualService">): void {
  const shadows: Shadow[] = [];
  (vs.spec.http ?? []).forEach((route, i) => {
    const matches: readonly (HttpMatch | undefined)[] = route.match ?? [undefined];
    const covering = matches.map((m) => coveredBy(m, shadows));
    const first = covering[0];
    if (first !== undefined && covering.every((c) => c !== undefined)) {
      ctx.report(vs, ["spec", "http", i], "GM0307", "warning", `this route can never match: http[${first.index}] before it already matches every request it would; move it up or narrow the earlier match`, "key");
    }
    for (const m of matches) {
      const s = shadowOf(m, i);
      if (s !== undefined) shadows.push(s);
    }
  });
}
