// Root rotation as data. A new authority is first trusted beside the old one, then issues, and
// the old one is dropped only when no certificate it signed can still be valid: at every step
// each workload trusts the issuer of every certificate it can be shown.

/**
 * Which authorities (by id) are trusted and which one issues.
 * - steady: one authority, trusted and issuing.
 * - introduced: `next` is trusted beside `current`, which still issues; proxies receive the
 *   two-root bundle before anyone presents a certificate from `next`.
 * - switched: `current` (the new one) issues; `previous` stays trusted until every
 *   certificate it issued has expired.
 */
export type RotationState =
  | { readonly phase: "steady"; readonly current: string }
  | { readonly phase: "introduced"; readonly current: string; readonly next: string; readonly since: string }
  | { readonly phase: "switched"; readonly previous: string; readonly current: string; readonly since: string };

export type Transition = { readonly ok: true; readonly state: RotationState } | { readonly ok: false; readonly reason: string };

/** Authorities whose roots are trusted, issuing one first. */
export function trustedIds(s: RotationState): readonly string[] {
  switch (s.phase) {
    case "steady":
      return [s.current];
    case "introduced":
      return [s.current, s.next];
    case "switched":
      return [s.current, s.previous];
  }
}

export function issuingId(s: RotationState): string {
  return s.current;
}

/** Start trusting `next` beside the current authority. */
export function introduce(s: RotationState, next: string, now: Date): Transition {
  if (s.phase !== "steady") return { ok: false, reason: `a rotation is already under way (${s.phase}): finish it before introducing another authority` };
  if (next === s.current) return { ok: false, reason: `authority ${next} is already the current one` };
  return { ok: true, state: { phase: "introduced", current: s.current, next, since: now.toISOString() } };
}

/** Issue from the introduced authority; the old one stays trusted. */
export function switchIssuer(s: RotationState, now: Date): Transition {
  if (s.phase !== "introduced") return { ok: false, reason: `nothing to switch to (${s.phase}): introduce a new authority first` };
  return { ok: true, state: { phase: "switched", previous: s.current, current: s.next, since: now.toISOString() } };
}

/**
 * Stop trusting the old authority. Refused until `maxLifetimeMs` (the longest workload
 * certificate lifetime, plus skew) has passed since the switch, unless forced: before that, a
 * workload could still hold a certificate only the old root verifies.
 */
export function dropPrevious(s: RotationState, now: Date, maxLifetimeMs: number, force = false): Transition {
  if (s.phase !== "switched") return { ok: false, reason: `no previous authority to drop (${s.phase}): switch issuing to the new authority first` };
  const safeAt = Date.parse(s.since) + maxLifetimeMs;
  if (!force && now.getTime() < safeAt) {
    return { ok: false, reason: `certificates from ${s.previous} may be valid until ${new Date(safeAt).toISOString()}: drop it after that (or force)` };
  }
  return { ok: true, state: { phase: "steady", current: s.current } };
}

/** Give up an introduced authority before it issued anything: back to the old one alone. */
export function abandon(s: RotationState): Transition {
  if (s.phase !== "introduced") return { ok: false, reason: `only an introduced authority can be abandoned (${s.phase})` };
  return { ok: true, state: { phase: "steady", current: s.current } };
}

/** Parses a saved state; undefined when it is not one. */
export function parseRotation(value: unknown): RotationState | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const str = (k: string) => typeof v[k] === "string" && v[k] !== "";
  switch (v.phase) {
    case "steady":
      return str("current") ? { phase: "steady", current: v.current as string } : undefined;
    case "introduced":
      return str("current") && str("next") && str("since") ? { phase: "introduced", current: v.current as string, next: v.next as string, since: v.since as string } : undefined;
    case "switched":
      return str("previous") && str("current") && str("since") ? { phase: "switched", previous: v.previous as string, current: v.current as string, since: v.since as string } : undefined;
    default:
      return undefined;
  }
}
