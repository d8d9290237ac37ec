// Which config (commit) each proxy's snapshot came from. Versions are content hashes, so they say
// nothing of the commit by themselves: the label is taken when a snapshot first reaches a stream,
// from what the server is serving at that moment, and kept by the snapshot (every proxy sharing a
// snapshot shares its label).
import type { SnapshotSource } from "./cache.js";
import type { Snapshot } from "./snapshot.js";

interface Watched {
  /** Label of the latest snapshot delivered to the proxy's streams. */
  label: string | undefined;
  watchers: number;
}

/**
 * A SnapshotSource in front of another that labels each snapshot it delivers with the config
 * being served (`current()`, the commit). labelOf(proxy) is the label of the proxy's latest
 * snapshot while it has a stream: memory follows connected proxies only.
 */
export class ConfigLabels implements SnapshotSource {
  private readonly labels = new WeakMap<Snapshot, string | undefined>();
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
      watched.label = this.labelOfSnapshot(snapshot);
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

  private labelOfSnapshot(snapshot: Snapshot): string | undefined {
    if (!this.labels.has(snapshot)) this.labels.set(snapshot, this.current());
    return this.labels.get(snapshot);
  }
}
