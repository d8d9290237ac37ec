// The security.istio.io kinds' specs (PeerAuthentication, AuthorizationPolicy,
// RequestAuthentication), as gitmesh reads them; types.ts re-exports them with the networking
// kinds' specs.
import type { Duration, MatchLabelsSelector } from "./types.js";

// ---- PeerAuthentication, AuthorizationPolicy ----

export type MutualTLSMode = "UNSET" | "DISABLE" | "PERMISSIVE" | "STRICT";

export interface MutualTLS {
  readonly mode?: MutualTLSMode;
}

export interface PeerAuthenticationSpec {
  readonly selector?: MatchLabelsSelector;
  readonly mtls?: MutualTLS;
  /** By port number (as a string key, since YAML map keys are strings here). */
  readonly portLevelMtls?: Readonly<Record<string, MutualTLS>>;
}

export interface AuthorizationPolicySpec {
  readonly selector?: MatchLabelsSelector;
  /** AUDIT: Envoy's RBAC action LOG (the request passes; a match is recorded in dynamic metadata). */
  readonly action?: "ALLOW" | "DENY" | "AUDIT";
  readonly rules?: readonly AuthorizationRule[];
}

export interface AuthorizationRule {
  readonly from?: readonly { readonly source: AuthorizationSource }[];
  readonly to?: readonly { readonly operation: AuthorizationOperation }[];
  readonly when?: readonly AuthorizationCondition[];
}

export interface AuthorizationSource {
  readonly principals?: readonly string[];
  readonly notPrincipals?: readonly string[];
  /** End-user identities from a verified JWT: "<iss>/<sub>" (RequestAuthentication). */
  readonly requestPrincipals?: readonly string[];
  readonly notRequestPrincipals?: readonly string[];
  /** "<namespace>/<service account>" of an mTLS peer. */
  readonly serviceAccounts?: readonly string[];
  readonly notServiceAccounts?: readonly string[];
  readonly namespaces?: readonly string[];
  readonly notNamespaces?: readonly string[];
  readonly ipBlocks?: readonly string[];
  readonly notIpBlocks?: readonly string[];
  /** The original client address (x-forwarded-for, as Envoy's remote address), not the peer's. */
  readonly remoteIpBlocks?: readonly string[];
  readonly notRemoteIpBlocks?: readonly string[];
}

export interface AuthorizationOperation {
  readonly hosts?: readonly string[];
  readonly notHosts?: readonly string[];
  /** Port numbers as strings, as in Istio. */
  readonly ports?: readonly string[];
  readonly notPorts?: readonly string[];
  readonly methods?: readonly string[];
  readonly notMethods?: readonly string[];
  readonly paths?: readonly string[];
  readonly notPaths?: readonly string[];
}

/**
 * At least one of values and notValues. key: an Istio condition key Envoy can check (rbac.ts,
 * CONDITION_KEYS): source.ip, remote.ip, source.principal, source.namespace, source.serviceAccount,
 * destination.ip, destination.port, connection.sni, request.headers[<name>], request.auth.principal,
 * request.auth.audiences, request.auth.presenter, request.auth.claims[<name>]...
 */
export type AuthorizationCondition = { readonly key: string } & (
  | { readonly values: readonly string[]; readonly notValues?: readonly string[] }
  | { readonly notValues: readonly string[]; readonly values?: readonly string[] }
);

// ---- RequestAuthentication ----

/** End-user authentication: which JWTs the selected workloads accept (Envoy's jwt_authn filter). */
export interface RequestAuthenticationSpec {
  readonly selector?: MatchLabelsSelector;
  readonly jwtRules?: readonly JwtRule[];
}

export interface JwtRule {
  /** The token's iss claim. */
  readonly issuer: string;
  /** Accepted aud values; any when omitted. */
  readonly audiences?: readonly string[];
  /** Where the keys are (http or https); Envoy fetches them (docs/decisions.md). */
  readonly jwksUri?: string;
  /** The keys inline, as a JWKS JSON document. */
  readonly jwks?: string;
  /** Where the token is; default: Authorization "Bearer " and the access_token parameter. */
  readonly fromHeaders?: readonly { readonly name: string; readonly prefix?: string }[];
  readonly fromParams?: readonly string[];
  readonly fromCookies?: readonly string[];
  /** Keep the token in the request sent on (default: removed). */
  readonly forwardOriginalToken?: boolean;
  /** Send the verified payload, base64url, in this header. */
  readonly outputPayloadToHeader?: string;
  readonly outputClaimToHeaders?: readonly { readonly header: string; readonly claim: string }[];
  /** How long fetching jwksUri may take (default 5s). */
  readonly timeout?: Duration;
}
