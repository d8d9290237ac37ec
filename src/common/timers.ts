// The one timer helper: every delay gitmesh schedules goes through here. setTimeout holds delays
// in a signed 32-bit integer: anything above ~24.8 days fires after 1 ms instead (a certificate
// lifetime of 745 h once re-issued a proxy's certificate 886 times in 2 s). Long delays are
// chained in clamped steps, so a timer fires at its time however far away it is.

/** setTimeout's longest delay, in ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A scheduled callback; cancel() is idempotent. */
export interface Timer {
  cancel(): void;
}

/** What after() schedules with: the real clock and timers, or a test's. */
export interface Scheduler {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const REAL_SCHEDULER: Scheduler = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Calls fn once, delayMs from now (negative, NaN or absent delays mean "as soon as possible"),
 * however long the delay. Unref'd: a pending timer never keeps the process alive.
 */
export function after(delayMs: number, fn: () => void, scheduler: Scheduler = REAL_SCHEDULER): Timer {
  const due = scheduler.now() + (Number.isFinite(delayMs) ? Math.max(0, delayMs) : 0);
  let handle: unknown;
  let cancelled = false;
  const arm = () => {
    const left = due - scheduler.now();
    handle = scheduler.setTimeout(() => {
      if (cancelled) return;
      if (due - scheduler.now() > 0) arm();
      else fn();
    }, Math.min(Math.max(0, left), MAX_TIMER_MS));
  };
  arm();
  return {
    cancel() {
      cancelled = true;
      if (handle !== undefined) scheduler.clearTimeout(handle);
    },
  };
}

/** Calls fn once at a point in time (as after()). */
export function at(when: Date, fn: () => void, scheduler: Scheduler = REAL_SCHEDULER): Timer {
  return after(when.getTime() - scheduler.now(), fn, scheduler);
}

/** Calls fn every everyMs (clamped to 1 ms .. MAX_TIMER_MS), unref'd, until cancelled. */
export function every(everyMs: number, fn: () => void): Timer {
  const ms = Math.min(Math.max(1, Number.isFinite(everyMs) ? everyMs : 1), MAX_TIMER_MS);
  const handle = setInterval(fn, ms);
  handle.unref();
  return { cancel: () => clearInterval(handle) };
}
