// Waiting on a condition the fleet reports (Envoy's /ready, gitmesh's per-proxy sync state), never
// on a fixed sleep: the condition is checked until it holds, and a deadline turns into an error
// that says what was awaited and what was last seen.

export interface Check<T> {
  /** A value when the condition holds; a string saying what is missing when it does not. */
  (): Promise<{ readonly ok: true; readonly value: T } | { readonly ok: false; readonly why: string }>;
}

/** A condition that can never hold any more (a NACK, a rejected config): stop waiting at once. */
export class Hopeless extends Error {}

export async function waitFor<T>(what: string, check: Check<T>, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let why = "not checked yet";
  for (;;) {
    try {
      const r = await check();
      if (r.ok) return r.value;
      why = r.why;
    } catch (e) {
      if (e instanceof Hopeless) throw e;
      why = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${why}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
