// Which services an Envoy sidecar is configured for. Istio's rules: the Sidecar resource whose
// workloadSelector matches the workload, else its namespace's Sidecar without a selector, else
// the root namespace's (the mesh-wide default); without one, every service visible from the
// workload's namespace (a ServiceEntry's exportTo). A Sidecar without egress listeners sees every
// visible service too. Each egress listener's hosts import services ("ns/dnsName") and, with a ~
// before the namespace, take them away again ("~legacy/*"); the sidecar sees what any listener
// keeps (pilot/pkg/model/sidecar.go, selectServices).
import { exportedToNamespace, hostMatches, labelsMatch, type MeshResource } from "../config/resources.js";

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
  return exportedToNamespace(service.exportTo, service.namespace, namespace);
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
  const listeners = (egress.length === 0 ? [["*/*"]] : egress.map((e) => e.hosts)).map((hosts) => hosts.map((h) => parseEgressHost(h, proxy.namespace)));
  const usesOwnNamespace = listeners.some((hosts) => hosts.some((h) => h.own));
  const id = `${chosen.namespace}/${chosen.name}`;
  return {
    key: usesOwnNamespace ? `${id}@${proxy.namespace}` : id,
    sidecar: id,
    visible: (service) => listeners.some((hosts) => listenerImports(hosts, service)),
  };
}

/** One egress hosts entry: the namespace it names ("*" any), its DNS name, and whether it excludes. */
export interface EgressHost {
  readonly namespace: string;
  readonly dnsName: string;
  /** "~ns/name": the services it covers are taken away from what the listener's other entries import. */
  readonly excluded: boolean;
  /** Written with "." (the workload's own namespace), so the scope differs by namespace. */
  readonly own: boolean;
}

/**
 * "namespace/dnsName" as Istio reads it: "." is the workload's namespace, "*" any; a leading "~"
 * makes it an exclusion, and "~" alone excludes from every namespace ("~/*" takes away everything,
 * which is what Istio's old "~" namespace, "no services", amounted to).
 */
export function parseEgressHost(text: string, ownNamespace: string): EgressHost {
  const slash = text.indexOf("/");
  const written = text.slice(0, slash);
  const excluded = written.startsWith("~");
  const ns = excluded ? written.slice(1) : written;
  return {
    namespace: ns === "" ? "*" : ns === "." ? ownNamespace : ns,
    dnsName: text.slice(slash + 1),
    excluded,
    own: ns === ".",
  };
}

/** Whether a listener's hosts import a service: one entry covers it and no exclusion does. */
function listenerImports(hosts: readonly EgressHost[], service: ScopedService): boolean {
  const covers = (h: EgressHost) => (h.namespace === "*" || h.namespace === service.namespace) && hostMatches(h.dnsName, service.host);
  return hosts.some((h) => !h.excluded && covers(h)) && !hosts.some((h) => h.excluded && covers(h));
}
