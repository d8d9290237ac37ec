import type { EncodedResource } from "./resource.js";
import type { TypeResources } from "./snapshot.js";
import { lengthDelimited, stringField } from "./wire.js";

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

// The full set of a type is what every wildcard subscriber gets: build its body once per snapshot.
const fullBodies = new WeakMap<TypeResources, Buffer>();

export function sotwFullBody(resources: TypeResources): Buffer {
  if (resources.composed === true) return sotwBody(resources.typeUrl, resources.version, resources.items);
  let body = fullBodies.get(resources);
  if (body === undefined) {
    body = sotwBody(resources.typeUrl, resources.version, resources.items);
    fullBodies.set(resources, body);
  }
  return body;
}

/** Appends the per-stream nonce (field 5). Field order does not matter on the wire. */
export function withNonce(body: Buffer, nonce: string): Buffer {
  return Buffer.concat([body, stringField(5, nonce)]);
}

// A delta Resource{version=1, resource=2, name=3}: resource is field 2 like DiscoveryResponse's
// resources, so the pre-framed Any is reused as is.
const deltaFields = new WeakMap<EncodedResource, Buffer>();

function deltaResourceField(r: EncodedResource): Buffer {
  let field = deltaFields.get(r);
  if (field === undefined) {
    field = lengthDelimited(2, Buffer.concat([stringField(1, r.version), r.anyField, stringField(3, r.name)]));
    deltaFields.set(r, field);
  }
  return field;
}

export interface DeltaResponseParts {
  readonly typeUrl: string;
  readonly systemVersion: string;
  readonly resources: readonly EncodedResource[];
  readonly removed: readonly string[];
  readonly nonce: string;
}

export function deltaResponse(parts: DeltaResponseParts): Buffer {
  return Buffer.concat([
    stringField(1, parts.systemVersion),
    ...parts.resources.map(deltaResourceField),
    stringField(4, parts.typeUrl),
    stringField(5, parts.nonce),
    ...parts.removed.map((name) => lengthDelimited(6, Buffer.from(name, "utf8"))),
    lengthDelimited(7, CONTROL_PLANE),
  ]);
}
