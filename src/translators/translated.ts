import type { EnvoyMessageName, EnvoyMessages } from "../envoy/index.js";
import type { UpstreamSecurity } from "./mtls.js";

/**
 * One Envoy resource a translator produced: its type, name and typed message. Translators are
 * pure; they build each distinct resource once per model and hand the same object to every
 * proxy that receives it, so the xDS layer encodes it once (by object identity).
 */
export interface Translated<N extends EnvoyMessageName = EnvoyMessageName> {
  readonly type: N;
  readonly name: string;
  readonly message: EnvoyMessages[N];
}

/**
 * A cluster, and how it reaches its endpoints when a translator chose that (clusters.ts): its
 * proxyless gRPC variant reads it (grpc-compat.ts). Never in the output.
 */
export type TranslatedCluster = Translated<"envoy.config.cluster.v3.Cluster"> & { readonly upstream?: UpstreamSecurity };
export type TranslatedEndpoints = Translated<"envoy.config.endpoint.v3.ClusterLoadAssignment">;
export type TranslatedRoute = Translated<"envoy.config.route.v3.RouteConfiguration">;
export type TranslatedListener = Translated<"envoy.config.listener.v3.Listener">;

export function translated<N extends EnvoyMessageName>(type: N, name: string, message: EnvoyMessages[N]): Translated<N> {
  return { type, name, message };
}

/** Sorted by type then name: the deterministic order every translator output has. */
export function sortTranslated<T extends Translated>(items: readonly T[]): T[] {
  // A service's own lists come out of their translators in order already: checked, not sorted.
  for (let i = 1; i < items.length; i++) {
    if (translatedOrder(items[i - 1] as T, items[i] as T) > 0) return [...items].sort(translatedOrder);
  }
  return [...items];
}

function translatedOrder(a: Translated, b: Translated): number {
  return a.type < b.type ? -1 : a.type > b.type ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
