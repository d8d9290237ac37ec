// How long the agent waits before trying again, after Envoy exits or its xDS stream ends.

/** A process or stream that lasted this long was healthy: the next failure starts over at 1 s. */
export const STABLE_AFTER_MS = 30_000;
export const MAX_DELAY_MS = 30_000;

/** The wait before the next try after `failures` failures in a row: 1 s, 2 s, 4 s ... 30 s. */
export function retryDelayMs(failures: number): number {
  return Math.min(1000 * 2 ** Math.max(0, failures - 1), MAX_DELAY_MS);
}
