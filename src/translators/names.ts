// Every Envoy resource name gitmesh makes is made here, so the translators, the snapshot
// consistency check and operators reading Envoy's admin pages all agree on them.

/**
 * A cluster: outbound|PORT|SUBSET|HOST, Istio's format, which operators already recognise in
 * Envoy's stats and config dumps. The subset is empty for the whole service.
 */
export function clusterName(host: string, port: number, subset = ""): string {
  return `outbound|${port}|${subset}|${host}`;
}

/**
 * The SNI a client names a service by at an AUTO_PASSTHROUGH gateway, and the name of the gateway's
 * cluster for it: Istio's outbound_.PORT_.SUBSET_.HOST (outbound_.8080_._.HOST for the whole service).
 */
export function autoPassthroughClusterName(host: string, port: number, subset = ""): string {
  return `outbound_.${port}_.${subset}_.${host}`;
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

/**
 * An Envoy sidecar's outbound listener for one service port: Istio's ADDRESS_PORT form, where the
 * address is the service's loopback address (see addresses.ts).
 */
export function outboundListenerName(address: string, port: number): string {
  return `${address}_${port}`;
}

/** The RouteConfiguration of a service port for Envoy sidecars: the host and port, as gRPC's. */
export function outboundRouteName(host: string, port: number): string {
  return `${host}:${port}`;
}

/**
 * An Envoy sidecar's inbound listener and the cluster that reaches the local application, for
 * the port the workload serves: Istio's inbound|PORT|| cluster form.
 */
export function inboundListenerName(port: number): string {
  return `inbound|${port}`;
}

export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}

/** A gateway's listener on a port (all addresses) and the RouteConfiguration of its plaintext HTTP servers. */
export function gatewayListenerName(port: number): string {
  return `0.0.0.0_${port}`;
}

export function gatewayRouteName(port: number): string {
  return `http.${port}`;
}

/** The RouteConfiguration of one HTTPS server of a Gateway (each has its own TLS filter chain). */
export function gatewayServerRouteName(port: number, gateway: { namespace: string; name: string }, index: number): string {
  return `https.${port}.${gateway.namespace}.${gateway.name}.${index}`;
}
