// Rules that keep a proxy from routing to something it does not have yet, or no longer has, while
// config changes. Both the state-of-the-world and the delta sessions apply them on ADS streams.
import { TypeUrl } from "../envoy/index.js";
import { referencesOf } from "./references.js";
import type { EncodedResource } from "./resource.js";
import type { Answer } from "./session.js";

/** What a session knows about the listeners and routes a proxy runs. */
export interface RoutesOnProxy {
  /** How the proxy answered the latest listeners (undefined: it does not subscribe to LDS). */
  readonly listenersAnswer: Answer | undefined;
  /** The listeners the proxy was sent last. */
  readonly listeners: readonly EncodedResource[];
  /** How the proxy answered the latest routes (undefined: it does not subscribe to RDS). */
  readonly routesAnswer: Answer | undefined;
  /** Names of the routes the proxy was sent. */
  readonly routeNames: ReadonlySet<string>;
}

/**
 * True when the proxy runs the listeners and routes it was sent last: every answer is an ACK (a
 * NACK means it still runs older routes) and every route those listeners name over RDS has been
 * sent to it. Envoy asks for a new route name before it ACKs the listener that names it, but the
 * gRPC client asks after, so an ACKed listener alone proves nothing about its routes.
 */
export function routesInPlace(r: RoutesOnProxy): boolean {
  if (r.listenersAnswer === undefined && r.routesAnswer === undefined) return true;
  if ((r.listenersAnswer ?? "ack") !== "ack" || (r.routesAnswer ?? "ack") !== "ack") return false;
  return r.listeners.every((l) => referencesOf(l).every((ref) => ref.typeUrl !== TypeUrl.RouteConfiguration || r.routeNames.has(ref.name)));
}

/**
 * The ClusterLoadAssignment names a set of clusters need: after a cluster changes, Envoy warms the
 * new one and waits for these again, even when the endpoints themselves did not change.
 */
export function endpointNamesOf(clusters: readonly EncodedResource[]): string[] {
  return clusters.flatMap((c) => referencesOf(c).filter((ref) => ref.typeUrl === TypeUrl.ClusterLoadAssignment).map((ref) => ref.name));
}
