import type { MeshModel } from "../config/load.js";
import { serviceClusters } from "./clusters.js";
import { serviceEndpoints } from "./endpoints.js";
import { grpcCluster } from "./grpc-compat.js";
import { grpcClientResources } from "./grpc.js";
import type { ProxyIdentity } from "./proxy.js";
import { indexServices } from "./services.js";
import { sortTranslated, type Translated, type TranslatedCluster } from "./translated.js";

/**
 * Everything the mesh translates to, computed once per model and shared by every proxy: a
 * resource that two proxies receive is the same object, so it is encoded once.
 */
export interface MeshTranslation {
  readonly clusters: readonly Translated[];
  /** The same clusters as proxyless gRPC clients take them (see grpc-compat.ts). */
  readonly grpcClusters: readonly Translated[];
  readonly endpoints: readonly Translated[];
  /** Proxyless gRPC client listeners and their routes. */
  readonly grpcListeners: readonly Translated[];
  readonly grpcRoutes: readonly Translated[];
}

export function translateMesh(model: MeshModel): MeshTranslation {
  const index = indexServices(model);
  const clusters: TranslatedCluster[] = [];
  const endpoints: Translated[] = [];
  const grpcListeners: Translated[] = [];
  const grpcRoutes: Translated[] = [];
  for (const service of index.services) {
    clusters.push(...serviceClusters(service));
    endpoints.push(...serviceEndpoints(service));
    const grpc = grpcClientResources(service, index);
    grpcListeners.push(...grpc.listeners);
    grpcRoutes.push(...grpc.routes);
  }
  const sortedClusters = sortTranslated(clusters);
  return {
    clusters: sortedClusters,
    grpcClusters: sortedClusters.map(grpcCluster),
    endpoints: sortTranslated(endpoints),
    grpcListeners: sortTranslated(grpcListeners),
    grpcRoutes: sortTranslated(grpcRoutes),
  };
}

/**
 * What one proxy receives. Proxyless gRPC clients get every service's listeners, routes,
 * clusters and endpoints (they ask only for what they use, by name). Envoy sidecars and gateways
 * are translated in a later step and get nothing yet.
 */
export function resourcesForProxy(t: MeshTranslation, proxy: ProxyIdentity): readonly Translated[] {
  if (proxy.kind !== "grpc") return [];
  return [...t.grpcClusters, ...t.endpoints, ...t.grpcListeners, ...t.grpcRoutes];
}
