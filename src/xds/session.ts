import { status } from "@grpc/grpc-js";
import type { Node__Output } from "../envoy/index.js";
import { kindOf, type ResourceKind } from "./resource-kinds.js";

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
  | { readonly t: "close"; readonly code: status; readonly message: string };

/** How the proxy answered our latest response of a type. */
export type Answer = "pending" | "ack" | "nack";

export const close = (code: status, message: string): SessionAction => ({ t: "close", code, message });

/** Checks a request's node (first request) and type URL against what this stream serves. */
export function admitRequest(
  knownNode: Node__Output | undefined,
  node: Node__Output | null,
  requestedType: string,
  serves: readonly ResourceKind[],
): { ok: true; node: Node__Output; kind: ResourceKind } | { ok: false; action: SessionAction } {
  const identified = knownNode ?? node ?? undefined;
  if (identified === undefined) {
    return {
      ok: false,
      action: close(status.INVALID_ARGUMENT, "the first request on an xDS stream must carry node (id and cluster, set in the proxy's bootstrap)"),
    };
  }
  if (identified.id === "") {
    return { ok: false, action: close(status.INVALID_ARGUMENT, "node.id is empty: give every proxy a unique node id in its bootstrap") };
  }
  // A per-type service may leave type_url empty: the service already says which type it is.
  const typeUrl = requestedType === "" && serves.length === 1 ? (serves[0]?.typeUrl ?? "") : requestedType;
  const kind = kindOf(typeUrl);
  if (kind === undefined || !serves.includes(kind)) {
    const served = serves.map((k) => k.typeUrl).join(", ");
    return {
      ok: false,
      action: close(status.INVALID_ARGUMENT, `type_url "${requestedType}" is not served on this stream; it serves ${served}`),
    };
  }
  return { ok: true, node: identified, kind };
}
