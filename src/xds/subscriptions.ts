import { sameItems } from "../common/arrays.js";
import { charsOf } from "./allowance.js";
import { contentHash } from "./hash.js";
import { sotwBody } from "./responses.js";
import type { EncodedResource } from "./resource.js";
import { versionOf, type TypeResources } from "./snapshot.js";
import { fullView, type View } from "./views.js";

/** A named subscription: sorted names without duplicates or "*", and a key identifying it. */
export interface Subscription {
  readonly names: readonly string[];
  /** Identifies the subscription in its pool (a hash of the names). */
  readonly key: string;
  /** Characters of the names (what the stream's NameAllowance counts). */
  readonly chars: number;
}

export const NO_NAMES: Subscription = { names: [], key: "", chars: 0 };

interface SharedView {
  view: View;
  /** Streams using this view now. */
  refs: number;
  /** Size of the body it keeps (0 until kept). */
  bodyBytes: number;
}

interface Entry {
  readonly subscription: Subscription;
  /** Streams holding the subscription (for any type). */
  refs: number;
  /** Its view over each snapshot type a stream holding it uses now. */
  readonly views: Map<TypeResources, SharedView>;
}

/**
 * The named subscriptions of a server's streams, and the state-of-the-world views of them (delta
 * streams intern their names here too, for DeltaLevels to key on). Every sidecar
 * of a service subscribes to the same names: they share one Subscription and, per snapshot type,
 * one view and one response body, instead of a copy per stream. Streams acquire and release them;
 * what no stream holds is dropped at once, so nothing outlives its last subscriber (a client that
 * invents name lists leaves nothing behind when it goes). Bodies kept for sharing are bounded by
 * maxSharedViewBytes; past it they are built for each send.
 */
export class SubscriptionPool {
  private readonly entries = new Map<string, Entry>();
  private keptBodyBytes = 0;

  constructor(private readonly maxSharedViewBytes: number = Number.POSITIVE_INFINITY) {}

  /** The shared Subscription for a request's names ("*" is left out: wildcard is tracked apart). */
  acquire(requested: readonly string[]): Subscription {
    const names = [...new Set(requested)].filter((n) => n !== "*").sort();
    if (names.length === 0) return NO_NAMES;
    // Keyed by a hash of the names, not the names joined: a joined key would hold every name a
    // second time (a stream may hold 50,000). Another list with the same hash takes the next key.
    const hash = contentHash(names);
    let key = hash;
    let entry = this.entries.get(key);
    for (let i = 1; entry !== undefined && !sameItems(entry.subscription.names, names); i++) {
      key = `${hash}/${i}`;
      entry = this.entries.get(key);
    }
    if (entry === undefined) {
      entry = { subscription: { names, key, chars: charsOf(names) }, refs: 0, views: new Map() };
      this.entries.set(key, entry);
    }
    entry.refs++;
    return entry.subscription;
  }

  /** Gives back a subscription (after its views); the last holder drops it and its views. */
  release(subscription: Subscription): void {
    const entry = this.held(subscription);
    if (entry === undefined || --entry.refs > 0) return;
    for (const shared of entry.views.values()) this.keptBodyBytes -= shared.bodyBytes;
    this.entries.delete(subscription.key);
  }

  /** The view of a held subscription over a snapshot type; give it back with releaseView. */
  view(subscription: Subscription, all: TypeResources): View {
    const entry = this.held(subscription);
    if (entry === undefined) throw new Error("bug: a view of a subscription nobody holds");
    let shared = entry.views.get(all);
    if (shared === undefined) {
      const items = subscription.names.flatMap((n) => all.byName.get(n) ?? []);
      const made: SharedView = { view: fullView(all), refs: 0, bodyBytes: 0 };
      // A subscription naming everything there is sees the full set, which the type keeps itself.
      if (items.length !== all.items.length) made.view = this.namedView(all, items, made);
      entry.views.set(all, made);
      shared = made;
    }
    shared.refs++;
    return shared.view;
  }

  releaseView(subscription: Subscription, all: TypeResources): void {
    const entry = this.held(subscription);
    const shared = entry?.views.get(all);
    if (entry === undefined || shared === undefined || --shared.refs > 0) return;
    this.keptBodyBytes -= shared.bodyBytes;
    entry.views.delete(all);
  }

  /** What the pool holds now (for tests, metrics and leak checks). */
  get stats(): { readonly subscriptions: number; readonly views: number; readonly keptBodyBytes: number } {
    let views = 0;
    for (const e of this.entries.values()) views += e.views.size;
    return { subscriptions: this.entries.size, views, keptBodyBytes: this.keptBodyBytes };
  }

  private held(subscription: Subscription): Entry | undefined {
    if (subscription === NO_NAMES) return undefined;
    const entry = this.entries.get(subscription.key);
    return entry?.subscription === subscription ? entry : undefined;
  }

  private namedView(all: TypeResources, items: readonly EncodedResource[], shared: SharedView): View {
    const version = versionOf(items);
    let kept: Buffer | undefined;
    return {
      version,
      items,
      body: () => {
        if (kept !== undefined) return kept;
        const body = sotwBody(all.typeUrl, version, items);
        // Kept only when another stream may send it too (a proxy's own composed type is not
        // shared), and while the server's budget for kept bodies allows.
        if (shared.refs > 1 && all.composed !== true && this.keptBodyBytes + body.length <= this.maxSharedViewBytes) {
          kept = body;
          shared.bodyBytes = body.length;
          this.keptBodyBytes += body.length;
        }
        return body;
      },
    };
  }
}
