// Where a service's traffic goes: the clusters a service has (one per port, and per port and
// DestinationRule subset), how each finds its endpoints, and the endpoints themselves, grouped by
// locality. EDS clusters get a ClusterLoadAssignment of the cluster's name; DNS clusters carry the
// same locality groups inline (clusters.ts). Pure and deterministic.
import { labelsMatch } from "../config/resources.js";
import { endpointAddressProblem, type Addressing } from "../config/serving.js";
import type { ServicePort, Subset } from "../config/types.js";
import type { ClusterLoadAssignment } from "../envoy/index.js";
import { clusterName, endpointsName } from "./names.js";
import { endpointPort, type MeshService, type ServiceEndpoint } from "./services.js";
import { sortTranslated, translated, type TranslatedEndpoints } from "./translated.js";

export type LocalityLbEndpoints = NonNullable<ClusterLoadAssignment["endpoints"]>[number];

/** How a cluster finds its endpoints (Envoy's discovery type). */
export type Discovery = "EDS" | "STRICT_DNS" | "LOGICAL_DNS";

/** One cluster of a service: a port, and a subset or the whole service. */
export interface ServiceCluster {
  readonly name: string;
  readonly port: ServicePort;
  /** Absent: the whole service (subset "" in the name). */
  readonly subset?: Subset;
}

const UINT32_MAX = 4_294_967_295;

/** The ServiceEntry's resolution; NONE when unset, as in Istio. */
export function resolutionOf(service: MeshService): "STATIC" | "DNS" | "DNS_ROUND_ROBIN" | "NONE" {
  return service.entry.spec.resolution ?? "NONE";
}

/** The service's clusters: every port, and every port with every subset of its DestinationRule; sorted by name. */
export function serviceClusterKeys(service: MeshService): ServiceCluster[] {
  const out: ServiceCluster[] = [];
  const subsets = service.rule?.spec.subsets ?? [];
  for (const port of service.ports) {
    out.push({ name: clusterName(service.host, port.number), port });
    for (const subset of subsets) out.push({ name: clusterName(service.host, port.number, subset.name), port, subset });
  }
  return out.sort((a, b) => compare(a.name, b.name));
}

/**
 * The endpoints a cluster may use: the service's, narrowed to a subset's labels. A DNS service
 * that lists no endpoints and selects no workloads has the addresses gitmesh resolved its host to
 * (services.ts, gitmeshResolves): Istio's sidecars resolve the host themselves, which gitmesh's
 * cannot.
 */
export function clusterEndpoints(service: MeshService, cluster: ServiceCluster): readonly ServiceEndpoint[] {
  const endpoints = service.lookup === undefined ? service.endpoints : (service.lookup.addresses ?? []).map((address) => ({ address, ports: {}, labels: {} }));
  const labels = cluster.subset?.labels;
  return labels === undefined ? endpoints : endpoints.filter((e) => labelsMatch(labels, e.labels));
}

/**
 * STATIC and NONE: EDS (NONE without endpoints for a named host is resolved by gitmesh, the
 * original destination without interception; with endpoints, served from them). DNS: STRICT_DNS. DNS_ROUND_ROBIN: LOGICAL_DNS, which Envoy accepts only
 * with exactly one endpoint; when a cluster has none usable (a subset selecting nothing, say) it
 * is EDS with an empty assignment instead, so it is accepted and fails fast. A host gitmesh
 * resolves itself: EDS with the addresses it found.
 */
export function clusterDiscovery(service: MeshService, cluster: ServiceCluster): Discovery {
  if (service.lookup !== undefined) return "EDS"; // addresses gitmesh resolved
  switch (resolutionOf(service)) {
    case "DNS":
      return "STRICT_DNS";
    case "DNS_ROUND_ROBIN":
      return localityLbEndpoints(clusterEndpoints(service, cluster), cluster.port, "dns").endpoints.length === 0 ? "EDS" : "LOGICAL_DNS";
    case "STATIC":
    case "NONE":
      return "EDS";
  }
}

/** An endpoint a cluster could not use, and why. */
export interface SkippedEndpoint {
  readonly address: string;
  /** Says what happened to it, e.g. "is not an IP address, ...; it is left out". */
  readonly reason: string;
}

export interface Localities {
  /** Sorted by locality (region/zone/subzone), endpoints by address then port. */
  readonly endpoints: LocalityLbEndpoints[];
  readonly skipped: SkippedEndpoint[];
}

/**
 * Endpoints grouped by locality. `addressing` "ip" is for EDS, where Envoy takes only IP addresses
 * (or unix:// paths); "dns" is for DNS clusters, where an address is a name to resolve. Each
 * endpoint weighs its weight (0 or unset: 1); a locality weighs the sum of its endpoints, which
 * proxyless gRPC needs (it drops localities without a weight) and which gives Envoy the same
 * split when locality-weighted balancing is on. An address:port listed twice is used once (gRPC
 * rejects duplicates).
 */
export function localityLbEndpoints(endpoints: readonly ServiceEndpoint[], port: ServicePort, addressing: Addressing): Localities {
  interface Entry {
    readonly locality: string;
    readonly address: string;
    readonly port: number;
    readonly weight: number;
    readonly lb: NonNullable<LocalityLbEndpoints["lb_endpoints"]>[number];
  }
  const skipped: SkippedEndpoint[] = [];
  const entries: Entry[] = [];
  for (const e of endpoints) {
    const weight = Math.min(e.weight === undefined || e.weight === 0 ? 1 : e.weight, UINT32_MAX);
    const locality = e.locality ?? "";
    const lbWeight = { load_balancing_weight: { value: weight } };
    // The same decision validation reports (GM0321).
    const problem = endpointAddressProblem(e.address, addressing);
    if (problem !== undefined) {
      skipped.push({ address: e.address, reason: problem });
      continue;
    }
    if (e.address.startsWith("unix://")) {
      const path = e.address.slice("unix://".length);
      entries.push({ locality, address: e.address, port: 0, weight, lb: { endpoint: { address: { pipe: { path } } }, ...lbWeight } });
      continue;
    }
    const p = endpointPort(e, port);
    entries.push({
      locality,
      address: e.address,
      port: p,
      weight,
      lb: { endpoint: { address: { socket_address: { address: e.address, port_value: p } } }, ...lbWeight },
    });
  }
  entries.sort((a, b) => compare(a.address, b.address) || a.port - b.port || compare(a.locality, b.locality) || a.weight - b.weight);
  const seen = new Set<string>();
  const byLocality = new Map<string, Entry[]>();
  for (const entry of entries) {
    const key = entry.port === 0 ? entry.address : `${entry.address}:${entry.port}`;
    if (seen.has(key)) {
      skipped.push({ address: key, reason: "is listed more than once; the first (by locality, then weight) is used" });
      continue;
    }
    seen.add(key);
    const group = byLocality.get(entry.locality);
    if (group === undefined) byLocality.set(entry.locality, [entry]);
    else group.push(entry);
  }
  const out: LocalityLbEndpoints[] = [...byLocality.keys()].sort(compare).map((locality) => {
    const group = byLocality.get(locality) ?? [];
    const total = group.reduce((sum, e) => sum + e.weight, 0);
    return {
      locality: localityOf(locality),
      lb_endpoints: group.map((e) => e.lb),
      load_balancing_weight: { value: Math.min(total, UINT32_MAX) },
    };
  });
  return { endpoints: out, skipped };
}

/** A ClusterLoadAssignment for every EDS cluster of the service, endpoints or not; sorted by name. */
export function serviceEndpoints(service: MeshService): TranslatedEndpoints[] {
  const out: TranslatedEndpoints[] = [];
  for (const cluster of serviceClusterKeys(service)) {
    if (clusterDiscovery(service, cluster) !== "EDS") continue;
    // A LOGICAL_DNS cluster that fell back to EDS has no usable endpoints: its assignment is empty.
    const endpoints = resolutionOf(service) === "DNS_ROUND_ROBIN" && service.lookup === undefined ? [] : localityLbEndpoints(clusterEndpoints(service, cluster), cluster.port, "ip").endpoints;
    const name = endpointsName(cluster.name);
    out.push(translated("envoy.config.endpoint.v3.ClusterLoadAssignment", name, { cluster_name: name, endpoints }));
  }
  return sortTranslated(out);
}

/**
 * For render, which does not resolve: a note per service among `clusterNames` (what the proxy
 * receives) whose endpoints come from gitmesh's own DNS lookups at serve time.
 */
export function unresolvedLookupNotes(services: readonly MeshService[], clusterNames: ReadonlySet<string>): string[] {
  return services
    .filter((s) => s.lookup !== undefined && s.lookup.addresses === undefined && serviceClusterKeys(s).some((c) => clusterNames.has(c.name)))
    .map((s) => `${s.host}: its endpoints come from gitmesh's own DNS lookups of ${s.host} while it serves (the DNS servers of gitmesh's /etc/resolv.conf, not /etc/hosts); render does not resolve, so it shows none`);
}

/** "region/zone/subzone" as an Envoy Locality; "" is the empty locality (gRPC needs it present). */
function localityOf(text: string): NonNullable<LocalityLbEndpoints["locality"]> {
  const [region, zone, subZone] = text === "" ? [] : text.split("/");
  return {
    ...(region === undefined ? {} : { region }),
    ...(zone === undefined ? {} : { zone }),
    ...(subZone === undefined ? {} : { sub_zone: subZone }),
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
