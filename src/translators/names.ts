// Every Envoy resource name gitmesh makes is made here, so the translators, the snapshot
// consistency check and operators reading Envoy's admin pages all agree on them.

/**
 * A cluster: outbound|PORT|SUBSET|HOST, Istio's format, which operators already recognise in
 * Envoy's stats and config dumps. The subset is empty for the whole service.
 */
export function clusterName(host: string, port: number, subset = ""): string {
  return `outbound|${port}|${subset}|${host}`;
}

/** The ClusterLoadAssignment of a cluster has the cluster's name (EDS service_name left empty). */
export function endpointsName(cluster: string): string {
  return cluster;
}

/**
 * What a proxyless gRPC client asks for: the target xds:///HOST:PORT (or xds:///HOST when the
 * service has exactly one port) names the Listener.
 */
export function grpcListenerName(host: string, port: number | undefined): string {
  return port === undefined ? host : `${host}:${port}`;
}

/** The RouteConfiguration a proxyless listener names over RDS: one per service port. */
export function grpcRouteName(host: string, port: number): string {
  return `${host}:${port}`;
}
