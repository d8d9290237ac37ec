// Header matchers as every gRPC client version reads them. Envoy gets the current form
// (HeaderMatcher.string_match, treat_missing_header_as_empty); gRPC clients get the same
// conditions in the older fields:
// - string_match is read by C-core only from 1.56 (gRFC A63): before, a route holding one makes it
//   NACK the whole RouteConfiguration ("Invalid route header matcher specified."), and its xDS
//   servers refused it in RBAC until late 2024. exact_match, prefix_match, suffix_match and
//   safe_regex_match mean the same and every client reads them.
// - treat_missing_header_as_empty is read by no C-core, and C-core 1.51 NACKs it. A withoutHeaders
//   value (the header absent, or present with another value) becomes two routes instead: one for
//   "absent" (present_match, inverted) and one for "present with another value" (the value
//   matcher, inverted), with the same action.
import type { HeaderMatcher } from "../envoy/generated/envoy/config/route/v3/HeaderMatcher.js";
import type { Route } from "../envoy/generated/envoy/config/route/v3/Route.js";
import type { StringMatcher } from "../envoy/generated/envoy/type/matcher/v3/StringMatcher.js";

/**
 * The matcher in the fields every gRPC client reads (see above); others are returned as they are.
 * "Present" is the regex ".*": grpc-go's present_match takes a header with an empty value for an
 * absent one; every client's regex matches "" and fails on an absent header.
 */
export function legacyHeaderMatcher(h: HeaderMatcher): HeaderMatcher {
  if (h.present_match === true && h.invert_match !== true) return { name: h.name ?? "", safe_regex_match: { regex: ".*" } };
  const m = h.string_match;
  if (m === undefined || m === null) return h;
  const rest: HeaderMatcher = { ...h };
  delete rest.string_match;
  delete rest.treat_missing_header_as_empty;
  return { ...rest, ...legacyValue(m) };
}

function legacyValue(m: StringMatcher): HeaderMatcher {
  const regex = (r: string): HeaderMatcher => ({ safe_regex_match: { regex: m.ignore_case === true ? `(?i)${r}` : r } });
  if (m.exact !== undefined) return m.ignore_case === true ? regex(escapeRegex(m.exact)) : { exact_match: m.exact };
  if (m.prefix !== undefined) return m.ignore_case === true ? regex(`${escapeRegex(m.prefix)}.*`) : { prefix_match: m.prefix };
  if (m.suffix !== undefined) return m.ignore_case === true ? regex(`.*${escapeRegex(m.suffix)}`) : { suffix_match: m.suffix };
  // contains_match exists, but grpc-js does not read it: a regex says the same to every client.
  if (m.contains !== undefined) return regex(`.*${escapeRegex(m.contains)}.*`);
  if (m.safe_regex !== undefined && m.safe_regex !== null) return regex(m.safe_regex.regex ?? "");
  throw new Error(`bug: a StringMatcher gitmesh does not build: ${JSON.stringify(m)}`);
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
}

/** "The header is absent or has another value": Istio's withoutHeaders with a value. */
function absentOrOther(h: HeaderMatcher): boolean {
  return h.invert_match === true && h.treat_missing_header_as_empty === true && h.present_match === undefined;
}

/**
 * A route as routes that every gRPC client evaluates the same: its header matchers in the older
 * fields, and each withoutHeaders value split into "absent" and "present with another value"
 * (n such matchers give 2^n routes; Istio matches rarely have more than one).
 */
export function grpcHeaderRoutes(r: Route): Route[] {
  const headers = r.match?.headers ?? [];
  if (headers.length === 0) return [r];
  let variants: HeaderMatcher[][] = [[]];
  for (const h of headers) {
    const choices: HeaderMatcher[] = absentOrOther(h)
      ? [
          { name: h.name ?? "", present_match: true, invert_match: true },
          { ...legacyHeaderMatcher(h), invert_match: true },
        ]
      : [legacyHeaderMatcher(h)];
    variants = variants.flatMap((v) => choices.map((c) => [...v, c]));
  }
  return variants.map((v) => ({ ...r, match: { ...r.match, headers: v } }));
}
