import { encodeMessage, typeUrlOf, type EnvoyMessageName, type EnvoyMessages } from "../envoy/index.js";
import { contentHash } from "./hash.js";
import { Memo } from "./memo.js";
import type { Reference } from "./references.js";
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
  /** What is derived from it once (the names it refers to, references.ts), kept with it. */
  readonly memo: Memo<{ references: readonly Reference[] }>;
}

const ANY_FIELD = 2; // DiscoveryResponse.resources

/** Wraps already-encoded message bytes as a resource. */
export function encodedResource(typeUrl: string, name: string, bytes: Uint8Array): EncodedResource {
  const typeUrlField = lengthDelimited(1, Buffer.from(typeUrl)); // Any.type_url
  const valueHeader = fieldHeader(2, WIRE_LEN, bytes.length); // Any.value
  const anyLength = typeUrlField.length + valueHeader.length + bytes.length;
  const outerHeader = fieldHeader(ANY_FIELD, WIRE_LEN, anyLength);
  const anyField = Buffer.concat([outerHeader, typeUrlField, valueHeader, bytes]);
  return {
    typeUrl,
    name,
    version: contentHash([bytes]),
    anyField,
    bytes: anyField.subarray(anyField.length - bytes.length),
    memo: new Memo(),
  };
}

/** Encodes a typed Envoy message as a resource of its own type. */
export function resource<N extends EnvoyMessageName>(messageName: N, name: string, value: EnvoyMessages[N]): EncodedResource {
  return encodedResource(typeUrlOf(messageName), name, encodeMessage(messageName, value));
}

/** A typed resource as the translators hand it over: type, name and message object. */
export interface TypedResource<N extends EnvoyMessageName = EnvoyMessageName> {
  readonly type: N;
  readonly name: string;
  readonly message: EnvoyMessages[N];
}

/**
 * The encode cache of a running control plane: each message object is encoded once, and
 * identical content built separately (two translations of one cluster) collapses to one object,
 * so memory grows with distinct content, not with proxies. Owned by whoever builds snapshots
 * (the runtime's pusher); everything it holds is weak, so content no snapshot holds any more is
 * collected with the message objects it came from.
 */
export class ResourceEncoder {
  private readonly byMessage = new WeakMap<object, EncodedResource>();
  private readonly pool = new Map<string, WeakRef<EncodedResource>>();
  private readonly finalizer = new FinalizationRegistry<string>((key) => {
    const ref = this.pool.get(key);
    if (ref !== undefined && ref.deref() === undefined) this.pool.delete(key);
  });

  /** The resource of a translator's output, encoded once per message object. */
  encode<N extends EnvoyMessageName>(r: TypedResource<N>): EncodedResource {
    const key = r.message as object;
    let encoded = this.byMessage.get(key);
    if (encoded === undefined || encoded.name !== r.name) {
      encoded = this.intern(resource(r.type, r.name, r.message));
      this.byMessage.set(key, encoded);
    }
    return encoded;
  }

  /** Distinct contents held (for leak checks). */
  get pooled(): number {
    return this.pool.size;
  }

  private intern(candidate: EncodedResource): EncodedResource {
    const key = `${candidate.typeUrl}\0${candidate.name}\0${candidate.version}`;
    const existing = this.pool.get(key)?.deref();
    if (existing !== undefined) return existing;
    this.pool.set(key, new WeakRef(candidate));
    this.finalizer.register(candidate, key);
    return candidate;
  }
}
