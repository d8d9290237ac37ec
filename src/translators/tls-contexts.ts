// The TLS transport sockets of the mesh's mutual TLS, in the two forms its proxies take:
// - Envoy reads the workload's certificate and the trust bundle over SDS, by the names Istio uses:
//   "default" (certificate chain and key) and "ROOTCA" (trust bundle), on the ADS stream.
// - Proxyless gRPC cannot use SDS (grpc-js-xds NACKs any *_sds_secret_config); it reads PEM files
//   through the certificate provider instance its bootstrap names, "default" here (a file_watcher
//   over what `gitmesh cert issue --out DIR` writes; see grpcBootstrap).
// Only the names are referenced here: serving the secrets is the SDS server's job.
import type { ClientTLSSettings } from "../config/types.js";
import { pack, type Cluster, type DownstreamTlsContext, type UpstreamTlsContext } from "../envoy/index.js";
import type { FilterChain } from "../envoy/generated/envoy/config/listener/v3/FilterChain.js";
import type { SdsSecretConfig } from "../envoy/generated/envoy/extensions/transport_sockets/tls/v3/SdsSecretConfig.js";
import type { UpstreamHttpProtocolOptions } from "../envoy/generated/envoy/config/core/v3/UpstreamHttpProtocolOptions.js";

export type TransportSocket = NonNullable<FilterChain["transport_socket"]>;
type CommonTlsContext = NonNullable<UpstreamTlsContext["common_tls_context"]>;

import { SDS_ROOT_CA, SDS_WORKLOAD_CERT } from "../common/sds-names.js";

export { SDS_ROOT_CA, SDS_WORKLOAD_CERT };
/** The certificate provider instance proxyless gRPC reads both its certificate and the roots from. */
export const GRPC_CERT_PROVIDER = "default";

const TLS_SOCKET = "envoy.transport_sockets.tls";
/** ALPN on an inbound HTTP port: the connection manager's AUTO codec picks by it. */
export const HTTP_ALPN = ["h2", "http/1.1"] as const;

function sds(name: string): SdsSecretConfig {
  return { name, sds_config: { ads: {}, resource_api_version: "V3" } };
}

const TLS_PARAMS: NonNullable<CommonTlsContext["tls_params"]> = { tls_minimum_protocol_version: "TLSv1_2" };

function downstreamSocket(context: DownstreamTlsContext): TransportSocket {
  return { name: TLS_SOCKET, typed_config: pack("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", context) };
}

function upstreamSocket(context: UpstreamTlsContext): TransportSocket {
  return { name: TLS_SOCKET, typed_config: pack("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", context) };
}

/**
 * An Envoy sidecar's inbound mutual TLS: its own certificate over SDS, a client certificate
 * required and verified against the mesh roots (ROOTCA). The RBAC filters after it then see the
 * peer's SPIFFE identity. `alpn` for HTTP ports.
 */
export function envoyInboundTls(alpn: readonly string[] = []): TransportSocket {
  return downstreamSocket(meshServerTls(alpn));
}

/**
 * A server's side of mesh mutual TLS: the proxy's own certificate over SDS, a client certificate
 * required and verified against the mesh roots (any mesh identity). Sidecars' inbound listeners
 * and gateway servers in ISTIO_MUTUAL mode.
 */
export function meshServerTls(alpn: readonly string[] = []): DownstreamTlsContext {
  return {
    require_client_certificate: { value: true },
    common_tls_context: {
      tls_params: TLS_PARAMS,
      tls_certificate_sds_secret_configs: [sds(SDS_WORKLOAD_CERT)],
      validation_context_sds_secret_config: sds(SDS_ROOT_CA),
      ...(alpn.length > 0 ? { alpn_protocols: [...alpn] } : {}),
    },
  };
}

/**
 * An Envoy client's ISTIO_MUTUAL: its own certificate over SDS, the server's certificate verified
 * against ROOTCA and its URI SAN against the expected SPIFFE identities (any of them; none given:
 * any mesh identity).
 */
export function envoyIstioMutual(sans: readonly string[], sni?: string): TransportSocket {
  return upstreamSocket({
    common_tls_context: {
      tls_params: TLS_PARAMS,
      tls_certificate_sds_secret_configs: [sds(SDS_WORKLOAD_CERT)],
      combined_validation_context: {
        default_validation_context: { match_typed_subject_alt_names: sans.map((s) => ({ san_type: "URI" as const, matcher: { exact: s } })) },
        validation_context_sds_secret_config: sds(SDS_ROOT_CA),
      },
    },
    ...(sni === undefined ? {} : { sni }),
  });
}

/**
 * Where a sidecar finds the operating system's root certificates (Debian's and Ubuntu's bundle,
 * which the Envoy images carry). Istio's agent looks the file up per host; gitmesh's clusters are
 * shared by every proxy, so the path is one decision, here. See docs/config.md, "Egress".
 */
export const SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt";

/**
 * A DestinationRule's SIMPLE or MUTUAL TLS with files on the proxy's disk, as Istio builds it: the
 * client pair for MUTUAL; the server verified against caCertificates, else against the system
 * roots (SYSTEM_CA_FILE), and not at all only with insecureSkipVerify; the names it must carry
 * (subjectAltNames as DNS or URI SANs, matched exactly; without them HTTP clusters check the
 * name the request went to, upstreamTlsHttpOptions); and SNI (sni, else on HTTP clusters the
 * request's host).
 */
export function envoyFileTls(tls: ClientTLSSettings): TransportSocket {
  const common: CommonTlsContext = { tls_params: TLS_PARAMS };
  if (tls.mode === "MUTUAL" && tls.clientCertificate !== undefined && tls.privateKey !== undefined) {
    common.tls_certificates = [{ certificate_chain: { filename: tls.clientCertificate }, private_key: { filename: tls.privateKey } }];
  }
  if (tls.insecureSkipVerify !== true) {
    common.validation_context = {
      trusted_ca: { filename: tls.caCertificates ?? SYSTEM_CA_FILE },
      match_typed_subject_alt_names: (tls.subjectAltNames ?? []).flatMap((s) => [
        { san_type: "DNS" as const, matcher: { exact: s } },
        { san_type: "URI" as const, matcher: { exact: s } },
      ]),
    };
  }
  return upstreamSocket({ common_tls_context: common, ...(tls.sni === undefined ? {} : { sni: tls.sni }) });
}

/**
 * Istio's automatic SNI and SAN check for TLS it originates on HTTP clusters: without sni, the SNI
 * is the request's host (auto_sni); without subjectAltNames (and unless insecureSkipVerify), the
 * server's certificate must name that host (auto_san_validation). Undefined when neither applies.
 * Envoy reads both from the HTTP router, so TCP and TLS clusters send only what tls says.
 */
export function upstreamTlsHttpOptions(tls: ClientTLSSettings): UpstreamHttpProtocolOptions | undefined {
  const autoSni = tls.sni === undefined;
  const autoSan = tls.insecureSkipVerify !== true && (tls.subjectAltNames ?? []).length === 0;
  if (!autoSni && !autoSan) return undefined;
  return { ...(autoSni ? { auto_sni: true } : {}), ...(autoSan ? { auto_san_validation: true } : {}) };
}

/**
 * A proxyless gRPC client's ISTIO_MUTUAL, in the form grpc-js-xds accepts: certificate and roots
 * from the certificate provider instance, and the SAN check in match_subject_alt_names (it does not
 * read match_typed_subject_alt_names, so a typed matcher would silently verify nothing).
 */
export function grpcIstioMutual(sans: readonly string[]): TransportSocket {
  return upstreamSocket({
    common_tls_context: {
      tls_certificate_provider_instance: { instance_name: GRPC_CERT_PROVIDER },
      validation_context: {
        ca_certificate_provider_instance: { instance_name: GRPC_CERT_PROVIDER },
        match_subject_alt_names: sans.map((s) => ({ exact: s })),
      },
    },
  });
}

/**
 * A proxyless gRPC server's mutual TLS (STRICT): certificate and roots from the certificate
 * provider instance, a client certificate required.
 */
export function grpcServerTls(): TransportSocket {
  return downstreamSocket({
    require_client_certificate: { value: true },
    common_tls_context: {
      tls_certificate_provider_instance: { instance_name: GRPC_CERT_PROVIDER },
      validation_context: { ca_certificate_provider_instance: { instance_name: GRPC_CERT_PROVIDER } },
    },
  });
}

/** The cluster's transport socket replaced (or removed, with undefined). */
export function withTransportSocket(cluster: Cluster, socket: TransportSocket | undefined): Cluster {
  const out: Cluster = { ...cluster };
  delete out.transport_socket;
  if (socket !== undefined) out.transport_socket = socket;
  return out;
}
