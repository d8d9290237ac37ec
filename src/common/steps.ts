// Long computations as steps: a generator that yields "tick" between pieces of work (a file's
// tokens, a service's translation, a proxy's push). Run to its end at once, or in slices that let
// the event loop turn, so the server answers health checks, ACKs and keepalives while it works.

/** A computation in steps; it yields "tick" where it may pause. */
export type Steps<T> = Generator<"tick", T>;

/** Longest stretch of work between two turns of the event loop, in ms. */
export const SLICE_MS = 10;

/** Runs steps to their end without pausing. */
export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/**
 * Runs steps to their end, letting the event loop turn whenever a slice of sliceMs has passed.
 * The first slice starts on a turn of its own: work started by the end of other steps (a reload
 * that hands its model to the translation, a translation that starts the push) would otherwise
 * run its first slice straight after theirs, one stall of two slices.
 */
export async function runInSlices<T>(steps: Steps<T>, sliceMs = SLICE_MS): Promise<T> {
  await new Promise((resolve) => setImmediate(resolve));
  let sliceEnds = performance.now() + sliceMs;
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    if (performance.now() < sliceEnds) continue;
    await new Promise((resolve) => setImmediate(resolve));
    sliceEnds = performance.now() + sliceMs;
  }
}
