// Proxies that name a WORKLOAD_GROUP: claimed while one of their streams is up, and for a grace
// period after the last one ends, so a proxy that restarts or reconnects keeps its place. Whether
// a claim makes the proxy an endpoint is decided at translation (withRegistrations: identity,
// group, address); this only keeps the claims and their timers.
import { after, type Timer } from "../common/timers.js";
import { canonicalProxy, type ProxyIdentity } from "../translators/proxy.js";

export class Registrations {
  private readonly claims = new Map<string, ProxyIdentity>();
  private readonly expiring = new Map<string, Timer>();

  /**
   * @param graceMs how long a claim outlives its proxy's last stream
   * @param onChange the set of claims changed (translate again)
   */
  constructor(
    private readonly graceMs: number,
    private readonly onChange: () => void,
  ) {}

  /** The proxy's stream is up; a proxy that names no group drops any claim it had. */
  connected(key: string, proxy: ProxyIdentity): void {
    this.expiring.get(key)?.cancel();
    this.expiring.delete(key);
    const before = this.claims.get(key);
    if (proxy.workloadGroup === undefined) {
      if (this.claims.delete(key)) this.onChange();
      return;
    }
    this.claims.set(key, proxy);
    if (before === undefined || canonicalProxy(before) !== canonicalProxy(proxy)) this.onChange();
  }

  /**
   * A claim from before a restart (registration-store.ts): it stands at once, and ends after
   * afterMs unless its proxy comes back (connected() then takes it over).
   */
  restore(key: string, proxy: ProxyIdentity, afterMs: number): void {
    if (this.claims.has(key)) return;
    this.claims.set(key, proxy);
    this.expiring.set(
      key,
      after(afterMs, () => {
        this.expiring.delete(key);
        if (this.claims.delete(key)) this.onChange();
      }),
    );
  }

  /** The proxy's last stream ended: its claim ends after the grace period, unless it comes back. */
  disconnected(key: string): void {
    if (!this.claims.has(key) || this.expiring.has(key)) return;
    this.expiring.set(
      key,
      after(this.graceMs, () => {
        this.expiring.delete(key);
        if (this.claims.delete(key)) this.onChange();
      }),
    );
  }

  /** Every claim, by proxy key. */
  current(): ReadonlyMap<string, ProxyIdentity> {
    return this.claims;
  }

  close(): void {
    for (const t of this.expiring.values()) t.cancel();
    this.expiring.clear();
  }
}
