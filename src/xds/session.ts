import { status } from "@grpc/grpc-js";
import type { Node__Output } from "../envoy/index.js";
import { unboundedAllowance, type NameAllowance } from "./allowance.js";
import { ADS_ORDER, kindOf, type ResourceKind } from "./resource-kinds.js";
import type { Snapshot } from "./snapshot.js";
import type { EncodedResource } from "./resource.js";
import { SubscriptionPool } from "./subscriptions.js";

/** What a protocol session asks its stream to do, in order. */
export type SessionAction =
  | {
      readonly t: "send";
      readonly kind: ResourceKind;
      readonly version: string;
      readonly nonce: string;
      readonly names: readonly string[];
      readonly removed: readonly string[];
      readonly bytes: Buffer;
    }
  | { readonly t: "ack"; readonly kind: ResourceKind; readonly version: string; readonly nonce: string }
  | {
      readonly t: "nack";
      readonly kind: ResourceKind;
      readonly version: string;
      readonly nonce: string;
      readonly code: number;
      readonly message: string;
    }
  /** An ADS request for a type we do not serve: left unanswered, as the protocol allows. */
  | { readonly t: "unserved"; readonly typeUrl: string }
  | { readonly t: "close"; readonly code: status; readonly message: string };

/** The protocol logic of a stream, SotW or delta: requests and snapshots in, actions out. */
export interface Session<Req> {
  readonly identifiedNode: Node__Output | undefined;
  onRequest(req: Req): SessionAction[];
  onSnapshot(snapshot: Snapshot): SessionAction[];
  /**
   * The proxy is not taking what it was sent: from now on responses are owed rather than sent
   * (requests are still handled), so a client that does not read cannot make the server queue
   * more and more for it.
   */
  hold(): void;
  /** Ends a hold: sends the latest state of every type owed, once. */
  resume(): SessionAction[];
  /** The stream ended: gives back what it shares with other streams (subscriptions, views). */
  close(): void;
  /** What the proxy holds of a type by this stream's count, for operators (sync-status.ts). */
  heldOf(typeUrl: string): Holding | undefined;
}

/**
 * What a proxy holds of one type, as its stream knows it: the resources of the latest response
 * (SotW) or everything sent and not removed (delta), that response's version and the proxy's
 * answer. A reconnecting proxy that already held the content counts as having ACKed it.
 */
export interface Holding {
  readonly version: string;
  readonly answer: Answer;
  /** How many resources the proxy holds (cheap: status pages ask every second). */
  readonly count: number;
  /** The resources themselves (built on demand: config dumps, CSDS). */
  resources(): HeldResources;
}

export interface HeldResources {
  readonly items: readonly EncodedResource[];
  /** Delta: names the proxy holds at a version the current snapshot no longer has. */
  readonly outdated: readonly string[];
}

/** What a session shares with its server and is counted against: see SubscriptionPool, NameAllowance. */
export interface SessionHolds {
  readonly pool: SubscriptionPool;
  readonly allowance: NameAllowance;
}

/** Holds for a session driven on its own (unit tests): a private pool, no bounds. */
export function unsharedHolds(): SessionHolds {
  return { pool: new SubscriptionPool(), allowance: unboundedAllowance() };
}

/** After a hold: responds, in ADS order, for every type owed a response, once each. */
export function respondOwed<S extends { owed: boolean }>(states: ReadonlyMap<string, S>, respond: (st: S) => SessionAction[]): SessionAction[] {
  const actions: SessionAction[] = [];
  for (const kind of ADS_ORDER) {
    const st = states.get(kind.typeUrl);
    if (st?.owed !== true) continue;
    st.owed = false;
    actions.push(...respond(st));
  }
  return actions;
}

/** The action that ends a stream that asked to hold more than its allowance gives. */
export function exhausted(message: string): SessionAction {
  return { t: "close", code: status.RESOURCE_EXHAUSTED, message };
}

/** How the proxy answered our latest response of a type. */
export type Answer = "pending" | "ack" | "nack";

export function answerOf(errorDetail: unknown): Answer {
  return errorDetail ? "nack" : "ack";
}

const close = (code: status, message: string): SessionAction => ({ t: "close", code, message });

export type Admission =
  | { readonly t: "admitted"; readonly node: Node__Output; readonly kind: ResourceKind }
  | { readonly t: "refused"; readonly node: Node__Output | undefined; readonly actions: SessionAction[] };

/**
 * Checks a request: the stream's first request must name the node; the type must be one this
 * stream serves. On ADS an unknown type is left unanswered (Envoy may ask for types we do not
 * serve, such as runtime); on a single-type service it is a client error.
 */
export function admitRequest(
  knownNode: Node__Output | undefined,
  node: Node__Output | null,
  requestedType: string,
  serves: readonly ResourceKind[],
): Admission {
  const identified = knownNode ?? node ?? undefined;
  if (identified === undefined) {
    return {
      t: "refused",
      node: undefined,
      actions: [close(status.INVALID_ARGUMENT, "the first request on an xDS stream must carry node (id and cluster, set in the proxy's bootstrap)")],
    };
  }
  if (identified.id === "") {
    return { t: "refused", node: undefined, actions: [close(status.INVALID_ARGUMENT, "node.id is empty: give every proxy a unique node id in its bootstrap")] };
  }
  const singleType = serves.length === 1 ? serves[0] : undefined;
  // A per-type service may leave type_url empty: the service already says which type it is.
  const kind = kindOf(requestedType === "" && singleType !== undefined ? singleType.typeUrl : requestedType);
  if (kind !== undefined && serves.includes(kind)) return { t: "admitted", node: identified, kind };
  if (singleType === undefined) return { t: "refused", node: identified, actions: [{ t: "unserved", typeUrl: requestedType }] };
  return {
    t: "refused",
    node: identified,
    actions: [close(status.INVALID_ARGUMENT, `type_url "${requestedType}" is not served on this stream; it serves ${singleType.typeUrl}`)],
  };
}
