// The Envoy messages gitmesh builds, by fully qualified name. Each entry maps to the generated
// input interface, so an object literal with a misspelled field fails to compile. Add a message
// here (and its proto to protos/roots.json if it is new) before building it anywhere.
import type { Cluster } from "./generated/envoy/config/cluster/v3/Cluster.js";
import type { ClusterLoadAssignment } from "./generated/envoy/config/endpoint/v3/ClusterLoadAssignment.js";
import type { Listener } from "./generated/envoy/config/listener/v3/Listener.js";
import type { RouteConfiguration } from "./generated/envoy/config/route/v3/RouteConfiguration.js";
import type { Secret } from "./generated/envoy/extensions/transport_sockets/tls/v3/Secret.js";
import type { DownstreamTlsContext } from "./generated/envoy/extensions/transport_sockets/tls/v3/DownstreamTlsContext.js";
import type { UpstreamTlsContext } from "./generated/envoy/extensions/transport_sockets/tls/v3/UpstreamTlsContext.js";
import type { TlsInspector } from "./generated/envoy/extensions/filters/listener/tls_inspector/v3/TlsInspector.js";
import type { HttpConnectionManager } from "./generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager.js";
import type { Router } from "./generated/envoy/extensions/filters/http/router/v3/Router.js";
import type { TcpProxy } from "./generated/envoy/extensions/filters/network/tcp_proxy/v3/TcpProxy.js";
import type { HTTPFault } from "./generated/envoy/extensions/filters/http/fault/v3/HTTPFault.js";
import type { Cors } from "./generated/envoy/extensions/filters/http/cors/v3/Cors.js";
import type { CorsPolicy } from "./generated/envoy/extensions/filters/http/cors/v3/CorsPolicy.js";
import type { HttpProtocolOptions } from "./generated/envoy/extensions/upstreams/http/v3/HttpProtocolOptions.js";
import type { RBAC } from "./generated/envoy/extensions/filters/http/rbac/v3/RBAC.js";
import type { RBAC as NetworkRBAC } from "./generated/envoy/extensions/filters/network/rbac/v3/RBAC.js";
import type { JwtAuthentication } from "./generated/envoy/extensions/filters/http/jwt_authn/v3/JwtAuthentication.js";
import type { Bootstrap } from "./generated/envoy/config/bootstrap/v3/Bootstrap.js";
import type { DownstreamConnectionsConfig } from "./generated/envoy/extensions/resource_monitors/downstream_connections/v3/DownstreamConnectionsConfig.js";
import type { DiscoveryRequest } from "./generated/envoy/service/discovery/v3/DiscoveryRequest.js";
import type { DeltaDiscoveryRequest } from "./generated/envoy/service/discovery/v3/DeltaDiscoveryRequest.js";
import type { DiscoveryResponse } from "./generated/envoy/service/discovery/v3/DiscoveryResponse.js";
import type { DeltaDiscoveryResponse } from "./generated/envoy/service/discovery/v3/DeltaDiscoveryResponse.js";
import type { ClientStatusResponse } from "./generated/envoy/service/status/v3/ClientStatusResponse.js";
import type { FileAccessLog } from "./generated/envoy/extensions/access_loggers/file/v3/FileAccessLog.js";
import type { StdoutAccessLog } from "./generated/envoy/extensions/access_loggers/stream/v3/StdoutAccessLog.js";

export interface EnvoyMessages {
  "envoy.config.cluster.v3.Cluster": Cluster;
  "envoy.config.endpoint.v3.ClusterLoadAssignment": ClusterLoadAssignment;
  "envoy.config.listener.v3.Listener": Listener;
  "envoy.config.route.v3.RouteConfiguration": RouteConfiguration;
  "envoy.extensions.transport_sockets.tls.v3.Secret": Secret;
  "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext": DownstreamTlsContext;
  "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext": UpstreamTlsContext;
  "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector": TlsInspector;
  "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager": HttpConnectionManager;
  "envoy.extensions.filters.http.router.v3.Router": Router;
  "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy": TcpProxy;
  "envoy.extensions.filters.http.fault.v3.HTTPFault": HTTPFault;
  "envoy.extensions.filters.http.cors.v3.Cors": Cors;
  "envoy.extensions.filters.http.cors.v3.CorsPolicy": CorsPolicy;
  "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": HttpProtocolOptions;
  "envoy.extensions.filters.http.rbac.v3.RBAC": RBAC;
  "envoy.extensions.filters.network.rbac.v3.RBAC": NetworkRBAC;
  "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication": JwtAuthentication;
  "envoy.config.bootstrap.v3.Bootstrap": Bootstrap;
  "envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig": DownstreamConnectionsConfig;
  "envoy.service.discovery.v3.DiscoveryRequest": DiscoveryRequest;
  "envoy.service.discovery.v3.DeltaDiscoveryRequest": DeltaDiscoveryRequest;
  "envoy.service.discovery.v3.DiscoveryResponse": DiscoveryResponse;
  "envoy.service.discovery.v3.DeltaDiscoveryResponse": DeltaDiscoveryResponse;
  "envoy.service.status.v3.ClientStatusResponse": ClientStatusResponse;
  "envoy.extensions.access_loggers.file.v3.FileAccessLog": FileAccessLog;
  "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog": StdoutAccessLog;
}

export type EnvoyMessageName = keyof EnvoyMessages;

export type {
  Cluster,
  ClusterLoadAssignment,
  Listener,
  RouteConfiguration,
  Secret,
  DownstreamTlsContext,
  UpstreamTlsContext,
  TlsInspector,
  HttpConnectionManager,
  Router,
  TcpProxy,
  HTTPFault,
  Cors,
  CorsPolicy,
  HttpProtocolOptions,
  RBAC,
  NetworkRBAC,
  JwtAuthentication,
  Bootstrap,
  DiscoveryRequest,
  DeltaDiscoveryRequest,
};
export type { DiscoveryRequest__Output } from "./generated/envoy/service/discovery/v3/DiscoveryRequest.js";
export type { DeltaDiscoveryRequest__Output } from "./generated/envoy/service/discovery/v3/DeltaDiscoveryRequest.js";
export type { Node__Output } from "./generated/envoy/config/core/v3/Node.js";
export type { ClientStatusRequest__Output } from "./generated/envoy/service/status/v3/ClientStatusRequest.js";
export type { _envoy_service_status_v3_ClientConfig_GenericXdsConfig as GenericXdsConfig } from "./generated/envoy/service/status/v3/ClientConfig.js";
export type { Any } from "./generated/google/protobuf/Any.js";
