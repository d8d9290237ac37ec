// tcp_proxy for TCP, TLS and HTTPS traffic: to a VirtualService's tcp or tls route, split by
// weight, or to the service port's cluster.
import type { RouteDestination, TCPRoute } from "../config/types.js";
import type { TcpProxy } from "../envoy/index.js";
import { clusterName } from "./names.js";
import { destinationCluster, type RouteContext } from "./routes-action.js";

/**
 * tcp_proxy to the first tcp route for this port (a route without a port match applies to every
 * port), split by weight when it has several destinations; without one, the service port's cluster.
 */
export function tcpProxy(statPrefix: string, tcp: readonly TCPRoute[] | undefined, ctx: RouteContext): TcpProxy {
  const route = (tcp ?? []).find((r) => (r.match ?? []).length === 0 || (r.match ?? []).some((m) => m.port === undefined || m.port === ctx.port));
  return tcpProxyTo(statPrefix, route?.route ?? [], ctx);
}

/**
 * tcp_proxy to a route's destinations, split by weight when it has several (a weight of 0 takes
 * nothing, unless it is the only one); without any, the service port's cluster.
 */
export function tcpProxyTo(statPrefix: string, route: readonly RouteDestination[], ctx: RouteContext): TcpProxy {
  const destinations = route.filter((d) => route.length === 1 || (d.weight ?? 0) > 0);
  const [single] = destinations;
  if (single === undefined) return { stat_prefix: statPrefix, cluster: clusterName(ctx.host, ctx.port) };
  if (destinations.length === 1) return { stat_prefix: statPrefix, cluster: destinationCluster(single.destination, ctx).cluster };
  return {
    stat_prefix: statPrefix,
    weighted_clusters: { clusters: destinations.map((d) => ({ name: destinationCluster(d.destination, ctx).cluster, weight: d.weight ?? 0 })) },
  };
}
