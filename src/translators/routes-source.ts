// Matches that exist only for some client proxies: Istio's sourceLabels and sourceNamespace. They
// are not Envoy conditions: they decide which routes a proxy receives (Istio's sourceMatchHTTP).
// Routes are shared between proxies, so a proxy's variant is named by which of these conditions
// hold for it: proxies with the same answers share one set of routes.
import { gatewayRef, labelsMatch, type MeshResource } from "../config/resources.js";
import type { HTTPMatchRequest, Labels } from "../config/types.js";

/** The client proxy routes are built for: its labels and namespace (the node's own claim). */
export interface RouteSource {
  readonly labels: Labels;
  readonly namespace: string;
}

/** Whether a match has a condition on the client (one naming gateways has none: see atSite). */
export function hasSourceCondition(m: HTTPMatchRequest | undefined): boolean {
  return m !== undefined && !namesGateways(m) && (m.sourceLabels !== undefined || m.sourceNamespace !== undefined);
}

function namesGateways(m: HTTPMatchRequest | undefined): boolean {
  return (m?.gateways ?? []).length > 0;
}

/**
 * Whether a match applies for a client: every sourceLabels label is the client's (an empty map
 * holds for every client, as in Istio) and sourceNamespace is its namespace. Without a client
 * (routes built for no particular proxy: gateways) a match with a condition on the client never
 * applies.
 */
export function appliesTo(m: HTTPMatchRequest | undefined, source: RouteSource | undefined): boolean {
  if (!hasSourceCondition(m)) return true;
  if (source === undefined) return false;
  return labelsMatch(m?.sourceLabels, source.labels) && (m?.sourceNamespace === undefined || m.sourceNamespace === source.namespace);
}

/** Whether a VirtualService's http routes depend on the client proxy. */
export function dependsOnSource(vs: MeshResource<"VirtualService"> | undefined): boolean {
  return (vs?.spec.http ?? []).some((h) => (h.match ?? []).some(hasSourceCondition));
}

/**
 * Which of the VirtualService's client conditions hold for this client, as one "0"/"1" per match
 * that has one, in order: two clients with the same answer get the same routes.
 */
export function sourceAnswers(vs: MeshResource<"VirtualService"> | undefined, source: RouteSource): string {
  let out = "";
  for (const h of vs?.spec.http ?? []) for (const m of h.match ?? []) if (hasSourceCondition(m)) out += appliesTo(m, source) ? "1" : "0";
  return out;
}

/**
 * Where routes are built: "mesh" (sidecars and proxyless gRPC clients) or one gateway, as
 * "namespace/name". Every proxy of a site gets the same answer, so this varies no shared routes.
 */
export type RouteSite = string;

/** The site of sidecars and proxyless gRPC clients (a VirtualService's gateways entry "mesh"). */
export const MESH_SITE: RouteSite = "mesh";

/**
 * Whether a match exists where routes are built and for the client: a match naming gateways
 * (Istio's HTTPMatchRequest.gateways) exists only at those, "mesh" included, and its sourceLabels
 * and sourceNamespace are then not read (Istio's sourceMatchHTTP reads the gateways instead of
 * them); any other match is the client's question (appliesTo). The VirtualService's own gateways
 * still decide where it is translated at all.
 */
export function matchExists(m: HTTPMatchRequest | undefined, vsNamespace: string, site: RouteSite, source: RouteSource | undefined): boolean {
  if (!namesGateways(m)) return appliesTo(m, source);
  return (m?.gateways ?? []).some((g) => gatewayRef(g, vsNamespace) === site);
}
