// Proxy credentials: a compact token gitmesh signs with HMAC-SHA256, binding a namespace and a
// service account until an expiry. Only gitmesh issues and checks them, so one secret key is
// enough (see docs/ca.md). Form: gmt1.BASE64URL(JSON claims).BASE64URL(HMAC of the first two).
import { createHmac, timingSafeEqual } from "node:crypto";
import { isValidName } from "./spiffe.js";

export const TOKEN_VERSION = "gmt1";
/** A token whose iat is this far ahead of our clock is still accepted (the issuer's clock may lead). */
export const TOKEN_CLOCK_SKEW_MS = 60_000;
export const DEFAULT_TOKEN_TTL_MS = 30 * 24 * 3600_000;

export type TokenVerdict =
  | { readonly ok: true; readonly namespace: string; readonly serviceAccount: string; readonly expiresAt: Date }
  | { readonly ok: false; readonly reason: TokenRefusal; readonly detail: string };

/** Why a credential was refused; `missing` and `malformed` map to UNAUTHENTICATED like the rest. */
export type TokenRefusal = "missing" | "malformed" | "bad-signature" | "expired" | "not-yet-valid";

interface Claims {
  readonly v: 1;
  readonly ns: string;
  readonly sa: string;
  /** Seconds since the epoch. */
  readonly iat: number;
  readonly exp: number;
}

const SHAPE = /^gmt1\.([A-Za-z0-9_-]{1,4000})\.([A-Za-z0-9_-]{43})$/;

function mac(key: Uint8Array, signed: string): Buffer {
  return createHmac("sha256", key).update(signed).digest();
}

/** A token for the identity, valid for ttlMs from now. Throws on names that are not Kubernetes names (a caller's bug: CLI checks first). */
export function issueToken(key: Uint8Array, namespace: string, serviceAccount: string, ttlMs: number = DEFAULT_TOKEN_TTL_MS, now: Date = new Date()): string {
  if (!isValidName("namespace", namespace) || !isValidName("serviceAccount", serviceAccount)) throw new Error(`invalid identity ${namespace}/${serviceAccount}`);
  const iat = Math.floor(now.getTime() / 1000);
  const claims: Claims = { v: 1, ns: namespace, sa: serviceAccount, iat, exp: iat + Math.max(1, Math.floor(ttlMs / 1000)) };
  const signed = `${TOKEN_VERSION}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  return `${signed}.${mac(key, signed).toString("base64url")}`;
}

function refuse(reason: TokenRefusal, detail: string): TokenVerdict {
  return { ok: false, reason, detail };
}

/** Checks a token's signature (in constant time), then its claims and times. */
export function verifyToken(key: Uint8Array, token: string, now: Date = new Date()): TokenVerdict {
  const m = SHAPE.exec(token);
  if (m === null) return refuse("malformed", "not a gitmesh token (gmt1.CLAIMS.SIGNATURE)");
  const [, payload, signature] = m as unknown as [string, string, string];
  const expected = mac(key, `${TOKEN_VERSION}.${payload}`);
  const given = Buffer.from(signature, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return refuse("bad-signature", "signature does not match: not issued by this gitmesh");
  let claims: Partial<Claims>;
  try {
    claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Partial<Claims>;
  } catch {
    return refuse("malformed", "claims are not JSON");
  }
  const { v, ns, sa, iat, exp } = claims;
  if (v !== 1 || typeof ns !== "string" || typeof sa !== "string" || !Number.isSafeInteger(iat) || !Number.isSafeInteger(exp)) {
    return refuse("malformed", "claims lack v, ns, sa, iat or exp");
  }
  if (!isValidName("namespace", ns) || !isValidName("serviceAccount", sa)) return refuse("malformed", "claims name an invalid identity");
  const t = now.getTime();
  if ((iat as number) * 1000 > t + TOKEN_CLOCK_SKEW_MS) return refuse("not-yet-valid", `issued at ${new Date((iat as number) * 1000).toISOString()}, in the future`);
  if (t >= (exp as number) * 1000) return refuse("expired", `expired at ${new Date((exp as number) * 1000).toISOString()}`);
  return { ok: true, namespace: ns, serviceAccount: sa, expiresAt: new Date((exp as number) * 1000) };
}

/** Verifies the gRPC `authorization` metadata value: `Bearer TOKEN`. */
export function verifyBearer(key: Uint8Array, header: string | undefined, now: Date = new Date()): TokenVerdict {
  if (header === undefined || header.trim() === "") return refuse("missing", "no authorization metadata");
  const m = /^Bearer +(\S+)$/i.exec(header.trim());
  if (m === null) return refuse("malformed", "authorization is not \"Bearer TOKEN\"");
  return verifyToken(key, m[1]!, now);
}

/** The three operations bound to one key and clock. */
export interface Tokens {
  issue(namespace: string, serviceAccount: string, ttlMs?: number): string;
  verify(token: string, now?: Date): TokenVerdict;
  verifyBearer(header: string | undefined, now?: Date): TokenVerdict;
}

export function tokens(key: Uint8Array, clock: () => Date = () => new Date()): Tokens {
  return {
    issue: (ns, sa, ttlMs) => issueToken(key, ns, sa, ttlMs, clock()),
    verify: (token, now) => verifyToken(key, token, now ?? clock()),
    verifyBearer: (header, now) => verifyBearer(key, header, now ?? clock()),
  };
}
