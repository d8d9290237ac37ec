// What proxyless gRPC clients can use differs from Envoy. The mesh's clusters and routes are
// translated for Envoy; these functions derive the gRPC variant of each, made once per source
// object (by the service backends that own it, or the translation memo), so a variant is one
// object shared by every gRPC proxy and encoded once.
import { sameItems } from "../common/arrays.js";
import { pack, type Cluster } from "../envoy/index.js";
import type { Route } from "../envoy/generated/envoy/config/route/v3/Route.js";
import type { VirtualHost } from "../envoy/generated/envoy/config/route/v3/VirtualHost.js";
import type { GrpcClientClass } from "./grpc-clients.js";
import { grpcHeaderRoutes } from "./grpc-headers.js";
import { clusterName } from "./names.js";
import { FAULT_FILTER, ZERO_DURATION } from "./routes-values.js";
import { grpcIstioMutual, withTransportSocket, type TransportSocket } from "./tls-contexts.js";
import type { TranslationMemo } from "./mesh.js";
import type { TranslatedCluster, TranslatedRoute } from "./translated.js";

/** Load balancers gRPC's xDS client implements (others are NACKed). */
const GRPC_LB_POLICIES = new Set(["ROUND_ROBIN", "RING_HASH"]);

/**
 * The cluster as a gRPC client takes it: an unsupported load balancer falls back to round robin
 * (as Istio's proxyless gRPC does), and DNS resolution becomes LOGICAL_DNS on the first address,
 * the one DNS cluster type gRPC implements. Outlier detection is given as the detector gRPC
 * implements (failurePercentage). A DestinationRule's ISTIO_MUTUAL becomes the
 * certificate provider form gRPC reads (tls-contexts.ts); automatic mTLS and file-based TLS are
 * left out, so the client uses its fallback credentials (Istio's proxyless gRPC does the same:
 * it cannot tell whether the client was built with xDS credentials, nor the server). Made once
 * per cluster by its owner (ServiceBackends.grpcClusters, memoised with the backends), so each
 * variant is encoded once.
 */
export function grpcCluster(c: TranslatedCluster): TranslatedCluster {
  const m = c.message;
  const lb = m.lb_policy === undefined || GRPC_LB_POLICIES.has(String(m.lb_policy)) ? {} : { lb_policy: "ROUND_ROBIN" as const, least_request_lb_config: null };
  let dns = {};
  if (m.type === "STRICT_DNS") {
    const first = m.load_assignment?.endpoints?.[0];
    const endpoint = first?.lb_endpoints?.[0];
    dns = {
      type: "LOGICAL_DNS" as const,
      ...(m.load_assignment === undefined || m.load_assignment === null || first === undefined || endpoint === undefined
        ? {}
        : { load_assignment: { ...m.load_assignment, endpoints: [{ ...first, lb_endpoints: [endpoint] }] } }),
    };
  }
  const security = c.upstream;
  const tls: TransportSocket | undefined = security?.t === "istio-mutual" && !security.auto ? grpcIstioMutual(security.sans) : undefined;
  const sameTls = tls === undefined && m.transport_socket === undefined;
  const outlier = failurePercentage(m.outlier_detection ?? undefined);
  const od = outlier === undefined ? {} : { outlier_detection: outlier };
  const same = Object.keys(lb).length === 0 && Object.keys(dns).length === 0 && sameTls && outlier === undefined;
  return same ? c : { ...c, message: withTransportSocket({ ...m, ...lb, ...dns, ...od }, tls) };
}

type OutlierDetection = NonNullable<Cluster["outlier_detection"]>;

/** The failure percentage above which gRPC ejects a host (Envoy's default for this detector). */
export const GRPC_FAILURE_PERCENTAGE_THRESHOLD = 85;

/**
 * gRPC's clients implement only the success-rate and failure-percentage detectors of outlier
 * detection (gRFC A50), not Istio's consecutive-error ones, which they ignore. So a gRPC client
 * gets failure-percentage ejection in their place: a host with at least N calls in an interval
 * (N: the smallest enforced consecutive-error count, consecutive5xxErrors or
 * consecutiveGatewayErrors), more than 85% of them failed, is ejected; from one host up (Istio's
 * consecutive errors need no minimum of hosts). gRPC counts any status but OK as a failure.
 * interval, baseEjectionTime and maxEjectionPercent apply as they are. Envoy's defaults are
 * spelled out: consecutive_5xx 5 enforced 100%, gateway failures 5 enforced 0%.
 */
function failurePercentage(od: OutlierDetection | undefined): OutlierDetection | undefined {
  if (od === undefined) return undefined;
  const counts = [
    { count: od.consecutive_5xx?.value ?? 5, enforcing: od.enforcing_consecutive_5xx?.value ?? 100 },
    { count: od.consecutive_gateway_failure?.value ?? 5, enforcing: od.enforcing_consecutive_gateway_failure?.value ?? 0 },
  ].filter((c) => c.count > 0 && c.enforcing > 0);
  if (counts.length === 0) return undefined;
  return {
    ...od,
    failure_percentage_threshold: { value: GRPC_FAILURE_PERCENTAGE_THRESHOLD },
    enforcing_failure_percentage: { value: 100 },
    failure_percentage_minimum_hosts: { value: 1 },
    failure_percentage_request_volume: { value: Math.min(...counts.map((c) => c.count)) },
  };
}

/**
 * The gRPC cluster for a client of this class (grpc-clients.ts): ring hash as round robin where it
 * crashes. The memo keeps one variant per cluster object, so it is encoded once.
 */
export function grpcClusterFor(c: TranslatedCluster, cls: GrpcClientClass, memo: TranslationMemo): TranslatedCluster {
  if (cls === "standard" || c.message.lb_policy !== "RING_HASH") return c;
  return memo.variant(c, cls, () => {
    const message: Cluster = { ...c.message, lb_policy: "ROUND_ROBIN" };
    delete message.ring_hash_lb_config;
    return { ...c, message };
  });
}

/** The route old C-core gets last in a virtual host without a catch-all (grpcRoutesFor). */
export const NO_MATCH_ROUTE = "gitmesh-no-route-matched";

const GRPC_UNAVAILABLE = 14;

/**
 * The route configuration for a gRPC client of this class (grpc-clients.ts). C-core before 1.53
 * crashes (SIGSEGV) on a call no route matches, where the others fail it UNAVAILABLE: each of its
 * virtual hosts without a catch-all gets one last, NO_MATCH_ROUTE, whose fault filter aborts the
 * call with UNAVAILABLE before any pick (the cluster it names, one the host already routes to,
 * is never called). Memoised: one object per route configuration and class, encoded once. Taking
 * an already extended configuration gives it back unchanged.
 */
export function grpcRoutesFor(r: TranslatedRoute, cls: GrpcClientClass, memo: TranslationMemo): TranslatedRoute {
  if (cls === "standard") return r;
  return memo.variant(r, cls, () => {
    const hosts = r.message.virtual_hosts ?? [];
    const extended = hosts.map(withNoMatchRoute);
    return sameItems(extended, hosts) ? r : { ...r, message: { ...r.message, virtual_hosts: extended } };
  });
}

function withNoMatchRoute(vh: VirtualHost): VirtualHost {
  const routes = vh.routes ?? [];
  if (routes.some(matchesEverything)) return vh;
  const cluster = routes.map((x) => x.route?.cluster ?? x.route?.weighted_clusters?.clusters?.[0]?.name).find((c) => c !== undefined && c !== "") ?? serviceCluster(vh);
  if (cluster === undefined) return vh;
  const abort = pack("envoy.extensions.filters.http.fault.v3.HTTPFault", { abort: { grpc_status: GRPC_UNAVAILABLE, percentage: { numerator: 100, denominator: "HUNDRED" } } });
  return { ...vh, routes: [...routes, { name: NO_MATCH_ROUTE, match: { prefix: "/" }, route: { cluster }, typed_per_filter_config: { [FAULT_FILTER]: abort } }] };
}

/** Whether a route matches every RPC (conservative: a catch-all it cannot tell only adds an unreachable route). */
function matchesEverything(r: Route): boolean {
  const m = r.match;
  if (m === undefined || m === null || (m.prefix !== "" && m.prefix !== "/")) return false;
  return [m.headers, m.query_parameters, m.dynamic_metadata].every((l) => (l ?? []).length === 0) && (m.runtime_fraction === undefined || m.runtime_fraction === null);
}

/** The whole service's cluster, for a virtual host with no route at all: its domains are HOST and HOST:PORT (grpc.ts). */
function serviceCluster(vh: VirtualHost): string | undefined {
  const withPort = (vh.domains ?? []).map((d) => /^(.+):([0-9]+)$/.exec(d)).find((m) => m !== null);
  return withPort === undefined || withPort === null ? undefined : clusterName(withPort[1] ?? "", Number(withPort[2]));
}

/**
 * The routes as a gRPC client can honour them. An RPC is always a POST without a query string:
 * a route that needs another method or a query parameter can never match one (gRPC's client would
 * ignore those conditions and match too much), and a POST condition is always true (gRPC's client
 * cannot read :method, so it is dropped). A redirect or a direct response means nothing to an RPC,
 * and gRPC refuses a route configuration holding one (grpc-js: "unsupported action"): the route is
 * left out, and grpc-notes.ts says so. Header matchers are written as every client version reads
 * them (grpc-headers.ts). gRPC reads a route's timeout from max_stream_duration (gRFC A31), not
 * from `timeout`: it caps the grpc-timeout header (0: the deadline as the caller set it).
 */
export function grpcRoutes(routes: readonly Route[]): Route[] {
  const out: Route[] = [];
  for (const r of routes) {
    if (!forwards(r)) continue;
    const match = r.match;
    if ((match?.query_parameters ?? []).length > 0) continue;
    // A JWT claim condition (routes-match.ts): gRPC verifies no token, so it can never hold.
    if ((match?.dynamic_metadata ?? []).length > 0) continue;
    const headers = match?.headers ?? [];
    const method = headers.find((h) => h.name === ":method");
    if (method !== undefined && (method.string_match?.exact !== "POST" || method.invert_match === true)) continue;
    out.push(...grpcHeaderRoutes(withTotalWeight(withGrpcTimeout(method === undefined ? r : { ...r, match: { ...match, headers: headers.filter((h) => h !== method) } }))));
  }
  return out;
}

/** Whether a route forwards (gRPC clients take only these): not a redirect or a direct response. */
export function forwards(r: Route): boolean {
  return (r.redirect === undefined || r.redirect === null) && (r.direct_response === undefined || r.direct_response === null);
}

/**
 * Weights are relative (Istio's 49 + 50 splits 49:50), and Envoy takes them so. gRPC C-core before
 * 1.53 still holds them to total_weight, 100 when unset, and rejects the whole route configuration
 * otherwise (seen with Python's grpcio 1.51): a total other than 100 is stated. Envoy deprecates
 * the field, so only gRPC clients get it.
 */
function withTotalWeight(r: Route): Route {
  const weighted = r.route?.weighted_clusters;
  if (r.route === undefined || r.route === null || weighted === undefined || weighted === null) return r;
  const total = (weighted.clusters ?? []).reduce((sum, c) => sum + Number(c.weight?.value ?? 0), 0);
  return total === 100 ? r : { ...r, route: { ...r.route, weighted_clusters: { ...weighted, total_weight: { value: total } } } };
}

function withGrpcTimeout(r: Route): Route {
  const action = r.route;
  if (action === undefined || action === null) return r;
  return { ...r, route: { ...action, max_stream_duration: { grpc_timeout_header_max: action.timeout ?? ZERO_DURATION } } };
}
