// What a proxyless gRPC client ignores of what it is sent, or gets in another form, said per
// resource for `gitmesh render --proxy grpc` (docs/proxies.md has the same list for users).
// Read from the resources the client receives, so the notes are exactly about what it gets.
import { decodeMessage, type Cluster } from "../envoy/index.js";
import type { RouteConfiguration } from "../envoy/generated/envoy/config/route/v3/RouteConfiguration.js";
import type { Route } from "../envoy/generated/envoy/config/route/v3/Route.js";
import { NO_MATCH_AS_UNAVAILABLE, RING_HASH_AS_ROUND_ROBIN, type GrpcClientClass } from "./grpc-clients.js";
import { forwards, GRPC_FAILURE_PERCENTAGE_THRESHOLD, NO_MATCH_ROUTE } from "./grpc-compat.js";
import { DEFAULT_RETRY_ON } from "./routes-action.js";
import { CORS_FILTER } from "./routes-values.js";
import type { Translated, TranslatedCluster } from "./translated.js";

const UINT32_MAX = 4_294_967_295;
const HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const DEFAULT_CONNECT_TIMEOUT_S = 10;
/** The retry conditions gRPC clients read (gRFC A44); the others are HTTP's. */
const GRPC_RETRY_ON = new Set(["cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"]);

/**
 * The notes for what a gRPC client of class `cls` receives. `envoyClusters`: the same clusters as
 * Envoy gets them (by name), to say where the client's variant differs; `envoyRoutes`: the route
 * configurations Envoy sidecars get (named as the clients' are), to say which routes the clients
 * do not get at all.
 */
export function grpcNotes(resources: readonly Translated[], envoyClusters: ReadonlyMap<string, Translated>, cls: GrpcClientClass, envoyRoutes: readonly Translated[] = []): string[] {
  const notes: string[] = [];
  const served = new Set(resources.filter((r) => r.type === "envoy.config.route.v3.RouteConfiguration").map((r) => r.name));
  for (const r of envoyRoutes) {
    if (r.type === "envoy.config.route.v3.RouteConfiguration" && served.has(r.name)) notes.push(...leftOutRoutes(r.name, r.message as RouteConfiguration));
  }
  for (const r of resources) {
    if (r.type === "envoy.config.route.v3.RouteConfiguration") notes.push(...routeNotes(r.name, r.message as RouteConfiguration));
    if (r.type === "envoy.config.cluster.v3.Cluster") notes.push(...clusterNotes(r as TranslatedCluster, envoyClusters.get(r.name), cls));
  }
  return [...new Set(notes)];
}

function routeNotes(config: string, rc: RouteConfiguration): string[] {
  const out: string[] = [];
  for (const vh of rc.virtual_hosts ?? []) {
    for (const route of vh.routes ?? []) {
      if (route.name === NO_MATCH_ROUTE) {
        out.push(`${config}: some calls match no route; this client gets ${NO_MATCH_AS_UNAVAILABLE}`);
        continue;
      }
      const where = `${config} route ${route.name ?? "(unnamed)"}`;
      for (const what of ignoredInRoute(route)) out.push(`${where}: ${what}`);
    }
  }
  return out;
}

/** The routes grpc-compat.ts leaves out for gRPC clients: those that answer instead of forwarding. */
function leftOutRoutes(config: string, rc: RouteConfiguration): string[] {
  const out: string[] = [];
  for (const vh of rc.virtual_hosts ?? []) {
    for (const route of vh.routes ?? []) {
      if (forwards(route)) continue;
      const what = route.direct_response !== undefined && route.direct_response !== null ? "directResponse" : "redirect";
      out.push(`${config} route ${route.name ?? "(unnamed)"}: ${what} is not implemented by gRPC clients; the route is left out, so the calls it would answer go on to the next route`);
    }
  }
  return out;
}

function ignoredInRoute(route: Route): string[] {
  const out: string[] = [];
  const action = route.route;
  const weighted = action?.weighted_clusters?.clusters ?? [];
  const mutates = (x: { request_headers_to_add?: unknown[]; request_headers_to_remove?: unknown[]; response_headers_to_add?: unknown[]; response_headers_to_remove?: unknown[] }) =>
    [x.request_headers_to_add, x.request_headers_to_remove, x.response_headers_to_add, x.response_headers_to_remove].some((l) => (l ?? []).length > 0);
  if (mutates(route) || weighted.some(mutates)) out.push("header operations (headers.request, headers.response) are ignored by gRPC clients");
  if (action?.prefix_rewrite !== undefined || action?.host_rewrite_literal !== undefined) out.push("rewrite is ignored by gRPC clients");
  if ((action?.request_mirror_policies ?? []).length > 0) out.push("mirror and mirrors are ignored by gRPC clients");
  const retry = action?.retry_policy;
  if (retry?.per_try_timeout !== undefined && retry.per_try_timeout !== null) out.push("retries.perTryTimeout is ignored by gRPC clients");
  if (retry?.retry_on !== undefined && retry.retry_on !== DEFAULT_RETRY_ON) {
    const http = retry.retry_on.split(",").filter((c) => c !== "" && !GRPC_RETRY_ON.has(c));
    if (http.length > 0) out.push(`retries.retryOn: ${http.join(", ")} ${http.length === 1 ? "is an HTTP condition" : "are HTTP conditions"} gRPC clients ignore (they retry on ${[...GRPC_RETRY_ON].join(", ")})`);
  }
  if ((action?.hash_policy ?? []).some((h) => h.header === undefined || h.header === null)) {
    out.push("consistentHash on a cookie, query parameter or source IP is ignored by gRPC clients (they hash on a header only; otherwise each call hashes at random)");
  }
  if (route.typed_per_filter_config?.[CORS_FILTER] !== undefined) out.push("corsPolicy is ignored by gRPC clients");
  return out;
}

function clusterNotes(c: TranslatedCluster, envoy: Translated | undefined, cls: GrpcClientClass): string[] {
  const m = c.message;
  const e = envoy?.message as Cluster | undefined;
  const out: string[] = [];
  const t = m.circuit_breakers?.thresholds?.[0];
  const set = (v: { value?: number } | null | undefined) => v?.value !== undefined && v.value !== UINT32_MAX;
  const pool = [
    ...(set(t?.max_connections) ? ["tcp.maxConnections"] : []),
    ...(set(t?.max_pending_requests) ? ["http.http1MaxPendingRequests"] : []),
    ...(set(t?.max_retries) ? ["http.maxRetries"] : []),
  ];
  const options = (m.typed_extension_protocol_options ?? {})[HTTP_PROTOCOL_OPTIONS] as { value?: Uint8Array } | undefined;
  const common = options?.value === undefined ? undefined : decodeMessage(HTTP_PROTOCOL_OPTIONS, options.value)["common_http_protocol_options"];
  if (common !== undefined) pool.push("http.idleTimeout, http.maxRequestsPerConnection");
  const connect = Number(m.connect_timeout?.seconds ?? DEFAULT_CONNECT_TIMEOUT_S) + (m.connect_timeout?.nanos ?? 0) / 1e9;
  if (connect !== DEFAULT_CONNECT_TIMEOUT_S) pool.push("tcp.connectTimeout");
  if (m.upstream_connection_options?.tcp_keepalive !== undefined && m.upstream_connection_options.tcp_keepalive !== null) pool.push("tcp.tcpKeepalive");
  if (pool.length > 0) out.push(`${c.name}: connectionPool ${pool.join(", ")} ${pool.length === 1 ? "is" : "are"} ignored by gRPC clients (of the pool they enforce http.http2MaxRequests only)`);
  const slowStart = e?.round_robin_lb_config?.slow_start_config ?? e?.least_request_lb_config?.slow_start_config;
  if (slowStart !== undefined && slowStart !== null) out.push(`${c.name}: loadBalancer warmup is ignored by gRPC clients (a new endpoint gets its full share at once)`);
  const od = m.outlier_detection;
  if (od?.failure_percentage_request_volume?.value !== undefined) {
    out.push(
      `${c.name}: outlierDetection is applied by gRPC clients as failure-percentage ejection: a host with at least ${od.failure_percentage_request_volume.value} calls in an interval, more than ${GRPC_FAILURE_PERCENTAGE_THRESHOLD}% of them failed, is ejected (they do not count consecutive errors)`,
    );
  }
  if (e?.lb_policy === "RING_HASH" && m.lb_policy === "ROUND_ROBIN" && cls !== "standard") {
    out.push(`${c.name}: this client gets ${RING_HASH_AS_ROUND_ROBIN}`);
  } else if (e !== undefined && e.lb_policy !== m.lb_policy) {
    out.push(`${c.name}: loadBalancer ${String(e.lb_policy)} is served as ${String(m.lb_policy)} (gRPC clients implement ROUND_ROBIN and RING_HASH)`);
  }
  return out;
}
