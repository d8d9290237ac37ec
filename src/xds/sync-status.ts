// Which config (commit) each proxy's snapshot came from. Versions are content hashes, so they say
// nothing of the commit by themselves: a proxy's label is what the server was serving when its
// latest snapshot reached its streams, and every proxy is relabelled once a new config has been
// applied to all (a commit that changes nothing for a proxy still is the commit it runs).
import type { SnapshotSource } from "./cache.js";
import type { Snapshot } from "./snapshot.js";

interface Watched {
  /** Label of the config the proxy's latest snapshot reflects. */
  label: string | undefined;
  watchers: number;
}

/**
 * A SnapshotSource in front of another that notes, per proxy, which config (`current()`, the
 * commit) its latest snapshot reflects. Memory follows connected proxies only.
 */
export class ConfigLabels implements SnapshotSource {
  private readonly proxies = new Map<string, Watched>();

  constructor(
    private readonly source: SnapshotSource,
    private readonly current: () => string | undefined,
  ) {}

  watch(proxy: string, listener: (snapshot: Snapshot) => void): () => void {
    let w = this.proxies.get(proxy);
    if (w === undefined) {
      w = { label: undefined, watchers: 0 };
      this.proxies.set(proxy, w);
    }
    const watched = w;
    watched.watchers++;
    const unwatch = this.source.watch(proxy, (snapshot) => {
      watched.label = this.current();
      listener(snapshot);
    });
    let done = false;
    return () => {
      if (done) return;
      done = true;
      unwatch();
      if (--watched.watchers === 0) this.proxies.delete(proxy);
    };
  }

  labelOf(proxy: string): string | undefined {
    return this.proxies.get(proxy)?.label;
  }

  /**
   * Every watched proxy's snapshot now reflects `label`: call once a config has been applied to
   * every proxy (the cache holds their snapshots for it, changed or not).
   */
  relabel(label: string | undefined): void {
    for (const w of this.proxies.values()) w.label = label;
  }
}
