/** Where in a certificate's life renewal may fall, as fractions from issuance to expiry. */
export interface RenewalWindow {
  readonly from: number;
  readonly to: number;
}

/** Istio renews at half life; Consul between 60% and 90%. We spread over 50% to 80%. */
export const DEFAULT_RENEWAL_WINDOW: RenewalWindow = { from: 0.5, to: 0.8 };

/**
 * When to renew a certificate issued at `issuedAt` that expires at `notAfter`: a uniformly
 * random point of the window, so certificates issued together (2,000 proxies at a restart)
 * renew spread over 30% of their life rather than all at once. `random` returns [0, 1).
 */
export function renewalTime(issuedAt: Date, notAfter: Date, random: () => number = Math.random, window: RenewalWindow = DEFAULT_RENEWAL_WINDOW): Date {
  const life = notAfter.getTime() - issuedAt.getTime();
  const r = Math.min(Math.max(random(), 0), 1);
  const fraction = window.from + (window.to - window.from) * r;
  return new Date(issuedAt.getTime() + Math.floor(life * fraction));
}
