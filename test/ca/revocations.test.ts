// The revocation list: one file per revoked token, written atomically (0600); concurrent
// revocations all land; reload() reports what was revoked since; expired entries are pruned.
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { listRevocations, openRevocations, pruneRevocations, recordRevocation, revocationsDir } from "../../src/ca/index.js";
import { tempFiles } from "../support/pki.js";

const id = (n: number) => n.toString(16).padStart(32, "0");

test("revocations are recorded one file each (0600), all of them when written at once", async () => {
  const state = tempFiles();
  const opened = await openRevocations(state);
  assert.ok(opened.ok);
  assert.equal(opened.value.size, 0, "no directory: nothing revoked");
  await Promise.all(Array.from({ length: 40 }, (_, i) => recordRevocation(state, { id: id(i), revokedAt: new Date(1000 * i).toISOString() })));
  const listed = await listRevocations(state);
  assert.ok(listed.ok);
  assert.deepEqual(
    listed.value.map((e) => e.id),
    Array.from({ length: 40 }, (_, i) => id(i)),
  );
  for (const f of readdirSync(revocationsDir(state))) assert.equal(statSync(join(revocationsDir(state), f)).mode & 0o777, 0o600, f);
  assert.equal(statSync(revocationsDir(state)).mode & 0o777, 0o700);
});

test("reload() reports the ids revoked since the last read; a list that cannot be read keeps the last one in force", async () => {
  const state = tempFiles();
  await recordRevocation(state, { id: id(1), revokedAt: "2026-01-01T00:00:00.000Z" });
  const opened = await openRevocations(state);
  assert.ok(opened.ok);
  const r = opened.value;
  assert.ok(r.isRevoked(id(1)) && !r.isRevoked(id(2)));
  await recordRevocation(state, { id: id(2), revokedAt: "2026-01-02T00:00:00.000Z" });
  await recordRevocation(state, { id: `v1-${id(3)}`, revokedAt: "2026-01-02T00:00:00.000Z" });
  assert.ok(!r.isRevoked(id(2)), "read from disk only on reload");
  const again = await r.reload();
  assert.deepEqual(again, { ok: true, added: [id(2), `v1-${id(3)}`].sort() });
  assert.ok(r.isRevoked(id(2)) && r.isRevoked(`v1-${id(3)}`));
  assert.deepEqual(await r.reload(), { ok: true, added: [] });

  rmSync(revocationsDir(state), { recursive: true });
  writeFileSync(revocationsDir(state), "not a directory");
  const broken = await r.reload();
  assert.ok(!broken.ok);
  assert.match(broken.problem.message, /is not a directory: it holds the revoked tokens/);
  assert.equal(broken.problem.file, revocationsDir(state));
  assert.ok(r.isRevoked(id(1)) && r.isRevoked(id(2)), "the last list stays in force");
  const fresh = await openRevocations(state);
  assert.ok(!fresh.ok, "and a server cannot start on it");
});

test("an entry whose contents are damaged still revokes its token; other files are not entries", async () => {
  const state = tempFiles();
  mkdirSync(revocationsDir(state), { recursive: true });
  writeFileSync(join(revocationsDir(state), `${id(9)}.json`), "{ damaged");
  writeFileSync(join(revocationsDir(state), "README"), "x");
  writeFileSync(join(revocationsDir(state), `${id(8)}.json.123@host.abcdef.tmp`), "{}");
  const opened = await openRevocations(state);
  assert.ok(opened.ok && opened.value.isRevoked(id(9)) && opened.value.size === 1);
  const listed = await listRevocations(state);
  assert.ok(listed.ok);
  assert.deepEqual(listed.value, [{ id: id(9), revokedAt: "" }]);
});

test("entries of tokens that have expired are pruned; those without an expiry are kept", async () => {
  const state = tempFiles();
  const now = new Date("2026-06-01T00:00:00Z");
  await recordRevocation(state, { id: id(1), revokedAt: "2026-01-01T00:00:00.000Z", expiresAt: "2026-05-01T00:00:00.000Z" });
  await recordRevocation(state, { id: id(2), revokedAt: "2026-01-01T00:00:00.000Z", expiresAt: "2026-07-01T00:00:00.000Z" });
  await recordRevocation(state, { id: id(3), revokedAt: "2026-01-01T00:00:00.000Z" });
  assert.deepEqual(await pruneRevocations(state, now), [id(1)]);
  const opened = await openRevocations(state);
  assert.ok(opened.ok && !opened.value.isRevoked(id(1)) && opened.value.isRevoked(id(2)) && opened.value.isRevoked(id(3)));
});
