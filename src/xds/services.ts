import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import type { DeltaDiscoveryRequest__Output, DiscoveryRequest__Output } from "../envoy/index.js";
import { requestDecoder, type Decoded } from "./requests.js";
import { ADS_ORDER, CDS, EDS, LDS, RDS, SDS, type ResourceKind } from "./resource-kinds.js";

/** One streaming xDS method we serve. */
export interface XdsMethod {
  readonly service: string;
  readonly method: string;
  readonly protocol: "sotw" | "delta";
  readonly serves: readonly ResourceKind[];
  /** ADS: one stream carries every type, so the server orders them. */
  readonly ordered: boolean;
}

const method = (service: string, name: string, protocol: XdsMethod["protocol"], serves: readonly ResourceKind[]): XdsMethod => ({
  service,
  method: name,
  protocol,
  serves,
  ordered: serves.length > 1,
});

const ADS = "envoy.service.discovery.v3.AggregatedDiscoveryService";
const perType = (service: string, stream: string, delta: string, kind: ResourceKind): XdsMethod[] => [
  method(service, stream, "sotw", [kind]),
  method(service, delta, "delta", [kind]),
];

export const XDS_METHODS: readonly XdsMethod[] = [
  method(ADS, "StreamAggregatedResources", "sotw", ADS_ORDER),
  method(ADS, "DeltaAggregatedResources", "delta", ADS_ORDER),
  ...perType("envoy.service.cluster.v3.ClusterDiscoveryService", "StreamClusters", "DeltaClusters", CDS),
  ...perType("envoy.service.endpoint.v3.EndpointDiscoveryService", "StreamEndpoints", "DeltaEndpoints", EDS),
  ...perType("envoy.service.listener.v3.ListenerDiscoveryService", "StreamListeners", "DeltaListeners", LDS),
  ...perType("envoy.service.route.v3.RouteDiscoveryService", "StreamRoutes", "DeltaRoutes", RDS),
  ...perType("envoy.service.secret.v3.SecretDiscoveryService", "StreamSecrets", "DeltaSecrets", SDS),
];

export type SotwMethodDefinition = MethodDefinition<Decoded<DiscoveryRequest__Output>, Buffer>;
export type DeltaMethodDefinition = MethodDefinition<Decoded<DeltaDiscoveryRequest__Output>, Buffer>;

/**
 * gRPC service definitions, grouped by service. Requests are decoded by requests.ts; responses
 * are already bytes, assembled from pre-encoded resources.
 */
export function serviceDefinitions(maxNamesPerStream: number): Map<string, ServiceDefinition> {
  const decodeSotw = requestDecoder<DiscoveryRequest__Output>("envoy.service.discovery.v3.DiscoveryRequest", (r) => r.resource_names.length, maxNamesPerStream);
  const decodeDelta = requestDecoder<DeltaDiscoveryRequest__Output>(
    "envoy.service.discovery.v3.DeltaDiscoveryRequest",
    (r) => r.resource_names_subscribe.length + Object.keys(r.initial_resource_versions ?? {}).length,
    maxNamesPerStream,
  );
  const services = new Map<string, Record<string, MethodDefinition<object, object>>>();
  for (const m of XDS_METHODS) {
    const common = {
      path: `/${m.service}/${m.method}`,
      requestStream: true,
      responseStream: true,
      requestSerialize: (): Buffer => {
        throw new Error("bug: the xDS server never serializes requests");
      },
      responseSerialize: (bytes: Buffer) => bytes,
      responseDeserialize: (bytes: Buffer) => bytes,
      originalName: m.method,
    };
    const def: SotwMethodDefinition | DeltaMethodDefinition =
      m.protocol === "sotw" ? { ...common, requestDeserialize: decodeSotw } : { ...common, requestDeserialize: decodeDelta };
    const service = services.get(m.service) ?? {};
    service[m.method] = def as MethodDefinition<object, object>;
    services.set(m.service, service);
  }
  return services as Map<string, ServiceDefinition>;
}
