// Istio RequestAuthentication -> Envoy's JWT authentication HTTP filter
// (envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication), with Istio's semantics:
// - every jwtRule of every RequestAuthentication that applies to the workload is one provider;
// - a request is accepted by any provider or, when it carries no token at all, passes
//   (requires_any with allow_missing): a token that is present but invalid (bad signature,
//   expired, unknown issuer, wrong audience) is refused with 401; a request without one is left
//   to AuthorizationPolicy (requestPrincipals, request.auth.* conditions);
// - the verified payload goes into the filter's dynamic metadata under one key (JWT_PAYLOAD_KEY),
//   whichever provider verified it, so the RBAC filters after this one can check iss, sub, aud,
//   azp and any claim (rbac.ts).
//
// Keys: inline `jwks` become local_jwks. A `jwksUri` is fetched by Envoy itself (remote_jwks),
// through a cluster gitmesh adds next to the listener (jwksCluster): the control plane stays free
// of I/O and keys rotate at the issuer without a commit. docs/decisions.md records the choice.
import type { MeshResource } from "../config/resources.js";
import type { JwtRule } from "../config/types.js";
import { pack, type Any } from "../envoy/index.js";
import type { JwtAuthentication } from "../envoy/generated/envoy/extensions/filters/http/jwt_authn/v3/JwtAuthentication.js";
import type { JwtProvider } from "../envoy/generated/envoy/extensions/filters/http/jwt_authn/v3/JwtProvider.js";
import type { JwtRequirement } from "../envoy/generated/envoy/extensions/filters/http/jwt_authn/v3/JwtRequirement.js";
import { duration } from "./routes-values.js";
import { SYSTEM_CA_FILE } from "./tls-contexts.js";
import { translated, type TranslatedCluster } from "./translated.js";

type RequestAuthentication = MeshResource<"RequestAuthentication">;

/** The HTTP filter's name; RBAC reads the payload from its dynamic metadata namespace. */
export const JWT_AUTHN_FILTER = "envoy.filters.http.jwt_authn";
/** Where in that namespace the verified payload is: metadata[JWT_AUTHN_FILTER][JWT_PAYLOAD_KEY]. */
export const JWT_PAYLOAD_KEY = "payload";

/** Istio's default for fetching jwksUri (JWTRule.timeout). */
const DEFAULT_FETCH_TIMEOUT = { seconds: 5, nanos: 0 };

/** Where an https or http jwksUri is fetched from. */
export interface JwksEndpoint {
  readonly tls: boolean;
  readonly host: string;
  readonly port: number;
}

export function jwksEndpoint(uri: string): JwksEndpoint {
  const u = new URL(uri);
  const tls = u.protocol === "https:";
  const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  return { tls, host, port: u.port === "" ? (tls ? 443 : 80) : Number(u.port) };
}

/** The cluster name for a jwksUri's host and port: one cluster per issuer host, shared by rules. */
export function jwksClusterName(e: JwksEndpoint): string {
  return `jwks|${e.tls ? "https" : "http"}|${e.host}|${e.port}`;
}

/** The rules in a stable order (namespace, name, index) with where each came from. */
function rulesOf(ras: readonly RequestAuthentication[]): { rule: JwtRule; id: string }[] {
  const sorted = [...ras].sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return sorted.flatMap((ra) => (ra.spec.jwtRules ?? []).map((rule, i) => ({ rule, id: `${ra.namespace}/${ra.name}/${i}` })));
}

/**
 * The jwt_authn filter for the RequestAuthentications that apply to one workload, or undefined
 * when none has a rule (then requests pass untouched, and requestPrincipals never match).
 */
export function jwtAuthnFilter(ras: readonly RequestAuthentication[]): { name: string; typed_config: Any } | undefined {
  const rules = rulesOf(ras);
  if (rules.length === 0) return undefined;
  const providers: Record<string, JwtProvider> = {};
  for (const { rule, id } of rules) providers[`origins-${id}`] = jwtProvider(rule);
  const names = Object.keys(providers);
  const anyProvider: JwtRequirement = {
    requires_any: { requirements: [...names.map((provider_name) => ({ provider_name })), { allow_missing: {} }] },
  };
  const config: JwtAuthentication = {
    providers,
    rules: [{ match: { prefix: "/" }, requires: anyProvider }],
    // A CORS preflight carries no credentials (Istio lets it through too).
    bypass_cors_preflight: true,
  };
  return { name: JWT_AUTHN_FILTER, typed_config: pack("envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication", config) };
}

function jwtProvider(rule: JwtRule): JwtProvider {
  const p: JwtProvider = {
    issuer: rule.issuer,
    payload_in_metadata: JWT_PAYLOAD_KEY,
    // The route is picked again once the payload is known: VirtualServices may match its claims.
    clear_route_cache: true,
    forward: rule.forwardOriginalToken === true,
  };
  if (rule.audiences !== undefined && rule.audiences.length > 0) p.audiences = [...rule.audiences];
  if (rule.jwks !== undefined) p.local_jwks = { inline_string: rule.jwks };
  else if (rule.jwksUri !== undefined) {
    const e = jwksEndpoint(rule.jwksUri);
    const timeout = rule.timeout === undefined ? DEFAULT_FETCH_TIMEOUT : duration(rule.timeout);
    // async_fetch: keys are fetched when the listener arrives and refreshed before they expire;
    // fast_listener so an unreachable issuer never holds the listener warming (requests with a
    // token are then refused, 401, until the keys arrive; requests without one still pass).
    p.remote_jwks = { http_uri: { uri: rule.jwksUri, cluster: jwksClusterName(e), timeout }, async_fetch: { fast_listener: true } };
  }
  if (rule.fromHeaders !== undefined) p.from_headers = rule.fromHeaders.map((h) => ({ name: h.name, value_prefix: h.prefix ?? "" }));
  if (rule.fromParams !== undefined) p.from_params = [...rule.fromParams];
  if (rule.fromCookies !== undefined) p.from_cookies = [...rule.fromCookies];
  if (rule.outputPayloadToHeader !== undefined) p.forward_payload_header = rule.outputPayloadToHeader;
  if (rule.outputClaimToHeaders !== undefined) p.claim_to_headers = rule.outputClaimToHeaders.map((c) => ({ header_name: c.header, claim_name: c.claim }));
  return p;
}

/**
 * The clusters the jwksUri rules fetch their keys through, one per scheme, host and port. The
 * proxy resolves the host itself (LOGICAL_DNS, or STATIC for an address); https is verified
 * against the host's CA bundle with the host as SNI and expected DNS name.
 */
export function jwksClusters(ras: readonly RequestAuthentication[]): TranslatedCluster[] {
  const endpoints = new Map<string, JwksEndpoint>();
  for (const { rule } of rulesOf(ras)) {
    if (rule.jwks !== undefined || rule.jwksUri === undefined) continue;
    const e = jwksEndpoint(rule.jwksUri);
    endpoints.set(jwksClusterName(e), e);
  }
  return [...endpoints].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, e]) => jwksCluster(name, e));
}

const IP_ADDRESS = /^[0-9.]+$|:/;

function jwksCluster(name: string, e: JwksEndpoint): TranslatedCluster {
  return translated("envoy.config.cluster.v3.Cluster", name, {
    name,
    type: IP_ADDRESS.test(e.host) ? "STATIC" : "LOGICAL_DNS",
    dns_lookup_family: "V4_PREFERRED",
    connect_timeout: { seconds: 5, nanos: 0 },
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: e.host, port_value: e.port } } } }] }],
    },
    ...(e.tls
      ? {
          transport_socket: {
            name: "envoy.transport_sockets.tls",
            typed_config: pack("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", {
              sni: e.host,
              common_tls_context: {
                validation_context: {
                  trusted_ca: { filename: SYSTEM_CA_FILE }, // an https jwksUri is verified against the system roots
                  match_typed_subject_alt_names: [{ san_type: IP_ADDRESS.test(e.host) ? "IP_ADDRESS" : "DNS", matcher: { exact: e.host } }],
                },
              },
            }),
          },
        }
      : {}),
  });
}
