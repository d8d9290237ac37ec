import { messageType } from "../envoy/index.js";

/** A request as the stream sees it: decoded, or the reason it could not be. */
export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

/**
 * Most names one request may subscribe to. Envoy names each cluster's endpoints, so a large mesh
 * means tens of thousands; far beyond that is a broken or hostile client, and sorting and
 * matching its list would stall every other stream.
 */
export const MAX_NAMES_PER_REQUEST = 100_000;

/** A decoder for a discovery request message: failures are data, never exceptions. */
export function requestDecoder<T>(messageName: string, namesOf: (request: T) => number): (bytes: Buffer) => Decoded<T> {
  const type = messageType(messageName);
  return (bytes) => {
    let value: T;
    try {
      value = type.toObject(type.decode(bytes), { longs: String, enums: String, defaults: true, arrays: true, objects: true }) as T;
    } catch (e) {
      return { ok: false, reason: `could not decode ${messageName}: ${(e as Error).message}` };
    }
    const names = namesOf(value);
    if (names > MAX_NAMES_PER_REQUEST) {
      return { ok: false, reason: `request names ${names} resources; at most ${MAX_NAMES_PER_REQUEST} per request are accepted` };
    }
    return { ok: true, value };
  };
}
