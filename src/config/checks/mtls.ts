import { peerAuthentications, TLS_MODE_LABEL } from "../peer-authentication.js";
import { hostMatches, qualifyHost, type MeshResource } from "../resources.js";
import type { TrafficPolicy } from "../types.js";
import { each, type Check } from "./context.js";

/**
 * GM0317: a ServiceEntry that is not MESH_INTERNAL selecting mesh workloads that accept only
 * mutual TLS (STRICT) on a port. Automatic mTLS holds only for MESH_INTERNAL services, so clients
 * send plaintext and every call is refused: validate clean, fail at serve time. A DestinationRule
 * saying ISTIO_MUTUAL for the host is the other way to make clients use mutual TLS.
 */
export const strictBehindPlaintextChecks: readonly Check[] = [
  each("ServiceEntry", (ctx, se) => {
    const selector = se.spec.workloadSelector?.labels;
    // Reads nothing else, so a MESH_INTERNAL entry is not checked again when rules change.
    if (se.spec.location === "MESH_INTERNAL" || selector === undefined) return;
    const rules = ctx.derive("DestinationRule hosts and mutual TLS", ["DestinationRule"], (of, naming) => of("DestinationRule").map((dr) => ({ host: qualifyHost(dr.spec.host, dr.namespace, naming), mutual: saysIstioMutual(dr) })));
    if (se.spec.hosts.every((h) => rules.some((r) => r.mutual && hostMatches(r.host, h)))) return;
    const peers = ctx.derive("peer authentications", ["PeerAuthentication"], (of, naming) => peerAuthentications(of("PeerAuthentication"), naming.rootNamespace));
    // Mesh workloads (they run a proxy) the entry selects, as they would register.
    const workloads = [
      ...ctx.selected("WorkloadEntry", se.namespace, selector).map((w) => ({ what: `WorkloadEntry ${w.namespace}/${w.name}`, labels: w.spec.labels ?? {}, ports: w.spec.ports ?? {} })),
      ...ctx.selected("WorkloadGroup", se.namespace, selector).map((g) => ({ what: `WorkloadGroup ${g.namespace}/${g.name}`, labels: g.spec.metadata?.labels ?? {}, ports: g.spec.template.ports ?? {} })),
    ].filter((w) => (w.labels[TLS_MODE_LABEL] ?? "istio") === "istio");
    for (const p of se.spec.ports ?? []) {
      const strict = workloads.find((w) => peers.mode({ namespace: se.namespace, labels: w.labels }, w.ports[p.name] ?? p.targetPort ?? p.number) === "STRICT");
      if (strict === undefined) continue;
      const location = se.spec.location === undefined ? "MESH_EXTERNAL (the default)" : se.spec.location;
      ctx.report(
        se,
        se.spec.location === undefined ? ["spec", "workloadSelector"] : ["spec", "location"],
        "GM0317",
        "error",
        `this ServiceEntry is ${location}, so its clients send plaintext, but ${strict.what} behind it accepts only mutual TLS (PeerAuthentication STRICT) on port ${p.number}: every call would be refused; set location: MESH_INTERNAL, or give the host a DestinationRule with tls mode ISTIO_MUTUAL`,
        se.spec.location === undefined ? "key" : "value",
      );
      break;
    }
  }),
];

/** Does a DestinationRule make clients use mesh mutual TLS (anywhere in it: top, port level, a subset)? */
function saysIstioMutual(dr: MeshResource<"DestinationRule">): boolean {
  const policies: (TrafficPolicy | undefined)[] = [dr.spec.trafficPolicy, ...(dr.spec.subsets ?? []).map((s) => s.trafficPolicy)];
  return policies.some((p) => p?.tls?.mode === "ISTIO_MUTUAL" || (p?.portLevelSettings ?? []).some((l) => l.tls?.mode === "ISTIO_MUTUAL"));
}
