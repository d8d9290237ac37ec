// Proxy credentials: what is accepted and every way a token is refused.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { bindingRefusal, caDir, issueToken, loadOrCreateTokenKey, readToken, tokens, verifyBearer, verifyToken, type BoundNode, type TokenBinding, type TokenRefusal } from "../../src/ca/index.js";
import { tempFiles } from "../support/pki.js";

const key = Buffer.alloc(32, 7);
const otherKey = Buffer.alloc(32, 8);
const now = new Date("2026-05-01T12:00:00Z");
const HOUR = 3_600_000;
const good = issueToken(key, "default", "frontend", HOUR, now);
const iat = Math.floor(now.getTime() / 1000);

/** Claims signed with the right key, as a bug, another tool or an older gitmesh might make them. */
function signed(claims: unknown): string {
  const body = `gmt1.${Buffer.from(typeof claims === "string" ? claims : JSON.stringify(claims)).toString("base64url")}`;
  return `${body}.${createHmac("sha256", key).update(body).digest("base64url")}`;
}

/** The same token with its claims rewritten and the old signature kept. */
function tampered(token: string, edit: (claims: Record<string, unknown>) => void): string {
  const [v, payload, sig] = token.split(".") as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>;
  edit(claims);
  return `${v}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${sig}`;
}

test("a valid token names its id, identity, binding, issue time and expiry", () => {
  const r = verifyToken(key, good, new Date(now.getTime() + HOUR - 1000));
  assert.ok(r.ok);
  assert.match(r.id, /^[0-9a-f]{32}$/);
  assert.deepEqual(r, { ok: true, id: r.id, namespace: "default", serviceAccount: "frontend", binding: { t: "any" }, issuedAt: now, expiresAt: new Date(now.getTime() + HOUR), legacy: false });
  assert.match(good, /^gmt1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  const ids = new Set(Array.from({ length: 50 }, () => (verifyToken(key, issueToken(key, "default", "frontend", HOUR, now), now) as { id: string }).id));
  assert.equal(ids.size, 50, "every token has an id of its own");
});

test("a token bound to a node id or a WorkloadGroup says so", () => {
  for (const binding of [
    { t: "node", nodeId: "sidecar~10.0.0.5~frontend-7d9.default" },
    { t: "workload-group", name: "frontend-v1" },
  ] as const) {
    const r = verifyToken(key, issueToken(key, "default", "frontend", HOUR, now, binding), now);
    assert.ok(r.ok && r.binding.t === binding.t);
    assert.deepEqual(r.binding, binding);
  }
  assert.throws(() => issueToken(key, "default", "frontend", HOUR, now, { t: "node", nodeId: "has space" }), /invalid binding/);
  assert.throws(() => issueToken(key, "default", "frontend", HOUR, now, { t: "workload-group", name: "Not_A_Name" }), /invalid binding/);
});

test("a v1 token (before ids and bindings) is accepted as unbound, with its hash as its id", () => {
  const v1 = signed({ v: 1, ns: "default", sa: "frontend", iat, exp: iat + 3600 });
  const r = verifyToken(key, v1, now);
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.legacy, true);
  assert.deepEqual(r.binding, { t: "any" });
  assert.match(r.id, /^v1-[0-9a-f]{32}$/);
  assert.equal((verifyToken(key, v1, now) as { id: string }).id, r.id, "the same token, the same id");
  const other = verifyToken(key, signed({ v: 1, ns: "default", sa: "frontend", iat, exp: iat + 3601 }), now);
  assert.ok(other.ok && other.id !== r.id);
  const late = verifyToken(key, v1, new Date(now.getTime() + 2 * HOUR));
  assert.ok(!late.ok && late.reason === "expired", "and it still expires");
});

test("readToken tells what an expired token says; verifyToken refuses it", () => {
  const old = issueToken(key, "shop", "cart", HOUR, now, { t: "workload-group", name: "cart" });
  const later = new Date(now.getTime() + 3 * HOUR);
  assert.equal((verifyToken(key, old, later) as { reason: string }).reason, "expired");
  const read = readToken(key, old);
  assert.ok(read.ok && read.namespace === "shop" && read.binding.t === "workload-group");
  assert.equal((readToken(otherKey, old) as { reason: string }).reason, "bad-signature");
});

const nodes: Record<string, BoundNode> = {
  plain: { nodeId: "n1" },
  other: { nodeId: "n2" },
  member: { nodeId: "n3", workloadGroup: "api" },
  otherGroup: { nodeId: "n4", workloadGroup: "web" },
  entry: { nodeId: "n5", workloadName: "api-vm-1" },
  memberAndEntry: { nodeId: "n6", workloadGroup: "api", workloadName: "api-vm-1" },
};
for (const [binding, admitted] of [
  [{ t: "any" }, ["plain", "other", "member", "otherGroup", "entry", "memberAndEntry"]],
  [{ t: "node", nodeId: "n1" }, ["plain"]],
  [{ t: "node", nodeId: "n6" }, ["memberAndEntry"]],
  [{ t: "workload-group", name: "api" }, ["member"]],
] as [TokenBinding, string[]][]) {
  test(`binding ${JSON.stringify(binding)} admits ${admitted.join(", ")} and no other node`, () => {
    for (const [name, node] of Object.entries(nodes)) {
      const refusal = bindingRefusal(binding, node);
      assert.equal(refusal === undefined, admitted.includes(name), `${name}: ${refusal ?? "admitted"}`);
    }
  });
}

const refused: [string, string, Date, TokenRefusal][] = [
  ["expired", good, new Date(now.getTime() + HOUR), "expired"],
  ["issued in the future", issueToken(key, "default", "frontend", HOUR, new Date(now.getTime() + 5 * 60_000)), now, "not-yet-valid"],
  ["signed with another key", issueToken(otherKey, "default", "frontend", HOUR, now), now, "bad-signature"],
  ["another identity with the old signature", tampered(good, (c) => (c.sa = "admin")), now, "bad-signature"],
  ["a longer expiry with the old signature", tampered(good, (c) => (c.exp = (c.exp as number) + 1e6)), now, "bad-signature"],
  ["a truncated signature", good.slice(0, -1), now, "malformed"],
  ["two parts", good.split(".").slice(0, 2).join("."), now, "malformed"],
  ["another version", good.replace(/^gmt1/, "gmt2"), now, "malformed"],
  ["empty", "", now, "malformed"],
  ["a JWT", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", now, "malformed"],
];

for (const [name, token, at, reason] of refused) {
  test(`refused: ${name} (${reason})`, () => {
    const r = verifyToken(key, token, at);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.reason, reason, r.detail);
  });
}

const jti = "0123456789abcdef0123456789abcdef";
for (const [name, claims] of [
  ["claims that are not JSON", "not json"],
  ["a missing service account", { v: 2, jti, ns: "default", iat, exp: iat + 60 }],
  ["an unknown claims version", { v: 3, jti, ns: "default", sa: "frontend", iat, exp: iat + 60 }],
  ["v2 without an id", { v: 2, ns: "default", sa: "frontend", iat, exp: iat + 60 }],
  ["an id that is not 32 hex digits", { v: 2, jti: "../../x", ns: "default", sa: "frontend", iat, exp: iat + 60 }],
  ["v1 claims with an id", { v: 1, jti, ns: "default", sa: "frontend", iat, exp: iat + 60 }],
  ["bound to a node and a group", { v: 2, jti, ns: "default", sa: "frontend", iat, exp: iat + 60, node: "n1", wg: "api" }],
  ["a node id that is not a string", { v: 2, jti, ns: "default", sa: "frontend", iat, exp: iat + 60, node: 7 }],
  ["a group that is not a name", { v: 2, jti, ns: "default", sa: "frontend", iat, exp: iat + 60, wg: "../api" }],
  ["a namespace that is not a Kubernetes name", { v: 2, jti, ns: "../etc", sa: "frontend", iat, exp: iat + 60 }],
  ["a non-integer expiry", { v: 2, jti, ns: "default", sa: "frontend", iat, exp: "never" }],
] as const) {
  test(`refused even when signed: ${name} (malformed)`, () => {
    assert.ok(verifyToken(key, signed({ v: 2, jti, ns: "default", sa: "frontend", iat, exp: iat + 60 }), now).ok, "the helper signs correctly");
    const r = verifyToken(key, signed(claims), now);
    assert.ok(!r.ok && r.reason === "malformed", JSON.stringify(r));
  });
}

test("the bearer header", () => {
  assert.ok(verifyBearer(key, `Bearer ${good}`, now).ok);
  assert.ok(verifyBearer(key, `bearer  ${good}`, now).ok, "scheme case-insensitive");
  for (const [header, reason] of [
    [undefined, "missing"],
    ["", "missing"],
    [good, "malformed"],
    [`Basic ${good}`, "malformed"],
    [`Bearer ${good} extra`, "malformed"],
  ] as const) {
    const r = verifyBearer(key, header, now);
    assert.ok(!r.ok && r.reason === reason, `${String(header)}: ${JSON.stringify(r)}`);
  }
});

test("tokens() binds a key and a clock", () => {
  let clock = now;
  const t = tokens(key, () => clock);
  const token = t.issue("shop", "cart", HOUR, { t: "node", nodeId: "cart-1" });
  const v = t.verify(token);
  assert.ok(v.ok && v.binding.t === "node" && v.binding.nodeId === "cart-1");
  clock = new Date(now.getTime() + 2 * HOUR);
  assert.equal((t.verifyBearer(`Bearer ${token}`) as { reason?: string }).reason, "expired");
  assert.throws(() => t.issue("Not_Valid", "cart"), /invalid identity/);
});

test("the token key is made once, 256 bits, mode 0600, and shared by concurrent callers", async () => {
  const stateDir = tempFiles();
  const keys = await Promise.all([loadOrCreateTokenKey(stateDir), loadOrCreateTokenKey(stateDir), loadOrCreateTokenKey(stateDir)]);
  assert.equal(keys[0]!.length, 32);
  assert.ok(keys.every((k) => k.equals(keys[0]!)));
  assert.equal(statSync(join(caDir(stateDir), "token-key")).mode & 0o777, 0o600);
  assert.ok((await loadOrCreateTokenKey(stateDir)).equals(keys[0]!));
});

test("every spelling of a signature but the one gitmesh wrote is refused: the last character's two spare bits included", () => {
  // The 43rd base64url character holds 4 bits of the HMAC and 2 bits decoding ignores: each
  // signature has 3 other spellings that decode to the same bytes. A test that forged a token by
  // changing that character now and then forged nothing, was served, and waited forever.
  const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (let i = 0; i < 64; i++) {
    const token = issueToken(key, "default", "frontend", HOUR, now);
    const last = token.at(-1) ?? "";
    const base = ALPHABET.indexOf(last) & ~3;
    for (const other of [0, 1, 2, 3].map((k) => ALPHABET[base + k] ?? "").filter((c) => c !== last)) {
      const respelled = token.slice(0, -1) + other;
      assert.deepEqual(Buffer.from(respelled.split(".")[2] ?? "", "base64url"), Buffer.from(token.split(".")[2] ?? "", "base64url"), "the same bytes");
      const v = verifyToken(key, respelled, now);
      assert.equal(v.ok ? "accepted" : v.reason, "bad-signature", `${last} -> ${other}`);
    }
    assert.ok(verifyToken(key, token, now).ok);
  }
});
