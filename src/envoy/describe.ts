import { decodeMessage, messageType } from "./encode.js";
import { messageNameOf } from "./type-urls.js";

/**
 * A message as people read it: decoded from its bytes (exactly what a proxy receives), with every
 * google.protobuf.Any expanded into {"@type": ..., fields} when its type is known.
 */
export function describeMessage(name: string, bytes: Uint8Array): Record<string, unknown> {
  return expandAny(decodeMessage(name, bytes)) as Record<string, unknown>;
}

function expandAny(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(expandAny);
  // Bytes as base64, as Envoy's config dump (proto JSON) shows them.
  if (Buffer.isBuffer(value)) return value.toString("base64");
  if (value === null || typeof value !== "object") return value;
  const obj = value as Record<string, unknown>;
  const typeUrl = obj["type_url"];
  const payload = obj["value"];
  if (typeof typeUrl === "string" && Buffer.isBuffer(payload) && Object.keys(obj).length === 2) {
    const inner = messageNameOf(typeUrl);
    try {
      messageType(inner);
    } catch {
      return { "@type": typeUrl, value: payload.toString("base64") };
    }
    return { "@type": typeUrl, ...(describeMessage(inner, payload) as object) };
  }
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, expandAny(v)]));
}
