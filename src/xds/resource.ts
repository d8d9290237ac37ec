import { encodeMessage, typeUrlOf, type EnvoyMessageName, type EnvoyMessages } from "../envoy/index.js";
import { contentHash } from "./hash.js";
import { fieldHeader, lengthDelimited, WIRE_LEN } from "./wire.js";

/**
 * One resource, encoded once. Every snapshot, proxy and stream that carries it shares these bytes.
 */
export interface EncodedResource {
  readonly typeUrl: string;
  readonly name: string;
  /** Hash of the encoded bytes: the per-resource version of delta xDS. */
  readonly version: string;
  /**
   * The resource wrapped in google.protobuf.Any and framed as field 2 (resources) of a
   * DiscoveryResponse, ready to be written verbatim into any response.
   */
  readonly anyField: Buffer;
  /** The message's own bytes: a view into anyField, not a copy. */
  readonly bytes: Buffer;
}

const ANY_FIELD = 2; // DiscoveryResponse.resources

/** Wraps already-encoded message bytes as a resource. */
export function encodedResource(typeUrl: string, name: string, bytes: Uint8Array): EncodedResource {
  const typeUrlField = lengthDelimited(1, Buffer.from(typeUrl)); // Any.type_url
  const valueHeader = fieldHeader(2, WIRE_LEN, bytes.length); // Any.value
  const anyLength = typeUrlField.length + valueHeader.length + bytes.length;
  const outerHeader = fieldHeader(ANY_FIELD, WIRE_LEN, anyLength);
  const anyField = Buffer.concat([outerHeader, typeUrlField, valueHeader, bytes]);
  return intern({
    typeUrl,
    name,
    version: contentHash([bytes]),
    anyField,
    bytes: anyField.subarray(anyField.length - bytes.length),
  });
}

/** Encodes a typed Envoy message as a resource of its own type. */
export function resource<N extends EnvoyMessageName>(messageName: N, name: string, value: EnvoyMessages[N]): EncodedResource {
  return encodedResource(typeUrlOf(messageName), name, encodeMessage(messageName, value));
}

const encodedByMessage = new WeakMap<object, EncodedResource>();

/**
 * A typed resource from the translators, encoded once per message object: translators hand the
 * same object to every proxy that receives the resource, so this is encode-once in practice.
 */
export function resourceOf<N extends EnvoyMessageName>(r: { readonly type: N; readonly name: string; readonly message: EnvoyMessages[N] }): EncodedResource {
  const key = r.message as object;
  let encoded = encodedByMessage.get(key);
  if (encoded === undefined || encoded.name !== r.name) {
    encoded = resource(r.type, r.name, r.message);
    encodedByMessage.set(key, encoded);
  }
  return encoded;
}

// Identical resources built separately (two proxies' translations of one cluster) collapse to one
// object, so memory grows with distinct content, not with proxies. Weak references let content no
// snapshot holds any more be collected.
const pool = new Map<string, WeakRef<EncodedResource>>();
const finalizer = new FinalizationRegistry<string>((key) => {
  const ref = pool.get(key);
  if (ref !== undefined && ref.deref() === undefined) pool.delete(key);
});

function intern(candidate: EncodedResource): EncodedResource {
  const key = `${candidate.typeUrl}\0${candidate.name}\0${candidate.version}`;
  const existing = pool.get(key)?.deref();
  if (existing !== undefined) return existing;
  pool.set(key, new WeakRef(candidate));
  finalizer.register(candidate, key);
  return candidate;
}
