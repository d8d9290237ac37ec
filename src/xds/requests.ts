import { status } from "@grpc/grpc-js";
import { messageType } from "../envoy/index.js";

/** A request as the stream sees it: decoded, or the reason it could not be (and the status to end with). */
export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: status; readonly reason: string };

/**
 * A decoder for a discovery request message: failures are data, never exceptions. A request that
 * names more resources than a stream may hold at all (maxNames) is refused here, before anything
 * sorts or matches its list.
 */
export function requestDecoder<T>(messageName: string, namesOf: (request: T) => number, maxNames = Number.POSITIVE_INFINITY): (bytes: Buffer) => Decoded<T> {
  const type = messageType(messageName);
  return (bytes) => {
    let value: T;
    try {
      value = type.toObject(type.decode(bytes), { longs: String, enums: String, defaults: true, arrays: true, objects: true }) as T;
    } catch (e) {
      return { ok: false, code: status.INVALID_ARGUMENT, reason: `could not decode ${messageName}: ${(e as Error).message}` };
    }
    const names = namesOf(value);
    if (names > maxNames) {
      return { ok: false, code: status.RESOURCE_EXHAUSTED, reason: `request names ${names} resources; a stream may hold at most ${maxNames}` };
    }
    return { ok: true, value };
  };
}
