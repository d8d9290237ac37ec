import type { MeshModel } from "../config/load.js";
import { serviceClusters } from "./clusters.js";
import { serviceEndpoints } from "./endpoints.js";
import { grpcCluster } from "./grpc-compat.js";
import { grpcClientResources } from "./grpc.js";
import type { MeshResource } from "../config/resources.js";
import { labelsMatch } from "../config/resources.js";
import { grpcServerListener, grpcServerListenerName } from "./grpc-server.js";
import type { ProxyIdentity } from "./proxy.js";
import { policiesForWorkload } from "./rbac.js";
import { indexServices, type MeshService, type ServiceIndex } from "./services.js";
import { sortTranslated, type Translated, type TranslatedCluster } from "./translated.js";

/**
 * Everything the mesh translates to, computed once per model and shared by every proxy: a
 * resource that two proxies receive is the same object, so it is encoded once.
 */
export interface MeshTranslation {
  readonly clusters: readonly Translated[];
  /** The same clusters as proxyless gRPC clients take them (see grpc-compat.ts). */
  readonly grpcClusters: readonly Translated[];
  readonly endpoints: readonly Translated[];
  /** Proxyless gRPC client listeners and their routes. */
  readonly grpcListeners: readonly Translated[];
  readonly grpcRoutes: readonly Translated[];
  /** What a proxyless gRPC server's inbound listeners are built from (see serverListeners). */
  readonly servers: {
    readonly policies: readonly MeshResource<"AuthorizationPolicy">[];
    readonly rootNamespace: string;
    /**
     * ServiceEntries that select workloads by labels (a server they select serves their ports),
     * by "namespace, one label pair of their selector" ("*" for an empty selector): a server's
     * candidates are found from its own label pairs, not by scanning every ServiceEntry.
     */
    readonly selecting: ReadonlyMap<string, readonly MeshResource<"ServiceEntry">[]>;
  };
}

/** A service's clusters and endpoints: they depend on the service and its DestinationRule only. */
interface ServiceBackends {
  readonly clusters: readonly TranslatedCluster[];
  readonly endpoints: readonly Translated[];
}

/** A service's proxyless listeners and routes: they depend on its routing as well. */
interface ServiceRouting {
  readonly grpcListeners: readonly Translated[];
  readonly grpcRoutes: readonly Translated[];
}

/**
 * The previous translation of each service, by a key of everything its resources depend on. A
 * service whose key is unchanged keeps its objects, so a one-file change re-encodes only what it
 * changed. Holds one generation: services gone from the model are dropped.
 */
export interface TranslationMemo {
  backends: Map<string, ServiceBackends>;
  routing: Map<string, ServiceRouting>;
}

export function createTranslationMemo(): TranslationMemo {
  return { backends: new Map(), routing: new Map() };
}

function backendsKey(service: MeshService, model: MeshModel): string {
  return JSON.stringify([model.naming, service.host, service.namespace, service.entry.spec, service.endpoints, service.rule?.namespace, service.rule?.spec]);
}

/**
 * What a service's routes are built from: the service's ports and DestinationRule (for its
 * default route), its VirtualService, and what those routes read of the services they send to
 * (their ports and rules).
 */
function routingKey(service: MeshService, index: ServiceIndex, model: MeshModel): string {
  const vs = index.virtualServiceFor(service.host);
  const destinations = new Set<string>();
  for (const http of vs?.spec.http ?? []) {
    for (const d of http.route ?? []) destinations.add(index.qualify(d.destination.host, vs?.namespace ?? ""));
    if (http.mirror !== undefined) destinations.add(index.qualify(http.mirror.host, vs?.namespace ?? ""));
  }
  const dependsOn = [...destinations].sort().map((h) => {
    const s = index.service(h);
    return [h, s?.ports, s?.rule?.namespace, s?.rule?.spec];
  });
  return JSON.stringify([model.naming, service.host, service.ports, service.rule?.namespace, service.rule?.spec, vs?.namespace, vs?.spec, dependsOn]);
}

export function translateMesh(model: MeshModel, memo: TranslationMemo = createTranslationMemo()): MeshTranslation {
  const index = indexServices(model);
  const clusters: TranslatedCluster[] = [];
  const endpoints: Translated[] = [];
  const grpcListeners: Translated[] = [];
  const grpcRoutes: Translated[] = [];
  const nextBackends = new Map<string, ServiceBackends>();
  const nextRouting = new Map<string, ServiceRouting>();
  for (const service of index.services) {
    const bKey = backendsKey(service, model);
    const b = memo.backends.get(bKey) ?? { clusters: serviceClusters(service), endpoints: serviceEndpoints(service) };
    nextBackends.set(bKey, b);
    const rKey = routingKey(service, index, model);
    const r =
      memo.routing.get(rKey) ??
      (() => {
        const g = grpcClientResources(service, index);
        return { grpcListeners: g.listeners, grpcRoutes: g.routes };
      })();
    nextRouting.set(rKey, r);
    clusters.push(...b.clusters);
    endpoints.push(...b.endpoints);
    grpcListeners.push(...r.grpcListeners);
    grpcRoutes.push(...r.grpcRoutes);
  }
  memo.backends = nextBackends;
  memo.routing = nextRouting;
  const sortedClusters = sortTranslated(clusters);
  return {
    clusters: sortedClusters,
    grpcClusters: sortedClusters.map(grpcCluster),
    endpoints: sortTranslated(endpoints),
    grpcListeners: sortTranslated(grpcListeners),
    grpcRoutes: sortTranslated(grpcRoutes),
    servers: {
      policies: model.resources.filter((r): r is MeshResource<"AuthorizationPolicy"> => r.kind === "AuthorizationPolicy"),
      rootNamespace: model.naming.rootNamespace,
      selecting: selectingIndex(model),
    },
  };
}

/**
 * A proxyless gRPC server's inbound listeners: for every port of a service that selects it, the
 * Listener its XdsServer asks for (under both forms of "any address"), enforcing the
 * AuthorizationPolicies that apply to it. Built per server identity: policies select by labels.
 */
export function serverListeners(t: MeshTranslation, proxy: ProxyIdentity): Translated[] {
  const { ports, policies } = serverInputs(t, proxy);
  return ports.flatMap((port) => [
      grpcServerListener(grpcServerListenerName(`0.0.0.0:${port}`), port, policies),
      grpcServerListener(grpcServerListenerName(`[::]:${port}`), port, policies, "::"),
    ]);
}

/** The ports a gRPC proxy serves (as the services selecting it say) and the policies applying. */
function serverInputs(t: MeshTranslation, proxy: ProxyIdentity): { ports: number[]; policies: MeshResource<"AuthorizationPolicy">[] } {
  const ports = new Set<number>();
  const keys = [selectorKey(proxy.namespace, undefined), ...Object.entries(proxy.labels).map(([k, v]) => selectorKey(proxy.namespace, [k, v]))];
  for (const key of keys) {
    for (const se of t.servers.selecting.get(key) ?? []) {
      if (!labelsMatch(se.spec.workloadSelector?.labels, proxy.labels)) continue;
      for (const p of se.spec.ports ?? []) ports.add(p.targetPort ?? p.number);
    }
  }
  if (ports.size === 0) return { ports: [], policies: [] };
  return { ports: [...ports].sort((a, b) => a - b), policies: policiesForWorkload(t.servers.policies, proxy, t.servers.rootNamespace) };
}

function selectorKey(namespace: string, pair: readonly [string, string] | undefined): string {
  return pair === undefined ? `${namespace}\0*` : `${namespace}\0${pair[0]}\0${pair[1]}`;
}

function selectingIndex(model: MeshModel): Map<string, MeshResource<"ServiceEntry">[]> {
  const index = new Map<string, MeshResource<"ServiceEntry">[]>();
  for (const r of model.resources) {
    if (r.kind !== "ServiceEntry" || r.spec.workloadSelector === undefined) continue;
    const first = Object.entries(r.spec.workloadSelector.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))[0];
    const key = selectorKey(r.namespace, first);
    index.set(key, [...(index.get(key) ?? []), r]);
  }
  return index;
}

/**
 * What a proxy's resources depend on, as a key: proxies with equal keys receive the same
 * resources and can share one snapshot. A gRPC client's depend only on its kind; a gRPC server's
 * also on the ports it serves and the policies that apply to it.
 */
export function proxyShareKey(t: MeshTranslation, proxy: ProxyIdentity): string {
  if (proxy.kind !== "grpc") return proxy.kind;
  const { ports, policies } = serverInputs(t, proxy);
  return JSON.stringify([proxy.kind, ports, policies.map((p) => `${p.namespace}/${p.name}`)]);
}

/**
 * What one proxy receives. A proxyless gRPC application gets every service's listeners, routes,
 * clusters and endpoints (it asks only for what it uses, by name), and, if it serves, its inbound
 * listeners. Envoy sidecars and gateways are translated in a later step and get nothing yet.
 */
export function resourcesForProxy(t: MeshTranslation, proxy: ProxyIdentity): readonly Translated[] {
  if (proxy.kind !== "grpc") return [];
  return [...t.grpcClusters, ...t.endpoints, ...t.grpcListeners, ...serverListeners(t, proxy), ...t.grpcRoutes];
}
