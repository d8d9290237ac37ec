import type { AnyMeshResource, MeshResource } from "../resources.js";
import { addressingOf, endpointAddressProblem, positiveDuration, refusedDurationNote } from "../serving.js";
import type { TrafficPolicy } from "../types.js";
import { each, type Check, type CheckContext, type Path } from "./context.js";

/**
 * What serve would drop or replace, reported where it is written (the decisions are in
 * ../serving.ts, which the translators act on): GM0321 (warning) an endpoint its cluster cannot
 * use, GM0322 (warning) the endpoints DNS_ROUND_ROBIN leaves out, GM0323 (warning) a duration
 * Envoy refuses (0) and serve replaces with the default, GM0324 a ServiceEntry host "*" (Istio refuses it; it would claim every host).
 */
export const servingChecks: readonly Check[] = [
  each("ServiceEntry", (ctx, se) => {
    se.spec.hosts.forEach((h, i) => {
      if (h === "*") ctx.report(se, ["spec", "hosts", i], "GM0324", "error", `a ServiceEntry host "*" would declare every host there is (Istio refuses it); list the hosts, or a domain wildcard such as *.example.com`);
    });
    const addressing = addressingOf(se.spec.resolution);
    const selector = se.spec.workloadSelector?.labels;
    const endpoints: { address: string; locality: string; at: { r: AnyMeshResource; path: Path } }[] =
      selector === undefined
        ? (se.spec.endpoints ?? []).map((e, i) => ({ address: e.address, locality: e.locality ?? "", at: { r: se, path: ["spec", "endpoints", i, "address"] } }))
        : ctx
            .selected("WorkloadEntry", se.namespace, selector)
            .map((w) => ({ address: w.spec.address, locality: w.spec.locality ?? "", at: { r: w, path: ["spec", "address"] } }));
    const usable = endpoints.filter((e) => {
      const problem = endpointAddressProblem(e.address, addressing);
      if (problem === undefined) return true;
      const why = `${se.spec.resolution ?? "NONE"} (ServiceEntry ${se.namespace}/${se.name})`;
      ctx.report(e.at.r, e.at.path, "GM0321", "warning", `endpoint ${e.address} ${problem}: resolution ${why}`);
      return false;
    });
    if (se.spec.resolution === "DNS_ROUND_ROBIN" && new Set(usable.map((e) => e.address)).size > 1) {
      const first = [...usable].sort((a, b) => (a.locality < b.locality ? -1 : a.locality > b.locality ? 1 : a.address < b.address ? -1 : a.address > b.address ? 1 : 0))[0];
      ctx.report(
        se,
        ["spec", "resolution"],
        "GM0322",
        "warning",
        `DNS_ROUND_ROBIN uses one endpoint (Envoy's LOGICAL_DNS): ${first?.address ?? ""}, the first by locality and address; the other ${usable.length - 1} are left out. Use resolution DNS to balance over all of them`,
      );
    }
  }),
  each("DestinationRule", (ctx, dr) => {
    const policies: { policy: TrafficPolicy | undefined; path: Path }[] = [
      { policy: dr.spec.trafficPolicy, path: ["spec", "trafficPolicy"] },
      ...(dr.spec.subsets ?? []).map((s, i) => ({ policy: s.trafficPolicy, path: ["spec", "subsets", i, "trafficPolicy"] as Path })),
    ];
    for (const { policy, path } of policies) {
      checkDurations(ctx, dr, policy, path);
      (policy?.portLevelSettings ?? []).forEach((p, i) => checkDurations(ctx, dr, p, [...path, "portLevelSettings", i]));
    }
  }),
];

function checkDurations(ctx: CheckContext, dr: MeshResource<"DestinationRule">, policy: Omit<TrafficPolicy, "portLevelSettings"> | undefined, path: Path): void {
  const fields: [string | undefined, Path][] = [
    [policy?.connectionPool?.tcp?.connectTimeout, ["connectionPool", "tcp", "connectTimeout"]],
    [policy?.outlierDetection?.interval, ["outlierDetection", "interval"]],
    [policy?.outlierDetection?.baseEjectionTime, ["outlierDetection", "baseEjectionTime"]],
  ];
  for (const [text, field] of fields) {
    if (text !== undefined && positiveDuration(text) === undefined) {
      ctx.report(dr, [...path, ...field], "GM0323", "warning", `${refusedDurationNote(field.join("."), text)}; give a positive duration (Istio requires at least 1ms), or leave it out`);
    }
  }
}
