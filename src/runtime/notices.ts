// What gitmesh could not give a connected proxy, and why, in words an operator acts on: a
// registration refused, a gateway's keys withheld, inbound listeners left out. Each proxy's notices
// are logged when they change (not at every push) and shown on its status; they leave with it.
import type { Logger } from "../log.js";

/** At most this many notices are kept per proxy, each at most this long. */
const MAX_NOTICES = 16;
const MAX_NOTICE_CHARS = 1_000;

export class ProxyNotices {
  private readonly byProxy = new Map<string, readonly string[]>();

  constructor(private readonly logger: Logger) {}

  /** The proxy's notices now; logged if they differ from the last ones. */
  set(proxy: string, notices: readonly string[]): void {
    const capped = notices.slice(0, MAX_NOTICES).map((n) => (n.length > MAX_NOTICE_CHARS ? `${n.slice(0, MAX_NOTICE_CHARS)}...` : n));
    const before = this.byProxy.get(proxy) ?? [];
    if (capped.length === 0) this.byProxy.delete(proxy);
    else this.byProxy.set(proxy, capped);
    if (before.join("\n") === capped.join("\n")) return;
    for (const n of capped) if (!before.includes(n)) this.logger.warn("proxy not given everything its config names", { proxy, notice: n });
  }

  get(proxy: string): readonly string[] {
    return this.byProxy.get(proxy) ?? [];
  }

  delete(proxy: string): void {
    this.byProxy.delete(proxy);
  }

  /** Every proxy with notices, for /debug pages. */
  all(): Record<string, readonly string[]> {
    return Object.fromEntries([...this.byProxy].sort(([a], [b]) => (a < b ? -1 : 1)));
  }
}
