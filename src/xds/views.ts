import type { EncodedResource } from "./resource.js";
import { sotwBody, sotwFullBody } from "./responses.js";
import { versionOf, type TypeResources } from "./snapshot.js";

/** What one state-of-the-world subscription sees of a type: its resources, version and body. */
export interface View {
  readonly version: string;
  readonly items: readonly EncodedResource[];
  /** The response without its nonce; shared by every stream with this view when it is kept. */
  body(): Buffer;
}

/** The full set of a type: one view per snapshot type, kept by it (see TypeResources.memo). */
export function fullView(all: TypeResources): View {
  return all.memo.get("fullView", () => ({ version: all.version, items: all.items, body: () => sotwFullBody(all) }));
}

/** A view of an explicit list (sorted by name) for one stream: its body is built for each send. */
export function listView(typeUrl: string, items: readonly EncodedResource[]): View {
  const version = versionOf(items);
  return { version, items, body: () => sotwBody(typeUrl, version, items) };
}
