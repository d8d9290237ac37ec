import type { EncodedResource } from "./resource.js";
import { sotwBody, sotwFullBody } from "./responses.js";
import { versionOf, type TypeResources } from "./snapshot.js";
import type { Subscription } from "./subscriptions.js";

/** What one state-of-the-world subscription sees of a type: its resources, version and body. */
export interface View {
  readonly version: string;
  readonly items: readonly EncodedResource[];
  /** The response without its nonce, built once per view and shared by every stream with it. */
  body(): Buffer;
}

const fullViews = new WeakMap<TypeResources, View>();
const namedViews = new WeakMap<TypeResources, Map<string, View>>();

/**
 * Distinct subscriptions shared per snapshot type. Real fleets have a few per service; a client
 * inventing new name lists must not grow this without bound, so past it views are not shared.
 */
const MAX_SHARED_VIEWS = 10_000;

export function fullView(all: TypeResources): View {
  let view = fullViews.get(all);
  if (view === undefined) {
    view = { version: all.version, items: all.items, body: () => sotwFullBody(all) };
    fullViews.set(all, view);
  }
  return view;
}

/**
 * The view of a named subscription. Thousands of proxies subscribe to the same names (every
 * sidecar of a service asks for the same endpoints), so views are shared per snapshot type and
 * subscription rather than computed per stream.
 */
export function namedView(all: TypeResources, { names, key }: Subscription): View {
  let byKey = namedViews.get(all);
  if (byKey === undefined) {
    byKey = new Map();
    namedViews.set(all, byKey);
  }
  let view = byKey.get(key);
  if (view === undefined) {
    const items = names.flatMap((n) => all.byName.get(n) ?? []);
    view = items.length === all.items.length ? fullView(all) : listView(all.typeUrl, items);
    if (byKey.size < MAX_SHARED_VIEWS) byKey.set(key, view);
  }
  return view;
}

/** A view of an explicit list (sorted by name), not shared. */
export function listView(typeUrl: string, items: readonly EncodedResource[]): View {
  const version = versionOf(items);
  let body: Buffer | undefined;
  return { version, items, body: () => (body ??= sotwBody(typeUrl, version, items)) };
}
