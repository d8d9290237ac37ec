// What one proxy receives, picked from the shared translation (mesh.ts) by who the proxy is:
// a proxyless gRPC application, an Envoy sidecar or an ingress gateway.
import { labelsMatch, type MeshResource } from "../config/resources.js";
import type { ServicePort } from "../config/types.js";
import { gatewayResources, gatewaysFor, type GatewayTranslation } from "./gateway.js";
import { grpcClientClass } from "./grpc-clients.js";
import { grpcClusterFor } from "./grpc-compat.js";
import { grpcNotes } from "./grpc-notes.js";
import { grpcServerListener, grpcServerListenerName } from "./grpc-server.js";
import { inboundCluster, inboundListener, type InboundPort } from "./inbound.js";
import { id, selectorKey, type MeshTranslation } from "./mesh.js";
import { meshMtls } from "./mtls.js";
import { workloadAddress, type ProxyIdentity } from "./proxy.js";
import { policiesForWorkload } from "./rbac.js";
import { registeredEntryName } from "./registration.js";
import { sidecarScope, type SidecarScope } from "./scope.js";
import { sortTranslated, type Translated } from "./translated.js";

/** The outbound resources of the services one Sidecar scope sees. */
interface ScopedResources {
  readonly clusters: readonly Translated[];
  readonly endpoints: readonly Translated[];
  readonly listeners: readonly Translated[];
  readonly routes: readonly Translated[];
}

/** Per translation, what proxies alike share: computed on first use, dropped with the translation. */
interface Shared {
  readonly scopes: Map<string, ScopedResources>;
  readonly gateways: Map<string, GatewayTranslation>;
  readonly inboundClusters: Map<string, Translated>;
}

const sharedOf = new WeakMap<MeshTranslation, Shared>();

function shared(t: MeshTranslation): Shared {
  let s = sharedOf.get(t);
  if (s === undefined) {
    s = { scopes: new Map(), gateways: new Map(), inboundClusters: new Map() };
    sharedOf.set(t, s);
  }
  return s;
}

/** The ports a workload serves (as the ServiceEntries selecting it say) and the policies that apply. */
export interface WorkloadSide {
  readonly ports: readonly InboundPort[];
  readonly policies: readonly MeshResource<"AuthorizationPolicy">[];
  /** Where its inbound listeners bind (sidecars): see workloadAddress. */
  readonly address: string;
}

export function workloadSide(t: MeshTranslation, proxy: ProxyIdentity): WorkloadSide {
  const name = proxy.workloadName ?? (proxy.workloadGroup === undefined ? undefined : registeredEntryName(proxy));
  const entry = name === undefined ? undefined : t.of.workloads.get(`${proxy.namespace}/${name}`);
  const ports = new Map<number, ServicePort["protocol"]>();
  const keys = [selectorKey(proxy.namespace, undefined), ...Object.entries(proxy.labels).map(([k, v]) => selectorKey(proxy.namespace, [k, v]))];
  const entries = keys.flatMap((key) => t.of.selecting.get(key) ?? []).filter((se) => labelsMatch(se.spec.workloadSelector?.labels, proxy.labels));
  for (const se of [...new Set(entries)].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    for (const p of se.spec.ports ?? []) {
      const served = entry?.spec.ports?.[p.name] ?? p.targetPort ?? p.number;
      if (!ports.has(served)) ports.set(served, p.protocol);
    }
  }
  const address = workloadAddress(proxy, entry?.spec.address) ?? "0.0.0.0";
  if (ports.size === 0) return { ports: [], policies: [], address };
  const peers = meshMtls(t.model).peers;
  return {
    ports: [...ports].sort(([a], [b]) => a - b).map(([port, protocol]) => ({ port, protocol, mtls: peers.mode(proxy, port) })),
    policies: policiesForWorkload(t.of.policies, proxy, t.model.naming.rootNamespace),
    address,
  };
}

/**
 * A proxyless gRPC server's inbound listeners: for every port of a service that selects it, the
 * Listener its XdsServer asks for (under both forms of "any address"), enforcing the
 * AuthorizationPolicies that apply to it.
 */
export function serverListeners(t: MeshTranslation, proxy: ProxyIdentity): Translated[] {
  const { ports, policies } = workloadSide(t, proxy);
  return ports.flatMap(({ port, mtls }) => [
    grpcServerListener(grpcServerListenerName(`0.0.0.0:${port}`), port, policies, "0.0.0.0", mtls),
    grpcServerListener(grpcServerListenerName(`[::]:${port}`), port, policies, "::", mtls),
  ]);
}

function scopedResources(t: MeshTranslation, scope: SidecarScope): ScopedResources {
  const s = shared(t);
  const cached = s.scopes.get(scope.key);
  if (cached !== undefined) return cached;
  let built: ScopedResources;
  if (scope.sidecar === undefined) {
    built = { clusters: t.clusters, endpoints: t.endpoints, listeners: t.outboundListeners, routes: t.outboundRoutes };
  } else {
    const visible = t.services.filter((x) => scope.visible(x));
    built = {
      clusters: visible.flatMap((x) => x.clusters),
      endpoints: visible.flatMap((x) => x.endpoints),
      listeners: visible.flatMap((x) => x.outboundListeners),
      routes: visible.flatMap((x) => x.outboundRoutes),
    };
  }
  s.scopes.set(scope.key, built);
  return built;
}

function gatewayTranslation(t: MeshTranslation, gateways: readonly MeshResource<"Gateway">[]): GatewayTranslation {
  const s = shared(t);
  const key = gateways.map((g) => `${g.namespace}/${g.name}`).join(",");
  const cached = s.gateways.get(key);
  if (cached !== undefined) return cached;
  const built = gatewayResources(gateways, t.of.virtualServices, t.index, t.credentials);
  s.gateways.set(key, built);
  return built;
}

/**
 * Inbound listeners kept across translations by everything they are built from (the policies by
 * identity: the loader keeps unchanged files' objects), so a config change re-encodes only the
 * sidecars it concerns. Bounded: past the limit it starts again, which costs only re-encoding.
 */
const inboundListeners = new Map<string, Translated>();
const MAX_INBOUND_LISTENERS = 100_000;

function sidecarInbound(t: MeshTranslation, side: WorkloadSide): Translated[] {
  const clusters = shared(t).inboundClusters;
  const policies = side.policies.map(id).join(",");
  return side.ports.flatMap((p) => {
    const key = `${p.port}/${p.protocol}`;
    let cluster = clusters.get(key);
    if (cluster === undefined) {
      cluster = inboundCluster(p);
      clusters.set(key, cluster);
    }
    const listenerKey = `${t.model.naming.rootNamespace}|${t.model.naming.clusterDomain}|${side.address}|${p.port}|${p.protocol}|${p.mtls ?? ""}|${policies}`;
    let listener = inboundListeners.get(listenerKey);
    if (listener === undefined) {
      if (inboundListeners.size >= MAX_INBOUND_LISTENERS) inboundListeners.clear();
      listener = inboundListener(side.address, p, side.policies);
      inboundListeners.set(listenerKey, listener);
    }
    return [listener, cluster];
  });
}

/**
 * Part of what a proxy receives, shared by every proxy whose layer has the same key: the xDS side
 * builds each distinct layer once (resources() is called once per key) and composes a proxy's
 * snapshot from its layers.
 */
export interface ProxyLayer {
  readonly key: string;
  resources(): readonly Translated[];
}

/**
 * What one proxy receives, in layers.
 * - A proxyless gRPC application: every service's listeners, routes, clusters and endpoints (it
 *   asks only for what it uses, by name), as its client class takes them (grpc-clients.ts), and,
 *   if it serves, its inbound listeners.
 * - An Envoy sidecar: the outbound listeners, routes, clusters and endpoints of the services its
 *   Sidecar scope sees, and its inbound listeners and their local clusters.
 * - A gateway: every cluster, and the listeners, routes and secrets of the Gateways selecting it.
 */
export function proxyLayers(t: MeshTranslation, proxy: ProxyIdentity): readonly ProxyLayer[] {
  switch (proxy.kind) {
    case "grpc": {
      const side = workloadSide(t, proxy);
      // Clients of different classes (grpc-clients.ts) get different variants: never one snapshot.
      const cls = grpcClientClass(proxy.userAgent);
      const clusters = () => (cls === "standard" ? t.grpcClusters : t.grpcClusters.map((c) => grpcClusterFor(c, cls)));
      const client: ProxyLayer = { key: `grpc:${cls}`, resources: () => [...clusters(), ...t.endpoints, ...t.grpcListeners, ...t.grpcRoutes] };
      if (side.ports.length === 0) return [client];
      return [client, { key: JSON.stringify(["grpc-server", side.ports.map((p) => [p.port, p.mtls]), ids(side.policies)]), resources: () => serverListeners(t, proxy) }];
    }
    case "sidecar": {
      const scope = sidecarScope(t.of.sidecars, proxy, t.model.naming.rootNamespace);
      const side = workloadSide(t, proxy);
      const outbound: ProxyLayer = {
        key: `sidecar-scope:${scope.key}`,
        resources: () => {
          const scoped = scopedResources(t, scope);
          return [...scoped.clusters, ...scoped.endpoints, ...scoped.listeners, ...scoped.routes];
        },
      };
      if (side.ports.length === 0) return [outbound];
      return [outbound, { key: JSON.stringify(["inbound", side.address, side.ports, ids(side.policies)]), resources: () => sidecarInbound(t, side) }];
    }
    case "gateway": {
      const gateways = gatewaysFor(t.of.gateways, proxy.labels);
      return [
        { key: "gateway-clusters", resources: () => [...t.clusters, ...t.endpoints] },
        { key: JSON.stringify(["gateway", ids(gateways)]), resources: () => gatewayTranslation(t, gateways).resources },
      ];
    }
  }
}

/** Everything one proxy receives, sorted (for render and golden files). */
export function resourcesForProxy(t: MeshTranslation, proxy: ProxyIdentity): readonly Translated[] {
  return sortTranslated(proxyLayers(t, proxy).flatMap((l) => l.resources()));
}

/** What a gateway's translation left out, or what a gRPC client ignores of what it gets: for render and the log. */
export function proxyNotes(t: MeshTranslation, proxy: ProxyIdentity): readonly string[] {
  if (proxy.kind === "gateway") return gatewayTranslation(t, gatewaysFor(t.of.gateways, proxy.labels)).notes;
  if (proxy.kind === "grpc") return grpcNotes(resourcesForProxy(t, proxy), new Map(t.clusters.map((c) => [c.name, c])), grpcClientClass(proxy.userAgent));
  return [];
}

function ids(resources: readonly { readonly namespace: string; readonly name: string }[]): string[] {
  return resources.map((r) => `${r.namespace}/${r.name}`);
}
