// common/steps.ts: long work in steps, run at once or in slices that let the event loop turn.
import assert from "node:assert/strict";
import { test } from "node:test";
import { runInSlices, runSteps, type Steps } from "../../src/common/steps.js";

/** Steps that each busy-wait `ms`, noting the order they ran in into `log`. */
function* busy(name: string, count: number, ms: number, log: string[]): Steps<string> {
  for (let i = 0; i < count; i++) {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // work
    }
    log.push(`${name}${i}`);
    yield "tick";
  }
  return name;
}

test("runSteps runs every step at once and returns the result", () => {
  const log: string[] = [];
  assert.equal(runSteps(busy("a", 3, 0, log)), "a");
  assert.deepEqual(log, ["a0", "a1", "a2"]);
});

test("runInSlices starts on a turn of its own: nothing runs in the caller's turn", async () => {
  const log: string[] = [];
  const done = runInSlices(busy("a", 2, 0, log));
  assert.deepEqual(log, [], "no step ran synchronously");
  assert.equal(await done, "a");
  assert.deepEqual(log, ["a0", "a1"]);
});

test("runInSlices lets the event loop turn once a slice has passed: an immediate queued meanwhile runs between slices", async () => {
  const log: string[] = [];
  const done = runInSlices(busy("a", 6, 2, log), 5);
  setImmediate(() => log.push("turn"));
  await done;
  const turn = log.indexOf("turn");
  assert.ok(turn > 0 && turn < log.length - 1, `the event loop turned between steps: ${log.join(" ")}`);
});
