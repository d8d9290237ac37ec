// An Istio HTTPMatchRequest as an Envoy RouteMatch, as Istio's TranslateRouteMatch builds it.
import type { HTTPMatchRequest, HeaderMatch, QueryParamMatch } from "../config/types.js";
import type { HeaderMatcher } from "../envoy/generated/envoy/config/route/v3/HeaderMatcher.js";
import type { QueryParameterMatcher } from "../envoy/generated/envoy/config/route/v3/QueryParameterMatcher.js";
import type { RouteMatch } from "../envoy/generated/envoy/config/route/v3/RouteMatch.js";
import type { MetadataMatcher } from "../envoy/generated/envoy/type/matcher/v3/MetadataMatcher.js";
import { JWT_AUTHN_FILTER, JWT_PAYLOAD_KEY } from "./jwt.js";
import { compare, stringMatcher } from "./routes-values.js";

/** No match: everything (Istio's default, and its default route's). */
export const MATCH_ALL: RouteMatch = { prefix: "/" };

/**
 * The RouteMatch of one match of an http route:
 * - uri exact: path; prefix: prefix; regex: safe_regex (the engine left to Envoy's default, RE2:
 *   google_re2 is deprecated in the v3 API gitmesh pins, and Istio no longer sets it). No uri: "/".
 * - case_sensitive is always written (false with ignoreUriCase), as Istio does.
 * - headers and withoutHeaders, sorted by name (headers first on a tie), then ":method",
 *   ":authority" and ":scheme" (Istio's order).
 * - queryParams, sorted by name (Istio leaves Go's map order).
 */
export function routeMatch(m: HTTPMatchRequest | undefined): RouteMatch {
  if (m === undefined) return { ...MATCH_ALL };
  const out: RouteMatch = uriSpecifier(m);
  out.case_sensitive = { value: m.ignoreUriCase !== true };
  const byName = (a: HeaderMatcher, b: HeaderMatcher) => compare(a.name ?? "", b.name ?? "");
  const real = ([name]: [string, HeaderMatch]) => !name.startsWith(CLAIM_PREFIX);
  const headers = [
    ...Object.entries(m.headers ?? {}).filter(real).map(([name, hm]) => headerMatcher(name, hm, false)),
    ...Object.entries(m.withoutHeaders ?? {}).filter(real).map(([name, hm]) => headerMatcher(name, hm, true)),
  ].sort(byName); // Array.prototype.sort is stable: headers stay before withoutHeaders of the same name
  const claims = [
    ...Object.entries(m.headers ?? {}).filter((e) => !real(e)).map(([name, hm]) => claimMatcher(name, hm, false)),
    ...Object.entries(m.withoutHeaders ?? {}).filter((e) => !real(e)).map(([name, hm]) => claimMatcher(name, hm, true)),
  ];
  if (claims.length > 0) out.dynamic_metadata = claims;
  if (m.method !== undefined) headers.push(headerMatcher(":method", m.method, false));
  if (m.authority !== undefined) headers.push(headerMatcher(":authority", m.authority, false));
  if (m.scheme !== undefined) headers.push(headerMatcher(":scheme", m.scheme, false));
  if (headers.length > 0) out.headers = headers;
  const query = Object.entries(m.queryParams ?? {})
    .sort(([a], [b]) => compare(a, b))
    .map(([name, qm]) => queryMatcher(name, qm));
  if (query.length > 0) out.query_parameters = query;
  return out;
}

function uriSpecifier(m: HTTPMatchRequest): RouteMatch {
  const uri = m.uri;
  if (uri === undefined) return { ...MATCH_ALL };
  if (uri.exact !== undefined) return { path: uri.exact };
  if (uri.prefix !== undefined) return { prefix: uri.prefix };
  return { safe_regex: { regex: uri.regex } };
}

/**
 * Istio's header matcher. {} (or prefix "", which matches any value) is present_match. A
 * withoutHeaders entry inverts it: {} means "the header is absent"; a value match also matches
 * when the header is absent (treat_missing_header_as_empty, as Istio sets it).
 */
function headerMatcher(name: string, hm: HeaderMatch, invert: boolean): HeaderMatcher {
  const present = hm.exact === undefined && hm.regex === undefined && (hm.prefix === undefined || hm.prefix === "");
  const out: HeaderMatcher = present ? { name, present_match: true } : { name, string_match: stringMatcher(hm as Parameters<typeof stringMatcher>[0]) };
  if (invert) {
    out.invert_match = true;
    if (!present) out.treat_missing_header_as_empty = true;
  }
  return out;
}

/** Istio's "headers" that are claims of the verified JWT: @request.auth.claims.<name>[.<nested>...]. */
const CLAIM_PREFIX = "@request.auth.claims.";

/**
 * A claim of the JWT the gateway verified (jwt.ts writes its payload into jwt_authn's dynamic
 * metadata, and clears the route cache so routing sees it): a string claim that matches, or a list
 * claim holding one that does. Without a verified token there is no metadata and nothing matches
 * (a withoutHeaders claim then matches). Only a gateway verifies tokens before routing, so only
 * there can such a match hold, as in Istio.
 */
function claimMatcher(name: string, hm: HeaderMatch, invert: boolean): MetadataMatcher {
  const path = [JWT_PAYLOAD_KEY, ...name.slice(CLAIM_PREFIX.length).split(".")].map((key) => ({ key }));
  const present = hm.exact === undefined && hm.regex === undefined && (hm.prefix === undefined || hm.prefix === "");
  const string_match = present ? undefined : stringMatcher(hm as Parameters<typeof stringMatcher>[0]);
  const value: NonNullable<MetadataMatcher["value"]> =
    string_match === undefined ? { present_match: true } : { or_match: { value_matchers: [{ string_match }, { list_match: { one_of: { string_match } } }] } };
  return { filter: JWT_AUTHN_FILTER, path, value, ...(invert ? { invert: true } : {}) };
}

/** exact "" is the parameter's presence (the schema's documented meaning); else exact or regex. */
function queryMatcher(name: string, qm: QueryParamMatch): QueryParameterMatcher {
  if (qm.exact === "") return { name, present_match: true };
  return { name, string_match: qm.exact !== undefined ? { exact: qm.exact } : stringMatcher({ regex: qm.regex }) };
}

/**
 * A match that catches every request: prefix "/" (or regex ".*") with no header or query
 * condition. Istio stops translating a VirtualService after one (later routes could never match).
 */
export function isCatchAll(m: RouteMatch): boolean {
  const everyPath = m.prefix === "/" || m.prefix === "" || m.safe_regex?.regex === ".*";
  return everyPath && (m.headers ?? []).length === 0 && (m.query_parameters ?? []).length === 0 && (m.dynamic_metadata ?? []).length === 0;
}
