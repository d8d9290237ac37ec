// The leaf values of an Envoy route built from a VirtualService: durations, percentages, header
// operations, string matchers and the per-route fault and CORS filter configs. Pure helpers for
// routes.ts; the mapping decisions are Istio's (pilot/pkg/networking/core/route/route.go) unless
// a comment says otherwise.
import { admittedDuration } from "../common/duration.js";
import { GRPC_STATUS_CODES, type CorsPolicy as IstioCors, type Duration as IstioDuration, type HTTPFaultInjection, type HeaderOperations, type Headers, type Percent, type StringMatch } from "../config/types.js";
import { messageType, pack, typeUrlOf, type Any, type CorsPolicy, type HTTPFault } from "../envoy/index.js";
import type { HeaderValueOption } from "../envoy/generated/envoy/config/core/v3/HeaderValueOption.js";
import type { FilterConfig } from "../envoy/generated/envoy/config/route/v3/FilterConfig.js";
import type { StringMatcher } from "../envoy/generated/envoy/type/matcher/v3/StringMatcher.js";
import type { FractionalPercent } from "../envoy/generated/envoy/type/v3/FractionalPercent.js";
import type { Duration } from "../envoy/generated/google/protobuf/Duration.js";

/** The HTTP filter names a route's typed_per_filter_config is keyed by (the HCM filter names). */
export const FAULT_FILTER = "envoy.filters.http.fault";
export const CORS_FILTER = "envoy.filters.http.cors";

/** A duration as the schema accepts it (Go's format) as a google.protobuf.Duration. */
export function duration(text: IstioDuration): Duration {
  const total = admittedDuration(text);
  return { seconds: Number(total / 1_000_000_000n), nanos: Number(total % 1_000_000_000n) };
}

export const ZERO_DURATION: Duration = { seconds: 0, nanos: 0 };

/**
 * A Percent (0.0-100.0) per million, so fractions like 0.1% survive. Istio truncates
 * value * 10000; we round, so 4.35% is 43500 and not 43499 (float error).
 */
export function perMillion(p: Percent | undefined): FractionalPercent {
  return { numerator: p === undefined ? 0 : Math.round(p.value * 10_000), denominator: "MILLION" };
}

// ---- header operations ----

export interface HeaderMutations {
  request_headers_to_add?: HeaderValueOption[];
  request_headers_to_remove?: string[];
  response_headers_to_add?: HeaderValueOption[];
  response_headers_to_remove?: string[];
}

/**
 * Istio's header operations: set overwrites (OVERWRITE_IF_EXISTS_OR_ADD), add appends
 * (APPEND_IF_EXISTS_OR_ADD); each group sorted by name, sets before adds. The schema already
 * refuses host and pseudo-headers here (rewrite.authority changes the authority).
 */
export function headerMutations(headers: Headers | undefined): HeaderMutations {
  const out: HeaderMutations = {};
  if (headers === undefined) return out; // most routes and destinations: nothing to sort or gather
  const request = headerValues(headers?.request);
  const response = headerValues(headers?.response);
  if (request.length > 0) out.request_headers_to_add = request;
  if ((headers?.request?.remove ?? []).length > 0) out.request_headers_to_remove = [...(headers?.request?.remove ?? [])];
  if (response.length > 0) out.response_headers_to_add = response;
  if ((headers?.response?.remove ?? []).length > 0) out.response_headers_to_remove = [...(headers?.response?.remove ?? [])];
  return out;
}

/** Route-level mutations followed by a destination's (so a destination's set wins over a route's add). */
export function concatMutations(a: HeaderMutations, b: HeaderMutations): HeaderMutations {
  const out: HeaderMutations = {};
  if (Object.keys(a).length === 0 && Object.keys(b).length === 0) return out;
  for (const key of ["request_headers_to_add", "request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove"] as const) {
    const joined = [...(a[key] ?? []), ...(b[key] ?? [])];
    if (joined.length > 0) (out as Record<string, unknown>)[key] = joined;
  }
  return out;
}

function headerValues(ops: HeaderOperations | undefined): HeaderValueOption[] {
  if (ops?.set === undefined && ops?.add === undefined) return [];
  const of = (map: Readonly<Record<string, string>> | undefined, action: "OVERWRITE_IF_EXISTS_OR_ADD" | "APPEND_IF_EXISTS_OR_ADD"): HeaderValueOption[] =>
    Object.entries(map ?? {})
      .sort(([a], [b]) => compare(a, b))
      .map(([key, value]) => ({ header: { key, value }, append_action: action }));
  return [...of(ops?.set, "OVERWRITE_IF_EXISTS_OR_ADD"), ...of(ops?.add, "APPEND_IF_EXISTS_OR_ADD")];
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---- string matchers ----

/**
 * An Istio StringMatch as an Envoy StringMatcher. Envoy refuses an empty prefix or regex (PGV
 * min_len 1), which the schema allows: prefix "" matches anything (regex ".*"), regex "" only
 * the empty string (exact "").
 */
export function stringMatcher(m: StringMatch): StringMatcher {
  if (m.exact !== undefined) return { exact: m.exact };
  if (m.prefix !== undefined) return m.prefix === "" ? { safe_regex: { regex: ".*" } } : { prefix: m.prefix };
  return m.regex === "" ? { exact: "" } : { safe_regex: { regex: m.regex } };
}

// ---- per-route filter configs ----

/**
 * Istio's fault: a fixed delay and/or an abort (an HTTP status, or a gRPC status by name), each with its percentage per million. A
 * percentage left out means no request is faulted (Istio's documented default), and is written
 * out as 0: gRPC clients refuse a fault config without one.
 */
export function faultConfig(fault: HTTPFaultInjection): Any {
  const config: HTTPFault = {};
  if (fault.delay !== undefined) config.delay = { fixed_delay: duration(fault.delay.fixedDelay), percentage: perMillion(fault.delay.percentage) };
  const abort = fault.abort;
  if (abort !== undefined) {
    const code = abort.grpcStatus === undefined ? { http_status: abort.httpStatus } : { grpc_status: GRPC_STATUS_CODES[abort.grpcStatus] };
    config.abort = { ...code, percentage: perMillion(abort.percentage) };
  }
  return pack("envoy.extensions.filters.http.fault.v3.HTTPFault", config);
}

/**
 * Istio's CORS policy. Lists are joined with "," as Istio does; max_age is whole seconds;
 * filter_enabled 100% and forward_not_matching_preflights true (Istio's default,
 * unmatchedPreflights FORWARD). Wrapped in an optional FilterConfig: Envoy applies it, and
 * proxyless gRPC clients (which have no CORS filter and reject an unknown required one, gRFC
 * A39) ignore it instead of refusing the whole RouteConfiguration.
 */
export function corsConfig(cors: IstioCors): Any {
  const config: CorsPolicy = { filter_enabled: { default_value: { numerator: 100, denominator: "HUNDRED" } }, forward_not_matching_preflights: { value: true } };
  if (cors.allowOrigins !== undefined) config.allow_origin_string_match = cors.allowOrigins.map(stringMatcher);
  if ((cors.allowMethods ?? []).length > 0) config.allow_methods = (cors.allowMethods ?? []).join(",");
  if ((cors.allowHeaders ?? []).length > 0) config.allow_headers = (cors.allowHeaders ?? []).join(",");
  if ((cors.exposeHeaders ?? []).length > 0) config.expose_headers = (cors.exposeHeaders ?? []).join(",");
  if (cors.maxAge !== undefined) config.max_age = String(duration(cors.maxAge).seconds);
  if (cors.allowCredentials !== undefined) config.allow_credentials = { value: cors.allowCredentials };
  return optionalFilter(pack("envoy.extensions.filters.http.cors.v3.CorsPolicy", config));
}

const FILTER_CONFIG = "envoy.config.route.v3.FilterConfig";

/** envoy.config.route.v3.FilterConfig{config, is_optional: true}, packed. */
export function optionalFilter(config: Any): Any {
  const wrapper: FilterConfig = { config, is_optional: true };
  const type = messageType(FILTER_CONFIG);
  const bytes = type.encode(type.fromObject(wrapper as Record<string, unknown>)).finish();
  return { type_url: typeUrlOf(FILTER_CONFIG), value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}
