/**
 * What one client, and all clients together, may make the xDS server hold. Each default is far
 * above what a real fleet uses (docs/xds-server.md, "Limits", gives the reasoning per bound);
 * XdsServerOptions.limits changes any of them. Past a per-stream or total bound the offending
 * stream is closed with RESOURCE_EXHAUSTED and nothing else is affected.
 */
export interface XdsLimits {
  // --- Connections --------------------------------------------------------------------------
  /**
   * A new connection must name its node within this: TCP accepted, TLS and HTTP/2 handshakes
   * done, a stream opened and its first request read. Silent and half-open connections are
   * closed after it. A proxy needs milliseconds; 10 s leaves room for a reconnect storm of
   * thousands of TLS proxies on two cores.
   */
  readonly connectionSetupMs: number;
  /**
   * Connections held at once per listening address. When full, the oldest connection that has
   * not yet named a node is closed to make room (a flood of silent connections cannot keep a
   * proxy out); when every connection belongs to a proxy, the new one is closed. Undefined: the
   * process's descriptor limit less DESCRIPTOR_RESERVE.
   */
  readonly maxConnections: number | undefined;
  /** A connection with no open stream for this long is closed (GOAWAY); proxies always hold one. */
  readonly idleConnectionMs: number;

  // --- Per stream ---------------------------------------------------------------------------
  /** A stream (after the connection's first) that has not named its node by then is closed. */
  readonly identifyWithinMs: number;
  /** Largest request accepted (gRPC's receive limit): about 100,000 names of 40 characters. */
  readonly maxRequestBytes: number;
  /** node.id length; Envoy's and gRPC's ids are tens of characters. */
  readonly maxNodeIdChars: number;
  /**
   * The node as JSON (metadata and extension list included), held for the stream's life. Envoy
   * 1.40 lists its compiled-in extensions in its node: about 107,000 characters.
   */
  readonly maxNodeChars: number;
  /**
   * Names one stream may hold: SotW resource_names of every type, delta subscriptions and the
   * names of a delta stream's initial_resource_versions. An unscoped sidecar in a 1,000-service
   * mesh holds about 12,000.
   */
  readonly maxNamesPerStream: number;
  /** Characters of those names, and of the node, one stream may hold. */
  readonly maxNameCharsPerStream: number;
  /**
   * Response bytes written to one stream that the proxy has not taken yet (HTTP/2 flow control
   * holds them in the server). Past it the stream's responses are held: requests are still
   * handled, and once the proxy has taken half of what it was sent, only the latest state of
   * each type it is owed goes out. So a stream holds at most this plus one push.
   */
  readonly maxUnreadBytesPerStream: number;
  /**
   * A stream with unread bytes that takes none of them for this long is closed: a proxy that
   * reads, however slowly, takes some every few milliseconds.
   */
  readonly unreadStallMs: number;
  /**
   * After a stream is closed for not reading, the time it has to take its last bytes and status;
   * then its connection is cut, because only that frees what HTTP/2 holds for it.
   */
  readonly unreadGraceMs: number;
  /** NACK error text kept and logged (Envoy's own messages are far shorter). */
  readonly maxNackMessageChars: number;

  // --- All streams together -----------------------------------------------------------------
  /**
   * Names held by all streams (each stream's count, shared or not). A delta sidecar counts what it
   * subscribes to and what it says it holds when it connects: in an unscoped 1,000-service mesh
   * about 12,000, so 2,000 of them hold 24 M; scoped, a few thousand each. At the bound the names
   * cost about 1 GB of heap (bench/abuse.ts: about 100 bytes a name).
   */
  readonly maxNamesTotal: number;
  /** Characters of names and nodes held by all streams. */
  readonly maxNameCharsTotal: number;
  /**
   * Unread bytes of all streams. Past it, the streams that hold the most and have taken nothing
   * for a second are closed (a push to a fleet that reads is never cut short).
   */
  readonly maxUnreadBytesTotal: number;
  /**
   * Bytes of response bodies kept to be shared by streams with the same subscription. Past it
   * further bodies are built for each send instead of kept (slower, never refused).
   */
  readonly maxSharedViewBytes: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_LIMITS: XdsLimits = {
  connectionSetupMs: 10_000,
  maxConnections: undefined,
  idleConnectionMs: 5 * 60_000,
  identifyWithinMs: 30_000,
  maxRequestBytes: 4 * MiB,
  maxNodeIdChars: 1024,
  maxNodeChars: 512 * 1024,
  maxNamesPerStream: 50_000,
  maxNameCharsPerStream: 4 * MiB,
  maxUnreadBytesPerStream: 1 * MiB,
  unreadStallMs: 30_000,
  unreadGraceMs: 2_000,
  maxNackMessageChars: 4096,
  maxNamesTotal: 10_000_000,
  maxNameCharsTotal: 512 * MiB,
  maxUnreadBytesTotal: 256 * MiB,
  maxSharedViewBytes: 256 * MiB,
};

/**
 * Descriptors kept for everything but xDS connections: config files (read a few at a time), git,
 * the file watcher, the admin port, certificates and logs.
 */
export const DESCRIPTOR_RESERVE = 256;

/** The limits a server runs with: the defaults with the caller's changes. */
export function limitsWith(changes: Partial<XdsLimits> | undefined): XdsLimits {
  return { ...DEFAULT_LIMITS, ...changes };
}
