// The clamping timer helper: delays past setTimeout's 32-bit limit fire at their time, not at once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { after, at, MAX_TIMER_MS } from "../../src/common/timers.js";
import { fakeScheduler } from "../support/fake-scheduler.js";

const HOUR = 3_600_000;

for (const hours of [1, 24, 745, 746, 2_000, 10 * 8_760]) {
  test(`a timer ${hours} h away fires once, at its time, with every step within setTimeout's limit`, () => {
    const s = fakeScheduler();
    let fired = 0;
    after(hours * HOUR, () => fired++, s);
    s.advance(hours * HOUR - 1);
    assert.equal(fired, 0, "not before its time");
    s.advance(1);
    assert.equal(fired, 1, "at its time");
    s.advance(100 * HOUR);
    assert.equal(fired, 1, "once");
    assert.ok(s.delays.every((d) => d >= 0 && d <= MAX_TIMER_MS), `delays asked: ${s.delays.join(",")}`);
  });
}

test("cancel stops a long timer between its steps", () => {
  const s = fakeScheduler();
  let fired = 0;
  const t = after(3 * MAX_TIMER_MS, () => fired++, s);
  s.advance(MAX_TIMER_MS + 5);
  t.cancel();
  s.advance(10 * MAX_TIMER_MS);
  assert.equal(fired, 0);
});

test("past, NaN and negative delays fire as soon as possible", () => {
  const s = fakeScheduler();
  let fired = 0;
  after(Number.NaN, () => fired++, s);
  after(-5, () => fired++, s);
  at(new Date(s.now() - 60_000), () => fired++, s);
  s.advance(0);
  assert.equal(fired, 3);
});
