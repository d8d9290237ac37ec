// A message in the proto3 JSON form Envoy parses its bootstrap and config files with
// (JsonStringToMessage): durations as "1.5s", Struct and Value as plain JSON, wrappers as their
// bare value, Any as {"@type", ...fields}, 64-bit integers and enums as strings, bytes as base64.
// describeMessage is for people; this is for Envoy.
import type protobuf from "protobufjs";
import { decodeMessage, messageType } from "./encode.js";
import { messageNameOf } from "./type-urls.js";

export function protoJson(name: string, bytes: Uint8Array): Record<string, unknown> {
  return messageJson(messageType(name), decodeMessage(name, bytes)) as Record<string, unknown>;
}

const WRAPPERS = new Set(["DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value", "BoolValue", "StringValue", "BytesValue"].map((w) => `.google.protobuf.${w}`));

function messageJson(type: protobuf.Type, value: Record<string, unknown>): unknown {
  switch (type.fullName) {
    case ".google.protobuf.Duration":
      return durationJson(value);
    case ".google.protobuf.Struct":
      return structJson(value);
    case ".google.protobuf.Value":
      return valueJson(value);
    case ".google.protobuf.ListValue":
      return ((value["values"] ?? []) as Record<string, unknown>[]).map(valueJson);
    case ".google.protobuf.Any": {
      const typeUrl = String(value["type_url"] ?? value["typeUrl"] ?? "");
      const payload = (value["value"] ?? Buffer.alloc(0)) as Buffer;
      return { "@type": typeUrl, ...(protoJson(messageNameOf(typeUrl), payload) as object) };
    }
  }
  if (WRAPPERS.has(type.fullName)) return scalarJson(value["value"]);
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const field = type.fields[key];
    if (field === undefined) throw new Error(`bug: ${type.fullName} has no field ${key}`);
    field.resolve();
    const one = (x: unknown) => (field.resolvedType !== null && "fields" in field.resolvedType ? messageJson(field.resolvedType, x as Record<string, unknown>) : scalarJson(x));
    if (field.map) out[key] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, one(x)]));
    else if (field.repeated) out[key] = (v as unknown[]).map(one);
    else out[key] = one(v);
  }
  return out;
}

function scalarJson(v: unknown): unknown {
  return Buffer.isBuffer(v) ? v.toString("base64") : v;
}

function durationJson(d: Record<string, unknown>): string {
  const seconds = BigInt(String(d["seconds"] ?? "0"));
  const nanos = Number(d["nanos"] ?? 0);
  if (nanos === 0) return `${seconds}s`;
  return `${seconds}.${String(Math.abs(nanos)).padStart(9, "0").replace(/0+$/, "")}s`;
}

function structJson(s: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries((s["fields"] ?? {}) as Record<string, Record<string, unknown>>).map(([k, v]) => [k, valueJson(v)]));
}

function valueJson(v: Record<string, unknown>): unknown {
  if ("stringValue" in v) return v["stringValue"];
  if ("numberValue" in v) return v["numberValue"];
  if ("boolValue" in v) return v["boolValue"];
  if ("structValue" in v) return structJson(v["structValue"] as Record<string, unknown>);
  if ("listValue" in v) return (((v["listValue"] as Record<string, unknown>)["values"] ?? []) as Record<string, unknown>[]).map(valueJson);
  return null;
}
