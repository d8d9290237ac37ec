// Mutual TLS in the mesh: which mode a workload's port accepts (PeerAuthentication, in Istio's
// precedence), and what a client uses to reach a service (DestinationRule tls, else automatic
// mutual TLS to workloads that have proxies). Pure: decisions only; tls-contexts.ts builds the
// transport sockets and docs/mtls.md explains the rules.
import type { MeshModel } from "../config/load.js";
import { peerAuthentications, TLS_MODE_LABEL, type PeerAuthentications } from "../config/peer-authentication.js";
import { DEFAULT_NAMING, labelsMatch, type MeshResource } from "../config/resources.js";
import type { ClientTLSSettings, ServicePort } from "../config/types.js";
import { endpointPort, type MeshService } from "./services.js";

export { DEFAULT_MTLS_MODE, peerAuthentications, TLS_MODE_LABEL, type MtlsMode, type PeerAuthentications } from "../config/peer-authentication.js";

type PeerAuthentication = MeshResource<"PeerAuthentication">;

/** How a cluster reaches its endpoints. */
export type UpstreamSecurity =
  | { readonly t: "plaintext" }
  /**
   * Mesh mutual TLS: the client's workload certificate, the server verified against the mesh
   * roots and against sans (SPIFFE IDs, any of them). auto: chosen by automatic mTLS rather than
   * by a DestinationRule (proxyless gRPC clients take only the latter).
   */
  | { readonly t: "istio-mutual"; readonly sans: readonly string[]; readonly sni?: string; readonly auto: boolean }
  /** A DestinationRule's SIMPLE or MUTUAL TLS with files on the proxy (Envoy only). */
  | { readonly t: "files"; readonly tls: ClientTLSSettings };

/** The mesh's mTLS decisions, made once per model. */
export interface MeshMtls {
  readonly trustDomain: string;
  readonly peers: PeerAuthentications;
  /**
   * The security of the service's clusters for a port, given the DestinationRule tls that
   * applies to it (after port-level and subset merging), and notes on what it could not honour.
   */
  upstream(service: MeshService, port: ServicePort, tls: ClientTLSSettings | undefined): { security: UpstreamSecurity; notes: string[] };
  /** What the service's clusters depend on beyond the service and its DestinationRule (memo key). */
  key(service: MeshService): string;
}

/** The SPIFFE identity of a service account. */
export function spiffeUri(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** The identities a client of the service accepts: its endpoints' service accounts ("default" when unnamed). */
export function serviceIdentities(service: MeshService, trustDomain: string): string[] {
  return [...new Set(service.endpoints.map((e) => spiffeUri(trustDomain, service.namespace, e.serviceAccount ?? "default")))].sort();
}

/**
 * Automatic mutual TLS (Istio's default): a client uses ISTIO_MUTUAL to a service port, without a
 * DestinationRule saying so, when every endpoint behind it is a workload with a proxy that accepts
 * mutual TLS there. gitmesh's rule: the ServiceEntry is MESH_INTERNAL and selects its endpoints by
 * workloadSelector (WorkloadEntries and registered workloads are mesh members) with no inline
 * endpoints; there is at least one; none is labelled security.istio.io/tlsMode other than
 * "istio" or is a gateway workload (a Gateway selects it); and no endpoint's PeerAuthentication
 * is DISABLE on the port it serves. Otherwise
 * plaintext (a STRICT endpoint behind such a service then refuses the client: say ISTIO_MUTUAL in
 * a DestinationRule).
 */
function autoMtls(service: MeshService, port: ServicePort, peers: PeerAuthentications, gateways: readonly Readonly<Record<string, string>>[]): boolean {
  const spec = service.entry.spec;
  if (spec.location !== "MESH_INTERNAL" || spec.workloadSelector === undefined || (spec.endpoints ?? []).length > 0) return false;
  if (service.endpoints.length === 0) return false;
  return service.endpoints.every((e) => {
    const tlsMode = e.labels[TLS_MODE_LABEL];
    if (tlsMode !== undefined && tlsMode !== "istio") return false;
    // A gateway workload (one a Gateway selects) serves its servers as they say, plaintext HTTP
    // included: Istio's gateway pods carry no tlsMode "istio" label, so automatic mTLS skips them
    // (a DestinationRule asks ISTIO_MUTUAL for an ISTIO_MUTUAL server, as Istio's tasks do).
    if (gateways.some((selector) => labelsMatch(selector, e.labels))) return false;
    return peers.mode({ namespace: service.namespace, labels: e.labels }, endpointPort(e, port)) !== "DISABLE";
  });
}

/** What upstreamFor reads of a service, made once per service and port by the MeshMtls that asks. */
interface ServiceDecisions {
  automatic(service: MeshService, port: ServicePort): UpstreamSecurity;
  identities(service: MeshService): readonly string[];
}

function upstreamFor(service: MeshService, port: ServicePort, tls: ClientTLSSettings | undefined, decided: ServiceDecisions): { security: UpstreamSecurity; notes: string[] } {
  const notes: string[] = [];
  if (tls === undefined) return { security: decided.automatic(service, port), notes };
  const mode = tls.mode;
  if (mode === undefined || mode === "DISABLE") return { security: { t: "plaintext" }, notes };
  if (mode === "ISTIO_MUTUAL") {
    const sans = tls.subjectAltNames ?? decided.identities(service);
    return { security: { t: "istio-mutual", sans, ...(tls.sni === undefined ? {} : { sni: tls.sni }), auto: false }, notes };
  }
  // SIMPLE or MUTUAL
  if (tls.credentialName !== undefined) notes.push(`tls credentialName ${tls.credentialName} is served to gateways only; sidecars use clientCertificate, privateKey and caCertificates files`);
  if (mode === "MUTUAL" && (tls.clientCertificate === undefined || tls.privateKey === undefined)) notes.push("tls mode MUTUAL without clientCertificate and privateKey: no client certificate is presented");
  if (tls.insecureSkipVerify === true) notes.push(`tls insecureSkipVerify: the server's certificate is not verified`);
  return { security: { t: "files", tls }, notes };
}

/** The mTLS decisions for explicit inputs (tests, and models through meshMtls). */
export function createMeshMtls(
  policies: readonly PeerAuthentication[],
  rootNamespace: string,
  trustDomain: string,
  gatewaySelectors: readonly Readonly<Record<string, string>>[] = [],
): MeshMtls {
  const peers = peerAuthentications(policies, rootNamespace);
  const gateways = gatewaySelectors.filter((s) => Object.keys(s).length > 0);
  // A service's clusters (one per port and subset) ask the same of it: answered once, while this
  // object (one model's decisions, or a translation memo's) lives.
  const automatic = new WeakMap<MeshService, Map<ServicePort, UpstreamSecurity>>();
  const identities = new WeakMap<MeshService, readonly string[]>();
  const decided: ServiceDecisions = {
    automatic(service, port) {
      let byPort = automatic.get(service);
      if (byPort === undefined) automatic.set(service, (byPort = new Map()));
      let security = byPort.get(port);
      if (security === undefined) byPort.set(port, (security = autoMtls(service, port, peers, gateways) ? { t: "istio-mutual", sans: decided.identities(service), auto: true } : { t: "plaintext" }));
      return security;
    },
    identities(service) {
      let sans = identities.get(service);
      if (sans === undefined) identities.set(service, (sans = serviceIdentities(service, trustDomain)));
      return sans;
    },
  };
  return {
    trustDomain,
    peers,
    upstream: (service, port, tls) => upstreamFor(service, port, tls, decided),
    key(service) {
      return `${trustDomain}|${service.ports.map((p) => (decided.automatic(service, p).t === "plaintext" ? "0" : "1")).join("")}`;
    },
  };
}

const byModel = new WeakMap<MeshModel, MeshMtls>();

/**
 * The mesh's mTLS decisions, once per model, in the mesh's trust domain (naming.trustDomain: the
 * one setting the mesh CA issues under too).
 */
export function meshMtls(model: MeshModel): MeshMtls {
  let m = byModel.get(model);
  if (m === undefined) {
    const policies: PeerAuthentication[] = [];
    const gateways: Readonly<Record<string, string>>[] = [];
    for (const r of model.resources) {
      if (r.kind === "PeerAuthentication") policies.push(r);
      else if (r.kind === "Gateway") gateways.push(r.spec.selector ?? {});
    }
    m = createMeshMtls(policies, model.naming.rootNamespace, model.naming.trustDomain, gateways);
    byModel.set(model, m);
  }
  return m;
}

/** The decisions of a mesh without PeerAuthentications, in the default trust domain. */
export const DEFAULT_MESH_MTLS = createMeshMtls([], DEFAULT_NAMING.rootNamespace, DEFAULT_NAMING.trustDomain);

