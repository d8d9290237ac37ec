// A scheduler on a fake clock for common/timers.ts (after, at): tests advance time instead of waiting.
import type { Scheduler } from "../../src/common/timers.js";

/** A scheduler on a fake clock: records every delay asked for, runs callbacks as time advances. */
export function fakeScheduler(): Scheduler & { advance(ms: number): void; delays: number[] } {
  let now = 1_000_000;
  let pending: { due: number; fn: () => void; id: number }[] = [];
  let ids = 0;
  const delays: number[] = [];
  return {
    delays,
    now: () => now,
    setTimeout(fn, ms) {
      delays.push(ms);
      const id = ++ids;
      pending.push({ due: now + ms, fn, id });
      return id;
    },
    clearTimeout(handle) {
      pending = pending.filter((p) => p.id !== handle);
    },
    advance(ms) {
      const until = now + ms;
      for (;;) {
        const next = pending.filter((p) => p.due <= until).sort((a, b) => a.due - b.due)[0];
        if (next === undefined) break;
        pending = pending.filter((p) => p !== next);
        now = next.due;
        next.fn();
      }
      now = until;
    },
  };
}
