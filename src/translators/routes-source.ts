// Matches that exist only for some client proxies: Istio's sourceLabels and sourceNamespace. They
// are not Envoy conditions: they decide which routes a proxy receives (Istio's sourceMatchHTTP).
// Routes are shared between proxies, so a proxy's variant is named by which of these conditions
// hold for it: proxies with the same answers share one set of routes.
import { labelsMatch, type MeshResource } from "../config/resources.js";
import type { HTTPMatchRequest, Labels } from "../config/types.js";

/** The client proxy routes are built for: its labels and namespace (the node's own claim). */
export interface RouteSource {
  readonly labels: Labels;
  readonly namespace: string;
}

/** Whether a match has a condition on the client. */
export function hasSourceCondition(m: HTTPMatchRequest | undefined): boolean {
  return m !== undefined && (m.sourceLabels !== undefined || m.sourceNamespace !== undefined);
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
