// The inbound side of a proxyless gRPC server (grpc-js-xds XdsServer, grpc-go xds.NewGRPCServer):
// the server asks for the Listener named by its bootstrap's server_listener_resource_name_template
// with %s replaced by the address it binds ("0.0.0.0:50051", "[::]:50051"). The Listener's
// socket_address must equal that address, and its filter chain holds an HttpConnectionManager
// whose routes all use non_forwarding_action (anything else makes the server fail those RPCs),
// with the RBAC filters (the mesh's AuthorizationPolicies) before the router, their header
// matchers in the fields every gRPC version reads (grpc-headers.ts). Under a STRICT
// PeerAuthentication the chain has a TLS transport socket with certificate provider instances
// (the server must be built with XdsServerCredentials). gRPC's server picks filter chains only by
// addresses and ports (transport_protocol must be raw_buffer, and it takes no listener filters),
// so it cannot serve TLS and plaintext on one port: PERMISSIVE is served as plaintext, as Istio does.
import type { MeshResource } from "../config/resources.js";
import { pack } from "../envoy/index.js";
import type { MtlsMode } from "./mtls.js";
import { legacyHeaderMatcher } from "./grpc-headers.js";
import { rbacFilterConfig, rbacHttpFilters, withHeaderMatchers } from "./rbac.js";
import { grpcServerTls } from "./tls-contexts.js";
import { translated, type TranslatedListener } from "./translated.js";

/** What a proxyless gRPC server's bootstrap must set as server_listener_resource_name_template. */
export const GRPC_SERVER_LISTENER_TEMPLATE = "gitmesh/grpc/inbound/%s";

/** The Listener a gRPC server bound to address ("0.0.0.0:50051", "[::]:50051") asks for. */
export function grpcServerListenerName(address: string): string {
  return GRPC_SERVER_LISTENER_TEMPLATE.replace("%s", address);
}

/**
 * The inbound Listener of a proxyless gRPC server listening on host:port (0.0.0.0 unless told),
 * enforcing the AuthorizationPolicies that apply to it (see policiesForWorkload in rbac.ts).
 * Without policies it allows every RPC. mtls: what its PeerAuthentication says for the port.
 */
export function grpcServerListener(
  name: string,
  port: number,
  policies: readonly MeshResource<"AuthorizationPolicy">[],
  host = "0.0.0.0",
  mtls: MtlsMode = "DISABLE",
): TranslatedListener {
  const routeName = `inbound|${port}`;
  return translated("envoy.config.listener.v3.Listener", name, {
    name,
    address: { socket_address: { address: host, port_value: port } },
    traffic_direction: "INBOUND",
    filter_chains: [
      {
        name: routeName,
        ...(mtls === "STRICT" ? { transport_socket: grpcServerTls() } : {}),
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: pack("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", {
              stat_prefix: routeName,
              route_config: {
                name: routeName,
                virtual_hosts: [{ name: routeName, domains: ["*"], routes: [{ match: { prefix: "/" }, non_forwarding_action: {} }] }],
              },
              http_filters: [
                ...rbacHttpFilters(withHeaderMatchers(rbacFilterConfig(policies, "http", "grpc"), legacyHeaderMatcher)),
                { name: "envoy.filters.http.router", typed_config: pack("envoy.extensions.filters.http.router.v3.Router", {}) },
              ],
            }),
          },
        ],
      },
    ],
  });
}
