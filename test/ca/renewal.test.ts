import assert from "node:assert/strict";
import { test } from "node:test";
import { renewalTime } from "../../src/ca/index.js";

const HOUR = 3_600_000;
const issuedAt = new Date("2026-01-01T00:00:00Z");
const notAfter = new Date(issuedAt.getTime() + 24 * HOUR);

/** A seeded generator (mulberry32), so the distribution test is the same every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const [random, hours] of [
  [0, 12],
  [0.5, 15.6],
  [0.999999, 19.2],
  [-1, 12],
  [7, 19.2],
] as const) {
  test(`renewal with random ${random} falls at ${hours} h of a 24 h certificate`, () => {
    const at = renewalTime(issuedAt, notAfter, () => random);
    assert.ok(Math.abs(at.getTime() - issuedAt.getTime() - hours * HOUR) < 1000, at.toISOString());
  });
}

test("2,000 workloads issued together renew spread over 50% to 80% of their life", () => {
  const random = seeded(42);
  const times = Array.from({ length: 2000 }, () => renewalTime(issuedAt, notAfter, random).getTime() - issuedAt.getTime());
  const life = 24 * HOUR;
  assert.ok(times.every((t) => t >= 0.5 * life && t <= 0.8 * life), "inside the window");
  // Ten equal slices of the window each hold 10% give or take a few points.
  const slices = Array.from({ length: 10 }, () => 0);
  for (const t of times) slices[Math.min(9, Math.floor(((t / life - 0.5) / 0.3) * 10))]! += 1;
  for (const n of slices) assert.ok(n > 140 && n < 260, `slice of ${n}`);
  // No single minute sees more than 1% of the fleet.
  const perMinute = new Map<number, number>();
  for (const t of times) perMinute.set(Math.floor(t / 60_000), (perMinute.get(Math.floor(t / 60_000)) ?? 0) + 1);
  assert.ok(Math.max(...perMinute.values()) <= 20);
});

test("a custom window is honoured", () => {
  const at = renewalTime(issuedAt, notAfter, () => 0.5, { from: 0.6, to: 0.9 });
  assert.equal(at.getTime() - issuedAt.getTime(), 0.75 * 24 * HOUR);
});
