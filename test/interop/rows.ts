// What the matrix expects of each client where clients differ: rows a client does not implement
// or gets wrong through a bug of its own (skipped, with the reason, and reported as such), and
// the documented quirks a row allows for. docs/proxies.md has the same facts for users.

/** Rows skipped for a client, with why: the client does not implement them, or its bug defeats them. */
const SKIPPED: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  "grpc-java": {
    "circuit breaking (http2MaxRequests)":
      "client bug: grpc-java 1.85 counts calls in flight only on clusters that report load (LRS), which gitmesh does not configure, so max_requests is never enforced",
  },
};

/** Why `client` skips `row`, or undefined when it runs it. */
export function skipped(client: string, row: string): string | undefined {
  return SKIPPED[client]?.[row];
}

/**
 * Clients gitmesh gives round robin in place of ring hash, by their user agent (the class
 * "old-c-core" of src/translators/grpc-clients.ts): the row checks they keep working.
 */
export const RING_HASH_AS_ROUND_ROBIN: ReadonlySet<string> = new Set(["c-core-1.51"]);

/**
 * How early a client may end a call at a route timeout. C-core (1.51 and current) ends it up to
 * about 2 s early, by the same amount for every call of a process (a route timeout of 2 s or less
 * can end calls at once); the others within scheduling noise.
 */
export function timeoutEarlyMs(client: string): number {
  return client.startsWith("c-core") ? 2_500 : 100;
}
