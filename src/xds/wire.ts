// Hand-written protobuf framing for discovery responses. Responses are assembled from the
// pre-encoded bytes of their resources instead of being re-encoded per proxy: that is what keeps
// a push to thousands of proxies close to the cost of writing the bytes.

export const WIRE_LEN = 2;

export function varint(value: number): Buffer {
  const bytes: number[] = [];
  let v = value;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

export function fieldHeader(field: number, wireType: number, length?: number): Buffer {
  const tag = varint(field * 8 + wireType);
  return length === undefined ? tag : Buffer.concat([tag, varint(length)]);
}

export function lengthDelimited(field: number, payload: Uint8Array): Buffer {
  return Buffer.concat([fieldHeader(field, WIRE_LEN, payload.length), payload]);
}

export function stringField(field: number, value: string): Buffer {
  return value === "" ? Buffer.alloc(0) : lengthDelimited(field, Buffer.from(value, "utf8"));
}
