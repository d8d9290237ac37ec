// A VirtualService's http routes as Envoy routes, and the RouteConfiguration that holds them.
// Pure and deterministic. The mapping is Istio's (pilot/pkg/networking/core/route/route.go), so
// a mesh moved from Istio behaves the same; where gitmesh departs from it, the comment says why.
import type { HTTPMatchRequest, HTTPRoute } from "../config/types.js";
import type { MeshResource } from "../config/resources.js";
import type { Any } from "../envoy/index.js";
import type { Route } from "../envoy/generated/envoy/config/route/v3/Route.js";
import { defaultAction, directResponseAction, forwardAction, redirectAction, type RouteContext } from "./routes-action.js";
import { isCatchAll, MATCH_ALL, routeMatch } from "./routes-match.js";
import { matchExists, MESH_SITE, type RouteSite, type RouteSource } from "./routes-source.js";
import { compare, concatMutations, CORS_FILTER, corsConfig, FAULT_FILTER, faultConfig, headerMutations } from "./routes-values.js";
import type { ServiceIndex } from "./services.js";
import { translated, type TranslatedRoute } from "./translated.js";

/** The name of the route a service without a VirtualService gets (Istio's). */
export const DEFAULT_ROUTE_NAME = "default";

/**
 * The routes of the virtual host for traffic to service.host:service.port, in VirtualService
 * order. Each http route gives one Envoy route per match (none: one matching everything); a match
 * for another port gives none. Translation stops after a route that matches every request (as in
 * Istio: nothing after it could match). Without a VirtualService, or when none of its http routes
 * applies to this port, the one default route: everything to the service port's cluster.
 * `source`: the client proxy the routes are for; a match with sourceLabels or sourceNamespace
 * exists only for the clients it names, and a match naming gateways only at those (`site`: "mesh"
 * or the gateway the routes are for); a route none of whose matches exists is left out (Istio's
 * sourceMatchHTTP; routes-source.ts).
 */
export function httpRoutes(vs: MeshResource<"VirtualService"> | undefined, service: { host: string; port: number }, index: ServiceIndex, source?: RouteSource): Route[] {
  const out = virtualServiceRoutes(vs, service, index, source);
  return out.length > 0 ? out : [defaultRoute({ host: service.host, port: service.port, namespace: vs?.namespace ?? "default", index })];
}

/** httpRoutes without the default route: none when no http route applies (a gateway merges several VirtualServices' routes). */
export function virtualServiceRoutes(
  vs: MeshResource<"VirtualService"> | undefined,
  service: { host: string; port: number },
  index: ServiceIndex,
  source?: RouteSource,
  site: RouteSite = MESH_SITE,
): Route[] {
  const ctx: RouteContext = { host: service.host, port: service.port, namespace: vs?.namespace ?? "default", index };
  const out: Route[] = [];
  for (const http of vs?.spec.http ?? []) {
    const matches: readonly (HTTPMatchRequest | undefined)[] =
      (http.match ?? []).length === 0 ? [undefined] : (http.match ?? []).filter((m) => matchExists(m, vs?.namespace ?? "default", site, source));
    let catchAll = false;
    for (const m of matches) {
      if (m?.port !== undefined && m.port !== service.port) continue;
      const route = translateRoute(http, m, ctx);
      out.push(route);
      if (route.match !== undefined && route.match !== null && isCatchAll(route.match)) {
        catchAll = true;
        break;
      }
    }
    if (catchAll) break;
  }
  return out;
}

function defaultRoute(ctx: RouteContext): Route {
  return { name: DEFAULT_ROUTE_NAME, match: { ...MATCH_ALL }, route: defaultAction(ctx) };
}

/** One match of one http route. */
function translateRoute(http: HTTPRoute, m: HTTPMatchRequest | undefined, ctx: RouteContext): Route {
  const out: Route = {};
  const name = routeName(http.name, m?.name);
  if (name !== undefined) out.name = name;
  out.match = routeMatch(m);
  const own = headerMutations(http.headers);
  if (http.route !== undefined) {
    const { action, headers } = forwardAction(http, ctx);
    out.route = action;
    Object.assign(out, concatMutations(own, headers));
  } else if (http.redirect !== undefined) {
    out.redirect = redirectAction(http.redirect);
    Object.assign(out, own);
  } else if (http.directResponse !== undefined) {
    out.direct_response = directResponseAction(http.directResponse);
    Object.assign(out, own);
  } else {
    // config/virtual-services.ts replaces every delegating route by its delegate's routes.
    throw new Error(`bug: http route ${http.name ?? ""} still delegates to ${http.delegate.namespace ?? ""}/${http.delegate.name} when translated`);
  }
  const filters: Record<string, Any> = {};
  if (http.fault !== undefined) filters[FAULT_FILTER] = faultConfig(http.fault);
  if (http.corsPolicy !== undefined) filters[CORS_FILTER] = corsConfig(http.corsPolicy);
  if (Object.keys(filters).length > 0) out.typed_per_filter_config = filters;
  return out;
}

/**
 * Istio names a route after its http route, and a named match after both ("route.match"); a
 * named match of an unnamed route is named alone (Istio would write ".match").
 */
function routeName(route: string | undefined, match: string | undefined): string | undefined {
  if (match === undefined || match === "") return route === "" ? undefined : route;
  return route === undefined || route === "" ? match : `${route}.${match}`;
}

export interface VirtualHostRoutes {
  readonly name: string;
  readonly domains: readonly string[];
  readonly routes: readonly Route[];
  /** A gateway server's httpsRedirect: every plaintext request is answered with a redirect to https. */
  readonly requireTls?: boolean;
}

/**
 * The RouteConfiguration `name` with these virtual hosts, sorted by name. validate_clusters is
 * false: a route may name a cluster the proxy does not have yet, and Envoy must not refuse the
 * whole configuration for it (it answers 503 for that route). Envoy rejects a configuration in
 * which two virtual hosts share a name or a domain (compared case-insensitively), so building one
 * is a bug in the caller and throws.
 */
export function routeConfiguration(name: string, virtualHosts: readonly VirtualHostRoutes[]): TranslatedRoute {
  const names = new Set<string>();
  const domains = new Map<string, string>();
  for (const vh of virtualHosts) {
    if (names.has(vh.name)) throw new Error(`bug: route configuration ${name} has two virtual hosts named ${vh.name}`);
    names.add(vh.name);
    for (const d of vh.domains) {
      const other = domains.get(d.toLowerCase());
      if (other !== undefined) throw new Error(`bug: route configuration ${name}: domain ${d} is in virtual hosts ${other} and ${vh.name}`);
      domains.set(d.toLowerCase(), vh.name);
    }
  }
  const sorted = [...virtualHosts].sort((a, b) => compare(a.name, b.name));
  const body = largestDirectResponseBody(virtualHosts);
  return translated("envoy.config.route.v3.RouteConfiguration", name, {
    name,
    virtual_hosts: sorted.map((vh) => ({ name: vh.name, domains: [...vh.domains], routes: [...vh.routes], ...(vh.requireTls === true ? { require_tls: "ALL" as const } : {}) })),
    validate_clusters: { value: false },
    ...(body > ENVOY_DIRECT_RESPONSE_BODY_LIMIT ? { max_direct_response_body_size_bytes: { value: body } } : {}),
  });
}

/** Envoy's default limit on a direct response body; it refuses a RouteConfiguration with a larger one. */
const ENVOY_DIRECT_RESPONSE_BODY_LIMIT = 4096;

function largestDirectResponseBody(virtualHosts: readonly VirtualHostRoutes[]): number {
  let largest = 0;
  for (const vh of virtualHosts) {
    for (const r of vh.routes) {
      const body = r.direct_response?.body;
      const bytes = body?.inline_bytes;
      const size = body?.inline_string !== undefined ? Buffer.byteLength(body.inline_string) : typeof bytes === "string" ? Buffer.from(bytes, "base64").length : (bytes?.length ?? 0);
      largest = Math.max(largest, size);
    }
  }
  return largest;
}
