// Proxy credentials: what is accepted and every way a token is refused.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { caDir, issueToken, loadOrCreateTokenKey, tokens, verifyBearer, verifyToken, type TokenRefusal } from "../../src/ca/index.js";
import { tempFiles } from "../support/pki.js";

const key = Buffer.alloc(32, 7);
const otherKey = Buffer.alloc(32, 8);
const now = new Date("2026-05-01T12:00:00Z");
const HOUR = 3_600_000;
const good = issueToken(key, "default", "frontend", HOUR, now);

/** The same token with its claims rewritten and the old signature kept. */
function tampered(token: string, edit: (claims: Record<string, unknown>) => void): string {
  const [v, payload, sig] = token.split(".") as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>;
  edit(claims);
  return `${v}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${sig}`;
}

test("a valid token names its identity and expiry", () => {
  const r = verifyToken(key, good, new Date(now.getTime() + HOUR - 1000));
  assert.deepEqual(r, { ok: true, namespace: "default", serviceAccount: "frontend", expiresAt: new Date(now.getTime() + HOUR) });
  assert.match(good, /^gmt1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
});

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

/** Claims signed with the right key, as a bug or another tool might make them. */
function signed(claims: unknown): string {
  const body = `gmt1.${Buffer.from(typeof claims === "string" ? claims : JSON.stringify(claims)).toString("base64url")}`;
  return `${body}.${createHmac("sha256", key).update(body).digest("base64url")}`;
}

const iat = Math.floor(now.getTime() / 1000);
for (const [name, claims] of [
  ["claims that are not JSON", "not json"],
  ["a missing service account", { v: 1, ns: "default", iat, exp: iat + 60 }],
  ["an unknown claims version", { v: 2, ns: "default", sa: "frontend", iat, exp: iat + 60 }],
  ["a namespace that is not a Kubernetes name", { v: 1, ns: "../etc", sa: "frontend", iat, exp: iat + 60 }],
  ["a non-integer expiry", { v: 1, ns: "default", sa: "frontend", iat, exp: "never" }],
] as const) {
  test(`refused even when signed: ${name} (malformed)`, () => {
    assert.ok(verifyToken(key, signed({ v: 1, ns: "default", sa: "frontend", iat, exp: iat + 60 }), now).ok, "the helper signs correctly");
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
  const token = t.issue("shop", "cart", HOUR);
  assert.ok(t.verify(token).ok);
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
