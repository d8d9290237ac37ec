// Which services an Envoy sidecar is configured for. Istio's rules: the Sidecar resource whose
// workloadSelector matches the workload, else its namespace's Sidecar without a selector, else
// the root namespace's (the mesh-wide default); without one, every service visible from the
// workload's namespace (gitmesh has no exportTo, so that is every service in the mesh). A Sidecar
// without egress listeners sees every service too.
import { hostMatches, labelsMatch, type MeshResource } from "../config/resources.js";

export interface SidecarScope {
  /** Equal for proxies that see the same services: they can share their outbound resources. */
  readonly key: string;
  /** The Sidecar resource in effect, if any (for render and debug pages). */
  readonly sidecar?: string;
  visible(service: { readonly host: string; readonly namespace: string }): boolean;
}

const EVERYTHING: SidecarScope = { key: "*", visible: () => true };

export function sidecarScope(
  sidecars: readonly MeshResource<"Sidecar">[],
  proxy: { readonly namespace: string; readonly labels: Readonly<Record<string, string>> },
  rootNamespace: string,
): SidecarScope {
  const byName = [...sidecars].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const own = byName.filter((s) => s.namespace === proxy.namespace);
  const chosen =
    own.find((s) => s.spec.workloadSelector !== undefined && labelsMatch(s.spec.workloadSelector.labels, proxy.labels)) ??
    own.find((s) => s.spec.workloadSelector === undefined) ??
    byName.find((s) => s.namespace === rootNamespace && s.spec.workloadSelector === undefined);
  if (chosen === undefined) return EVERYTHING;
  // A Sidecar without egress (one that only sets outboundTrafficPolicy, say) sees every service, as in Istio.
  const egress = chosen.spec.egress ?? [];
  const hosts = (egress.length === 0 ? ["*/*"] : egress.flatMap((e) => e.hosts)).map((h) => parseEgressHost(h, proxy.namespace));
  const usesOwnNamespace = (chosen.spec.egress ?? []).some((e) => e.hosts.some((h) => h.startsWith("./")));
  const id = `${chosen.namespace}/${chosen.name}`;
  return {
    key: usesOwnNamespace ? `${id}@${proxy.namespace}` : id,
    sidecar: id,
    visible: (service) => hosts.some((h) => (h.namespace === "*" || h.namespace === service.namespace) && (h.dnsName === "*" || hostMatches(h.dnsName, service.host))),
  };
}

/** namespace/dnsName: "." is the workload's namespace, "*" any, "~" none (it matches nothing). */
function parseEgressHost(text: string, ownNamespace: string): { namespace: string; dnsName: string } {
  const slash = text.indexOf("/");
  const ns = text.slice(0, slash);
  const dnsName = text.slice(slash + 1);
  if (ns === "~") return { namespace: "\0none", dnsName };
  return { namespace: ns === "." ? ownNamespace : ns, dnsName };
}
