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
import { once, type MeshTranslation, type ServiceBackends, type ServiceTranslation } from "./mesh.js";
import { meshMtls } from "./mtls.js";
import { withRule, type MeshService } from "./services.js";
import type { Translated } from "./translated.js";

export interface RuleVariant {
  /** "" when the proxy takes every service's shared rule; else what sets it apart, for its layer key. */
  readonly key: string;
  /** The shared resources given, with the clusters and endpoints of the services whose rule differs built with the proxy's own. */
  resources(shared: readonly Translated[], flavour: "envoy" | GrpcClientClass): Translated[];
}

interface Own {
  readonly service: ServiceTranslation;
  readonly rule: ConsolidatedRule | undefined;
  readonly key: string;
}

const NONE: RuleVariant = { key: "", resources: (shared) => [...shared] };

/** The rules a proxy takes among the services visible to it (`scope`: its Sidecar scope's key and test). */
export function ruleVariant(t: MeshTranslation, proxy: ProxyView, scope: { readonly key: string; visible(s: ServiceTranslation): boolean }): RuleVariant {
  const own = ownRules(t, proxy, scope);
  if (own.length === 0) return NONE;
  return {
    key: own.map((o) => `|rule:${o.service.host}=${o.key}`).join(""),
    resources(shared, flavour) {
      const dropped = new Set<string>();
      const added: Translated[] = [];
      for (const o of own) {
        for (const r of [...o.service.clusters, ...o.service.endpoints]) dropped.add(`${r.type}|${r.name}`);
        const b = ruleBackends(t, o);
        const clusters = flavour === "envoy" ? b.clusters : flavour === "standard" ? b.grpcClusters() : b.grpcClusters().map((c) => grpcClusterFor(c, flavour));
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
function ownRules(t: MeshTranslation, proxy: ProxyView, scope: { readonly key: string; visible(s: ServiceTranslation): boolean }): readonly Own[] {
  const id = (o: object) => t.memo.id(o);
  const selecting = selectorRules(t, proxy.namespace)
    .filter((r) => labelsMatch(r.spec.workloadSelector?.matchLabels, proxy.labels))
    .map(id);
  const key = `${scope.key}|${proxy.namespace}|${selecting.join(",")}`;
  const cached = t.shared.ruleOwn.get(key);
  if (cached !== undefined) return cached;
  const own: Own[] = [];
  for (const service of t.services) {
    if (!scope.visible(service)) continue;
    const mesh = t.index.service(service.host);
    if (mesh === undefined) continue;
    const rule = t.index.rules.ruleFor(service.host, service.namespace, proxy);
    const ruleKey = fromKey(rule?.from, id);
    if (ruleKey !== fromKey(mesh.ruleFrom, id)) own.push({ service, rule, key: ruleKey });
  }
  t.shared.ruleOwn.set(key, own);
  return own;
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

/** A service's clusters and endpoints built with a rule (none: without one), once per translation. */
function ruleBackends(t: MeshTranslation, o: Own): ServiceBackends {
  const key = `${o.service.host}|${o.key}`;
  const cached = t.shared.ruleBackends.get(key);
  if (cached !== undefined) return cached;
  const mesh = t.index.service(o.service.host);
  if (mesh === undefined) throw new Error(`bug: no service ${o.service.host} in the index`);
  const service: MeshService = { host: mesh.host, namespace: mesh.namespace, entry: mesh.entry, ports: mesh.ports, endpoints: mesh.endpoints, workloads: mesh.workloads, ...withRule(o.rule) };
  const clusters = serviceClusters(service, meshMtls(t.model));
  const built: ServiceBackends = { clusters, grpcClusters: once(() => clusters.map(grpcCluster)), endpoints: serviceEndpoints(service) };
  t.shared.ruleBackends.set(key, built);
  return built;
}
