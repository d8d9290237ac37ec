// Istio's locality failover (localityLbSetting, on by default, applied with outlierDetection):
// a client proxy gets each failover cluster's endpoints in priorities by how close their locality
// is to its own (pilot/pkg/networking/core/loadbalancer: applyLocalityFailover). Envoy sends to
// priority 0 while it is healthy enough and spills to the next as outlier detection ejects hosts.
// The client's locality is its WorkloadEntry's. Assignments are rebuilt once per translation for
// each cluster and client locality, however many proxies share them.
import type { LocalityLbSetting } from "../config/types.js";
import type { LocalityLbEndpoints } from "../envoy/generated/envoy/config/endpoint/v3/LocalityLbEndpoints.js";
import type { ClusterLoadAssignment } from "../envoy/generated/envoy/config/endpoint/v3/ClusterLoadAssignment.js";
import { trafficPolicyFor } from "./clusters.js";
import { serviceClusterKeys } from "./endpoints.js";
import { endpointsName } from "./names.js";
import type { MeshTranslation, ServiceTranslation } from "./mesh.js";
import type { RuleVariant } from "./rule-variants.js";
import type { MeshService } from "./services.js";
import type { ProxyIdentity } from "./proxy.js";
import { translated, type Translated } from "./translated.js";

const ENDPOINTS = "envoy.config.endpoint.v3.ClusterLoadAssignment";

interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subZone: string;
}

/** The proxy's locality: its WorkloadEntry's (region/zone/subzone); none without one. */
export function proxyLocality(t: MeshTranslation, proxy: ProxyIdentity): string | undefined {
  if (proxy.workloadName === undefined) return undefined;
  const text = t.of.workloads.get(`${proxy.namespace}/${proxy.workloadName}`)?.spec.locality;
  return text === undefined || text === "" ? undefined : text;
}

function parse(text: string): Locality {
  const [region = "", zone = "", subZone = ""] = text.split("/");
  return { region, zone, subZone };
}

/**
 * Istio's priority of an endpoint locality for a client: 0 same subzone, 1 same zone, 2 same
 * region, 3 elsewhere; with failover for the client's region, 3 is the `to` region only and the
 * rest 4. Then renumbered without gaps, as Envoy requires.
 */
export function failoverPriorities(client: string, endpoints: readonly LocalityLbEndpoints[], setting: LocalityLbSetting | undefined): number[] {
  const me = parse(client);
  const raw = endpoints.map((e) => {
    const l = e.locality ?? {};
    const region = l.region ?? "";
    let p = region !== me.region ? 3 : (l.zone ?? "") !== me.zone ? 2 : (l.sub_zone ?? "") !== me.subZone ? 1 : 0;
    if (p === 3) {
      const rule = (setting?.failover ?? []).find((f) => f.from === me.region);
      if (rule !== undefined && region !== rule.to) p = 4;
    }
    return p;
  });
  const order = [...new Set(raw)].sort((a, b) => a - b);
  return raw.map((p) => order.indexOf(p));
}

export interface LocalityVariant {
  /** "" when the client gets the shared endpoints; else its locality, for its layer key. */
  readonly key: string;
  /** The shared resources given, with the client's own assignments in place of those that differ. */
  endpoints(shared: readonly Translated[]): Translated[];
}

/**
 * The endpoints a client gets among the services visible to it (`scope`: its Sidecar scope's key
 * and test). A service whose DestinationRule differs for the client (`rules`, rule-variants.ts) is
 * under failover by that rule's policy, with the endpoints built with it.
 */
export function localityVariant(t: MeshTranslation, proxy: ProxyIdentity, scope: { readonly key: string; visible(s: ServiceTranslation): boolean }, rules: RuleVariant): LocalityVariant {
  const client = proxyLocality(t, proxy);
  const none: LocalityVariant = { key: "", endpoints: (shared) => [...shared] };
  if (client === undefined) return none;
  const shared = inScope(t, `failover|${scope.key}`, () => failoverClusters(t).filter((c) => scope.visible(c.service)));
  // Once per scope and set of rules, however many proxies take them.
  const clusters =
    rules.key === ""
      ? shared
      : inScope(t, `failover|${scope.key}${rules.key}`, () => {
          const differing = rules.differing();
          const byOwnRule = new Set(differing.map((d) => d.service.host));
          return [...shared.filter((c) => !byOwnRule.has(c.service.host)), ...differing.flatMap((d) => failoverClustersOf(d.service, d.mesh, d.endpoints, d.key))];
        });
  if (clusters.length === 0) return none;
  return {
    key: `|locality:${client}`,
    endpoints(shared) {
      const replaced = new Map<string, Translated>();
      for (const c of clusters) {
        const own = ownAssignment(t, c, client);
        if (own !== undefined) replaced.set(own.name, own);
      }
      return shared.map((r) => (r.type === ENDPOINTS ? (replaced.get(r.name) ?? r) : r));
    },
  };
}

/** A cluster under locality failover: its service, assignment and setting, and the rule they come from ("": the shared one). */
export interface FailoverCluster {
  readonly service: ServiceTranslation;
  readonly assignment: Translated;
  readonly setting: LocalityLbSetting | undefined;
  readonly rule: string;
}

/** A list derived for one Sidecar scope, once per translation. */
export function inScope<T>(t: MeshTranslation, key: string, derive: () => readonly T[]): readonly T[] {
  const cached = t.shared.perScope.get(key) as readonly T[] | undefined;
  if (cached !== undefined) return cached;
  const built = derive();
  t.shared.perScope.set(key, built);
  return built;
}

/** The EDS clusters whose policy has outlier detection and does not turn locality failover off, once per translation. */
function failoverClusters(t: MeshTranslation): readonly FailoverCluster[] {
  const found = t.shared.failoverClusters;
  if (found !== undefined) return found;
  const out: FailoverCluster[] = [];
  for (const service of t.services) {
    const mesh = t.index.service(service.host);
    if (mesh !== undefined) out.push(...failoverClustersOf(service, mesh, service.endpoints, ""));
  }
  t.shared.failoverClusters = out;
  return out;
}

/** A service's clusters under failover by its rule's policy (`mesh`: the service with that rule; `endpoints`: built with it). */
function failoverClustersOf(service: ServiceTranslation, mesh: MeshService, endpoints: readonly Translated[], rule: string): FailoverCluster[] {
  const out: FailoverCluster[] = [];
  for (const key of serviceClusterKeys(mesh)) {
    const policy = trafficPolicyFor(mesh.rule?.spec, key.port.number, key.subset?.name);
    const setting = policy.loadBalancer?.localityLbSetting;
    if (policy.outlierDetection === undefined || setting?.enabled === false) continue;
    const assignment = endpoints.find((e) => e.name === endpointsName(key.name));
    if (assignment !== undefined) out.push({ service, assignment, setting, rule });
  }
  return out;
}

/** The cluster's assignment with priorities for a client locality; undefined when all are 0 (the shared one serves). */
function ownAssignment(t: MeshTranslation, c: FailoverCluster, client: string): Translated | undefined {
  const key = `${c.assignment.name}|${client}|${c.rule}`;
  if (t.shared.localityEndpoints.has(key)) return t.shared.localityEndpoints.get(key);
  const cla = c.assignment.message as ClusterLoadAssignment;
  const groups = cla.endpoints ?? [];
  const priorities = failoverPriorities(client, groups, c.setting);
  const built = priorities.every((p) => p === 0)
    ? undefined
    : translated(ENDPOINTS, c.assignment.name, { ...cla, endpoints: groups.map((g, i) => ((priorities[i] ?? 0) === 0 ? g : { ...g, priority: priorities[i] ?? 0 })) });
  t.shared.localityEndpoints.set(key, built);
  return built;
}
