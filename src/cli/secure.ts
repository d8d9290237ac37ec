// The TLS xDS endpoint: the mesh CA opened (or created) in the state directory, a serving
// certificate from it, and every stream's credential checked before anything is sent. This is
// where the CA meets the xDS server; neither knows the other.
import { writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { ServerCredentials, type Metadata } from "@grpc/grpc-js";
import { issuer, issueServingCertificate, loadOrCreateTokenKey, openOrCreateCa, tokens, trustBundlePem, type KeyType, type MeshCa, type Tokens } from "../ca/index.js";
import type { Node__Output } from "../envoy/index.js";
import type { Logger } from "../log.js";
import { proxyFromNode } from "../translators/proxy.js";
import type { AuthDecision, EndpointPolicy } from "../xds/index.js";

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
}

export const DEFAULT_SERVER_NAMES = ["gitmesh", "localhost", "127.0.0.1", "::1"];

export async function openSecure(options: SecureOptions): Promise<Secure> {
  const opened = await openOrCreateCa(options.stateDir, { trustDomain: options.trustDomain });
  if (!opened.ok) throw new Error(`the mesh CA in ${options.stateDir} cannot be used: ${opened.problems.map((p) => p.message).join("; ")}`);
  if (opened.created === true) options.logger.info("created the mesh CA (a new self-signed root)", { stateDir: options.stateDir, trustDomain: options.trustDomain });
  await writeTrustBundle(options.stateDir, opened.ca);
  const names = [...new Set([...(options.serverNames ?? DEFAULT_SERVER_NAMES), hostname()])];
  const serving = await issueServingCertificate(issuer(opened.ca), names, { keyType: "ecdsa" as KeyType });
  const t = tokens(await loadOrCreateTokenKey(options.stateDir));
  return {
    ca: opened.ca,
    credentials: ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(serving.chainPem), private_key: Buffer.from(serving.keyPem) }], false),
    policy: { t: "authenticated", authenticate: (metadata, node) => authenticate(t, metadata, node) },
  };
}

/**
 * A stream's credential must be a valid gitmesh token, and the namespace and service account its
 * node states must be the ones the token names: node metadata alone is never trusted.
 */
export function authenticate(t: Tokens, metadata: Metadata, node: Node__Output): AuthDecision {
  const values = metadata.get("authorization");
  if (values.length > 1) return { ok: false, code: "UNAUTHENTICATED", message: "more than one authorization metadata value" };
  const header = values[0];
  const verdict = t.verifyBearer(typeof header === "string" ? header : undefined);
  if (!verdict.ok) return { ok: false, code: "UNAUTHENTICATED", message: `credential refused (${verdict.reason}): ${verdict.detail}; issue one with gitmesh token issue` };
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
  return { ok: true, identity: { namespace, serviceAccount } };
}

/** Public: what proxies are given to verify gitmesh and each other (compose copies it to them). */
export async function writeTrustBundle(stateDir: string, ca: MeshCa): Promise<void> {
  await writeFile(join(stateDir, "trust-bundle.pem"), trustBundlePem(ca), { mode: 0o644 });
}
