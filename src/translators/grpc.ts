import { pack } from "../envoy/index.js";
import { grpcListenerName, grpcRouteName } from "./names.js";
import type { MeshService, ServiceIndex } from "./services.js";
import { grpcRoutes } from "./grpc-compat.js";
import { httpRoutes, routeConfiguration } from "./routes.js";
import type { RouteSource } from "./routes-source.js";
import { translated, type TranslatedListener, type TranslatedRoute } from "./translated.js";

const HTTP_PORT_PROTOCOLS = new Set(["HTTP", "HTTP2", "GRPC"]);

/**
 * What proxyless gRPC clients receive for one service: per HTTP-family port, the Listener
 * "HOST:PORT" (and "HOST" when the service has one port), each an api_listener whose routes come
 * over RDS as the RouteConfiguration "HOST:PORT" (for the client `source`: routes-source.ts).
 */
export function grpcClientResources(service: MeshService, index: ServiceIndex, source?: RouteSource): { listeners: TranslatedListener[]; routes: TranslatedRoute[] } {
  const ports = service.ports.filter((p) => HTTP_PORT_PROTOCOLS.has(p.protocol ?? "HTTP"));
  const vs = index.virtualServiceFor(service.host);
  const listeners: TranslatedListener[] = [];
  const routes: TranslatedRoute[] = [];
  for (const port of ports) {
    const routeName = grpcRouteName(service.host, port.number);
    const names = [grpcListenerName(service.host, port.number)];
    if (service.ports.length === 1) names.push(grpcListenerName(service.host, undefined));
    for (const name of names) listeners.push(apiListener(name, routeName));
    const domains = [service.host, `${service.host}:${port.number}`];
    const forGrpc = grpcRoutes(httpRoutes(vs, { host: service.host, port: port.number }, index, source));
    routes.push(routeConfiguration(routeName, [{ name: routeName, domains, routes: forGrpc }]));
  }
  return { listeners, routes };
}

function apiListener(name: string, routeName: string): TranslatedListener {
  return translated("envoy.config.listener.v3.Listener", name, {
    name,
    api_listener: {
      api_listener: pack("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", {
        stat_prefix: name,
        rds: { route_config_name: routeName, config_source: { ads: {}, resource_api_version: "V3" } },
        // The fault filter must be in the chain for a route's fault config to apply; the router
        // is always last.
        http_filters: [
          { name: "envoy.filters.http.fault", typed_config: pack("envoy.extensions.filters.http.fault.v3.HTTPFault", {}) },
          { name: "envoy.filters.http.router", typed_config: pack("envoy.extensions.filters.http.router.v3.Router", {}) },
        ],
      }),
    },
  });
}
