// Proxy credentials: a compact token gitmesh signs with HMAC-SHA256, naming a namespace and a
// service account until an expiry, with an id (so that it can be revoked) and, optionally, the
// proxies that may use it (a node id, or the members of a WorkloadGroup). Only gitmesh issues and
// checks them, so one secret key is enough (see docs/ca.md).
// Form: gmt1.BASE64URL(JSON claims).BASE64URL(HMAC of the first two). "gmt1" names the envelope
// (HMAC-SHA256 over "gmt1." + claims); the claims carry their own version, v.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { isValidName } from "./spiffe.js";

export const TOKEN_VERSION = "gmt1";
/** A token whose iat is this far ahead of our clock is still accepted (the issuer's clock may lead). */
export const TOKEN_CLOCK_SKEW_MS = 60_000;
export const DEFAULT_TOKEN_TTL_MS = 30 * 24 * 3600_000;

/**
 * Which proxies may use a token, beyond naming its namespace and service account:
 * - any: every proxy of that identity (tokens before ids and bindings were all like this);
 * - node: only the proxy whose node id is nodeId (a VM, a named WorkloadEntry);
 * - workload-group: only proxies that register themselves in that WorkloadGroup (node metadata
 *   WORKLOAD_GROUP), so that one token serves every replica (compose --scale) and nothing else.
 */
export type TokenBinding =
  | { readonly t: "any" }
  | { readonly t: "node"; readonly nodeId: string }
  | { readonly t: "workload-group"; readonly name: string };

export const UNBOUND: TokenBinding = { t: "any" };

export type TokenVerdict =
  | {
      readonly ok: true;
      /** What `gitmesh token revoke` takes: 32 hex digits (random), or v1-HEX for a v1 token (a hash of it). */
      readonly id: string;
      readonly namespace: string;
      readonly serviceAccount: string;
      readonly binding: TokenBinding;
      readonly issuedAt: Date;
      readonly expiresAt: Date;
      /** Issued before tokens had ids and bindings (claims v1): accepted as unbound until they expire. */
      readonly legacy: boolean;
    }
  | { readonly ok: false; readonly reason: TokenRefusal; readonly detail: string };

/** Why a credential was refused; `missing` and `malformed` map to UNAUTHENTICATED like the rest. */
export type TokenRefusal = "missing" | "malformed" | "bad-signature" | "expired" | "not-yet-valid";

interface Claims {
  /** 2 since ids and bindings; 1 before (no jti, node or wg). */
  readonly v: 1 | 2;
  readonly jti?: string;
  readonly ns: string;
  readonly sa: string;
  /** Seconds since the epoch. */
  readonly iat: number;
  readonly exp: number;
  /** Bound to this node id. */
  readonly node?: string;
  /** Bound to members of this WorkloadGroup (in ns). */
  readonly wg?: string;
}

const SHAPE = /^gmt1\.([A-Za-z0-9_-]{1,4000})\.([A-Za-z0-9_-]{43})$/;
/** A token id: 128 random bits in hex, or v1- and 128 bits of a v1 token's hash. */
export const TOKEN_ID = /^(v1-)?[0-9a-f]{32}$/;
/** Node ids a token may be bound to: printable, without spaces (they appear in logs and messages). */
const NODE_ID = /^[\x21-\x7e]{1,256}$/;

function mac(key: Uint8Array, signed: string): Buffer {
  return createHmac("sha256", key).update(signed).digest();
}

/** What is wrong with a binding's value, or undefined. */
export function bindingProblem(binding: TokenBinding): string | undefined {
  if (binding.t === "node" && !NODE_ID.test(binding.nodeId)) return `node id "${binding.nodeId}" must be 1 to 256 printable characters without spaces`;
  if (binding.t === "workload-group" && !isValidName("serviceAccount", binding.name)) return `WorkloadGroup name "${binding.name}" must be a DNS name (lower-case letters, digits, "-" and ".")`;
  return undefined;
}

/**
 * A token for the identity, valid for ttlMs from now, with a new random id and the binding given.
 * Throws on names that are not Kubernetes names or a bad binding (a caller's bug: the CLI checks first).
 */
export function issueToken(key: Uint8Array, namespace: string, serviceAccount: string, ttlMs: number = DEFAULT_TOKEN_TTL_MS, now: Date = new Date(), binding: TokenBinding = UNBOUND): string {
  if (!isValidName("namespace", namespace) || !isValidName("serviceAccount", serviceAccount)) throw new Error(`invalid identity ${namespace}/${serviceAccount}`);
  const problem = bindingProblem(binding);
  if (problem !== undefined) throw new Error(`invalid binding: ${problem}`);
  const iat = Math.floor(now.getTime() / 1000);
  const claims: Claims = {
    v: 2,
    jti: randomBytes(16).toString("hex"),
    ns: namespace,
    sa: serviceAccount,
    iat,
    exp: iat + Math.max(1, Math.floor(ttlMs / 1000)),
    ...(binding.t === "node" ? { node: binding.nodeId } : binding.t === "workload-group" ? { wg: binding.name } : {}),
  };
  return sign(key, claims);
}

function sign(key: Uint8Array, claims: object): string {
  const signed = `${TOKEN_VERSION}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  return `${signed}.${mac(key, signed).toString("base64url")}`;
}

function refuse(reason: TokenRefusal, detail: string): TokenVerdict {
  return { ok: false, reason, detail };
}

/** A v1 token's id: it has none of its own, so its hash names it (token revoke TOKEN finds it). */
function legacyId(token: string): string {
  return `v1-${createHash("sha256").update(token).digest("hex").slice(0, 32)}`;
}

/** Checks a token's signature (in constant time), then its claims and times. */
export function verifyToken(key: Uint8Array, token: string, now: Date = new Date()): TokenVerdict {
  const v = readToken(key, token);
  if (!v.ok) return v;
  const t = now.getTime();
  if (v.issuedAt.getTime() > t + TOKEN_CLOCK_SKEW_MS) return refuse("not-yet-valid", `issued at ${v.issuedAt.toISOString()}, in the future`);
  if (t >= v.expiresAt.getTime()) return refuse("expired", `expired at ${v.expiresAt.toISOString()}`);
  return v;
}

/**
 * A token's signature (in constant time) and claims, whatever the time: what it says, for
 * `token inspect` and `token revoke`. Only verifyToken decides whether it is accepted now.
 */
export function readToken(key: Uint8Array, token: string): TokenVerdict {
  const m = SHAPE.exec(token);
  if (m === null) return refuse("malformed", "not a gitmesh token (gmt1.CLAIMS.SIGNATURE)");
  const [, payload, signature] = m as unknown as [string, string, string];
  // Compared as text, not as decoded bytes: the last of 43 base64url characters carries two bits
  // that decoding ignores, so four spellings decode to the same bytes. Only the one gitmesh wrote
  // is accepted (a token is one string, and a changed character is a changed token).
  const expected = Buffer.from(mac(key, `${TOKEN_VERSION}.${payload}`).toString("base64url"));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return refuse("bad-signature", "signature does not match: not issued by this gitmesh");
  let claims: Partial<Claims>;
  try {
    claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Partial<Claims>;
  } catch {
    return refuse("malformed", "claims are not JSON");
  }
  const { v, jti, ns, sa, iat, exp, node, wg } = claims;
  if ((v !== 1 && v !== 2) || typeof ns !== "string" || typeof sa !== "string" || !Number.isSafeInteger(iat) || !Number.isSafeInteger(exp)) {
    return refuse("malformed", "claims lack v (1 or 2), ns, sa, iat or exp");
  }
  if (!isValidName("namespace", ns) || !isValidName("serviceAccount", sa)) return refuse("malformed", "claims name an invalid identity");
  let id: string;
  let binding: TokenBinding = UNBOUND;
  if (v === 1) {
    if (jti !== undefined || node !== undefined || wg !== undefined) return refuse("malformed", "v1 claims carry no id or binding");
    id = legacyId(token);
  } else {
    if (typeof jti !== "string" || !/^[0-9a-f]{32}$/.test(jti)) return refuse("malformed", "claims lack a jti of 32 hex digits");
    if (node !== undefined && wg !== undefined) return refuse("malformed", "claims bind to a node and a WorkloadGroup at once");
    if (node !== undefined) binding = { t: "node", nodeId: String(node) };
    if (wg !== undefined) binding = { t: "workload-group", name: String(wg) };
    if ((node !== undefined && typeof node !== "string") || (wg !== undefined && typeof wg !== "string") || bindingProblem(binding) !== undefined) return refuse("malformed", "claims carry an invalid binding");
    id = jti;
  }
  return { ok: true, id, namespace: ns, serviceAccount: sa, binding, issuedAt: new Date((iat as number) * 1000), expiresAt: new Date((exp as number) * 1000), legacy: v === 1 };
}

/** Verifies the gRPC `authorization` metadata value: `Bearer TOKEN`. */
export function verifyBearer(key: Uint8Array, header: string | undefined, now: Date = new Date()): TokenVerdict {
  if (header === undefined || header.trim() === "") return refuse("missing", "no authorization metadata");
  const m = /^Bearer +(\S+)$/i.exec(header.trim());
  if (m === null) return refuse("malformed", "authorization is not \"Bearer TOKEN\"");
  return verifyToken(key, m[1]!, now);
}

/** The node facts a binding is checked against (node id, and the metadata proxyFromNode reads). */
export interface BoundNode {
  readonly nodeId: string;
  readonly workloadGroup?: string;
  readonly workloadName?: string;
}

/**
 * Why a node may not use a token bound as `binding`, or undefined when it may. A token bound to a
 * WorkloadGroup admits members of that group only: a node that names a WorkloadEntry instead
 * (WORKLOAD_NAME) would take that entry's place, which the token does not grant.
 */
export function bindingRefusal(binding: TokenBinding, node: BoundNode): string | undefined {
  switch (binding.t) {
    case "any":
      return undefined;
    case "node":
      return node.nodeId === binding.nodeId ? undefined : `the credential is bound to node id "${binding.nodeId}", but this stream's node id is "${node.nodeId}"`;
    case "workload-group":
      if (node.workloadName !== undefined) return `the credential is for members of WorkloadGroup ${binding.name}, but the node names WorkloadEntry ${node.workloadName} (WORKLOAD_NAME)`;
      return node.workloadGroup === binding.name
        ? undefined
        : `the credential is bound to WorkloadGroup ${binding.name}, but the node ${node.workloadGroup === undefined ? "registers in no WorkloadGroup" : `says WORKLOAD_GROUP ${node.workloadGroup}`}`;
  }
}

/** A binding as a user reads it. */
export function describeBinding(b: TokenBinding): string {
  return b.t === "any" ? "unbound (any node of the identity)" : b.t === "node" ? `node id ${b.nodeId}` : `WorkloadGroup ${b.name}`;
}

/** The three operations bound to one key and clock. */
export interface Tokens {
  issue(namespace: string, serviceAccount: string, ttlMs?: number, binding?: TokenBinding): string;
  verify(token: string, now?: Date): TokenVerdict;
  verifyBearer(header: string | undefined, now?: Date): TokenVerdict;
}

export function tokens(key: Uint8Array, clock: () => Date = () => new Date()): Tokens {
  return {
    issue: (ns, sa, ttlMs, binding) => issueToken(key, ns, sa, ttlMs, clock(), binding),
    verify: (token, now) => verifyToken(key, token, now ?? clock()),
    verifyBearer: (header, now) => verifyBearer(key, header, now ?? clock()),
  };
}
