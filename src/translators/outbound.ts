// An Envoy sidecar's outbound side for one service: per service port, a listener on the service's
// loopback address (addresses.ts). HTTP-family ports go through the HTTP connection manager with
// the service port's routes over RDS; TCP and TLS ports through tcp_proxy, to the VirtualService's
// tcp route for the port or to the service port's cluster.
import type { ServicePort } from "../config/types.js";
import { pack, type Any } from "../envoy/index.js";
import type { FilterChain } from "../envoy/generated/envoy/config/listener/v3/FilterChain.js";
import type { HttpFilter } from "../envoy/generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpFilter.js";
import type { RouteContext } from "./routes-action.js";
import { outboundListenerName, outboundRouteName } from "./names.js";
import { httpRoutes, routeConfiguration } from "./routes.js";
import type { RouteSource } from "./routes-source.js";
import { CORS_FILTER, FAULT_FILTER } from "./routes-values.js";
import type { MeshService, ServiceIndex } from "./services.js";
import { tcpProxy } from "./tcp-proxy.js";
import { sniFilterChains, tlsInspector } from "./tls-routes.js";
import { translated, type TranslatedListener, type TranslatedRoute } from "./translated.js";

const HTTP_PROTOCOLS = new Set<ServicePort["protocol"]>(["HTTP", "HTTP2", "GRPC"]);

export function isHttpProtocol(protocol: ServicePort["protocol"]): boolean {
  return HTTP_PROTOCOLS.has(protocol);
}

/**
 * The HTTP filters of a sidecar's or gateway's outbound connection manager. The fault and CORS
 * filters must be in the chain for a route's per-filter config to apply; with no config of their
 * own they do nothing to other routes. The router is always last.
 */
export function outboundHttpFilters(): readonly HttpFilter[] {
  return (outboundFilters ??= [
    { name: FAULT_FILTER, typed_config: pack("envoy.extensions.filters.http.fault.v3.HTTPFault", {}) },
    { name: CORS_FILTER, typed_config: pack("envoy.extensions.filters.http.cors.v3.Cors", {}) },
    { name: "envoy.filters.http.router", typed_config: pack("envoy.extensions.filters.http.router.v3.Router", {}) },
  ]);
}

/** The filters above are constants: packed once, on first use (every listener and gateway server shares them). */
let outboundFilters: readonly HttpFilter[] | undefined;

/** An HTTP connection manager taking its routes over ADS. */
export function rdsConnectionManager(statPrefix: string, routeName: string, before: readonly HttpFilter[] = []): Any {
  return pack("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", {
    stat_prefix: statPrefix,
    codec_type: "AUTO",
    rds: { route_config_name: routeName, config_source: { ads: {}, resource_api_version: "V3" } },
    // `before`: a gateway's authentication and authorization (jwt.ts, rbac.ts), ahead of the rest.
    http_filters: [...before, ...outboundHttpFilters()],
  });
}

/** A service's outbound listeners (one per port) and the routes of its HTTP-family ports (for the client `source`: routes-source.ts). */
export function outboundResources(service: MeshService, index: ServiceIndex, address: string, source?: RouteSource): { listeners: TranslatedListener[]; routes: TranslatedRoute[] } {
  const listeners: TranslatedListener[] = [];
  const routes: TranslatedRoute[] = [];
  const vs = index.virtualServiceFor(service.host);
  for (const port of service.ports) {
    const name = outboundListenerName(address, port.number);
    let filter: { name: string; typed_config: Any };
    let sniChains: FilterChain[] = [];
    if (isHttpProtocol(port.protocol)) {
      const routeName = outboundRouteName(service.host, port.number);
      // The listener is the service's own, so its one virtual host takes any Host header.
      routes.push(routeConfiguration(routeName, [{ name: routeName, domains: ["*"], routes: httpRoutes(vs, { host: service.host, port: port.number }, index, source) }]));
      filter = { name: "envoy.filters.network.http_connection_manager", typed_config: rdsConnectionManager(`outbound_${name}`, routeName) };
    } else {
      const ctx: RouteContext = { host: service.host, port: port.number, namespace: vs?.namespace ?? service.namespace, index };
      filter = { name: "envoy.filters.network.tcp_proxy", typed_config: pack("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", tcpProxy(`outbound_${name}`, vs?.spec.tcp, ctx)) };
      if ((port.protocol === "TLS" || port.protocol === "HTTPS") && vs !== undefined) {
        // TLS from the application: its VirtualService's tls routes pick by SNI; the rest goes as above.
        const options = { statPrefix: `outbound_${name}`, chainName: (i: number) => `tls.${vs.namespace}.${vs.name}.${i}`, narrow: (sni: string) => sni, taken: new Set<string>(), tlsOnly: false, where: `VirtualService ${vs.namespace}/${vs.name}` };
        sniChains = sniFilterChains(vs.spec.tls ?? [], ctx, options, []);
      }
    }
    listeners.push(
      translated("envoy.config.listener.v3.Listener", name, {
        name,
        address: { socket_address: { address, port_value: port.number } },
        traffic_direction: "OUTBOUND",
        ...(sniChains.length > 0 ? { listener_filters: [tlsInspector()] } : {}),
        filter_chains: [...sniChains, { filters: [filter] }],
      }),
    );
  }
  return { listeners, routes };
}
