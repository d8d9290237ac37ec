// The action of a forwarding or redirecting Envoy route, as Istio's applyHTTPRouteDestination,
// retry.ConvertPolicy and ApplyRedirect build them.
import type { ConsistentHashLB, Destination, HTTPDirectResponse, HTTPRedirect, HTTPRetry, HTTPRoute, HTTPRouteDestination, Percent, TrafficPolicy } from "../config/types.js";
import { typeUrlOf } from "../envoy/index.js";
import type { DirectResponseAction } from "../envoy/generated/envoy/config/route/v3/DirectResponseAction.js";
import type { RedirectAction } from "../envoy/generated/envoy/config/route/v3/RedirectAction.js";
import type { RetryPolicy } from "../envoy/generated/envoy/config/route/v3/RetryPolicy.js";
import type { RouteAction } from "../envoy/generated/envoy/config/route/v3/RouteAction.js";
import type { _envoy_config_route_v3_WeightedCluster_ClusterWeight as ClusterWeight } from "../envoy/generated/envoy/config/route/v3/WeightedCluster.js";
import { clusterName } from "./names.js";
import { duration, headerMutations, perMillion, ZERO_DURATION, type HeaderMutations } from "./routes-values.js";
import type { MeshService, ServiceIndex } from "./services.js";

type HashPolicy = NonNullable<RouteAction["hash_policy"]>[number];
type MirrorPolicy = NonNullable<RouteAction["request_mirror_policies"]>[number];
type FractionalPercent = ReturnType<typeof perMillion>;

/** What a route is translated for: the service host and port its virtual host serves. */
export interface RouteContext {
  readonly host: string;
  readonly port: number;
  readonly namespace: string;
  readonly index: ServiceIndex;
}

/** A destination's cluster: its port, else its service's only port, else the port routed (Istio's GetDestinationCluster). */
export function destinationCluster(d: Destination, ctx: RouteContext): { cluster: string; service: MeshService | undefined; port: number } {
  const host = ctx.index.qualify(d.host, ctx.namespace);
  const service = ctx.index.service(host);
  const only = service?.ports.length === 1 ? service.ports[0]?.number : undefined;
  const port = d.port?.number ?? only ?? ctx.port;
  return { cluster: clusterName(host, port, d.subset ?? ""), service, port };
}

/**
 * A forwarding route's action and the header mutations its destination adds to the route (one
 * destination: Istio puts its headers on the route, after the route's own).
 */
export function forwardAction(http: HTTPRoute & { readonly route: readonly HTTPRouteDestination[] }, ctx: RouteContext): { action: RouteAction; headers: HeaderMutations } {
  const action: RouteAction = {};
  let headers: HeaderMutations = {};
  const hashes: HashPolicy[] = [];
  const addHash = (h: HashPolicy | undefined) => {
    if (h !== undefined && !hashes.some((x) => JSON.stringify(x) === JSON.stringify(h))) hashes.push(h);
  };
  const [single] = http.route;
  if (http.route.length === 1 && single !== undefined) {
    // One destination takes all the traffic whatever its weight.
    const { cluster, service, port } = destinationCluster(single.destination, ctx);
    action.cluster = cluster;
    headers = headerMutations(single.headers);
    addHash(hashPolicy(consistentHashFor(service, single.destination, port)));
  } else {
    const clusters: ClusterWeight[] = [];
    for (const d of http.route) {
      if ((d.weight ?? 0) === 0) continue; // Istio drops 0-weight destinations of a split
      const { cluster, service, port } = destinationCluster(d.destination, ctx);
      clusters.push({ name: cluster, weight: { value: d.weight ?? 0 }, ...headerMutations(d.headers) });
      addHash(hashPolicy(consistentHashFor(service, d.destination, port)));
    }
    action.weighted_clusters = { clusters };
  }
  if (http.rewrite?.uri !== undefined) action.prefix_rewrite = http.rewrite.uri;
  const regex = http.rewrite?.uriRegexRewrite;
  if (regex !== undefined) action.regex_rewrite = { pattern: { regex: regex.match }, substitution: regex.rewrite };
  if (http.rewrite?.authority !== undefined) action.host_rewrite_literal = http.rewrite.authority;
  // Istio's default is no timeout (0: disabled), where Envoy's is 15s. Envoy ignores `timeout` on
  // a route that has max_stream_duration (it then applies only the stream duration limits), so
  // Envoy's routes carry `timeout` alone; proxyless gRPC reads max_stream_duration instead, which
  // its variant of the routes gets (grpc-compat.ts).
  action.timeout = http.timeout === undefined ? ZERO_DURATION : duration(http.timeout);
  const retry = retryPolicy(http.retries, hashes.length > 0);
  if (retry !== undefined) action.retry_policy = retry;
  if (hashes.length > 0) action.hash_policy = hashes;
  const mirrors = mirrorPolicies(http, ctx);
  if (mirrors.length > 0) action.request_mirror_policies = mirrors;
  return { action, headers };
}

const MIRROR_ALL: FractionalPercent = { numerator: 100, denominator: "HUNDRED" };

/**
 * Istio's mirror policies: `mirror` with mirrorPercentage (per million), or mirrorPercent (a whole
 * percentage), else 100%; then each of `mirrors` with its own percentage, else 100%. A share of 0
 * mirrors nothing: no policy. The schema allows mirror or mirrors, not both.
 */
function mirrorPolicies(http: HTTPRoute, ctx: RouteContext): MirrorPolicy[] {
  const share = (p: Percent | undefined): FractionalPercent | undefined => (p === undefined ? MIRROR_ALL : p.value > 0 ? perMillion(p) : undefined);
  const wanted: [Destination, FractionalPercent | undefined][] = [];
  if (http.mirror !== undefined) {
    const whole = http.mirrorPercent;
    wanted.push([http.mirror, whole !== undefined ? (whole > 0 ? { numerator: whole, denominator: "HUNDRED" } : undefined) : share(http.mirrorPercentage)]);
  }
  for (const m of http.mirrors ?? []) wanted.push([m.destination, share(m.percentage)]);
  const out: MirrorPolicy[] = [];
  for (const [d, fraction] of wanted) {
    if (fraction === undefined) continue;
    out.push({ cluster: destinationCluster(d, ctx).cluster, runtime_fraction: { default_value: fraction }, trace_sampled: { value: false } });
  }
  return out;
}

/**
 * Istio's ApplyDirectResponse: the status and the body as written (text, or bytes given in
 * base64). Envoy refuses a body larger than its RouteConfiguration allows (routeConfiguration
 * raises the limit to fit).
 */
export function directResponseAction(d: HTTPDirectResponse): DirectResponseAction {
  const out: DirectResponseAction = { status: d.status };
  if (d.body?.string !== undefined) out.body = { inline_string: d.body.string };
  // A bytes field given as a string is base64 to the encoder, as it is in the YAML.
  else if (d.body?.bytes !== undefined) out.body = { inline_bytes: d.body.bytes };
  return out;
}

/** The route of a service no VirtualService routes: everything to the service port's cluster. */
export function defaultAction(ctx: RouteContext): RouteAction {
  const service = ctx.index.service(ctx.host);
  const hash = hashPolicy(consistentHashFor(service, undefined, ctx.port));
  const action: RouteAction = { cluster: clusterName(ctx.host, ctx.port), timeout: ZERO_DURATION };
  const retry = retryPolicy(undefined, hash !== undefined);
  if (retry !== undefined) action.retry_policy = retry;
  if (hash !== undefined) action.hash_policy = [hash];
  return action;
}

// ---- retries ----

const PREVIOUS_HOSTS = "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate";
export const DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

/**
 * Istio's retry.ConvertPolicy. No retries: its default (2 retries on connect failure, refused
 * stream, gRPC unavailable/cancelled and 503, preferring other hosts, 5 host selection
 * attempts). attempts 0 (or absent): no retry policy at all. Otherwise the default with
 * num_retries, per_try_timeout and retryOn (whose HTTP status codes become
 * retriable_status_codes) overridden. A route that hashes to a host keeps retrying it (no
 * previous-hosts predicate): Istio does this for a single destination; we do it for any route
 * with a hash policy, including the default route.
 */
export function retryPolicy(retries: HTTPRetry | undefined, hashed: boolean): RetryPolicy | undefined {
  const out: RetryPolicy = { retry_on: DEFAULT_RETRY_ON, num_retries: { value: 2 } };
  if (!hashed) out.retry_host_predicate = [{ name: "envoy.retry_host_predicates.previous_hosts", typed_config: { type_url: typeUrlOf(PREVIOUS_HOSTS), value: Buffer.alloc(0) } }];
  out.host_selection_retry_max_attempts = 5;
  out.retriable_status_codes = [503];
  if (retries === undefined) return out;
  if ((retries.attempts ?? 0) <= 0) return undefined;
  out.num_retries = { value: retries.attempts ?? 0 };
  if (retries.retryOn !== undefined) {
    const parts = retries.retryOn.split(",").map((p) => p.trim()).filter((p) => p !== "");
    const codes = parts.filter((p) => /^[0-9]+$/.test(p) && HTTP_STATUS_CODES.has(Number(p))).map(Number);
    const conditions = parts.filter((p) => !(/^[0-9]+$/.test(p) && HTTP_STATUS_CODES.has(Number(p))));
    if (codes.length > 0 && !conditions.includes("retriable-status-codes")) conditions.push("retriable-status-codes");
    out.retry_on = conditions.join(",");
    if (codes.length > 0) out.retriable_status_codes = codes;
    else delete out.retriable_status_codes;
  }
  if (retries.perTryTimeout !== undefined) out.per_try_timeout = duration(retries.perTryTimeout);
  return out;
}

/** The codes Go's http.StatusText knows: Istio treats only these as status codes in retryOn. */
const HTTP_STATUS_CODES: ReadonlySet<number> = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308,
  400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451,
  500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

// ---- consistent hashing ----

/**
 * The consistent hash a destination's DestinationRule asks for, most specific first: the
 * subset's port-level setting, the subset's, the rule's port-level setting, the rule's
 * (Istio's hashForHTTPDestination; port-level settings apply only to a destination that names
 * its port). For the default route (no destination), the rule's, overridden by its setting for
 * the service port (hashForService).
 */
function consistentHashFor(service: MeshService | undefined, d: Destination | undefined, port: number): ConsistentHashLB | undefined {
  const rule = service?.rule?.spec;
  if (rule === undefined) return undefined;
  const top = rule.trafficPolicy?.loadBalancer?.consistentHash;
  if (d === undefined) return portHash(rule.trafficPolicy, port) ?? top;
  const portOf = d.port?.number;
  const subset = d.subset === undefined ? undefined : rule.subsets?.find((s) => s.name === d.subset);
  return (portOf === undefined ? undefined : portHash(subset?.trafficPolicy, portOf)) ?? subset?.trafficPolicy?.loadBalancer?.consistentHash ?? (portOf === undefined ? undefined : portHash(rule.trafficPolicy, portOf)) ?? top;
}

function portHash(policy: TrafficPolicy | undefined, port: number): ConsistentHashLB | undefined {
  return policy?.portLevelSettings?.find((p) => p.port.number === port)?.loadBalancer?.consistentHash;
}

function hashPolicy(h: ConsistentHashLB | undefined): HashPolicy | undefined {
  if (h === undefined) return undefined;
  if (h.httpHeaderName !== undefined) return { header: { header_name: h.httpHeaderName } };
  if (h.httpCookie !== undefined) {
    const c = h.httpCookie;
    return { cookie: { name: c.name, ...(c.path === undefined ? {} : { path: c.path }), ...(c.ttl === undefined ? {} : { ttl: duration(c.ttl) }) } };
  }
  if (h.useSourceIp !== undefined) return { connection_properties: { source_ip: h.useSourceIp } };
  return { query_parameter: { name: h.httpQueryParameterName } };
}

// ---- redirect ----

const REDIRECT_CODES = { 301: "MOVED_PERMANENTLY", 302: "FOUND", 303: "SEE_OTHER", 307: "TEMPORARY_REDIRECT", 308: "PERMANENT_REDIRECT" } as const;

/**
 * Istio's ApplyRedirect for a sidecar (plain-text) listener. uri replaces the whole path; the
 * port is left out when it is the scheme's default (80 for http, the scheme when none is given;
 * 443 for https).
 */
export function redirectAction(r: HTTPRedirect): RedirectAction {
  const out: RedirectAction = {};
  if (r.authority !== undefined) out.host_redirect = r.authority;
  if (r.uri !== undefined) out.path_redirect = r.uri;
  if (r.scheme !== undefined) out.scheme_redirect = r.scheme;
  if (r.port !== undefined) {
    const scheme = r.scheme ?? "http";
    if (!((r.port === 80 && scheme === "http") || (r.port === 443 && scheme === "https"))) out.port_redirect = r.port;
  }
  out.response_code = REDIRECT_CODES[r.redirectCode ?? 301];
  return out;
}
