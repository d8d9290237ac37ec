import { labelsMatch } from "../resources.js";
import { each, type Check } from "./context.js";

/**
 * Config that is accepted but routes nowhere. GM0319 (warning): a DestinationRule subset whose
 * labels select none of the host's endpoints (traffic routed to it gets 503, no healthy upstream).
 * GM0320 (warning): a VirtualService host for sidecars ("mesh") that no ServiceEntry declares
 * (sidecars have no route for it, so the VirtualService does nothing).
 */
export const reachChecks: readonly Check[] = [
  each("DestinationRule", (ctx, dr) => {
    const host = ctx.qualify(dr.spec.host, dr.namespace);
    if (host.startsWith("*")) return;
    const services = ctx.servicesFor(host);
    if (services.length === 0) return; // GM0302 says so
    const endpointLabels = services.flatMap((se) => {
      const selector = se.spec.workloadSelector?.labels;
      if (selector === undefined) return (se.spec.endpoints ?? []).map((e) => e.labels ?? {});
      return [
        ...ctx.selected("WorkloadEntry", se.namespace, selector).map((w) => w.spec.labels ?? {}),
        // Workloads of a group register later with the template's labels.
        ...ctx.selected("WorkloadGroup", se.namespace, selector).map((g) => g.spec.metadata?.labels ?? {}),
      ];
    });
    // A service without endpoints in the config fails whatever the subset: not the subset's doing.
    if (endpointLabels.length === 0) return;
    (dr.spec.subsets ?? []).forEach((s, i) => {
      const labels = s.labels ?? {};
      if (Object.keys(labels).length === 0 || endpointLabels.some((l) => labelsMatch(labels, l))) return;
      const text = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(",");
      ctx.report(dr, ["spec", "subsets", i, "labels"], "GM0319", "warning", `subset ${s.name} selects ${text}, but none of the ${endpointLabels.length} endpoint(s) of ${host} has these labels: traffic routed to it fails (503, no healthy upstream); fix the labels or label the endpoints`, "key");
    });
  }),
  each("VirtualService", (ctx, vs) => {
    if (!(vs.spec.gateways ?? ["mesh"]).includes("mesh")) return;
    (vs.spec.hosts ?? []).forEach((h, i) => {
      const host = ctx.qualify(h, vs.namespace);
      if (host.includes("*") || ctx.servicesFor(host).length > 0 || ctx.declaredByInvalid(host)) return;
      ctx.report(vs, ["spec", "hosts", i], "GM0320", "warning", `host ${host} is not declared by any ServiceEntry, so sidecars have no route for it and this VirtualService does nothing there; declare it in a ServiceEntry, or fix the host`);
    });
  }),
];
