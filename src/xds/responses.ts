import type { EncodedResource } from "./resource.js";
import type { TypeResources } from "./snapshot.js";
import { fieldHeader, lengthDelimited, stringField, WIRE_LEN } from "./wire.js";

// Field numbers from envoy/service/discovery/v3/discovery.proto.
const CONTROL_PLANE = lengthDelimited(1, Buffer.from("gitmesh")); // ControlPlane.identifier

/** A DiscoveryResponse without its nonce: identical for every stream that gets this view. */
export function sotwBody(typeUrl: string, version: string, items: readonly EncodedResource[]): Buffer {
  return Buffer.concat([
    stringField(1, version),
    ...items.map((r) => r.anyField),
    stringField(4, typeUrl),
    lengthDelimited(6, CONTROL_PLANE),
  ]);
}

/**
 * The full set of a type is what every wildcard subscriber gets: its body is built once per
 * snapshot type and kept by it (except a proxy's own composed type, which few streams share).
 */
export function sotwFullBody(resources: TypeResources): Buffer {
  const build = () => sotwBody(resources.typeUrl, resources.version, resources.items);
  return resources.composed === true ? build() : resources.memo.get("fullBody", build);
}

/** Appends the per-stream nonce (field 5). Field order does not matter on the wire. */
export function withNonce(body: Buffer, nonce: string): Buffer {
  return Buffer.concat([body, stringField(5, nonce)]);
}

// A delta Resource{version=1, resource=2, name=3}: resource is field 2 like DiscoveryResponse's
// resources, so the pre-framed Any is reused as is. The small fields around it are framed per
// response rather than kept: a kept copy would double the memory of every resource sent.
function deltaResourceParts(r: EncodedResource): Buffer[] {
  const version = stringField(1, r.version);
  const name = stringField(3, r.name);
  return [fieldHeader(2, WIRE_LEN, version.length + r.anyField.length + name.length), version, r.anyField, name];
}

export interface DeltaBodyParts {
  readonly typeUrl: string;
  readonly systemVersion: string;
  readonly resources: readonly EncodedResource[];
  readonly removed: readonly string[];
}

export interface DeltaResponseParts extends DeltaBodyParts {
  readonly nonce: string;
}

/** A DeltaDiscoveryResponse without its nonce: what every stream taking the same step sends. */
export function deltaBody(parts: DeltaBodyParts): Buffer {
  return Buffer.concat([
    stringField(1, parts.systemVersion),
    ...parts.resources.flatMap(deltaResourceParts),
    stringField(4, parts.typeUrl),
    ...parts.removed.map((name) => lengthDelimited(6, Buffer.from(name, "utf8"))),
    lengthDelimited(7, CONTROL_PLANE),
  ]);
}

export function deltaResponse(parts: DeltaResponseParts): Buffer {
  return withNonce(deltaBody(parts), parts.nonce);
}
