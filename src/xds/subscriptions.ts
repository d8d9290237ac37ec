/** A named subscription: sorted names without duplicates or "*", and a key identifying it. */
export interface Subscription {
  readonly names: readonly string[];
  /** names joined by "\n". */
  readonly key: string;
}

export const NO_NAMES: Subscription = { names: [], key: "" };

// Every sidecar of a service subscribes to the same names. Interning makes them share one list
// (and one key) instead of a copy per stream; weak references let unused ones go.
const pool = new Map<string, WeakRef<Subscription>>();
const finalizer = new FinalizationRegistry<string>((key) => {
  if (pool.get(key)?.deref() === undefined) pool.delete(key);
});

/** The shared Subscription for a request's names ("*" is left out: wildcard is tracked apart). */
export function subscriptionOf(requested: readonly string[]): Subscription {
  const names = [...new Set(requested)].filter((n) => n !== "*").sort();
  if (names.length === 0) return NO_NAMES;
  const key = names.join("\n");
  const existing = pool.get(key)?.deref();
  if (existing !== undefined) return existing;
  const created = { names, key };
  pool.set(key, new WeakRef(created));
  finalizer.register(created, key);
  return created;
}
