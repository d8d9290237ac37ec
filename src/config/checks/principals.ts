import { excerpt } from "../diagnostics.js";
import { each, type Check } from "./context.js";

/**
 * GM0318: an AuthorizationPolicy principal written as a SPIFFE URI. Istio's principals are the URI
 * without its scheme (cluster.local/ns/NS/sa/SA); the scheme is added when the policy is applied,
 * so "spiffe://cluster.local/..." would be compared as spiffe://spiffe://... and match no one (an
 * ALLOW then denies everyone, a DENY denies no one).
 */
export const principalChecks: readonly Check[] = [
  each("AuthorizationPolicy", (ctx, ap) => {
    (ap.spec.rules ?? []).forEach((rule, i) => {
      (rule.from ?? []).forEach((from, j) => {
        for (const field of ["principals", "notPrincipals"] as const) {
          (from.source[field] ?? []).forEach((p, k) => {
            if (hasScheme(p)) ctx.report(ap, ["spec", "rules", i, "from", j, "source", field, k], "GM0318", "error", message(p));
          });
        }
      });
      (rule.when ?? []).forEach((cond, j) => {
        if (cond.key !== "source.principal") return;
        for (const field of ["values", "notValues"] as const) {
          (cond[field] ?? []).forEach((p, k) => {
            if (hasScheme(p)) ctx.report(ap, ["spec", "rules", i, "when", j, field, k], "GM0318", "error", message(p));
          });
        }
      });
    });
  }),
];

function hasScheme(principal: string): boolean {
  return principal.toLowerCase().startsWith("spiffe://");
}

function message(principal: string): string {
  const bare = principal.slice("spiffe://".length);
  return `principals are written without the spiffe:// scheme (it is added when the policy is applied, so this one would match no workload); write ${excerpt(bare, 200)}`;
}
