// ASN.1 DER through node-forge's encoder, with Node Buffers at the edges. forge works in binary
// strings; nothing outside this file sees them.
import forge from "node-forge";

const { asn1 } = forge;
export type Asn1 = forge.asn1.Asn1;

const U = asn1.Class.UNIVERSAL;
const T = asn1.Type;

export const bin = (b: Uint8Array): string => Buffer.from(b).toString("binary");
export const buf = (s: string): Buffer => Buffer.from(s, "binary");

export function encode(node: Asn1): Buffer {
  return buf(asn1.toDer(node).getBytes());
}

/** Parses DER; BIT STRING contents stay raw, so re-encoding gives back the same bytes. Throws. */
export function decode(der: Uint8Array): Asn1 {
  return asn1.fromDer(bin(der), { strict: true, parseAllBytes: true, decodeBitStrings: false } as unknown as boolean);
}

export const seq = (items: Asn1[]): Asn1 => asn1.create(U, T.SEQUENCE, true, items);
export const set = (items: Asn1[]): Asn1 => asn1.create(U, T.SET, true, items);
export const oid = (dotted: string): Asn1 => asn1.create(U, T.OID, false, asn1.oidToDer(dotted).getBytes());
export const nul = (): Asn1 => asn1.create(U, T.NULL, false, "");
export const bool = (v: boolean): Asn1 => asn1.create(U, T.BOOLEAN, false, v ? "\xff" : "\x00");
export const octets = (b: Uint8Array): Asn1 => asn1.create(U, T.OCTETSTRING, false, bin(b));
export const utf8 = (s: string): Asn1 => asn1.create(U, T.UTF8, false, forge.util.encodeUtf8(s));
/** A BIT STRING holding whole bytes (signatures, public keys). */
export const bits = (b: Uint8Array): Asn1 => asn1.create(U, T.BITSTRING, false, "\x00" + bin(b));
/** Context-specific [n], explicit (wrapping) or implicit (primitive bytes). */
export const explicit = (n: number, inner: Asn1): Asn1 => asn1.create(asn1.Class.CONTEXT_SPECIFIC, n, true, [inner]);
export const implicit = (n: number, bytes: string): Asn1 => asn1.create(asn1.Class.CONTEXT_SPECIFIC, n, false, bytes);

/** A non-negative INTEGER from big-endian bytes, minimally encoded. */
export function uint(b: Uint8Array): Asn1 {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const body = b.subarray(i);
  return asn1.create(U, T.INTEGER, false, ((body[0] ?? 0) & 0x80 ? "\x00" : "") + bin(body));
}

export function smallInt(n: number): Asn1 {
  return asn1.create(U, T.INTEGER, false, asn1.integerToDer(n).getBytes());
}

/**
 * A named-bit BIT STRING (keyUsage): bit 0 is the most significant bit of the first byte, and
 * DER drops trailing zero bits.
 */
export function namedBits(set: readonly number[]): Asn1 {
  const highest = Math.max(...set);
  const bytes = new Uint8Array(Math.floor(highest / 8) + 1);
  for (const n of set) bytes[n >> 3]! |= 0x80 >> (n & 7);
  const unused = 7 - (highest & 7);
  return asn1.create(U, T.BITSTRING, false, String.fromCharCode(unused) + bin(bytes));
}

/** The bits set in a named-bit BIT STRING's raw content (first byte: unused bit count). */
export function readNamedBits(content: Buffer): number[] {
  const out: number[] = [];
  for (let i = 1; i < content.length; i++) {
    for (let j = 0; j < 8; j++) if ((content[i]! & (0x80 >> j)) !== 0) out.push((i - 1) * 8 + j);
  }
  return out;
}

/** UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5), to the second. */
export function time(d: Date): Asn1 {
  const whole = new Date(Math.floor(d.getTime() / 1000) * 1000);
  return whole.getUTCFullYear() < 2050
    ? asn1.create(U, T.UTCTIME, false, asn1.dateToUtcTime(whole))
    : asn1.create(U, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(whole));
}

export const isConstructed = (n: Asn1): n is Asn1 & { value: Asn1[] } => Array.isArray(n.value);
export const bytesOf = (n: Asn1): Buffer => buf(typeof n.value === "string" ? n.value : "");
export const oidOf = (n: Asn1): string => asn1.derToOid(typeof n.value === "string" ? n.value : "");
export const childrenOf = (n: Asn1): Asn1[] => (isConstructed(n) ? n.value : []);
export const { Type, Class } = asn1;
