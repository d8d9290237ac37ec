// The pinned gRPC xDS client's own resource validators, run on what we send: whatever it would
// NACK fails a test here, without the 15 s a real client takes to give up on a resource.
import { createRequire } from "node:module";

// gitmesh serves the RBAC filter to gRPC servers; grpc-js-xds only knows it when this is set
// before the package first loads (as a server deploying gitmesh's policies must set it too).
process.env["GRPC_XDS_EXPERIMENTAL_RBAC"] = "true";
const xds = await import("@grpc/grpc-js-xds");

interface Decoder {
  decode(context: object, resource: { type_url: string; value: Buffer }): { error?: string };
}
type ResourceTypeModule = Record<string, { get(): Decoder }>;

const require = createRequire(import.meta.url);
const base = "@grpc/grpc-js-xds/build/src/xds-resource-type/";
xds.register(); // registers the HTTP filters (fault, router) the listener validator looks up

const decoders: Record<string, Decoder> = {
  "type.googleapis.com/envoy.config.cluster.v3.Cluster": (require(`${base}cluster-resource-type.js`) as ResourceTypeModule)["ClusterResourceType"]!.get(),
  "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment": (require(`${base}endpoint-resource-type.js`) as ResourceTypeModule)["EndpointResourceType"]!.get(),
  "type.googleapis.com/envoy.config.listener.v3.Listener": (require(`${base}listener-resource-type.js`) as ResourceTypeModule)["ListenerResourceType"]!.get(),
  "type.googleapis.com/envoy.config.route.v3.RouteConfiguration": (require(`${base}route-config-resource-type.js`) as ResourceTypeModule)["RouteConfigurationResourceType"]!.get(),
};

/**
 * The certificate provider instances a proxyless bootstrap made with `gitmesh bootstrap --cert-dir`
 * has: the validators only check that a TLS context's instance names are among them.
 */
const CERTIFICATE_PROVIDERS = { default: {} };

/** The gRPC client's complaint about a resource, or undefined when it would accept it. */
export function grpcClientRejects(typeUrl: string, bytes: Buffer): string | undefined {
  const decoder = decoders[typeUrl];
  if (decoder === undefined) return `no gRPC decoder for ${typeUrl}`;
  return decoder.decode({ bootstrap: { certificateProviders: CERTIFICATE_PROVIDERS }, server: {} }, { type_url: typeUrl, value: bytes }).error;
}
