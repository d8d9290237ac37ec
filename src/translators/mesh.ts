import { sameItems } from "../common/arrays.js";
import { runSteps, type Steps } from "../common/steps.js";
import type { ConsolidatedRule } from "../config/merge-destination-rules.js";
import type { MeshModel } from "../config/load.js";
import type { MeshResource } from "../config/resources.js";
import { serviceAddresses } from "./addresses.js";
import { exportsRestricted, type ScopedService } from "./scope.js";
import { serviceClusters } from "./clusters.js";
import { serviceEndpoints } from "./endpoints.js";
import type { Credentials, GatewayTranslation } from "./gateway.js";
import { grpcCluster } from "./grpc-compat.js";
import { grpcClientResources } from "./grpc.js";
import type { FailoverCluster } from "./locality.js";
import { meshMtls, type MeshMtls } from "./mtls.js";
import { outboundResources } from "./outbound.js";
import { indexServices, ofKind, reroutedHosts, resourcesByKind, routingOf, type DnsAnswers, type MeshService, type ServiceIndex } from "./services.js";
import { keptOr } from "./kept.js";
import { createTranslationMemo, routedHosts, TranslationMemo, type KeptService } from "./translation-memo.js";

export { createTranslationMemo, routedHosts, TranslationMemo };
import type { ProxyIdentity } from "./proxy.js";
import type { WorkloadSide } from "./proxy-resources.js";
import { sortTranslated, type Translated, type TranslatedCluster, type TranslatedListener } from "./translated.js";

/** One service's resources: what every proxy that sees the service receives of it. */
export interface ServiceTranslation {
  readonly host: string;
  readonly namespace: string;
  /** The loopback address sidecars reach it at (addresses.ts). */
  readonly address: string;
  /** The ServiceEntry's exportTo: the namespaces whose proxies see it (absent: all). */
  readonly exportTo?: readonly string[];
  /** The VirtualService routing it for sidecars and proxyless clients, when its exportTo restricts it (scope.ts). */
  readonly routedBy?: ScopedService;
  readonly clusters: readonly TranslatedCluster[];
  readonly endpoints: readonly Translated[];
  readonly outboundListeners: readonly Translated[];
  readonly outboundRoutes: readonly Translated[];
  /**
   * What proxyless gRPC clients take of it, translated the first time a gRPC client needs it: a
   * mesh of Envoy sidecars alone never pays for it.
   */
  readonly grpc: () => GrpcSide;
  readonly grpcClusters: () => readonly TranslatedCluster[];
}

/** A service's resources, or the mesh's, as proxyless gRPC clients take them. */
export interface GrpcSide {
  readonly clusters: readonly TranslatedCluster[];
  readonly listeners: readonly Translated[];
  readonly routes: readonly Translated[];
}

/** f's value, computed on the first call and kept. */
export function once<T>(f: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: f() }).v;
}

/**
 * Everything the mesh translates to, computed once per model and shared by every proxy: a
 * resource that two proxies receive is the same object, so it is encoded once. What depends on
 * the proxy (its inbound side, its Sidecar scope, its gateways) is picked from here by
 * proxy-resources.ts.
 */
export interface MeshTranslation {
  /** Sorted by host. */
  readonly services: readonly ServiceTranslation[];
  readonly clusters: readonly Translated[];
  readonly endpoints: readonly Translated[];
  /**
   * The clusters as proxyless gRPC clients take them (see grpc-compat.ts), their listeners and
   * routes: translated when the first gRPC client connects (or render asks).
   */
  readonly grpc: () => GrpcSide;
  /** Envoy sidecars' outbound listeners and their routes. */
  readonly outboundListeners: readonly Translated[];
  readonly outboundRoutes: readonly Translated[];
  /** Whether some ServiceEntry's or VirtualService's exportTo hides it from some namespace (scope.ts, exportsRestricted). */
  readonly exportsRestricted: boolean;
  /** The model's resources a proxy's own side is built from. */
  readonly model: MeshModel;
  readonly index: ServiceIndex;
  readonly credentials: Credentials;
  /** The memo this translation was made with; proxies' own parts reuse it (inbound listeners). */
  readonly memo: TranslationMemo;
  /** What proxies alike share, derived on first use (proxy-resources.ts). */
  readonly shared: SharedDerivations;
  readonly of: {
    readonly policies: readonly MeshResource<"AuthorizationPolicy">[];
    readonly requestAuthentications: readonly MeshResource<"RequestAuthentication">[];
    readonly sidecars: readonly MeshResource<"Sidecar">[];
    readonly gateways: readonly MeshResource<"Gateway">[];
    readonly virtualServices: readonly MeshResource<"VirtualService">[];
    readonly workloads: ReadonlyMap<string, MeshResource<"WorkloadEntry">>;
    readonly workloadGroups: readonly MeshResource<"WorkloadGroup">[];
    /**
     * ServiceEntries that select workloads by labels (a workload they select serves their ports),
     * by "namespace, one label pair of their selector" ("*" for an empty selector): a workload's
     * candidates are found from its own label pairs, not by scanning every ServiceEntry.
     */
    readonly selecting: ReadonlyMap<string, readonly MeshResource<"ServiceEntry">[]>;
  };
}

/** A service's clusters and endpoints: they depend on the service and its DestinationRule only. */
export interface ServiceBackends {
  readonly clusters: readonly TranslatedCluster[];
  readonly grpcClusters: () => readonly TranslatedCluster[];
  readonly endpoints: readonly Translated[];
}

/** A service's listeners and routes: they depend on its routing as well. */
export interface ServiceRouting {
  readonly grpc: () => { readonly listeners: readonly Translated[]; readonly routes: readonly Translated[] };
  readonly outboundListeners: readonly Translated[];
  readonly outboundRoutes: readonly Translated[];
}

/** What proxies alike share within one translation: built on first use, gone with it. */
export interface SharedDerivations {
  readonly scopes: Map<string, ScopedResources>;
  /**
   * What gRPC clients of a class receive, and the notes on it (proxy-resources.ts): by class, and
   * by namespace when exportTo makes what a client sees depend on it.
   */
  readonly grpcClients: Map<string, { readonly resources: readonly Translated[]; readonly notes: readonly string[] }>;
  readonly gateways: Map<string, GatewayTranslation>;
  /** Inbound listeners by everything but their address (see inboundListenerAt). */
  readonly inboundTemplates: Map<string, TranslatedListener>;
  /** Services whose routes depend on the client proxy (source-variants.ts), found on first use. */
  sourceDependent?: readonly ServiceTranslation[];
  /** Their routes, by flavour, host and the client's answers (source-variants.ts). */
  readonly sourceRoutes: Map<string, readonly Translated[]>;
  /** Clusters under locality failover, found on first use (locality.ts). */
  failoverClusters?: readonly FailoverCluster[];
  /** Their assignments by cluster and client locality; undefined: the shared one serves (locality.ts). */
  readonly localityEndpoints: Map<string, Translated | undefined>;
  /** What of those a Sidecar scope sees, by kind and scope key, so each proxy need not filter them again. */
  readonly perScope: Map<string, readonly unknown[]>;
  /** What a workload's AuthorizationPolicies ask that its inbound side cannot check, by peer, traffic and policies (proxy-resources.ts). */
  readonly authorizationNotes: Map<string, readonly string[]>;
  /** Per Sidecar scope key: its routes that match on JWT claims, which never match there (proxy-resources.ts). */
  readonly claimRouteNotes: Map<string, readonly string[]>;
  /** A service's routing as a namespace its VirtualService is not exported to sees it, by "host|namespace". */
  readonly unrouted: Map<string, ServiceRouting>;
  /** Services whose DestinationRule differs for a proxy from the shared one, by scope, namespace and selecting rules (rule-variants.ts). */
  readonly ruleOwn: Map<string, readonly { readonly service: ServiceTranslation; readonly rule: ConsolidatedRule | undefined; readonly key: string }[]>;
  /** Proxies' workload sides (proxy-resources.ts): the memo's while their inputs are the same objects, found on first use. */
  sides?: WeakMap<ProxyIdentity, WorkloadSide>;
  /** The memo's answers of which services' rule differs, for this translation's inputs, found on first use (rule-variants.ts). */
  ruleAnswers?: Map<string, readonly { readonly host: string; readonly key: string }[]>;
  /** DestinationRules with a workloadSelector by namespace, found on first use (rule-variants.ts). */
  selectorRules?: ReadonlyMap<string, readonly MeshResource<"DestinationRule">[]>;
  /** A service's clusters and endpoints built with another rule, by "host|rules" (rule-variants.ts). */
  readonly ruleBackends: Map<string, ServiceBackends>;
  /** A service's routes as a proxy taking other rules with a consistent hash gets them, by flavour, host and those rules (rule-variants.ts). */
  readonly ruleRoutes: Map<string, readonly Translated[]>;
}

/** The outbound resources of the services one Sidecar scope sees. */
export interface ScopedResources {
  readonly clusters: readonly Translated[];
  readonly endpoints: readonly Translated[];
  readonly listeners: readonly Translated[];
  readonly routes: readonly Translated[];
}

export interface TranslationInputs {
  /** Gateway TLS certificates by credentialName (from the credentials directory). */
  readonly credentials?: Credentials;
  /** Addresses by host from gitmesh's own DNS lookups (runtime/dns-resolution.ts); none: no answer yet. */
  readonly dnsAnswers?: DnsAnswers;
}

/** A VirtualService as exportTo sees it (scope.ts, exportedTo). */
export function routedByOf(r: MeshResource<"VirtualService">): ScopedService {
  return { host: "", namespace: r.namespace, ...(r.spec.exportTo === undefined ? {} : { exportTo: r.spec.exportTo }) };
}

export function translateMesh(model: MeshModel, memo: TranslationMemo = createTranslationMemo(), inputs: TranslationInputs = {}): MeshTranslation {
  return runSteps(translateMeshSteps(model, memo, inputs));
}

/**
 * translateMesh as steps, pausing after each service (see common/steps.ts): a server translating
 * a thousand services keeps serving meanwhile. The memo is updated only at the end, so steps
 * abandoned half-way leave it as it was.
 */
export function* translateMeshSteps(model: MeshModel, memo: TranslationMemo = createTranslationMemo(), inputs: TranslationInputs = {}): Steps<MeshTranslation> {
  const byKind = resourcesByKind(model.resources);
  const index = indexServices(model, inputs.dnsAnswers, memo.index, byKind);
  const hosts = index.services.map((s) => s.host);
  const addresses = (memo.addresses = keptOr(memo.addresses, [hosts], () => serviceAddresses(hosts))).value;
  const mtlsInputs = [ofKind(byKind, "PeerAuthentication"), ofKind(byKind, "Gateway"), [model.naming]];
  const mtls = (memo.mtls = keptOr(memo.mtls, mtlsInputs, () => meshMtls(model))).value;
  const clusterDomain = model.naming.clusterDomain;
  /** The service's translation: the kept one when its inputs are the same (then `same`). */
  const step = (service: MeshService): { next: KeptService; same: boolean } => {
    const address = addresses.get(service.host) ?? "";
    const vs = index.virtualServiceFor(service.host);
    const madeOf = vs === undefined ? [] : index.madeOf(vs);
    const routed = memo.routedHosts(vs, index, model.naming);
    const dependsOn = routed.map((h) => index.service(h));
    const inputs: ServiceInputs = { service, address, clusterDomain, mtls, madeOf, routed, dependsOn };
    const kept = memo.services.get(service.host);
    if (kept !== undefined && sameService(kept, inputs)) return { next: kept, same: true };
    return { next: translateService(inputs, vs, kept, index), same: false };
  };
  const last = memo.last;
  // Against the routing the last translation was made with (a translation abandoned half-way may have indexed since).
  const rerouted = last === undefined ? undefined : reroutedHosts(memo.index, last.routing);
  let services: ServiceTranslation[];
  let nextServices: Map<string, KeptService>;
  if (last !== undefined && rerouted !== undefined && last.services === index.services && last.mtls === mtls && last.addresses === addresses && last.naming === model.naming) {
    // Only VirtualServices changed, edited in place: the other services' inputs are the same objects.
    services = [...last.translations];
    nextServices = new Map(memo.services);
    for (const host of rerouted) {
      const i = last.at.get(host);
      const service = i === undefined ? undefined : index.services[i];
      if (i === undefined || service === undefined) continue;
      const { next, same } = step(service);
      services[i] = next.translation;
      nextServices.set(host, next);
      if (!same) yield "tick";
    }
  } else {
    services = [];
    nextServices = new Map<string, KeptService>();
    for (const service of index.services) {
      const { next, same } = step(service);
      nextServices.set(service.host, next);
      services.push(next.translation);
      // A pause after each service translated; a kept one costs a few comparisons, so after many.
      if (!same || services.length % 128 === 0) yield "tick";
    }
  }
  memo.services = nextServices;
  const at = last !== undefined && last.services === index.services ? last.at : new Map(hosts.map((h, i) => [h, i]));
  memo.last = { services: index.services, routing: routingOf(memo.index), mtls, addresses, naming: model.naming, translations: services, at };
  const all = <K extends "clusters" | "endpoints" | "outboundListeners" | "outboundRoutes">(k: K): ServiceTranslation[K] => {
    const parts = services.map((s) => s[k]);
    const before = memo.sorted.get(k);
    if (before !== undefined && sameItems(before.parts, parts)) return before.all as ServiceTranslation[K];
    const sorted = (before === undefined ? undefined : replaced(before, parts)) ?? sortTranslated(parts.flat());
    memo.sorted.set(k, { parts, all: sorted });
    return sorted as ServiceTranslation[K];
  };
  const grpc = once(
    (): GrpcSide => ({
      clusters: sortTranslated(services.flatMap((s) => s.grpc().clusters)),
      listeners: sortTranslated(services.flatMap((s) => s.grpc().listeners)),
      routes: sortTranslated(services.flatMap((s) => s.grpc().routes)),
    }),
  );
  const of = <K extends MeshResource["kind"]>(kind: K) => ofKind(byKind, kind);
  const vsRestricted = (memo.vsRestricted = keptOr(memo.vsRestricted, [of("VirtualService")], () => exportsRestricted(of("VirtualService").map(routedByOf)))).value;
  return {
    services,
    exportsRestricted: exportsRestricted(services) || vsRestricted,
    clusters: all("clusters"),
    endpoints: all("endpoints"),
    grpc,
    outboundListeners: all("outboundListeners"),
    outboundRoutes: all("outboundRoutes"),
    model,
    index,
    credentials: inputs.credentials ?? new Map(),
    memo,
    shared: { scopes: new Map(), grpcClients: new Map(), gateways: new Map(), inboundTemplates: new Map(), sourceRoutes: new Map(), localityEndpoints: new Map(), perScope: new Map(), claimRouteNotes: new Map(), authorizationNotes: new Map(), unrouted: new Map(), ruleOwn: new Map(), ruleBackends: new Map(), ruleRoutes: new Map() },
    of: {
      policies: of("AuthorizationPolicy"),
      requestAuthentications: of("RequestAuthentication"),
      sidecars: of("Sidecar"),
      gateways: of("Gateway"),
      virtualServices: index.virtualServices,
      workloads: (memo.workloads = keptOr(memo.workloads, [of("WorkloadEntry")], () => new Map(of("WorkloadEntry").map((w) => [`${w.namespace}/${w.name}`, w])))).value,
      workloadGroups: of("WorkloadGroup"),
      selecting: (memo.selecting = keptOr(memo.selecting, [of("ServiceEntry")], () => selectingIndex(of("ServiceEntry")))).value,
    },
  };
}

/** What a service's translation is made from (translateMeshSteps). */
interface ServiceInputs {
  readonly service: MeshService;
  readonly address: string;
  readonly clusterDomain: string;
  readonly mtls: MeshMtls;
  readonly madeOf: readonly MeshResource<"VirtualService">[];
  readonly routed: readonly string[];
  readonly dependsOn: readonly (MeshService | undefined)[];
}

/** The kept service's mTLS key (made once). */
function keptMtlsKey(kept: KeptService): string {
  return (kept.mtlsKey ??= kept.mtls.key(kept.service));
}

/** Whether the kept translation is made of the very same inputs. */
function sameService(kept: KeptService, now: ServiceInputs): boolean {
  return (
    kept.service === now.service &&
    kept.address === now.address &&
    kept.clusterDomain === now.clusterDomain &&
    (kept.mtls === now.mtls || keptMtlsKey(kept) === now.mtls.key(now.service)) &&
    sameItems(kept.madeOf, now.madeOf) &&
    sameItems(kept.dependsOn, now.dependsOn)
  );
}

/** The resources (entries) a service is declared by, and the DestinationRules its rule is merged from: what its routes read of it. */
function sameDeclaration(a: MeshService | undefined, b: MeshService | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return sameItems(a.entries ?? [a.entry], b.entries ?? [b.entry]) && sameItems(a.ruleFrom ?? [], b.ruleFrom ?? []);
}

/**
 * Whether a service's clusters and endpoints can be kept: they depend on its entries, its
 * DestinationRule, its workloads, its DNS answer and its mTLS decisions.
 */
function sameBackends(kept: KeptService, now: ServiceInputs): boolean {
  const [a, b] = [kept.service, now.service];
  if (kept.clusterDomain !== now.clusterDomain) return false;
  if (a !== b && !(sameDeclaration(a, b) && sameItems(a.workloads, b.workloads) && (a.lookup?.addresses?.join(",") ?? "-") === (b.lookup?.addresses?.join(",") ?? "-"))) return false;
  return (kept.mtls === now.mtls && a === b) || keptMtlsKey(kept) === now.mtls.key(b);
}

/**
 * Whether a service's listeners and routes can be kept: they depend on its ports, address and
 * DestinationRule (for its default route), its VirtualService, and what those routes read of the
 * services they send to (their ports and rules).
 */
function sameRouting(kept: KeptService, now: ServiceInputs): boolean {
  return (
    kept.clusterDomain === now.clusterDomain &&
    kept.address === now.address &&
    sameDeclaration(kept.service, now.service) &&
    sameItems(kept.madeOf, now.madeOf) &&
    sameItems(kept.routed, now.routed) &&
    kept.dependsOn.every((d, i) => sameDeclaration(d, now.dependsOn[i]))
  );
}

/** A service's translation, keeping the kept one's clusters or routes where their inputs are the same. */
function translateService(inputs: ServiceInputs, vs: MeshResource<"VirtualService"> | undefined, kept: KeptService | undefined, index: ServiceIndex): KeptService {
  const { service, address } = inputs;
  const b =
    kept !== undefined && sameBackends(kept, inputs)
      ? kept.backends
      : (() => {
          const clusters = serviceClusters(service, inputs.mtls);
          return { clusters, grpcClusters: once(() => clusters.map(grpcCluster)), endpoints: serviceEndpoints(service) };
        })();
  const r =
    kept !== undefined && sameRouting(kept, inputs)
      ? kept.routing
      : (() => {
          const o = outboundResources(service, index, address);
          return { grpc: once(() => grpcClientResources(service, index)), outboundListeners: o.listeners, outboundRoutes: o.routes };
        })();
  const grpc = once(() => ({ clusters: b.grpcClusters(), ...r.grpc() }));
  const exportTo = service.entry.spec.exportTo;
  const routedBy = vs === undefined ? undefined : routedByOf(vs);
  const translation: ServiceTranslation = {
    host: service.host,
    namespace: service.namespace,
    address,
    ...(exportTo === undefined ? {} : { exportTo }),
    ...(routedBy === undefined || !exportsRestricted([routedBy]) ? {} : { routedBy }),
    clusters: b.clusters,
    endpoints: b.endpoints,
    outboundListeners: r.outboundListeners,
    outboundRoutes: r.outboundRoutes,
    grpc,
    grpcClusters: b.grpcClusters,
  };
  return { ...inputs, backends: b, routing: r, translation };
}

/**
 * The mesh's sorted list again when some services' lists changed but each changed list names
 * the same resources as before (a route's content changed): the new resources take the old
 * ones' places. Undefined when names came or went, for a full sort.
 */
function replaced(before: { readonly parts: readonly (readonly Translated[])[]; readonly all: readonly Translated[] }, parts: readonly (readonly Translated[])[]): Translated[] | undefined {
  if (before.parts.length !== parts.length) return undefined;
  let all: Translated[] | undefined;
  for (let i = 0; i < parts.length; i++) {
    const was = before.parts[i] ?? [];
    const now = parts[i] ?? [];
    if (was === now) continue;
    if (was.length !== now.length) return undefined;
    all ??= [...before.all];
    for (let j = 0; j < now.length; j++) {
      const old = was[j];
      const item = now[j];
      if (old === undefined || item === undefined || old.type !== item.type || old.name !== item.name) return undefined;
      const at = positionOf(before.all, old);
      if (at < 0) return undefined;
      all[at] = item;
    }
  }
  return all;
}

/** Where an item is in a list sorted by sortTranslated's order (binary search, then identity among equal names); -1: absent. */
function positionOf(sorted: readonly Translated[], item: Translated): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const m = sorted[mid];
    if (m !== undefined && (m.type < item.type || (m.type === item.type && m.name < item.name))) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < sorted.length && sorted[i]?.type === item.type && sorted[i]?.name === item.name; i++) if (sorted[i] === item) return i;
  return -1;
}

export function selectorKey(namespace: string, pair: readonly [string, string] | undefined): string {
  return pair === undefined ? `${namespace}\0*` : `${namespace}\0${pair[0]}\0${pair[1]}`;
}

function selectingIndex(entries: readonly MeshResource<"ServiceEntry">[]): Map<string, MeshResource<"ServiceEntry">[]> {
  const index = new Map<string, MeshResource<"ServiceEntry">[]>();
  for (const r of entries) {
    if (r.spec.workloadSelector === undefined) continue;
    const first = Object.entries(r.spec.workloadSelector.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))[0];
    const key = selectorKey(r.namespace, first);
    const list = index.get(key);
    if (list === undefined) index.set(key, [r]);
    else list.push(r);
  }
  return index;
}
