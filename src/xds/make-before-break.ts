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

/**
 * Clusters a proxy was just sent for the first time, until they are warm. Envoy adds a new EDS
 * cluster warming and asks for its ClusterLoadAssignment only then, a round trip later, while a
 * route naming the cluster applies at once: in between that route answers 503 (no cluster). Real
 * Envoy showed it, a few requests each time a subset was added under load. So on a stream that
 * subscribes to endpoints, listeners and routes wait until the proxy has ACKed the endpoints of
 * the clusters new to it. (Clusters without EDS are ready once applied, and Envoy applies a
 * stream's responses in order.)
 */
export class NewClusters {
  /** Endpoint names of new clusters, with the nonce of the response that carried them (once sent). */
  private readonly endpoints = new Map<string, number | undefined>();
  /** Each new cluster's endpoint names, to forget them if the cluster goes before it is warm. */
  private readonly byCluster = new Map<string, readonly string[]>();

  /** True while listeners and routes must wait. */
  get warming(): boolean {
    return this.endpoints.size > 0;
  }

  /** A CDS response went out: these clusters are new to the proxy, those are removed. */
  clustersSent(added: readonly EncodedResource[], removed: readonly string[]): void {
    for (const name of removed) this.forgetCluster(name);
    for (const c of added) {
      const names = endpointNamesOf([c]);
      this.byCluster.set(c.name, names);
      for (const n of names) this.endpoints.set(n, undefined);
    }
  }

  /** An EDS response went out with these ClusterLoadAssignments. */
  endpointsSent(names: readonly string[], nonce: string): void {
    for (const n of names) if (this.endpoints.has(n)) this.endpoints.set(n, Number(nonce));
  }

  /**
   * The proxy answered our latest CDS or EDS response. An ACK of endpoints proves it applied that
   * response and every earlier one. A NACK means what it refused will not warm, so nothing waits.
   */
  answered(type: "CDS" | "EDS", nonce: string, answer: Answer): void {
    const n = Number(nonce);
    if (answer === "nack") {
      if (type === "CDS") this.byCluster.clear();
      for (const [name, sentIn] of this.endpoints) if (type === "CDS" || (sentIn !== undefined && sentIn <= n)) this.endpoints.delete(name);
      return;
    }
    if (type === "EDS") for (const [name, sentIn] of this.endpoints) if (sentIn !== undefined && sentIn <= n) this.endpoints.delete(name);
  }

  private forgetCluster(name: string): void {
    for (const n of this.byCluster.get(name) ?? []) this.endpoints.delete(n);
    this.byCluster.delete(name);
  }
}
