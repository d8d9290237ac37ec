// The one duration parser (config durations and the command line's lifetimes).
import assert from "node:assert/strict";
import { test } from "node:test";
import { admittedDuration, parseDuration } from "../../src/common/duration.js";

test("parseDuration reads Go durations, and days", () => {
  const cases: [string, bigint][] = [
    ["0", 0n],
    ["1.5s", 1_500_000_000n],
    ["100ms", 100_000_000n],
    ["1h", 3_600_000_000_000n],
    ["1m30s", 90_000_000_000n],
    ["2us", 2_000n],
    ["3µs", 3_000n],
    ["7ns", 7n],
    ["0.25ms", 250_000n],
    ["7d", 604_800_000_000_000n],
    ["1h30m", 5_400_000_000_000n],
  ];
  for (const [text, ns] of cases) assert.equal(parseDuration(text), ns, text);
  for (const bad of ["1x", "", "s", "1", "-1s", "1s ", " 1s", "1.s"]) assert.equal(parseDuration(bad), undefined, JSON.stringify(bad));
});

test("admittedDuration throws on what the schema should have refused (a bug)", () => {
  assert.equal(admittedDuration("2s"), 2_000_000_000n);
  assert.throws(() => admittedDuration("1x"), /bug/);
  assert.throws(() => admittedDuration(""), /bug/);
});
