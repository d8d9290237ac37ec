// What a listening address of the xDS server allows. The plaintext port serves configuration to
// anyone who can reach it (local development, proxyless clients) but never a secret; the TLS
// port asks every stream for a credential and serves secrets only to streams that presented one.
import type { Metadata } from "@grpc/grpc-js";
import type { Node__Output } from "../envoy/index.js";

/** Who an authenticated stream is, as its credential says (never as its node says). */
export interface StreamIdentity {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** When the credential stops being valid: the stream is closed then, and no certificate outlives it. */
  readonly expiresAt?: Date;
  /** The credential's id: its streams are closed when it is revoked. */
  readonly tokenId?: string;
}

export type AuthDecision =
  | { readonly ok: true; readonly identity: StreamIdentity }
  | { readonly ok: false; readonly code: "UNAUTHENTICATED" | "PERMISSION_DENIED"; readonly message: string };

/** Checks a stream's credential (its request metadata) against the node it says it is. */
export type Authenticate = (metadata: Metadata, node: Node__Output) => AuthDecision;

export type EndpointPolicy =
  | { readonly t: "plaintext" }
  | { readonly t: "authenticated"; readonly authenticate: Authenticate };

export const PLAINTEXT: EndpointPolicy = { t: "plaintext" };

export function servesSecrets(policy: EndpointPolicy): boolean {
  return policy.t === "authenticated";
}

/** Why a stream's node is not served (XdsServerOptions.admitNode); the code is the stream's status. */
export interface AdmitRefusal {
  readonly code: "INVALID_ARGUMENT" | "PERMISSION_DENIED";
  readonly message: string;
}
