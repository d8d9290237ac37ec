import type protobuf from "protobufjs";
import type { Any } from "./generated/google/protobuf/Any.js";
import type { EnvoyMessageName, EnvoyMessages } from "./messages.js";
import { envoyProtoRoot } from "./protos.js";
import { typeUrlOf } from "./type-urls.js";

const typeCache = new Map<string, protobuf.Type>();

export function messageType(name: string): protobuf.Type {
  let type = typeCache.get(name);
  if (type === undefined) {
    type = envoyProtoRoot().lookupType(name);
    typeCache.set(name, type);
  }
  return type;
}

/** Encodes a typed Envoy message to its protobuf bytes. */
export function encodeMessage<N extends EnvoyMessageName>(name: N, value: EnvoyMessages[N]): Buffer {
  const type = messageType(name);
  if (!knownFields(type, value as Record<string, unknown>)) assertKnownFields(type, value as Record<string, unknown>, name);
  const bytes = type.encode(type.fromObject(value as Record<string, unknown>)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Packs a typed message into a google.protobuf.Any, encoding it now (once). */
export function pack<N extends EnvoyMessageName>(name: N, value: EnvoyMessages[N]): Any {
  return { type_url: typeUrlOf(name), value: encodeMessage(name, value) };
}

export interface DecodeOptions {
  /** Include fields left at their default value (default false: only what is set). */
  readonly defaults?: boolean;
}

/** Decodes bytes into a plain object with snake_case names, enums as names, 64-bit ints as strings. */
export function decodeMessage(name: string, bytes: Uint8Array, options: DecodeOptions = {}): Record<string, unknown> {
  const type = messageType(name);
  return type.toObject(type.decode(bytes), {
    longs: String,
    enums: String,
    bytes: Buffer,
    defaults: options.defaults ?? false,
    arrays: options.defaults ?? false,
    oneofs: false,
  }) as Record<string, unknown>;
}

const childTypes = new WeakMap<protobuf.Field, protobuf.Type | null>();

/**
 * The message type a field holds, if it is a message other than Any (whose value is bytes
 * already). Found once per field: protobufjs's fullName joins the names of every parent each time
 * it is read, and knownFields asks for every field of every message encoded.
 */
function childMessageType(field: protobuf.Field): protobuf.Type | undefined {
  let child = childTypes.get(field);
  if (child === undefined) {
    field.resolve();
    const t = field.resolvedType;
    child = t === null || !("fields" in t) || (t as protobuf.Type).fullName === ".google.protobuf.Any" ? null : (t as protobuf.Type);
    childTypes.set(field, child);
  }
  return child ?? undefined;
}

const isChild = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Buffer.isBuffer(v);

/**
 * Whether every field name in value, at every depth, is a field of its message: the check below
 * without building a path for each field it visits (every resource of every translation passes
 * through here). Only when this says no is the path-building check run, for its message.
 */
function knownFields(type: protobuf.Type, value: Record<string, unknown>): boolean {
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const fieldValue = value[key];
    if (fieldValue === undefined) continue;
    const field = Object.hasOwn(type.fields, key) ? type.fields[key] : undefined;
    if (field === undefined) {
      if (type.oneofs !== undefined && Object.hasOwn(type.oneofs, key)) continue;
      return false;
    }
    if (fieldValue === null) continue;
    const child = childMessageType(field);
    if (child === undefined) continue;
    if (field.map) {
      for (const k in fieldValue as Record<string, unknown>) {
        const v = (fieldValue as Record<string, unknown>)[k];
        if (isChild(v) && !knownFields(child, v)) return false;
      }
    } else if (field.repeated) {
      for (const v of fieldValue as unknown[]) if (isChild(v) && !knownFields(child, v)) return false;
    } else if (isChild(fieldValue) && !knownFields(child, fieldValue)) return false;
  }
  return true;
}

/**
 * protobufjs's fromObject drops unknown field names without a word. Types catch literals at compile
 * time; this catches what types cannot (spreads, casts, widened objects) at the one place every
 * message passes through. A failure here is a bug in gitmesh, so it throws.
 */
function assertKnownFields(type: protobuf.Type, value: Record<string, unknown>, path: string): void {
  for (const [key, fieldValue] of Object.entries(value)) {
    if (fieldValue === undefined) continue;
    // hasOwn: a key like "toString" must not find Object.prototype's method.
    const field = Object.hasOwn(type.fields, key) ? type.fields[key] : undefined;
    if (field === undefined) {
      if (type.oneofs !== undefined && Object.hasOwn(type.oneofs, key)) continue; // the oneof discriminator proto-loader types allow
      throw new Error(`bug: ${path}.${key} is not a field of ${type.fullName.slice(1)}`);
    }
    field.resolve();
    const fieldType = field.resolvedType;
    if (fieldType === null || !("fields" in fieldType) || fieldValue === null) continue;
    const messageFieldType = fieldType as protobuf.Type;
    if (messageFieldType.fullName === ".google.protobuf.Any") continue;
    const children = field.map
      ? Object.values(fieldValue as Record<string, unknown>)
      : field.repeated
        ? (fieldValue as unknown[])
        : [fieldValue];
    children.forEach((child, i) => {
      if (child !== null && typeof child === "object" && !Buffer.isBuffer(child)) {
        const childPath = field.repeated ? `${path}.${key}[${i}]` : `${path}.${key}`;
        assertKnownFields(messageFieldType, child as Record<string, unknown>, childPath);
      }
    });
  }
}
