// An Envoy sidecar's inbound side: per port the workload serves, a listener on the workload's own
// address that enforces its AuthorizationPolicies and hands the traffic to the application on
// 127.0.0.1 at the same port. The application therefore listens on 127.0.0.1 only; the sidecar
// takes the port on the address peers dial (docs/proxies.md, "How traffic reaches the sidecar").
import type { MeshResource } from "../config/resources.js";
import type { ServicePort } from "../config/types.js";
import { pack, type Any } from "../envoy/index.js";
import type { FilterChain } from "../envoy/generated/envoy/config/listener/v3/FilterChain.js";
import type { MtlsMode } from "./mtls.js";
import { inboundClusterName, inboundListenerName } from "./names.js";
import { isHttpProtocol } from "./outbound.js";
import { jwtAuthnFilter } from "./jwt.js";
import { rbacFilterConfig, rbacHttpFilters, rbacNetworkFilters } from "./rbac.js";
import { ZERO_DURATION } from "./routes-values.js";
import { envoyInboundTls, HTTP_ALPN } from "./tls-contexts.js";
import { translated, type TranslatedCluster, type TranslatedListener } from "./translated.js";

/** A port the workload serves, and how (its protocol decides HTTP or TCP handling). */
export interface InboundPort {
  readonly port: number;
  readonly protocol: ServicePort["protocol"];
  /** What the port accepts (PeerAuthentication, mtls.ts); absent: plaintext only. */
  readonly mtls?: MtlsMode;
}

/**
 * How connections arrive on an inbound port: plaintext (DISABLE), or mutual TLS, alone (STRICT)
 * or beside plaintext (PERMISSIVE), told apart by the TLS inspector. Both chains carry the same
 * filters; on the TLS one the RBAC filters see the peer certificate's SPIFFE identity.
 */
export type InboundTransport = { readonly t: "plaintext" } | { readonly t: "mtls"; readonly alsoPlaintext: boolean };

export function inboundTransport(mode: MtlsMode | undefined): InboundTransport {
  switch (mode) {
    case "STRICT":
      return { t: "mtls", alsoPlaintext: false };
    case "PERMISSIVE":
      return { t: "mtls", alsoPlaintext: true };
    case "DISABLE":
    case undefined:
      return { t: "plaintext" };
  }
}

const LOCAL_APP = "127.0.0.1";

/**
 * The same listener bound to another address: what the sidecars of one service share but their
 * address (the filter chains, with their encoded filters) is built once for all of them.
 */
export function inboundListenerAt(listener: TranslatedListener, bindAddress: string): TranslatedListener {
  const socket = listener.message.address?.socket_address;
  return translated("envoy.config.listener.v3.Listener", listener.name, { ...listener.message, address: { socket_address: { ...socket, address: bindAddress } } });
}

/** The security policies that apply to the workload (selected by policiesForWorkload, rbac.ts). */
export interface InboundPolicies {
  readonly authorization: readonly MeshResource<"AuthorizationPolicy">[];
  /** Which end-user JWTs are verified (jwt.ts), before authorization runs. */
  readonly authentication?: readonly MeshResource<"RequestAuthentication">[];
}

/** The inbound listener for one port, bound to the workload's address. */
export function inboundListener(
  bindAddress: string,
  port: InboundPort,
  policies: InboundPolicies,
  transport: InboundTransport = inboundTransport(port.mtls),
): TranslatedListener {
  const name = inboundListenerName(port.port);
  return translated("envoy.config.listener.v3.Listener", name, {
    name,
    address: { socket_address: { address: bindAddress, port_value: port.port } },
    traffic_direction: "INBOUND",
    ...(transport.t === "mtls" ? { listener_filters: [TLS_INSPECTOR] } : {}),
    filter_chains: filterChains(port, policies, transport),
  });
}

const TLS_INSPECTOR = { name: "envoy.filters.listener.tls_inspector", typed_config: pack("envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector", {}) };

function filterChains(port: InboundPort, policies: InboundPolicies, transport: InboundTransport): FilterChain[] {
  const http = isHttpProtocol(port.protocol);
  const filters = (tls: boolean) => (http ? httpFilters(port.port, policies, tls) : tcpFilters(port.port, policies));
  const plaintext = { name: inboundClusterName(port.port), filters: filters(false) };
  switch (transport.t) {
    case "plaintext":
      return [plaintext];
    case "mtls": {
      const tls: FilterChain = {
        name: `inbound|${port.port}|mtls`,
        filter_chain_match: { transport_protocol: "tls" },
        transport_socket: envoyInboundTls(http ? HTTP_ALPN : []),
        filters: filters(true),
      };
      return transport.alsoPlaintext ? [tls, { ...plaintext, filter_chain_match: { transport_protocol: "raw_buffer" } }] : [tls];
    }
  }
}

/**
 * The application learns who called it from x-forwarded-client-cert, as behind Istio's sidecars:
 * on the mutual TLS chain the caller's SPIFFE URI (and the certificate's subject, DNS names and
 * hash) is appended to what the caller's own sidecar forwarded (APPEND_FORWARD), so an identity
 * verified hop by hop reaches the application. On the plaintext chain nobody was verified, so a
 * header the caller wrote is removed (SANITIZE): a plaintext client cannot claim an identity.
 */
function clientCertDetails(tls: boolean) {
  return tls
    ? { forward_client_cert_details: "APPEND_FORWARD" as const, set_current_client_cert_details: { subject: { value: true }, dns: true, uri: true } }
    : { forward_client_cert_details: "SANITIZE" as const };
}

function httpFilters(port: number, policies: InboundPolicies, tls: boolean): { name: string; typed_config: Any }[] {
  const name = inboundClusterName(port);
  const jwt = jwtAuthnFilter(policies.authentication ?? []);
  return [
    {
      name: "envoy.filters.network.http_connection_manager",
      typed_config: pack("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", {
        stat_prefix: `inbound_${port}`,
        codec_type: "AUTO",
        ...clientCertDetails(tls),
        route_config: {
          name,
          virtual_hosts: [
            {
              name,
              domains: ["*"],
              // Inbound has no timeout of its own: the caller's route decides (Istio's choice).
              routes: [{ name: "default", match: { prefix: "/" }, route: { cluster: name, timeout: ZERO_DURATION, max_stream_duration: { grpc_timeout_header_max: ZERO_DURATION } } }],
            },
          ],
          validate_clusters: { value: false },
        },
        // Authentication, then authorization (which reads what jwt_authn verified), then the router.
        http_filters: [
          ...(jwt === undefined ? [] : [jwt]),
          ...rbacHttpFilters(rbacFilterConfig(policies.authorization)),
          { name: "envoy.filters.http.router", typed_config: pack("envoy.extensions.filters.http.router.v3.Router", {}) },
        ],
      }),
    },
  ];
}

function tcpFilters(port: number, policies: InboundPolicies): { name: string; typed_config: Any }[] {
  const statPrefix = `inbound_${port}`;
  return [
    ...rbacNetworkFilters(rbacFilterConfig(policies.authorization, "tcp"), statPrefix),
    { name: "envoy.filters.network.tcp_proxy", typed_config: pack("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", { stat_prefix: statPrefix, cluster: inboundClusterName(port) }) },
  ];
}

/**
 * The cluster that reaches the application on 127.0.0.1:port, in the protocol its port declares,
 * as Istio's inbound clusters do: HTTP/1.1 on an HTTP port, HTTP/2 on HTTP2 and GRPC ports. Not the
 * caller's protocol: a client sidecar under h2UpgradePolicy UPGRADE speaks HTTP/2 to this sidecar,
 * and an HTTP/1.1 application must still get HTTP/1.1 (found with real Envoy: passing HTTP/2
 * through failed every request with a protocol error).
 */
export function inboundCluster(port: InboundPort): TranslatedCluster {
  const name = inboundClusterName(port.port);
  return translated("envoy.config.cluster.v3.Cluster", name, {
    name,
    type: "STATIC",
    connect_timeout: { seconds: 10, nanos: 0 },
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: LOCAL_APP, port_value: port.port } } } }] }],
    },
    ...(isHttpProtocol(port.protocol)
      ? {
          typed_extension_protocol_options: {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": pack("envoy.extensions.upstreams.http.v3.HttpProtocolOptions", {
              explicit_http_config: port.protocol === "HTTP" ? { http_protocol_options: {} } : { http2_protocol_options: {} },
            }),
          },
        }
      : {}),
  });
}
