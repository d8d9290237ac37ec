import { TypeUrl } from "../envoy/index.js";

/** One xDS resource type as the protocol treats it. */
export interface ResourceKind {
  readonly typeUrl: TypeUrl;
  /** The short name operators know it by (CDS, EDS ...). */
  readonly short: "CDS" | "EDS" | "LDS" | "RDS" | "SDS";
  /**
   * In state of the world, a response carries every subscribed resource and an omitted one is
   * deleted (Listener, Cluster). For the others a resource not sent is simply not updated.
   */
  readonly fullState: boolean;
  /** An empty first subscription means "everything" (legacy wildcard, Listener and Cluster only). */
  readonly legacyWildcard: boolean;
}

const kind = (typeUrl: TypeUrl, short: ResourceKind["short"], fullState: boolean): ResourceKind => ({
  typeUrl,
  short,
  fullState,
  legacyWildcard: fullState,
});

export const CDS = kind(TypeUrl.Cluster, "CDS", true);
export const EDS = kind(TypeUrl.ClusterLoadAssignment, "EDS", false);
export const LDS = kind(TypeUrl.Listener, "LDS", true);
export const RDS = kind(TypeUrl.RouteConfiguration, "RDS", false);
export const SDS = kind(TypeUrl.Secret, "SDS", false);

/**
 * The one order in which an ADS stream sends types when several change at once: make before break.
 * A Cluster warms until its endpoints arrive and a Listener until its routes arrive, but a route
 * naming a cluster the proxy does not have yet answers 503, so clusters go first.
 */
export const ADS_ORDER: readonly ResourceKind[] = [CDS, EDS, LDS, RDS, SDS];

const byTypeUrl = new Map<string, ResourceKind>(ADS_ORDER.map((k) => [k.typeUrl, k]));

export function kindOf(typeUrl: string): ResourceKind | undefined {
  return byTypeUrl.get(typeUrl);
}
