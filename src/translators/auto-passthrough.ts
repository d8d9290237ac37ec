// A Gateway server with tls.mode AUTO_PASSTHROUGH (Istio's east-west gateways): TLS is not
// terminated, and no VirtualService is needed. The client names the service in its SNI, in
// Istio's form outbound_.PORT_.SUBSET_.HOST (the subset empty for the whole service), and the
// gateway sends the connection, still encrypted, to that service's endpoints: the client's mutual
// TLS ends at the workload's own sidecar. As Istio's gateways, one filter chain per service port
// and subset, chosen by server_names after the TLS inspector, each a tcp_proxy to a cluster named
// like the SNI (Istio's "SNI-DNAT" clusters) that takes the service cluster's endpoints (EDS
// service_name outbound|PORT|SUBSET|HOST) and adds no TLS of its own.
import type { MeshResource } from "../config/resources.js";
import { hostMatches } from "../config/resources.js";
import type { Server } from "../config/types.js";
import { pack, type Any } from "../envoy/index.js";
import type { FilterChain } from "../envoy/generated/envoy/config/listener/v3/FilterChain.js";
import { clusterDiscovery, serviceClusterKeys } from "./endpoints.js";
import { autoPassthroughClusterName } from "./names.js";
import type { MeshService, ServiceIndex } from "./services.js";
import { translated, type Translated } from "./translated.js";

export interface AutoPassthroughServer {
  readonly gateway: MeshResource<"Gateway">;
  readonly server: Server;
}

export interface AutoPassthrough {
  readonly chains: FilterChain[];
  /** The SNI-named clusters the chains send to (several servers may name one: callers dedupe by name). */
  readonly clusters: Translated<"envoy.config.cluster.v3.Cluster">[];
}

/**
 * The chains and clusters of one AUTO_PASSTHROUGH server on `port`: every service a server host
 * covers ("ns/host": services of that namespace, "." the gateway's), each of its ports and subsets.
 * SNI names in `taken` (a PASSTHROUGH server's) are left to their first owner; the names used here are added.
 */
export function autoPassthrough(
  s: AutoPassthroughServer,
  port: number,
  index: ServiceIndex,
  taken: Set<string>,
  tcpSecurity: readonly { name: string; typed_config: Any }[],
  notes: string[],
): AutoPassthrough {
  const chains: FilterChain[] = [];
  const clusters: Translated<"envoy.config.cluster.v3.Cluster">[] = [];
  for (const service of index.services.filter((svc) => s.server.hosts.some((h) => covers(h, s.gateway, svc)))) {
    for (const key of serviceClusterKeys(service)) {
      const sni = autoPassthroughClusterName(service.host, key.port.number, key.subset?.name);
      if (clusterDiscovery(service, key) !== "EDS") {
        // Endpoints Envoy resolves by name are in the cluster, not in a ClusterLoadAssignment to share.
        notes.push(`Gateway ${id(s.gateway)} AUTO_PASSTHROUGH (port ${port}): ${sni} is left out: ${service.host} is resolved by DNS; only services with resolution STATIC or NONE, or DNS without endpoints (resolved by gitmesh), are passed through`);
        continue;
      }
      if (taken.has(sni)) continue;
      taken.add(sni);
      chains.push({
        name: `auto_passthrough.${port}.${sni}`,
        filter_chain_match: { transport_protocol: "tls", server_names: [sni] },
        filters: [...tcpSecurity, { name: "envoy.filters.network.tcp_proxy", typed_config: pack("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", { stat_prefix: sni, cluster: sni }) }],
      });
      clusters.push(
        translated("envoy.config.cluster.v3.Cluster", sni, {
          name: sni,
          type: "EDS",
          eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" }, service_name: key.name },
          connect_timeout: { seconds: 10, nanos: 0 },
        }),
      );
    }
  }
  if (chains.length === 0) notes.push(`Gateway ${id(s.gateway)} AUTO_PASSTHROUGH (port ${port}): no service matches its hosts ${s.server.hosts.join(", ")}; the server is left out`);
  return { chains, clusters };
}

/** Whether a server host ("ns/name" or "name") covers a service: its name, and its namespace when one is given. */
function covers(serverHost: string, gateway: MeshResource<"Gateway">, service: MeshService): boolean {
  const slash = serverHost.indexOf("/");
  const ns = slash < 0 ? "*" : serverHost.slice(0, slash);
  const name = serverHost.slice(slash + 1);
  const inNamespace = ns === "*" || (ns === "." ? service.namespace === gateway.namespace : service.namespace === ns);
  return inNamespace && hostMatches(name, service.host);
}

function id(r: { readonly namespace: string; readonly name: string }): string {
  return `${r.namespace}/${r.name}`;
}
