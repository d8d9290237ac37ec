// The one duration parser: Go's format, which Istio's API uses ("0", "1.5s", "100ms", "1m30s",
// "1h"), plus days ("7d") for the command line's lifetimes. Exact: fractions are counted in
// nanoseconds with bigints, never floats.

const UNIT_NS: Readonly<Record<string, bigint>> = { d: 86_400_000_000_000n, h: 3_600_000_000_000n, m: 60_000_000_000n, s: 1_000_000_000n, ms: 1_000_000n, us: 1_000n, "µs": 1_000n, ns: 1n };
const PART = /(\d+)(?:\.(\d+))?(d|h|ms|us|µs|ns|m|s)/gy;

/** Nanoseconds, or undefined for text that is not a duration. */
export function parseDuration(text: string): bigint | undefined {
  if (text === "0") return 0n;
  let total = 0n;
  let at = 0;
  PART.lastIndex = 0;
  for (let m = PART.exec(text); m !== null; m = PART.exec(text)) {
    const unit = UNIT_NS[m[3] ?? ""] ?? 0n;
    const fraction = m[2] ?? "";
    total += BigInt(m[1] ?? "0") * unit + (fraction === "" ? 0n : (BigInt(fraction) * unit) / 10n ** BigInt(fraction.length));
    at = PART.lastIndex;
  }
  return at === text.length && at > 0 ? total : undefined;
}

/** A duration the schema has already admitted, in nanoseconds; anything else is a bug upstream. */
export function admittedDuration(text: string): bigint {
  const ns = parseDuration(text);
  if (ns === undefined) throw new Error(`bug: ${JSON.stringify(text)} is not a duration; the schema admits only durations`);
  return ns;
}
