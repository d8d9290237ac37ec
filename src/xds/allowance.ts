import type { XdsLimits } from "./limits.js";

/** What all streams of a server hold together (see XdsLimits' totals). */
export class HeldTotals {
  names = 0;
  chars = 0;
  unreadBytes = 0;
}

/**
 * The names (and characters of names and node) one stream makes the server hold, counted against
 * its own bound and, through the server's totals, against everyone's. A stream asks before it
 * holds more; a refusal changes nothing and says which bound, for the RESOURCE_EXHAUSTED status.
 * release() gives everything back when the stream ends.
 */
export class NameAllowance {
  private names = 0;
  private chars = 0;

  constructor(
    private readonly totals: HeldTotals,
    private readonly limits: Pick<XdsLimits, "maxNamesPerStream" | "maxNameCharsPerStream" | "maxNamesTotal" | "maxNameCharsTotal">,
  ) {}

  /** Changes what the stream holds by names and chars (negative: less); a message on refusal. */
  take(names: number, chars: number): string | undefined {
    const { limits, totals } = this;
    if (names > 0 && this.names + names > limits.maxNamesPerStream) {
      return `the stream would hold ${this.names + names} resource names; at most ${limits.maxNamesPerStream} per stream`;
    }
    if (chars > 0 && this.chars + chars > limits.maxNameCharsPerStream) {
      return `the stream would hold ${this.chars + chars} characters of names and node; at most ${limits.maxNameCharsPerStream} per stream`;
    }
    if (names > 0 && totals.names + names > limits.maxNamesTotal) {
      return `the server holds ${totals.names} resource names for all streams; ${names} more would pass its bound of ${limits.maxNamesTotal}`;
    }
    if (chars > 0 && totals.chars + chars > limits.maxNameCharsTotal) {
      return `the server holds ${totals.chars} characters of names for all streams; ${chars} more would pass its bound of ${limits.maxNameCharsTotal}`;
    }
    this.names += names;
    this.chars += chars;
    totals.names += names;
    totals.chars += chars;
    return undefined;
  }

  get held(): { readonly names: number; readonly chars: number } {
    return { names: this.names, chars: this.chars };
  }

  release(): void {
    this.totals.names -= this.names;
    this.totals.chars -= this.chars;
    this.names = 0;
    this.chars = 0;
  }
}

/** An allowance without bounds, for sessions driven directly by unit tests. */
export function unboundedAllowance(): NameAllowance {
  const inf = Number.POSITIVE_INFINITY;
  return new NameAllowance(new HeldTotals(), { maxNamesPerStream: inf, maxNameCharsPerStream: inf, maxNamesTotal: inf, maxNameCharsTotal: inf });
}

/** Characters of a list of names. */
export function charsOf(names: Iterable<string>): number {
  let n = 0;
  for (const name of names) n += name.length;
  return n;
}
