// What one proxy receives, picked from the shared translation (mesh.ts) by who the proxy is:
// a proxyless gRPC application, an Envoy sidecar or an ingress gateway.
import { labelsMatch, type MeshResource } from "../config/resources.js";
import type { ServicePort } from "../config/types.js";
import { gatewayResources, gatewaysFor, type GatewayTranslation } from "./gateway.js";
import { grpcClientClass, type GrpcClientClass } from "./grpc-clients.js";
import { grpcClusterFor, grpcRoutesFor } from "./grpc-compat.js";
import { grpcNotes } from "./grpc-notes.js";
import { unspecified } from "./registration.js";
import { grpcServerListener, grpcServerListenerName } from "./grpc-server.js";
import { inboundCluster, inboundListener, inboundListenerAt, type InboundPort } from "./inbound.js";
import { jwksClusters, jwtAuthnFilter } from "./jwt.js";
import { grpcClientResources } from "./grpc.js";
import { once, routedByOf, selectorKey, type MeshTranslation, type ScopedResources, type ServiceRouting, type ServiceTranslation } from "./mesh.js";
import { isHttpProtocol, outboundResources } from "./outbound.js";
import type { MeshService, ServiceIndex } from "./services.js";
import { meshMtls } from "./mtls.js";
import { workloadAddress, type ProxyIdentity } from "./proxy.js";
import { policiesForWorkload, rbacFilterConfig, rbacHttpFilters, rbacNetworkFilters, type RbacPeer, type Traffic } from "./rbac.js";
import { registeredEntryName } from "./registration.js";
import { exportedTo, sidecarScope, type SidecarScope } from "./scope.js";
import { ownRulesSteps, ruleVariant, type RuleVariant } from "./rule-variants.js";
import type { Steps } from "../common/steps.js";
import { sourceVariant } from "./source-variants.js";
import { keptOr } from "./kept.js";
import { localityVariant } from "./locality.js";
import { sortTranslated, type Translated, type TranslatedRoute } from "./translated.js";
import type { RouteConfiguration } from "../envoy/index.js";

/** The ports a workload serves (as the ServiceEntries selecting it say) and the policies that apply. */
export interface WorkloadSide {
  readonly ports: readonly InboundPort[];
  readonly policies: readonly MeshResource<"AuthorizationPolicy">[];
  /** The RequestAuthentications that apply (same selection as policies). */
  readonly requestAuthentications: readonly MeshResource<"RequestAuthentication">[];
  /** Where its inbound listeners bind (sidecars): see workloadAddress. */
  readonly address: string;
}

/**
 * Whether a sidecar's inbound listeners can bind its address: not "any address", and not
 * 127.0.0.1, where the application itself listens (a sidecar with no INSTANCE_IPS that connects
 * from loopback, or through NAT, would otherwise take the application's own port).
 */
export function inboundAddressProblem(proxy: ProxyIdentity, side: WorkloadSide): string | undefined {
  if (proxy.kind !== "sidecar" || side.ports.length === 0) return undefined;
  if (side.address !== "127.0.0.1" && !unspecified(side.address)) return undefined;
  return `sidecar ${proxy.nodeId} serves ports ${side.ports.map((p) => p.port).join(", ")} but its inbound address would be ${side.address}, the application's own; set INSTANCE_IPS in its node metadata (gitmesh bootstrap --instance-ip) to the address other workloads reach it at. Its inbound listeners are left out until then`;
}

/**
 * The ports a workload serves and the policies that apply to it. Worked out once for a connected
 * proxy (by its identity object) and kept across translations while the workloads, groups,
 * ServiceEntries, policies, mTLS settings and naming are the very same objects: a route change
 * does not work out two thousand sidecars' sides again.
 */
export function workloadSide(t: MeshTranslation, proxy: ProxyIdentity): WorkloadSide {
  const sides = (t.shared.sides ??= keptSides(t));
  let side = sides.get(proxy);
  if (side === undefined) {
    side = workSideOut(t, proxy);
    sides.set(proxy, side);
  }
  return side;
}

function keptSides(t: MeshTranslation): WeakMap<ProxyIdentity, WorkloadSide> {
  const mtls = t.model.resources.filter((r) => r.kind === "PeerAuthentication");
  const inputs = [[t.of.workloads, t.of.selecting, t.model.naming], t.of.workloadGroups, t.of.policies, t.of.requestAuthentications, mtls, t.of.gateways];
  t.memo.sides = keptOr(t.memo.sides, inputs, () => new WeakMap());
  return t.memo.sides.value;
}

function workSideOut(t: MeshTranslation, proxy: ProxyIdentity): WorkloadSide {
  const name = proxy.workloadName ?? (proxy.workloadGroup === undefined ? undefined : registeredEntryName(proxy));
  const entry = name === undefined ? undefined : t.of.workloads.get(`${proxy.namespace}/${name}`);
  // A proxy naming a group serves the group's ports whether or not it is (yet) registered in it.
  const group = proxy.workloadGroup === undefined ? undefined : t.of.workloadGroups.find((g) => g.namespace === proxy.namespace && g.name === proxy.workloadGroup);
  const portNames = entry?.spec.ports ?? group?.spec.template.ports;
  const ports = new Map<number, ServicePort["protocol"]>();
  // The entries selecting it, through the index by one of their selector's label pairs (run per proxy per push: no intermediate lists).
  const selecting = new Set<MeshResource<"ServiceEntry">>();
  const collect = (key: string) => {
    for (const se of t.of.selecting.get(key) ?? []) if (labelsMatch(se.spec.workloadSelector?.labels, proxy.labels)) selecting.add(se);
  };
  collect(selectorKey(proxy.namespace, undefined));
  for (const [k, v] of Object.entries(proxy.labels)) collect(selectorKey(proxy.namespace, [k, v]));
  const entries = [...selecting];
  if (entries.length > 1) entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const se of entries) {
    for (const p of se.spec.ports ?? []) {
      const served = portNames?.[p.name] ?? p.targetPort ?? p.number;
      if (!ports.has(served)) ports.set(served, p.protocol);
    }
  }
  const address = workloadAddress(proxy, entry?.spec.address) ?? "0.0.0.0";
  if (ports.size === 0) return { ports: [], policies: [], requestAuthentications: [], address };
  const peers = meshMtls(t.model).peers;
  return {
    ports: [...ports].sort(([a], [b]) => a - b).map(([port, protocol]) => ({ port, protocol, mtls: peers.mode(proxy, port) })),
    policies: policiesForWorkload(t.of.policies, proxy, t.model.naming.rootNamespace),
    requestAuthentications: policiesForWorkload(t.of.requestAuthentications, proxy, t.model.naming.rootNamespace),
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

function scopedResources(t: MeshTranslation, scope: SidecarScope, namespace: string): ScopedResources {
  const s = t.shared;
  const cached = s.scopes.get(scope.key);
  if (cached !== undefined) return cached;
  let built: ScopedResources;
  if (scope.key === "*") {
    built = { clusters: t.clusters, endpoints: t.endpoints, listeners: t.outboundListeners, routes: t.outboundRoutes };
  } else {
    const visible = t.services.filter((x) => scope.visible(x));
    // With exportTo in use the scope is per namespace (sidecarScope), and so is each service's routing.
    const routing = (x: ServiceTranslation) => (t.exportsRestricted ? routingFor(t, x, namespace) : x);
    built = {
      clusters: visible.flatMap((x) => x.clusters),
      endpoints: visible.flatMap((x) => x.endpoints),
      listeners: visible.flatMap((x) => routing(x).outboundListeners),
      routes: visible.flatMap((x) => routing(x).outboundRoutes),
    };
  }
  s.scopes.set(scope.key, built);
  return built;
}

function gatewayTranslation(t: MeshTranslation, gateways: readonly MeshResource<"Gateway">[], keysFor: ReadonlySet<MeshResource<"Gateway">>, proxy: ProxyIdentity, rules: RuleVariant): GatewayTranslation {
  const s = t.shared;
  const { authorization, authentication } = gatewayPolicies(t, proxy);
  // With exportTo in use, a gateway takes the VirtualServices exported to its own namespace.
  const namespace = t.exportsRestricted ? proxy.namespace : "";
  // Its routes read the consistent hash of the rules it takes (rule-variants.ts).
  const key = JSON.stringify([ids(gateways), ids([...keysFor]), ids(authorization), ids(authentication), namespace, rules.key]);
  const cached = s.gateways.get(key);
  if (cached !== undefined) return cached;
  const virtualServices = t.exportsRestricted ? t.of.virtualServices.filter((vs) => exportedTo(routedByOf(vs), proxy.namespace)) : t.of.virtualServices;
  // As at a sidecar's inbound (inbound.ts): verify end-user JWTs, then authorize, then route (a
  // VirtualService may match on the verified claims, routes-match.ts).
  const jwt = jwtAuthnFilter(authentication);
  const http = [...(jwt === undefined ? [] : [jwt]), ...rbacHttpFilters(rbacFilterConfig(authorization))];
  const tcpRbac = rbacFilterConfig(authorization, "tcp");
  const security = { http, tcp: (statPrefix: string) => rbacNetworkFilters(tcpRbac, statPrefix) };
  // AUTO_PASSTHROUGH servers pass through to the services exported to the gateway's namespace:
  // another's endpoints are not sent to it, so a cluster for it would never warm.
  const exported = t.exportsRestricted ? new Set(exportedServices(t, proxy.namespace).map((x) => x.host)) : undefined;
  const index = exported === undefined ? rules.index : { ...rules.index, services: rules.index.services.filter((x) => exported.has(x.host)) };
  const built = gatewayResources(gateways, virtualServices, index, t.credentials, keysFor, security);
  const withKeys = { ...built, resources: sortTranslated([...built.resources, ...jwksClusters(authentication)]) };
  s.gateways.set(key, withKeys);
  return withKeys;
}

function gatewayPolicyIds(t: MeshTranslation, proxy: ProxyIdentity): string[][] {
  const { authorization, authentication } = gatewayPolicies(t, proxy);
  return [ids(authorization), ids(authentication)];
}

/** The RequestAuthentications and AuthorizationPolicies that select a gateway's workload, as Istio applies them. */
function gatewayPolicies(t: MeshTranslation, proxy: ProxyIdentity) {
  const root = t.model.naming.rootNamespace;
  return { authorization: policiesForWorkload(t.of.policies, proxy, root), authentication: policiesForWorkload(t.of.requestAuthentications, proxy, root) };
}

/**
 * The Gateways whose private keys a gateway proxy may hold: only an authenticated proxy, and only
 * for a Gateway that selects a workload the config declares with the proxy's own identity (a
 * WorkloadEntry or WorkloadGroup in its namespace with its service account). Node labels are a
 * claim and decide nothing here: a token for another namespace or service account that claims a
 * gateway's labels gets its routes but never its keys.
 */
export function credentialAccess(t: MeshTranslation, proxy: ProxyIdentity, gateways: readonly MeshResource<"Gateway">[]): ReadonlySet<MeshResource<"Gateway">> {
  if (proxy.authenticated !== true) return new Set();
  const declared: Readonly<Record<string, string>>[] = [];
  for (const w of t.of.workloads.values()) {
    if (w.namespace === proxy.namespace && (w.spec.serviceAccount ?? "default") === proxy.serviceAccount) declared.push(w.spec.labels ?? {});
  }
  for (const g of t.of.workloadGroups) {
    const sa = g.spec.template.serviceAccount;
    if (g.namespace === proxy.namespace && (sa === undefined || sa === proxy.serviceAccount)) declared.push(g.spec.metadata?.labels ?? {});
  }
  return new Set(gateways.filter((g) => declared.some((labels) => labelsMatch(g.spec.selector, labels))));
}

/**
 * A sidecar's inbound listeners and their local clusters. Listeners are kept across translations
 * (TranslationMemo.inbound) by everything they are built from, policies by identity (the
 * loader keeps unchanged files' objects), so a config change re-encodes only the sidecars it
 * concerns.
 */
function sidecarInbound(t: MeshTranslation, side: WorkloadSide): Translated[] {
  const policies = [...side.policies, ...side.requestAuthentications].map((p) => t.memo.id(p)).join(",");
  const security = { authorization: side.policies, authentication: side.requestAuthentications };
  // The clusters jwt_authn fetches keys through, once for the workload (not per port).
  // Its name says all it is made of, so one object per name serves every translation.
  const jwks = side.ports.some((p) => isHttpProtocol(p.protocol)) ? jwksClusters(side.requestAuthentications).map((c) => t.memo.inbound(`jwks|${c.name}`, () => c)) : [];
  return [...jwks, ...side.ports.flatMap((p) => {
    const key = `${p.port}/${p.protocol}`;
    const cluster = t.memo.inbound(`cluster|${key}`, () => inboundCluster(p));
    const { rootNamespace, clusterDomain, trustDomain } = t.model.naming;
    const templateKey = `${rootNamespace}|${clusterDomain}|${trustDomain}|${p.port}|${p.protocol}|${p.mtls ?? ""}|${policies}`;
    const listener = t.memo.inbound(`listener|${side.address}|${templateKey}`, () => {
      let template = t.shared.inboundTemplates.get(templateKey);
      if (template === undefined) {
        template = inboundListener(side.address, p, security);
        t.shared.inboundTemplates.set(templateKey, template);
      }
      return inboundListenerAt(template, side.address);
    });
    return [listener, cluster];
  })];
}

/**
 * Part of what a proxy receives, shared by every proxy whose layer has the same key: the xDS side
 * builds each distinct layer once (resources() is called once per key) and composes a proxy's
 * snapshot from its layers.
 */
export interface ProxyLayer {
  readonly key: string;
  resources(): readonly Translated[];
  /**
   * One proxy's own layer (its secrets), whose resources may change between two translations:
   * compared every time rather than trusted by its key.
   */
  readonly own?: true;
  /**
   * Its key names everything its resources are made of (config objects by their identity in the
   * translation memo): a layer of the same key from an earlier translation of the same memo is
   * taken without asking for its resources again.
   */
  readonly keyed?: true;
}

/** What one proxy receives, in layers, and what its translation left out and why. */
export interface ProxyPlan {
  readonly layers: readonly ProxyLayer[];
  /** For render, the log and the proxy's status. */
  notes(): readonly string[];
}

/**
 * What one proxy receives, in layers, with its notes; what both read of the proxy (its workload
 * side, its scope, its rules) is worked out once.
 * - A proxyless gRPC application: every service's listeners, routes, clusters and endpoints (it
 *   asks only for what it uses, by name), as its client class takes them (grpc-clients.ts), and,
 *   if it serves, its inbound listeners.
 * - An Envoy sidecar: the outbound listeners, routes, clusters and endpoints of the services its
 *   Sidecar scope sees, and its inbound listeners and their local clusters.
 * - A gateway: every cluster, and the listeners, routes and secrets of the Gateways selecting it.
 */
export function proxyPlan(t: MeshTranslation, proxy: ProxyIdentity): ProxyPlan {
  switch (proxy.kind) {
    case "grpc": {
      const side = workloadSide(t, proxy);
      // Clients of different classes (grpc-clients.ts) get different variants: never one snapshot.
      const cls = grpcClientClass(proxy.userAgent);
      // Routes that depend on who the client is (sourceLabels) make its own variant of the layer.
      // So do endpoints in priorities by the client's locality (locality failover).
      // So do clusters built with a DestinationRule other than the shared one (rule-variants.ts).
      const variant = sourceVariant(t, "grpc", proxy, EVERY_SERVICE);
      const rules = ruleVariant(t, proxy, exportedScope(t, proxy.namespace));
      const near = localityVariant(t, proxy, EVERY_SERVICE, rules);
      const client: ProxyLayer = {
        key: `${grpcSideKey(t, cls, proxy.namespace)}${rules.key}${variant.key}${near.key}`,
        resources: () => {
          const all = grpcClientSide(t, cls, proxy.namespace, rules).resources;
          return variant.key === "" && near.key === "" ? all : forClass(t, near.endpoints(variant.routes(all)), cls);
        },
      };
      const notes = () => [...grpcClientSide(t, cls, proxy.namespace, rules).notes, ...authorizationNotes(t, side, "grpc")];
      if (side.ports.length === 0) return { layers: [client], notes };
      return { layers: [client, { key: JSON.stringify(["grpc-server", side.ports.map((p) => [p.port, p.mtls]), ids(side.policies)]), resources: () => serverListeners(t, proxy) }], notes };
    }
    case "sidecar": {
      const scope = sidecarScope(t.of.sidecars, proxy, t.model.naming.rootNamespace, t.exportsRestricted);
      const side = workloadSide(t, proxy);
      const variant = sourceVariant(t, "outbound", proxy, scope);
      const rules = ruleVariant(t, proxy, scope);
      const near = localityVariant(t, proxy, scope, rules);
      const outbound: ProxyLayer = {
        key: `sidecar-scope:${scope.key}${variant.key}${near.key}${rules.key}`,
        resources: () => {
          const scoped = scopedResources(t, scope, proxy.namespace);
          const backends = rules.resources([...scoped.clusters, ...scoped.endpoints], "envoy");
          return [...near.endpoints(backends), ...scoped.listeners, ...variant.routes(rules.routes(scoped.routes, "outbound"))];
        },
      };
      const problem = inboundAddressProblem(proxy, side);
      const notes = () => [...(problem === undefined ? [] : [problem]), ...authorizationNotes(t, side, "envoy"), ...claimRouteNotes(t, scope, proxy.namespace)];
      if (side.ports.length === 0 || problem !== undefined) return { layers: [outbound], notes };
      const { rootNamespace, clusterDomain, trustDomain } = t.model.naming;
      const made = [side.address, side.ports, [rootNamespace, clusterDomain, trustDomain], [...side.policies, ...side.requestAuthentications].map((p) => t.memo.id(p))];
      return { layers: [outbound, { key: JSON.stringify(["inbound", ...made]), keyed: true, resources: () => sidecarInbound(t, side) }], notes };
    }
    case "gateway": {
      const gateways = gatewaysFor(t.of.gateways, proxy.labels);
      const keysFor = credentialAccess(t, proxy, gateways);
      const rules = ruleVariant(t, proxy, exportedScope(t, proxy.namespace));
      const near = localityVariant(t, proxy, EVERY_SERVICE, rules);
      const notes = () => {
        const tcp = gateways.some((g) => g.spec.servers.some((sv) => sv.port.protocol === "TCP" || sv.port.protocol === "TLS"));
        const problems = tcp ? rbacFilterConfig(gatewayPolicies(t, proxy).authorization, "tcp").problems : [];
        return [...gatewayTranslation(t, gateways, keysFor, proxy, rules).notes, ...problems];
      };
      return {
        layers: [
          t.exportsRestricted
            ? {
                key: `gateway-clusters|exported:${proxy.namespace}${near.key}${rules.key}`,
                resources: () => {
                  const services = exportedServices(t, proxy.namespace);
                  return near.endpoints(rules.resources([...services.flatMap((x) => x.clusters), ...services.flatMap((x) => x.endpoints)], "envoy"));
                },
              }
            : { key: `gateway-clusters${near.key}${rules.key}`, resources: () => near.endpoints(rules.resources([...t.clusters, ...t.endpoints], "envoy")) },
          {
            key: JSON.stringify(["gateway", ids(gateways), ids([...keysFor]), gatewayPolicyIds(t, proxy), t.exportsRestricted ? proxy.namespace : "", rules.key]),
            resources: () => gatewayTranslation(t, gateways, keysFor, proxy, rules).resources,
          },
        ],
        notes,
      };
    }
  }
}

/**
 * proxyPlan with its one long part in steps first: the first proxy of a namespace (or Sidecar
 * scope) asks every service which DestinationRule it takes (rule-variants.ts), which the plan
 * then finds done.
 */
export function* proxyPlanSteps(t: MeshTranslation, proxy: ProxyIdentity): Steps<ProxyPlan> {
  const scope = proxy.kind === "sidecar" ? sidecarScope(t.of.sidecars, proxy, t.model.naming.rootNamespace, t.exportsRestricted) : exportedScope(t, proxy.namespace);
  yield* ownRulesSteps(t, proxy, scope);
  return proxyPlan(t, proxy);
}

/** What one proxy receives, in layers (proxyPlan). */
export function proxyLayers(t: MeshTranslation, proxy: ProxyIdentity): readonly ProxyLayer[] {
  return proxyPlan(t, proxy).layers;
}

const CLUSTER = "envoy.config.cluster.v3.Cluster";

/** Gateways and proxyless gRPC clients see every service (the scope key of a sidecar without a Sidecar). */
const EVERY_SERVICE = { key: "*", visible: () => true };

/** Every service exported to a namespace: what a gateway or a gRPC client there sees. */
function exportedScope(t: MeshTranslation, namespace: string): { readonly key: string; visible(x: ServiceTranslation): boolean } {
  return t.exportsRestricted ? { key: `exported:${namespace}`, visible: (x) => exportedTo(x, namespace) } : EVERY_SERVICE;
}

/** Everything one proxy receives, sorted (for render and golden files). */
export function resourcesForProxy(t: MeshTranslation, proxy: ProxyIdentity): readonly Translated[] {
  return sortTranslated(proxyLayers(t, proxy).flatMap((l) => l.resources()));
}

/** What a proxy's translation left out and why, for render, the log and the proxy's status. */
export function proxyNotes(t: MeshTranslation, proxy: ProxyIdentity): readonly string[] {
  return proxyPlan(t, proxy).notes();
}

/**
 * Routes that match on the verified JWT's claims (routes-match.ts): a sidecar verifies tokens on
 * its inbound side only, after the caller's sidecar routed, so there they never match (Istio
 * supports claim routing at ingress gateways only).
 */
function claimRouteNotes(t: MeshTranslation, scope: SidecarScope, namespace: string): readonly string[] {
  const cached = t.shared.claimRouteNotes.get(scope.key);
  if (cached !== undefined) return cached;
  const notes: string[] = [];
  for (const r of scopedResources(t, scope, namespace).routes) {
    const config = r.message as RouteConfiguration;
    for (const vh of config.virtual_hosts ?? []) {
      for (const route of vh.routes ?? []) {
        if ((route.match?.dynamic_metadata ?? []).length === 0) continue;
        notes.push(`${r.name} route ${route.name ?? "(unnamed)"}: it matches on @request.auth.claims, which only a gateway verifies before routing; at a sidecar it never matches`);
      }
    }
  }
  t.shared.claimRouteNotes.set(scope.key, notes);
  return notes;
}

/** What the workload's AuthorizationPolicies ask that its inbound side cannot check (rbac.ts), once each. */
function authorizationNotes(t: MeshTranslation, side: WorkloadSide, peer: RbacPeer): readonly string[] {
  if (side.policies.length === 0) return [];
  const traffics = [...new Set(side.ports.map((p): Traffic => (peer === "grpc" || isHttpProtocol(p.protocol) ? "http" : "tcp")))].sort();
  // Workloads under the same policies share the answer: the rules are built once per translation, not per proxy.
  const key = `${peer}|${traffics.join(",")}|${side.policies.map((p) => t.memo.id(p)).join(",")}`;
  let notes = t.shared.authorizationNotes.get(key);
  if (notes === undefined) {
    notes = [...new Set(traffics.flatMap((traffic) => rbacFilterConfig(side.policies, traffic, peer).problems))];
    t.shared.authorizationNotes.set(key, notes);
  }
  return notes;
}

/**
 * What every gRPC client of a class receives (its server side aside), and what it ignores of it:
 * once per translation and class, however many clients there are.
 */
function grpcClientSide(t: MeshTranslation, cls: GrpcClientClass, namespace: string, rules: RuleVariant): { resources: readonly Translated[]; notes: readonly string[] } {
  const key = grpcSideKey(t, cls, namespace) + rules.key;
  let side = t.shared.grpcClients.get(key);
  if (side === undefined) {
    const services = t.exportsRestricted ? exportedServices(t, namespace) : undefined;
    const grpc = services === undefined ? t.grpc() : undefined;
    const own = grpc?.clusters ?? (services ?? []).flatMap((x) => x.grpcClusters());
    const clusters = cls === "standard" ? own : own.map((c) => grpcClusterFor(c, cls, t.memo));
    const endpoints = services === undefined ? t.endpoints : services.flatMap((x) => x.endpoints);
    const listeners = grpc?.listeners ?? (services ?? []).flatMap((x) => routingFor(t, x, namespace).grpc().listeners);
    const routes = grpc?.routes ?? (services ?? []).flatMap((x) => routingFor(t, x, namespace).grpc().routes);
    const resources = [...rules.resources([...clusters, ...endpoints], cls), ...listeners, ...forClass(t, rules.routes(routes, "grpc"), cls)];
    const envoyClusters = rules.resources(services === undefined ? t.clusters : services.flatMap((x) => x.clusters), "envoy").filter((r) => r.type === CLUSTER);
    const envoy = new Map<string, Translated>(envoyClusters.map((c) => [c.name, c]));
    side = { resources, notes: grpcNotes(resources, envoy, cls, t.outboundRoutes) };
    t.shared.grpcClients.set(key, side);
  }
  return side;
}

/** A gRPC client's route configurations as its class takes them (grpc-compat.ts grpcRoutesFor): the same objects for the standard class. */
function forClass(t: MeshTranslation, resources: readonly Translated[], cls: GrpcClientClass): Translated[] {
  if (cls === "standard") return [...resources];
  return resources.map((r) => (r.type === "envoy.config.route.v3.RouteConfiguration" ? grpcRoutesFor(r as TranslatedRoute, cls, t.memo) : r));
}

/** gRPC clients of a class share what they see; with exportTo in use, per namespace. */
function grpcSideKey(t: MeshTranslation, cls: GrpcClientClass, namespace: string): string {
  return t.exportsRestricted ? `grpc:${cls}|exported:${namespace}` : `grpc:${cls}`;
}

/**
 * A service's listeners and routes as a proxy of `namespace` receives them: its shared routing,
 * unless its VirtualService is not exported there, when it is routed by the next VirtualService
 * for the host that is (in file order), or as if it had none (Istio's sidecar scope), made once
 * per namespace.
 */
function routingFor(t: MeshTranslation, x: ServiceTranslation, namespace: string): ServiceRouting {
  if (x.routedBy === undefined || exportedTo(x.routedBy, namespace)) return x;
  return onceFor(t.shared.unrouted, t, x, namespace, (service) => {
    const seen = t.index.virtualServiceIn(x.host, namespace);
    const view: ServiceIndex = { ...t.index, virtualServiceFor: (host) => (host === x.host ? seen : t.index.virtualServiceFor(host)) };
    const o = outboundResources(service, view, x.address);
    return { grpc: once(() => grpcClientResources(service, view)), outboundListeners: o.listeners, outboundRoutes: o.routes };
  });
}

/** A per-namespace variant of a service's translation, built once per translation (x itself if the service is gone). */
function onceFor<V>(cache: Map<string, V>, t: MeshTranslation, x: ServiceTranslation & V, namespace: string, build: (service: MeshService) => V): V {
  const key = `${x.host}|${namespace}`;
  let variant = cache.get(key);
  const service = t.index.service(x.host);
  if (variant === undefined && service !== undefined) {
    variant = build(service);
    cache.set(key, variant);
  }
  return variant ?? x;
}

/** The services exported to a namespace (a ServiceEntry's exportTo). */
function exportedServices(t: MeshTranslation, namespace: string): readonly ServiceTranslation[] {
  return t.services.filter((x) => exportedTo(x, namespace));
}

function ids(resources: readonly { readonly namespace: string; readonly name: string }[]): string[] {
  return resources.map((r) => `${r.namespace}/${r.name}`);
}
