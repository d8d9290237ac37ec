import type { MeshModel } from "../config/load.js";
import { mergeServiceEntries } from "../config/merge-service-entries.js";
import { indexDestinationRules, type ConsolidatedRule, type DestinationRuleIndex } from "../config/merge-destination-rules.js";
import { hostMatches, labelsMatch, qualifyHost, type MeshResource } from "../config/resources.js";
import type { ServicePort } from "../config/types.js";
import { exportedTo, virtualServiceView } from "../config/virtual-services.js";

/** One place a service's traffic can go. */
export interface ServiceEndpoint {
  readonly address: string;
  /** Port by service port name (from WorkloadEntry.ports); absent: the service port's targetPort or number. */
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Readonly<Record<string, string>>;
  /** region/zone/subzone, as in WorkloadEntry.locality. */
  readonly locality?: string;
  readonly weight?: number;
  readonly serviceAccount?: string;
}

/** A service as the translators see it: one host of a ServiceEntry, resolved. */
export interface MeshService {
  readonly host: string;
  readonly namespace: string;
  /** Its ServiceEntry: the first of those declaring the host in its namespace, with their ports and inline endpoints merged (merge-service-entries.ts). */
  readonly entry: MeshResource<"ServiceEntry">;
  /** The ServiceEntries merged into `entry`, when there are several (for cache keys). */
  readonly entries?: readonly MeshResource<"ServiceEntry">[];
  readonly ports: readonly ServicePort[];
  readonly endpoints: readonly ServiceEndpoint[];
  /** The WorkloadEntries its endpoints come from (inline endpoints come from entry). */
  readonly workloads: readonly MeshResource<"WorkloadEntry">[];
  /**
   * The DestinationRule a proxy of the service's own namespace without labels takes for the host
   * (merge-destination-rules.ts): what the shared translation is built with. A proxy that takes
   * another (rule-variants.ts) gets the service's clusters built with its own.
   */
  readonly rule?: MeshResource<"DestinationRule">;
  /** The rules `rule` is merged from (for cache keys). */
  readonly ruleFrom?: readonly MeshResource<"DestinationRule">[];
  /**
   * Present when gitmesh resolves the host itself (gitmeshResolves): its clusters are EDS with the
   * addresses of the last answer. Absent addresses: no answer yet (render, validate, serve before
   * its first lookup), and no endpoints.
   */
  readonly lookup?: DnsLookup;
}

/** What gitmesh's own DNS lookups found for a host (runtime/dns-resolution.ts). */
export interface DnsLookup {
  /** IPv4 and IPv6 addresses, sorted; absent until the first answer. */
  readonly addresses?: readonly string[];
}

/** Addresses by host, from gitmesh's own DNS lookups: a translation input, as registrations are. */
export type DnsAnswers = ReadonlyMap<string, readonly string[]>;

/**
 * Whether gitmesh resolves a ServiceEntry's hosts itself: no endpoints and no workloadSelector,
 * so that the host names the servers, with resolution DNS or DNS_ROUND_ROBIN, or NONE (Istio's
 * default) for hosts without a wildcard. A sidecar cannot resolve them: its resolver reads the
 * /etc/hosts that maps the host to the sidecar's own loopback address for the application
 * (gitmesh hosts; docs/decisions.md). NONE is Istio's passthrough to the original destination:
 * without interception, the destination an application meant by a name is what the name resolves
 * to. A wildcard host has no name to resolve (and no hosts line: its names pass the sidecar by).
 */
export function gitmeshResolves(spec: MeshResource<"ServiceEntry">["spec"]): boolean {
  if ((spec.endpoints ?? []).length > 0 || spec.workloadSelector !== undefined) return false;
  const resolution = spec.resolution ?? "NONE";
  if (resolution === "DNS" || resolution === "DNS_ROUND_ROBIN") return true;
  return resolution === "NONE" && spec.hosts.every((h) => !h.includes("*"));
}

/** Services by host, with the VirtualServices that route them. */
export interface ServiceIndex {
  readonly services: readonly MeshService[];
  service(host: string): MeshService | undefined;
  /** The VirtualService routing host for sidecars and proxyless clients (gateway "mesh"). */
  virtualServiceFor(host: string): MeshResource<"VirtualService"> | undefined;
  /** The VirtualService routing host for sidecars and proxyless clients of a namespace: the first exported there. */
  virtualServiceIn(host: string, namespace: string): MeshResource<"VirtualService"> | undefined;
  /** Every VirtualService with hosts, in file order, its delegates resolved (config/virtual-services.ts). */
  readonly virtualServices: readonly MeshResource<"VirtualService">[];
  /** The written VirtualServices a root of virtualServices is made of (itself and its delegates): what a memo keys on. */
  madeOf(root: MeshResource<"VirtualService">): readonly MeshResource<"VirtualService">[];
  /** A host as written in a resource of `namespace`, fully qualified. */
  qualify(host: string, namespace: string): string;
  /** The DestinationRules, merged and chosen per proxy as Istio does. */
  readonly rules: DestinationRuleIndex;
}

const NO_ANSWERS: DnsAnswers = new Map();

/** The hosts gitmesh resolves itself (gitmeshResolves), sorted: what the runtime looks up. */
export function lookedUpHosts(model: MeshModel): string[] {
  return indexServices(model).services.filter((s) => s.lookup !== undefined).map((s) => s.host);
}

/** The port a workload serves a service port on. */
export function endpointPort(e: ServiceEndpoint, p: ServicePort): number {
  return (p.name !== undefined ? e.ports[p.name] : undefined) ?? p.targetPort ?? p.number;
}

/**
 * Resolves the validated model into services: pure, sorted by host. answers: gitmesh's DNS
 * lookups for the hosts it resolves itself (none: no answer yet).
 */
export function indexServices(model: MeshModel, answers: DnsAnswers = NO_ANSWERS): ServiceIndex {
  const of = <K extends MeshResource["kind"]>(kind: K) => model.resources.filter((r): r is MeshResource<K> & typeof r => r.kind === kind) as MeshResource<K>[];
  const selectWorkloads = workloadSelector(of("WorkloadEntry"));
  const rules = indexDestinationRules(of("DestinationRule"), model.naming);
  const services: MeshService[] = [];
  // Entries declaring one host in one namespace are one service (merge-service-entries.ts); a
  // host declared in several namespaces is served from the first (validation reports it, GM0313).
  for (const [host, [merged]] of mergeServiceEntries(of("ServiceEntry")).hosts) {
    if (host.startsWith("*") || merged === undefined) continue; // a wildcard entry declares no concrete service to route to
    // Merged entries have equal selectors: a workload they select is one endpoint.
    const workloads = [...new Set(merged.entries.flatMap((se) => (se.spec.workloadSelector === undefined ? [] : selectWorkloads(se.namespace, se.spec.workloadSelector.labels ?? {}))))];
    const endpoints = [...merged.entries.flatMap((se) => (se.spec.endpoints ?? []).map(endpointOf)), ...workloads.map((w) => endpointOf(w.spec))];
    const rule = rules.ruleFor(host, merged.namespace, { namespace: merged.namespace, labels: {} });
    const entries = merged.entries.length > 1 ? { entries: merged.entries } : {};
    const resolved = answers.get(host);
    const lookup = endpoints.length === 0 && merged.entries.every((se) => gitmeshResolves(se.spec)) ? { lookup: resolved === undefined ? {} : { addresses: resolved } } : {};
    services.push({ host, namespace: merged.namespace, entry: merged.entry, ...entries, ports: merged.entry.spec.ports ?? [], endpoints, workloads, ...withRule(rule), ...lookup });
  }
  services.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  const byHost = new Map(services.map((s) => [s.host, s]));
  // Several VirtualServices as Istio merges them: delegates resolved, the first claim of a host
  // routing it for sidecars (validation refuses a second one, GM0306).
  const view = virtualServiceView(of("VirtualService"), model.naming);
  const routes = new Map<string, readonly MeshResource<"VirtualService">[]>();
  const wildcardRoutes: { host: string; vss: readonly MeshResource<"VirtualService">[] }[] = [];
  for (const [host, vss] of view.mesh) {
    if (host.startsWith("*")) wildcardRoutes.push({ host, vss });
    else routes.set(host, vss);
  }
  // A host without its own VirtualService takes the most specific wildcard one (*.example.com).
  wildcardRoutes.sort((a, b) => b.host.length - a.host.length || (a.host < b.host ? -1 : 1));
  const routeFor = (host: string) => routes.get(host)?.[0] ?? wildcardRoutes.find((w) => hostMatches(w.host, host))?.vss[0];
  // As a namespace sees it: the first exported there, exact before wildcard (Istio's sidecar scope).
  const routeIn = (host: string, namespace: string) => {
    const seen = (vss: readonly MeshResource<"VirtualService">[] | undefined) => vss?.find((vs) => exportedTo(vs, namespace));
    return seen(routes.get(host)) ?? wildcardRoutes.filter((w) => hostMatches(w.host, host)).map((w) => seen(w.vss)).find((vs) => vs !== undefined);
  };
  return {
    services,
    service: (host) => byHost.get(host),
    virtualServiceFor: routeFor,
    virtualServiceIn: routeIn,
    virtualServices: view.roots,
    madeOf: view.madeOf,
    qualify: (host, namespace) => qualifyHost(host, namespace, model.naming),
    rules,
  };
}

/** A service's rule fields for a consolidated rule (none: without them). */
export function withRule(rule: ConsolidatedRule | undefined): Pick<MeshService, "rule" | "ruleFrom"> {
  return rule === undefined ? {} : { rule: rule.rule, ruleFrom: rule.from };
}

/**
 * Workloads matching a selector in a namespace, without scanning every workload for every
 * selector: candidates come from the smallest list of one of the selector's label pairs.
 */
function workloadSelector(workloads: readonly MeshResource<"WorkloadEntry">[]) {
  const byPair = new Map<string, MeshResource<"WorkloadEntry">[]>();
  const byNamespace = new Map<string, MeshResource<"WorkloadEntry">[]>();
  for (const w of workloads) {
    const inNamespace = byNamespace.get(w.namespace);
    if (inNamespace === undefined) byNamespace.set(w.namespace, [w]);
    else inNamespace.push(w);
    for (const [k, v] of Object.entries(w.spec.labels ?? {})) {
      const key = `${w.namespace}\0${k}\0${v}`;
      const list = byPair.get(key);
      if (list === undefined) byPair.set(key, [w]);
      else list.push(w);
    }
  }
  return (namespace: string, selector: Readonly<Record<string, string>>): MeshResource<"WorkloadEntry">[] => {
    const lists = Object.entries(selector).map(([k, v]) => byPair.get(`${namespace}\0${k}\0${v}`) ?? []);
    const candidates = lists.length === 0 ? (byNamespace.get(namespace) ?? []) : lists.reduce((a, b) => (b.length < a.length ? b : a));
    return candidates.filter((w) => labelsMatch(selector, w.spec.labels ?? {}));
  };
}

function endpointOf(w: { readonly address?: string; readonly ports?: Readonly<Record<string, number>>; readonly labels?: Readonly<Record<string, string>>; readonly locality?: string; readonly weight?: number; readonly serviceAccount?: string }): ServiceEndpoint {
  return {
    address: w.address ?? "",
    ports: w.ports ?? {},
    labels: w.labels ?? {},
    ...(w.locality === undefined ? {} : { locality: w.locality }),
    ...(w.weight === undefined ? {} : { weight: w.weight }),
    ...(w.serviceAccount === undefined ? {} : { serviceAccount: w.serviceAccount }),
  };
}
