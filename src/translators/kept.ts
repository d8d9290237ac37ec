import { sameItems } from "../common/arrays.js";

/**
 * A value and the inputs it was made from, for a memo: each input a list compared item by item
 * by identity (the loader hands back the same resource object for a file that did not change).
 */
export interface Kept<V> {
  readonly inputs: readonly (readonly unknown[])[];
  readonly value: V;
}

/** The kept value when its inputs are the very same objects, else a new one (kept in its place by the caller). */
export function keptOr<V>(kept: Kept<V> | undefined, inputs: readonly (readonly unknown[])[], make: () => V): Kept<V> {
  if (kept !== undefined && kept.inputs.length === inputs.length && kept.inputs.every((list, i) => sameItems(list, inputs[i] ?? []))) return kept;
  return { inputs, value: make() };
}
