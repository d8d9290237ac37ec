// The TLS xDS endpoint: the mesh CA opened (or created) in the state directory, a serving
// certificate from it, and every stream's credential checked before anything is sent. This is
// where the CA meets the xDS server; neither knows the other.
import { hostname } from "node:os";
import { experimental, type Metadata, type ServerCredentials } from "@grpc/grpc-js";
import {
  bindingRefusal,
  formatProblem,
  issuer,
  issueServingCertificate,
  loadOrCreateTokenKey,
  openOrCreateCa,
  openRevocations,
  renewalTime,
  tokens,
  writeTrustBundle,
  type KeyType,
  type MeshCa,
  type Revocations,
  type TokenBinding,
  type Tokens,
} from "../ca/index.js";
import { at, type Timer } from "../common/timers.js";
import type { Node__Output } from "../envoy/index.js";
import type { Logger } from "../log.js";
import { proxyFromNode } from "../translators/proxy.js";
import type { AuthDecision, EndpointPolicy, StreamIdentity } from "../xds/index.js";

export interface SecureOptions {
  readonly stateDir: string;
  readonly trustDomain: string;
  /** Names and addresses proxies dial the TLS port by (its certificate's SANs). */
  readonly serverNames?: readonly string[];
  readonly logger: Logger;
}

export interface Secure {
  readonly ca: MeshCa;
  readonly credentials: ServerCredentials;
  readonly policy: EndpointPolicy;
  /** The revoked token ids new streams are checked against; reload() reads them again. */
  readonly revocations: Revocations;
  /**
   * Issues the TLS port a new certificate from this CA's issuer (after a rotation switch); new
   * handshakes use it at once, open connections keep theirs. Renewal before expiry is automatic.
   */
  reissue(ca: MeshCa): Promise<void>;
  /** When the TLS port's certificate and the earliest trusted root expire (for metrics). */
  expiries(): { readonly tlsPort: Date; readonly root: Date | undefined };
  close(): void;
}

/**
 * The TLS port's certificate as a gRPC certificate provider: replaced while the server runs, at
 * renewal and at a root switch, without rebinding the port.
 */
class ServingIdentity implements experimental.CertificateProvider {
  private latest: experimental.IdentityCertificateUpdate | null = null;
  private readonly listeners = new Set<experimental.IdentityCertificateUpdateListener>();

  set(chainPem: string, keyPem: string): void {
    this.latest = { certificate: Buffer.from(chainPem), privateKey: Buffer.from(keyPem) };
    for (const l of this.listeners) l(this.latest);
  }
  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.listeners.add(listener);
    // Later, as a file watcher would: grpc-js registers its watcher only after adding the listener.
    const latest = this.latest;
    if (latest !== null) queueMicrotask(() => this.listeners.has(listener) && listener(latest));
  }
  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.listeners.delete(listener);
  }
  addCaCertificateListener(): void {}
  removeCaCertificateListener(): void {}
}

export const DEFAULT_SERVER_NAMES = ["gitmesh", "localhost", "127.0.0.1", "::1"];

export async function openSecure(options: SecureOptions): Promise<Secure> {
  const opened = await openOrCreateCa(options.stateDir, { trustDomain: options.trustDomain });
  if (!opened.ok) throw new Error(`the mesh CA in ${options.stateDir} cannot be used: ${opened.problems.map(formatProblem).join("; ")}`);
  if (opened.created === true) options.logger.info("created the mesh CA (a new self-signed root)", { stateDir: options.stateDir, trustDomain: options.trustDomain });
  await writeTrustBundle(options.stateDir, opened.ca);
  const names = [...new Set([...(options.serverNames ?? DEFAULT_SERVER_NAMES), hostname()])];
  const identity = new ServingIdentity();
  let timer: Timer | undefined;
  let expiries = { tlsPort: new Date(0), root: undefined as Date | undefined };
  const reissue = async (ca: MeshCa): Promise<void> => {
    const authority = issuer(ca);
    const serving = await issueServingCertificate(authority, names, { keyType: "ecdsa" as KeyType, crossSigned: ca.crossSigned?.get(authority.id) ?? [] });
    identity.set(serving.chainPem, serving.keyPem);
    expiries = { tlsPort: serving.notAfter, root: earliestRootExpiry(ca) };
    timer?.cancel();
    const renewAt = renewalTime(new Date(), serving.notAfter);
    timer = at(renewAt, () => {
      reissue(ca).catch((e: unknown) => options.logger.error("could not renew the TLS port's certificate", { error: String(e) }));
    });
    options.logger.info("TLS xDS certificate issued", { names: names.join(","), notAfter: serving.notAfter.toISOString(), renewAt: renewAt.toISOString() });
  };
  await reissue(opened.ca);
  const t = tokens(await loadOrCreateTokenKey(options.stateDir));
  const revoked = await openRevocations(options.stateDir);
  if (!revoked.ok) throw new Error(formatProblem(revoked.problem));
  const revocations = revoked.value;
  return {
    ca: opened.ca,
    // grpc-js 1.14 names this function's first parameter caCertificateProvider but hands it to the
    // credentials as the identity provider (server-credentials.js): the identity goes first.
    credentials: experimental.createCertificateProviderServerCredentials(identity, null, false),
    policy: { t: "authenticated", authenticate: (metadata, node) => authenticate(t, metadata, node, revocations) },
    revocations,
    reissue,
    expiries: () => expiries,
    close: () => timer?.cancel(),
  };
}

function earliestRootExpiry(ca: MeshCa): Date | undefined {
  const times = [...ca.authorities.values()].map((a) => new Date(a.root.validTo).getTime());
  return times.length === 0 ? undefined : new Date(Math.min(...times));
}

/** Who an authenticated stream is, as its token says: the identity, and which token it was. */
export interface TokenIdentity extends StreamIdentity {
  /** The token's id (`gitmesh token revoke ID`). */
  readonly tokenId: string;
  /** When the token expires: nothing the stream was given should outlive it. */
  readonly expiresAt: Date;
  readonly binding: TokenBinding;
}

export type TokenAuthDecision = { readonly ok: true; readonly identity: TokenIdentity } | Extract<AuthDecision, { readonly ok: false }>;

const NOTHING_REVOKED: Pick<Revocations, "isRevoked"> = { isRevoked: () => false };

/**
 * A stream's credential must be a valid gitmesh token that is not revoked; the namespace and
 * service account its node states must be the ones the token names, and the node must be one the
 * token is bound to (its node id, or its WORKLOAD_GROUP): node metadata alone is never trusted.
 */
export function authenticate(t: Tokens, metadata: Metadata, node: Node__Output, revocations: Pick<Revocations, "isRevoked"> = NOTHING_REVOKED): TokenAuthDecision {
  const values = metadata.get("authorization");
  if (values.length > 1) return { ok: false, code: "UNAUTHENTICATED", message: "more than one authorization metadata value" };
  const header = values[0];
  const verdict = t.verifyBearer(typeof header === "string" ? header : undefined);
  if (!verdict.ok) return { ok: false, code: "UNAUTHENTICATED", message: `credential refused (${verdict.reason}): ${verdict.detail}; issue one with gitmesh token issue` };
  if (revocations.isRevoked(verdict.id)) return { ok: false, code: "UNAUTHENTICATED", message: `credential refused (revoked): token ${verdict.id} was revoked (gitmesh token revoke); issue a new one with gitmesh token issue` };
  const claimed = proxyFromNode(node);
  if (!claimed.ok) return { ok: false, code: "PERMISSION_DENIED", message: claimed.problems.join("; ") };
  const { namespace, serviceAccount } = claimed.proxy;
  if (namespace !== verdict.namespace || serviceAccount !== verdict.serviceAccount) {
    return {
      ok: false,
      code: "PERMISSION_DENIED",
      message: `the credential is for ${verdict.namespace}/${verdict.serviceAccount}, but the node says it is ${namespace}/${serviceAccount}`,
    };
  }
  const refusal = bindingRefusal(verdict.binding, claimed.proxy);
  if (refusal !== undefined) return { ok: false, code: "PERMISSION_DENIED", message: refusal };
  return { ok: true, identity: { namespace, serviceAccount, tokenId: verdict.id, expiresAt: verdict.expiresAt, binding: verdict.binding } };
}

/** The trust bundle file is the CA's (src/ca); serve.ts writes it again at each rotation step. */
export { writeTrustBundle };
