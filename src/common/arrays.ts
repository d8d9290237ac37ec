/** Whether two lists hold the very same items in the same order (identity, not deep equality). */
export function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
