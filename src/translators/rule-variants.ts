// What a proxy receives of clusters and endpoints that depend on which DestinationRule it takes
// (merge-destination-rules.ts): a rule of its own namespace, one exported to it or not, one whose
// workloadSelector selects it. The shared translation is built with the rule a proxy of the
// service's namespace takes; a proxy that takes another gets that service's clusters and endpoints
// built with its own, once per translation for each service and rule, however many proxies share
// them (as source-variants.ts does for routes).
import { labelsMatch, type MeshResource } from "../config/resources.js";
import { fromKey, type ConsolidatedRule, type ProxyView } from "../config/merge-destination-rules.js";
import type { GrpcClientClass } from "./grpc-clients.js";
import { grpcCluster, grpcClusterFor } from "./grpc-compat.js";
import { serviceClusters } from "./clusters.js";
import { serviceEndpoints } from "./endpoints.js";
import type { DestinationRuleSpec } from "../config/types.js";
import { grpcClientResources } from "./grpc.js";
import { once, routedHosts, type MeshTranslation, type ServiceBackends, type ServiceTranslation } from "./mesh.js";
import { outboundResources } from "./outbound.js";
import { meshMtls } from "./mtls.js";
import { withRule, type MeshService, type ServiceIndex } from "./services.js";
import type { RouteFlavour } from "./source-variants.js";
import type { Translated } from "./translated.js";
import { runSteps, type Steps } from "../common/steps.js";
import { keptOr } from "./kept.js";

export interface RuleVariant {
  /** "" when the proxy takes every service's shared rule; else what sets it apart, for its layer key. */
  readonly key: string;
  /** The shared resources given, with the clusters and endpoints of the services whose rule differs built with the proxy's own. */
  resources(shared: readonly Translated[], flavour: "envoy" | GrpcClientClass): Translated[];
  /**
   * The shared route configurations given, with those that read a consistent hash from a rule
   * that differs (routes to such a service, and its own default routes) built with the proxy's.
   */
  routes(shared: readonly Translated[], flavour: RouteFlavour): Translated[];
  /** The service index as the proxy sees it: each service with the proxy's own rule (for routes built per proxy, a gateway's). */
  readonly index: ServiceIndex;
  /** The services whose rule differs for the proxy, each with that rule and the endpoints built with it (locality.ts reads their policy). */
  differing(): readonly DifferingRule[];
}

/** A service whose DestinationRule differs for a proxy from the shared one. */
export interface DifferingRule {
  readonly service: ServiceTranslation;
  /** The service with the proxy's rule. */
  readonly mesh: MeshService;
  /** What sets the rule apart (for cache keys). */
  readonly key: string;
  readonly endpoints: readonly Translated[];
}

interface Own {
  readonly service: ServiceTranslation;
  readonly rule: ConsolidatedRule | undefined;
  readonly key: string;
}

const ROUTE_CONFIGURATION = "envoy.config.route.v3.RouteConfiguration";

/** The rules a proxy takes among the services visible to it (`scope`: its Sidecar scope's key and test). */
export function ruleVariant(t: MeshTranslation, proxy: ProxyView, scope: RuleScope): RuleVariant {
  const own = ownRules(t, proxy, scope);
  if (own.length === 0) return { key: "", resources: (shared) => [...shared], routes: (shared) => [...shared], index: t.index, differing: () => [] };
  const key = own.map((o) => `|rule:${o.service.host}=${o.key}`).join("");
  return {
    key,
    routes: (shared, flavour) => hashedRoutes(t, own, key, scope, shared, flavour),
    index: { ...t.index, service: (host) => withOwnRule(t, own, host) },
    differing: () => own.map((o) => ({ service: o.service, mesh: serviceWithRule(t, o), key: o.key, endpoints: ruleBackends(t, o).endpoints })),
    resources(shared, flavour) {
      const dropped = new Set<string>();
      const added: Translated[] = [];
      for (const o of own) {
        for (const r of [...o.service.clusters, ...o.service.endpoints]) dropped.add(`${r.type}|${r.name}`);
        const b = ruleBackends(t, o);
        const clusters = flavour === "envoy" ? b.clusters : flavour === "standard" ? b.grpcClusters() : b.grpcClusters().map((c) => grpcClusterFor(c, flavour, t.memo));
        added.push(...clusters, ...b.endpoints);
      }
      return [...shared.filter((r) => !dropped.has(`${r.type}|${r.name}`)), ...added];
    },
  };
}

/**
 * The services whose rule differs for the proxy from the shared one: once per Sidecar scope,
 * namespace and set of workloadSelector rules of that namespace that select the proxy (all a
 * proxy's labels can change).
 */
function ownRules(t: MeshTranslation, proxy: ProxyView, scope: RuleScope): readonly Own[] {
  return runSteps(ownRulesSteps(t, proxy, scope));
}

/** The services visible to a proxy: its Sidecar scope's key and test. */
type RuleScope = { readonly key: string; visible(s: ServiceTranslation): boolean };

/** Services asked for their rule between two places the work may pause. */
const RULE_STEP = 64;

/**
 * ownRules in steps: the first proxy of a namespace asks every service for its rule (tens of
 * milliseconds at 10,000 services), which the pusher runs before the proxy's plan so that the
 * plan finds it done.
 */
export function* ownRulesSteps(t: MeshTranslation, proxy: ProxyView, scope: RuleScope): Steps<readonly Own[]> {
  const id = (o: object) => t.memo.id(o);
  const selecting = selectorRules(t, proxy.namespace)
    .filter((r) => labelsMatch(r.spec.workloadSelector?.matchLabels, proxy.labels))
    .map(id);
  const key = `${scope.key}|${proxy.namespace}|${selecting.join(",")}`;
  const cached = t.shared.ruleOwn.get(key);
  if (cached !== undefined) return cached;
  const answers = keptAnswers(t);
  const before = answers.get(key);
  let own: Own[];
  if (before !== undefined) {
    // The same rules, scopes and services as last time: the same services differ, each asked again for its rule.
    const byHost = new Map(t.services.map((s) => [s.host, s]));
    own = before.flatMap(({ host, key }) => {
      const service = byHost.get(host);
      return service === undefined ? [] : [{ service, rule: t.index.rules.ruleFor(host, service.namespace, proxy), key }];
    });
  } else {
    own = [];
    let asked = 0;
    for (const service of t.services) {
      if (++asked % RULE_STEP === 0) yield "tick";
      if (!scope.visible(service)) continue;
      const mesh = t.index.service(service.host);
      if (mesh === undefined) continue;
      const rule = t.index.rules.ruleFor(service.host, service.namespace, proxy);
      const ruleKey = fromKey(rule?.from, id);
      if (ruleKey !== fromKey(mesh.ruleFrom, id)) own.push({ service, rule, key: ruleKey });
    }
    answers.set(key, own.map((o) => ({ host: o.service.host, key: o.key })));
  }
  t.shared.ruleOwn.set(key, own);
  return own;
}

/**
 * The answers kept from earlier translations while everything ownRules reads besides the proxy is
 * the very same (the loader hands back the same object for a file that did not change): every
 * DestinationRule, Sidecar and ServiceEntry, the naming, and whether exportTo is in use. Other
 * inputs start a new map, so answers no translation can take again are not kept.
 */
function keptAnswers(t: MeshTranslation): Map<string, readonly { readonly host: string; readonly key: string }[]> {
  if (t.shared.ruleAnswers !== undefined) return t.shared.ruleAnswers;
  const read = t.model.resources.filter((r) => r.kind === "DestinationRule" || r.kind === "Sidecar" || r.kind === "ServiceEntry");
  const { rootNamespace, clusterDomain } = t.model.naming;
  t.memo.ruleOwn = keptOr(t.memo.ruleOwn, [read, [rootNamespace, clusterDomain, t.exportsRestricted]], () => new Map());
  t.shared.ruleAnswers = t.memo.ruleOwn.value;
  return t.shared.ruleAnswers;
}

/** The DestinationRules with a workloadSelector in a namespace, once per translation. */
function selectorRules(t: MeshTranslation, namespace: string): readonly MeshResource<"DestinationRule">[] {
  let found = t.shared.selectorRules;
  if (found === undefined) {
    const byNamespace = new Map<string, MeshResource<"DestinationRule">[]>();
    for (const r of t.model.resources) {
      if (r.kind !== "DestinationRule" || r.spec.workloadSelector === undefined) continue;
      byNamespace.set(r.namespace, [...(byNamespace.get(r.namespace) ?? []), r]);
    }
    t.shared.selectorRules = found = byNamespace;
  }
  return found.get(namespace) ?? [];
}

/**
 * Routes read a rule's consistent hash (routes-action.ts): where a differing rule, or the shared
 * one it replaces, has one, the routes to that service (and its own) are built again with the
 * proxy's rules, once per translation for each service, flavour and set of rules.
 */
function hashedRoutes(t: MeshTranslation, own: readonly Own[], key: string, scope: { visible(s: ServiceTranslation): boolean }, shared: readonly Translated[], flavour: RouteFlavour): Translated[] {
  const hashed = new Set(own.filter((o) => hasHash(o.rule?.rule.spec) || hasHash(t.index.service(o.service.host)?.rule?.spec)).map((o) => o.service.host));
  if (hashed.size === 0) return [...shared];
  const view: ServiceIndex = { ...t.index, service: (host) => (hashed.has(host) ? withOwnRule(t, own, host) : t.index.service(host)) };
  const replaced = new Map<string, Translated>();
  for (const service of t.services) {
    if (!scope.visible(service)) continue;
    const vs = t.index.virtualServiceFor(service.host);
    if (!hashed.has(service.host) && ![...routedHosts(vs, t.index)].some((h) => hashed.has(h))) continue;
    const cacheKey = `${flavour}|${service.host}|${key}`;
    let built = t.shared.ruleRoutes.get(cacheKey);
    if (built === undefined) {
      const mesh = view.service(service.host);
      if (mesh === undefined) continue;
      built = flavour === "outbound" ? outboundResources(mesh, view, service.address).routes : grpcClientResources(mesh, view).routes;
      t.shared.ruleRoutes.set(cacheKey, built);
    }
    for (const r of built) replaced.set(r.name, r);
  }
  return shared.map((r) => (r.type === ROUTE_CONFIGURATION ? (replaced.get(r.name) ?? r) : r));
}

/** Whether a rule asks for a consistent hash anywhere (top level, port level, subsets). */
function hasHash(spec: DestinationRuleSpec | undefined): boolean {
  const policies = [spec?.trafficPolicy, ...(spec?.subsets ?? []).map((s) => s.trafficPolicy)];
  return policies.some((p) => p?.loadBalancer?.consistentHash !== undefined || (p?.portLevelSettings ?? []).some((l) => l.loadBalancer?.consistentHash !== undefined));
}

/** The service of a host as the proxy sees it: with its own rule. */
function withOwnRule(t: MeshTranslation, own: readonly Own[], host: string): MeshService | undefined {
  const o = own.find((x) => x.service.host === host);
  return o === undefined ? t.index.service(host) : serviceWithRule(t, o);
}

function serviceWithRule(t: MeshTranslation, o: Own): MeshService {
  const mesh = t.index.service(o.service.host);
  if (mesh === undefined) throw new Error(`bug: no service ${o.service.host} in the index`);
  // Everything the service is (its addresses from gitmesh's DNS lookups included) but its rule.
  const service: { -readonly [K in keyof MeshService]: MeshService[K] } = { ...mesh };
  delete service.rule;
  delete service.ruleFrom;
  return { ...service, ...withRule(o.rule) };
}

/** A service's clusters and endpoints built with a rule (none: without one), once per translation. */
function ruleBackends(t: MeshTranslation, o: Own): ServiceBackends {
  const key = `${o.service.host}|${o.key}`;
  const cached = t.shared.ruleBackends.get(key);
  if (cached !== undefined) return cached;
  const service = serviceWithRule(t, o);
  const clusters = serviceClusters(service, meshMtls(t.model));
  const built: ServiceBackends = { clusters, grpcClusters: once(() => clusters.map(grpcCluster)), endpoints: serviceEndpoints(service) };
  t.shared.ruleBackends.set(key, built);
  return built;
}
