// Which services an Envoy sidecar is configured for. Istio's rules: the Sidecar resource whose
// workloadSelector matches the workload, else its namespace's Sidecar without a selector, else
// the root namespace's (the mesh-wide default); without one, every service visible from the
// workload's namespace (a ServiceEntry's exportTo). A Sidecar without egress listeners sees every
// visible service too.
import { hostMatches, labelsMatch, type MeshResource } from "../config/resources.js";

/** A service as scoping sees it. */
export interface ScopedService {
  readonly host: string;
  readonly namespace: string;
  readonly exportTo?: readonly string[];
}

export interface SidecarScope {
  /** Equal for proxies that see the same services: they can share their outbound resources ("*": every service). */
  readonly key: string;
  /** The Sidecar resource in effect, if any (for render and debug pages). */
  readonly sidecar?: string;
  visible(service: ScopedService): boolean;
}

const EVERYTHING: SidecarScope = { key: "*", visible: () => true };

/**
 * Whether a service is exported to a namespace (Istio's exportTo): absent or "*", every namespace;
 * "." its own; "~" none; otherwise the namespaces named.
 */
export function exportedTo(service: ScopedService, namespace: string): boolean {
  const to = service.exportTo;
  if (to === undefined || to.length === 0) return true;
  return to.some((n) => n === "*" || n === namespace || (n === "." && service.namespace === namespace));
}

/** Whether any service's exportTo hides it from some namespace: then what a proxy sees depends on its namespace. */
export function exportsRestricted(services: readonly ScopedService[]): boolean {
  return services.some((s) => s.exportTo !== undefined && s.exportTo.length > 0 && !s.exportTo.includes("*"));
}

/**
 * The sidecar's scope: its Sidecar resource's, narrowed to the services exported to its namespace
 * when `restricted` (exportsRestricted of the mesh's services).
 */
export function sidecarScope(
  sidecars: readonly MeshResource<"Sidecar">[],
  proxy: { readonly namespace: string; readonly labels: Readonly<Record<string, string>> },
  rootNamespace: string,
  restricted = false,
): SidecarScope {
  const scope = resourceScope(sidecars, proxy, rootNamespace);
  if (!restricted) return scope;
  return {
    ...scope,
    key: `${scope.key}|exported:${proxy.namespace}`,
    visible: (service) => exportedTo(service, proxy.namespace) && scope.visible(service),
  };
}

function resourceScope(
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
