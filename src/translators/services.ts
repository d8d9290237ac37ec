import { sameItems } from "../common/arrays.js";
import { keptOr, type Kept } from "./kept.js";
import type { MeshModel } from "../config/load.js";
import { mergeServiceEntries, type MergedHost } from "../config/merge-service-entries.js";
import { indexDestinationRules, type ConsolidatedRule, type DestinationRuleIndex } from "../config/merge-destination-rules.js";
import { hostMatches, labelsMatch, qualifyHost, type MeshNaming, type MeshResource } from "../config/resources.js";
import type { ServicePort } from "../config/types.js";
import { exportedTo, virtualServiceView, type VirtualServiceView } from "../config/virtual-services.js";

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

/** A model's resources by kind, in model order. */
export type KindLists = ReadonlyMap<string, readonly MeshResource[]>;

/** The model's resources by kind, in one pass over them. */
export function resourcesByKind(resources: readonly MeshResource[]): KindLists {
  const byKind = new Map<string, MeshResource[]>();
  for (const r of resources) {
    const list = byKind.get(r.kind);
    if (list === undefined) byKind.set(r.kind, [r]);
    else list.push(r);
  }
  return byKind;
}

/** A kind's resources from resourcesByKind. */
export function ofKind<K extends MeshResource["kind"]>(byKind: KindLists, kind: K): readonly MeshResource<K>[] {
  return (byKind.get(kind) ?? []) as readonly MeshResource<K>[];
}

/**
 * What indexServices keeps from one call to the next, owned by a translation memo: each part is
 * reused while the resources it is made from are the very same objects (the loader hands back
 * the same resource for an unchanged file), so a VirtualService edit re-derives the routing
 * view alone, and a DestinationRule edit keeps every service whose rule is the same object.
 */
export interface ServiceIndexCache {
  rules?: Kept<DestinationRuleIndex>;
  declared?: Kept<readonly DeclaredService[]>;
  services?: Kept<{ readonly list: readonly MeshService[]; readonly byHost: ReadonlyMap<string, MeshService> }>;
  routing?: Kept<VirtualServiceRouting>;
}

export function createServiceIndexCache(): ServiceIndexCache {
  return {};
}

/** The VirtualServices routing each host for sidecars and proxyless clients. */
interface VirtualServiceRouting {
  readonly roots: readonly MeshResource<"VirtualService">[];
  readonly madeOf: VirtualServiceView["madeOf"];
  readonly routes: ReadonlyMap<string, readonly MeshResource<"VirtualService">[]>;
  /** Most specific first. */
  readonly wildcardRoutes: readonly { readonly host: string; readonly vss: readonly MeshResource<"VirtualService">[] }[];
  /** Whether no VirtualService delegates (then every root is a written VirtualService, alone). */
  readonly plain: boolean;
  /**
   * When this routing is `from` with some VirtualServices edited in place (edited): the hosts
   * they route, the only ones whose VirtualService may differ; undefined when one has a wildcard host.
   */
  readonly edit?: { readonly from: VirtualServiceRouting; readonly hosts: ReadonlySet<string> | undefined };
}

/** The cache's routing of VirtualServices as it stands: compare with reroutedHosts after indexing again. */
export function routingOf(cache: ServiceIndexCache): object | undefined {
  return cache.routing?.value;
}

const NO_HOSTS: ReadonlySet<string> = new Set();

/**
 * The hosts whose VirtualService may have changed since the cache held the routing `before`
 * (routingOf): none when it is the same, the edited VirtualServices' hosts when it was edited in
 * place, undefined when any host's may have.
 */
export function reroutedHosts(cache: ServiceIndexCache, before: object | undefined): ReadonlySet<string> | undefined {
  const now = cache.routing?.value;
  if (now === undefined || before === undefined) return undefined;
  if (now === before) return NO_HOSTS;
  return now.edit?.from === before ? now.edit.hosts : undefined;
}

/**
 * Resolves the validated model into services: pure, sorted by host. answers: gitmesh's DNS
 * lookups for the hosts it resolves itself (none: no answer yet). cache: what the previous call
 * derived, reused where its inputs are the same objects (none: derive everything).
 */
export function indexServices(model: MeshModel, answers: DnsAnswers = NO_ANSWERS, cache: ServiceIndexCache = {}, byKind: KindLists = resourcesByKind(model.resources)): ServiceIndex {
  const naming = [model.naming];
  const drs = ofKind(byKind, "DestinationRule");
  const rules = (cache.rules = keptOr(cache.rules, [drs, naming], () => indexDestinationRules(drs, model.naming))).value;
  const ses = ofKind(byKind, "ServiceEntry");
  const wes = ofKind(byKind, "WorkloadEntry");
  const declared = (cache.declared = keptOr(cache.declared, [ses, wes], () => declaredServices(ses, wes))).value;
  const before = cache.services?.value.byHost;
  const { list: services, byHost } = (cache.services = keptOr(cache.services, [declared, [rules, answers]], () => resolveServices(declared, rules, answers, before))).value;
  const vss = ofKind(byKind, "VirtualService");
  const kept = cache.routing;
  const { roots, madeOf, routes, wildcardRoutes } = (cache.routing = keptOr(kept, [vss, naming], () => (kept?.inputs[1]?.[0] === model.naming ? edited(kept, vss, model.naming) : undefined) ?? virtualServiceRouting(vss, model.naming))).value;
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
    virtualServices: roots,
    madeOf,
    qualify: (host, namespace) => qualifyHost(host, namespace, model.naming),
    rules,
  };
}

/** A service as its ServiceEntries and the workloads they select declare it, before its DestinationRule and DNS answer. */
interface DeclaredService {
  readonly host: string;
  readonly merged: MergedHost;
  readonly workloads: readonly MeshResource<"WorkloadEntry">[];
  /** Whether gitmesh would resolve the host itself, were there no endpoints (gitmeshResolves). */
  readonly resolves: boolean;
}

/** The concrete hosts of the ServiceEntries, their entries merged, with the workloads they select; sorted by host. */
function declaredServices(ses: readonly MeshResource<"ServiceEntry">[], wes: readonly MeshResource<"WorkloadEntry">[]): DeclaredService[] {
  const selectWorkloads = workloadSelector(wes);
  const out: DeclaredService[] = [];
  // Entries declaring one host in one namespace are one service (merge-service-entries.ts); a
  // host declared in several namespaces is served from the first (validation reports it, GM0313).
  for (const [host, [merged]] of mergeServiceEntries(ses).hosts) {
    if (host.startsWith("*") || merged === undefined) continue; // a wildcard entry declares no concrete service to route to
    // Merged entries have equal selectors: a workload they select is one endpoint.
    const workloads = merged.entries.length === 1 ? selectedBy(merged.entry, selectWorkloads) : [...new Set(merged.entries.flatMap((se) => selectedBy(se, selectWorkloads)))];
    out.push({ host, merged, workloads, resolves: merged.entries.every((se) => gitmeshResolves(se.spec)) });
  }
  return out.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}

/**
 * The services, sorted by host: each declared one with its DestinationRule and DNS answer.
 * before: the previous call's services by host; one made of the very same objects is kept (its
 * identity is what the translation's memo compares).
 */
function resolveServices(declared: readonly DeclaredService[], rules: DestinationRuleIndex, answers: DnsAnswers, before: ReadonlyMap<string, MeshService> | undefined): { list: MeshService[]; byHost: Map<string, MeshService> } {
  const services: MeshService[] = [];
  for (const { host, merged, workloads, resolves } of declared) {
    const rule = rules.ruleFor(host, merged.namespace, { namespace: merged.namespace, labels: {} });
    const resolved = answers.get(host);
    const kept = before?.get(host);
    if (
      kept !== undefined &&
      kept.namespace === merged.namespace &&
      kept.entry === merged.entry &&
      sameItems(kept.entries ?? [kept.entry], merged.entries) &&
      sameItems(kept.workloads, workloads) &&
      kept.rule === rule?.rule &&
      sameItems(kept.ruleFrom ?? [], rule?.from ?? []) &&
      (kept.lookup === undefined ? !resolves || kept.endpoints.length > 0 : resolves && kept.endpoints.length === 0 && kept.lookup.addresses === resolved)
    ) {
      services.push(kept);
      continue;
    }
    const endpoints = [...merged.entries.flatMap((se) => (se.spec.endpoints ?? []).map(endpointOf)), ...workloads.map((w) => endpointOf(w.spec))];
    const entries = merged.entries.length > 1 ? { entries: merged.entries } : {};
    const lookup = endpoints.length === 0 && resolves ? { lookup: resolved === undefined ? {} : { addresses: resolved } } : {};
    services.push({ host, namespace: merged.namespace, entry: merged.entry, ...entries, ports: merged.entry.spec.ports ?? [], endpoints, workloads, ...withRule(rule), ...lookup });
  }
  return { list: services, byHost: new Map(services.map((s) => [s.host, s])) };
}

function selectedBy(se: MeshResource<"ServiceEntry">, select: ReturnType<typeof workloadSelector>): MeshResource<"WorkloadEntry">[] {
  return se.spec.workloadSelector === undefined ? [] : select(se.namespace, se.spec.workloadSelector.labels ?? {});
}

/**
 * Several VirtualServices as Istio merges them: delegates resolved, the first claim of a host
 * routing it for sidecars (validation refuses a second one, GM0306).
 */
function virtualServiceRouting(vss: readonly MeshResource<"VirtualService">[], naming: MeshNaming): VirtualServiceRouting {
  const view = virtualServiceView(vss, naming);
  const routes = new Map<string, readonly MeshResource<"VirtualService">[]>();
  const wildcardRoutes: { host: string; vss: readonly MeshResource<"VirtualService">[] }[] = [];
  for (const [host, vss] of view.mesh) {
    if (host.startsWith("*")) wildcardRoutes.push({ host, vss });
    else routes.set(host, vss);
  }
  // A host without its own VirtualService takes the most specific wildcard one (*.example.com).
  wildcardRoutes.sort((a, b) => b.host.length - a.host.length || (a.host < b.host ? -1 : 1));
  return { roots: view.roots, madeOf: view.madeOf, routes, wildcardRoutes, plain: vss.every(plainRoot) };
}

/** A VirtualService with hosts that delegates nothing: a root of its own. */
function plainRoot(vs: MeshResource<"VirtualService">): boolean {
  return (vs.spec.hosts ?? []).length > 0 && !(vs.spec.http ?? []).some((r) => r.delegate !== undefined);
}

const sameStrings = (a: readonly string[] | undefined, b: readonly string[] | undefined) => sameItems(a ?? [], b ?? []);

/**
 * The routing of the kept VirtualServices, some of them edited (a one-file change), when no edit
 * changes what the view's shape depends on: nothing delegates, and each edited one is in the same
 * place (file and document), with the same name, hosts, gateways and exportTo, so it takes its
 * predecessor's place in every list (virtualServiceView would make the same lists). Undefined
 * when the view must be made again.
 */
function edited(kept: Kept<VirtualServiceRouting>, vss: readonly MeshResource<"VirtualService">[], naming: MeshNaming): VirtualServiceRouting | undefined {
  const before = kept.inputs[0] as readonly MeshResource<"VirtualService">[] | undefined;
  if (!kept.value.plain || before === undefined || before.length !== vss.length) return undefined;
  const swaps = new Map<MeshResource<"VirtualService">, MeshResource<"VirtualService">>();
  for (let i = 0; i < vss.length; i++) {
    const [was, now] = [before[i], vss[i]];
    if (was === now) continue;
    if (was === undefined || now === undefined || !plainRoot(now)) return undefined;
    if (was.namespace !== now.namespace || was.name !== now.name || was.source.file !== now.source.file || was.source.index !== now.source.index) return undefined;
    if (!sameStrings(was.spec.hosts, now.spec.hosts) || !sameStrings(was.spec.gateways, now.spec.gateways) || !sameStrings(was.spec.exportTo, now.spec.exportTo)) return undefined;
    swaps.set(was, now);
  }
  const swap = (list: readonly MeshResource<"VirtualService">[]) => (list.some((vs) => swaps.has(vs)) ? list.map((vs) => swaps.get(vs) ?? vs) : list);
  const { roots, madeOf, routes, wildcardRoutes } = kept.value;
  const nextRoutes = new Map(routes);
  let hosts: Set<string> | undefined = new Set<string>();
  for (const was of swaps.keys()) {
    for (const h of was.spec.hosts ?? []) {
      const host = qualifyHost(h, was.namespace, naming);
      if (host.includes("*")) hosts = undefined;
      hosts?.add(host);
      const list = routes.get(host);
      if (list !== undefined) nextRoutes.set(host, swap(list));
    }
  }
  const edit = { from: kept.value, hosts };
  return { roots: swap(roots), madeOf, routes: nextRoutes, wildcardRoutes: wildcardRoutes.map((w) => ({ host: w.host, vss: swap(w.vss) })), plain: true, edit };
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
