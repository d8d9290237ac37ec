// gitmesh's own DNS lookups, for the ServiceEntry hosts it resolves itself (resolution DNS,
// DNS_ROUND_ROBIN, or NONE for a named host; no endpoints, no workloadSelector:
// translators/services.ts, gitmeshResolves).
// Istio's sidecars resolve such a host themselves; gitmesh's cannot: the application reaches a
// service through the loopback address /etc/hosts gives its name (gitmesh hosts), and Envoy's
// c-ares resolver reads the same /etc/hosts (nothing turns that off), so it found its own
// address, or none. Here the name is looked up with node:dns's Resolver: resolve4 and resolve6
// send queries to the DNS servers of /etc/resolv.conf and never read /etc/hosts, which is the
// point. The addresses are a translation input, as registrations are; the clusters become EDS.
//
// Each host is looked up again at its records' TTL, clamped to MIN_REFRESH_MS..MAX_REFRESH_MS; a
// lookup that fails keeps the last good addresses (and is tried again at MIN_REFRESH_MS); a failure
// is logged once per change of state, not at every attempt. Only a changed answer (sorted) calls
// onChange, so a steady TTL costs no push. Loopback addresses are never served (they would send a
// sidecar to its own host).
import { Resolver } from "node:dns/promises";
import { sameItems } from "../common/arrays.js";
import { after, REAL_SCHEDULER, type Scheduler, type Timer } from "../common/timers.js";
import type { Logger } from "../log.js";
import type { DnsAnswers } from "../translators/services.js";

/** Shortest wait between two lookups of a host (records with a TTL of 0 or 1 s included). */
export const MIN_REFRESH_MS = 5_000;
/** Longest: a record with a TTL of a day is still looked up again every 5 minutes. */
export const MAX_REFRESH_MS = 300_000;

/** A record with its TTL in seconds, as Resolver.resolve4(host, { ttl: true }) gives it. */
export interface TtlRecord {
  readonly address: string;
  readonly ttl: number;
}

/** What looks names up: node:dns's Resolver, or a test's. */
export interface NameResolver {
  resolve4(host: string, options: { ttl: true }): Promise<TtlRecord[]>;
  resolve6(host: string, options: { ttl: true }): Promise<TtlRecord[]>;
  cancel(): void;
}

export interface DnsResolutionOptions {
  readonly logger: Logger;
  /** The answers changed (a host's addresses, or a host gone): translate again. */
  readonly onChange: (answers: DnsAnswers) => void;
  /** Default: node:dns's Resolver on the system's servers (/etc/resolv.conf). */
  readonly resolver?: NameResolver;
  readonly scheduler?: Scheduler;
}

/** Errors that are DNS's answer "this name has no such address", not a failure to ask. */
const NO_ADDRESS = new Set(["ENODATA", "ENOTFOUND"]);

/** How long to wait before looking a host up again, from the records' TTLs (seconds). */
export function refreshDelayMs(ttls: readonly number[]): number {
  const ttl = ttls.length === 0 ? 0 : Math.min(...ttls);
  return Math.min(MAX_REFRESH_MS, Math.max(MIN_REFRESH_MS, ttl * 1000));
}

function loopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1" || address.startsWith("::ffff:127.");
}

interface HostState {
  timer?: Timer;
  /** The last failure's description, while lookups fail (logged once). */
  failing?: string;
}

/** One lookup's outcome. */
type Outcome = { readonly t: "answer"; readonly addresses: readonly string[]; readonly delayMs: number } | { readonly t: "failed"; readonly error: string };

export class DnsResolution {
  private readonly hosts = new Map<string, HostState>();
  private answers = new Map<string, readonly string[]>();
  private readonly resolver: NameResolver;
  private readonly scheduler: Scheduler;
  private closed = false;

  constructor(private readonly options: DnsResolutionOptions) {
    // 2 s per try, 2 tries: a server that does not answer costs a host 4 s, then the last answer stands.
    this.resolver = options.resolver ?? new Resolver({ timeout: 2_000, tries: 2 });
    this.scheduler = options.scheduler ?? REAL_SCHEDULER;
  }

  /** The hosts to look up (the served model's): new ones are looked up now, gone ones forgotten. */
  setHosts(hosts: readonly string[]): void {
    if (this.closed) return;
    const wanted = new Set(hosts);
    let dropped = false;
    for (const [host, state] of this.hosts) {
      if (wanted.has(host)) continue;
      state.timer?.cancel();
      this.hosts.delete(host);
      dropped = this.answers.delete(host) || dropped;
    }
    for (const host of wanted) {
      if (this.hosts.has(host)) continue;
      const state: HostState = {};
      this.hosts.set(host, state);
      void this.lookup(host, state);
    }
    if (dropped) this.changed();
  }

  /** The addresses found so far, by host (hosts without an answer yet are absent). */
  current(): DnsAnswers {
    return this.answers;
  }

  close(): void {
    this.closed = true;
    for (const state of this.hosts.values()) state.timer?.cancel();
    this.hosts.clear();
    this.resolver.cancel();
  }

  private async lookup(host: string, state: HostState): Promise<void> {
    const outcome = await this.ask(host);
    if (this.closed || this.hosts.get(host) !== state) return; // forgotten meanwhile
    let delayMs = MIN_REFRESH_MS;
    if (outcome.t === "failed") {
      if (state.failing !== outcome.error) {
        const kept = this.answers.get(host);
        this.options.logger.warn("DNS lookup failed; the last addresses stay served", { host, error: outcome.error, kept: kept === undefined ? "none (no endpoints)" : kept.join(",") });
      }
      state.failing = outcome.error;
    } else {
      if (state.failing !== undefined) this.options.logger.info("DNS lookup answers again", { host, addresses: outcome.addresses.join(",") });
      delete state.failing;
      delayMs = outcome.delayMs;
      const before = this.answers.get(host);
      if (before === undefined || !sameItems(before, outcome.addresses)) {
        this.answers = new Map(this.answers).set(host, outcome.addresses);
        this.changed();
      }
    }
    state.timer = after(delayMs, () => void this.lookup(host, state), this.scheduler);
  }

  /** A and AAAA records at once: an answer when either has addresses or both say there are none. */
  private async ask(host: string): Promise<Outcome> {
    const [v4, v6] = await Promise.allSettled([this.resolver.resolve4(host, { ttl: true }), this.resolver.resolve6(host, { ttl: true })]);
    const records: TtlRecord[] = [];
    const errors: string[] = [];
    for (const r of [v4, v6]) {
      if (r.status === "fulfilled") records.push(...r.value);
      else {
        const code = (r.reason as NodeJS.ErrnoException).code ?? String(r.reason);
        if (!NO_ADDRESS.has(code)) errors.push(code);
      }
    }
    // One family failing while the other answers is an answer (its records); both failing is not.
    if (records.length === 0 && errors.length > 0) return { t: "failed", error: errors.join(", ") };
    // A loopback address would send a sidecar to its own host: it comes from a DNS server that
    // reads /etc/hosts (systemd-resolved's stub does), where gitmesh hosts put the service's own.
    const usable = records.filter((r) => !loopback(r.address));
    if (usable.length === 0 && records.length > 0) {
      return { t: "failed", error: `only loopback addresses (${records.map((r) => r.address).join(", ")}): the DNS server answers from /etc/hosts? Point gitmesh's resolv.conf at one that does not` };
    }
    const addresses = [...new Set(usable.map((r) => r.address))].sort();
    return { t: "answer", addresses, delayMs: refreshDelayMs(usable.map((r) => r.ttl)) };
  }

  private changed(): void {
    if (!this.closed) this.options.onChange(this.answers);
  }
}
