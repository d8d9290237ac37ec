import type { Server as NetServer } from "node:net";
import { Server, ServerCredentials, type ServerDuplexStream } from "@grpc/grpc-js";
import { status as grpcStatus } from "@grpc/grpc-js";
import type { Node__Output } from "../envoy/index.js";
import { LogThrottle, type Logger } from "../log.js";
import { HeldTotals, NameAllowance } from "./allowance.js";
import type { SnapshotSource } from "./cache.js";
import { ConnectionGuard, descriptorLimit, listenTcp, peerOf, type CloseReason } from "./connections.js";
import { csdsService } from "./csds.js";
import { DeltaLevels } from "./delta-levels.js";
import { DeltaSession } from "./delta-session.js";
import { DESCRIPTOR_RESERVE, limitsWith, type XdsLimits } from "./limits.js";
import type { Decoded } from "./requests.js";
import { serviceDefinitions, XDS_METHODS } from "./services.js";
import type { Holding, Session } from "./session.js";
import { SotwSession } from "./sotw-session.js";
import { PLAINTEXT, type AdmitRefusal, type EndpointPolicy, type StreamIdentity } from "./endpoint.js";
import { XdsStatus, type NackRecord } from "./status.js";
import { XdsStream, type StreamConnection } from "./stream.js";
import { SubscriptionPool } from "./subscriptions.js";

export interface XdsServerOptions {
  readonly source: SnapshotSource;
  readonly logger: Logger;
  /**
   * Which snapshot a proxy gets, from its node and, on an authenticated endpoint, the identity its
   * credential names. Default: the node id, and the identity with it, so that two streams sharing
   * a node id under different identities never share a snapshot (one would get the other's key).
   */
  readonly proxyKey?: (node: Node__Output, identity: StreamIdentity | undefined) => string;
  /** Changes to the bounds in DEFAULT_LIMITS (limits.ts; docs/xds-server.md says why each is what it is). */
  readonly limits?: Partial<XdsLimits>;
  /** Called for every NACK, after it is recorded in the status store (metrics count them). */
  readonly onNack?: (record: NackRecord) => void;
  /**
   * Checks a stream's node before it is served, after its credential (identity is undefined on
   * the plaintext endpoint): a refusal ends the stream with its code and message (and a log line
   * naming the problem).
   */
  readonly admitNode?: (node: Node__Output, identity: StreamIdentity | undefined) => AdmitRefusal | undefined;
  /** The status store to record into (default: a new one, as `status`). */
  readonly status?: XdsStatus;
  /**
   * A stream of this proxy was identified (and, on an authenticated endpoint, its credential
   * checked: identity is what the credential names); called before its snapshot is watched.
   */
  readonly onProxyConnected?: (proxy: string, node: Node__Output, peer: string, identity: StreamIdentity | undefined) => void;
  /** A stream of this proxy ended (a proxy may hold several). */
  readonly onProxyDisconnected?: (proxy: string) => void;
}

/**
 * Streams of different endpoints or identities never share a key, whatever node id they claim: a
 * plaintext stream is "plain/NODE", an authenticated one "mesh/NS/SA/NODE". Namespaces and service
 * accounts are DNS labels (no "/"), and the first segment says which form it is, so no node id can
 * make one key read as another.
 */
export function defaultProxyKey(node: Node__Output, identity: StreamIdentity | undefined): string {
  return identity === undefined ? `plain/${node.id}` : `mesh/${identity.namespace}/${identity.serviceAccount}/${node.id}`;
}

/** What the server holds for its clients now: for tests, metrics and the abuse benchmark. */
export interface XdsHoldings {
  readonly streams: number;
  readonly names: number;
  readonly nameChars: number;
  readonly unreadBytes: number;
  readonly subscriptions: number;
  readonly views: number;
  readonly keptViewBodyBytes: number;
  /** Distinct levels delta streams are at (see DeltaLevels): few when proxies are alike. */
  readonly deltaLevels: number;
  readonly connections: { readonly pending: number; readonly proxies: number };
}

interface Listening {
  readonly grpc: Server;
  readonly tcp: NetServer;
}

/**
 * The xDS management server: ADS (state of the world and delta) and the per-type discovery
 * services on one gRPC server per address, fed by a SnapshotSource. It owns everything its
 * streams share or are counted against: the subscription pool and its views, the delta levels, the totals behind
 * the limits, the connection guard and the log throttle.
 */
export class XdsServer {
  readonly status: XdsStatus;
  readonly limits: XdsLimits;
  private readonly listening: Listening[] = [];
  private readonly streams = new Set<XdsStream>();
  private readonly totals = new HeldTotals();
  private readonly pool: SubscriptionPool;
  private readonly deltaLevels = new DeltaLevels();
  private readonly throttle: LogThrottle;
  private readonly guard: ConnectionGuard;
  /** Streams with unread bytes, swept for stalls and for the total (see sweepUnread). */
  private readonly unreadStreams = new Set<XdsStream>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private nextStreamId = 1;
  private stopping = false;
  /** Each open stream's session by stream id: what its proxy holds, for operators (holding()). */
  private readonly sessions = new Map<number, Session<unknown>>();

  constructor(private readonly options: XdsServerOptions) {
    this.status = options.status ?? new XdsStatus();
    this.limits = limitsWith(options.limits);
    this.pool = new SubscriptionPool(this.limits.maxSharedViewBytes);
    this.throttle = new LogThrottle(options.logger);
    const descriptors = descriptorLimit();
    this.guard = new ConnectionGuard({
      setupMs: this.limits.connectionSetupMs,
      maxConnections: this.limits.maxConnections ?? Math.max(64, (descriptors ?? 1024) - DESCRIPTOR_RESERVE),
      onClose: (reason, key) => this.connectionClosed(reason, key),
    });
  }

  private grpcServer(policy: EndpointPolicy, listener: number): Server {
    // Proxies hold their streams open for days; keepalive finds the dead ones.
    const server = new Server({
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.http2.min_ping_interval_without_data_ms": 10_000,
      "grpc.max_receive_message_length": this.limits.maxRequestBytes,
      "grpc.max_send_message_length": -1,
      // A proxy needs one stream (ADS) or a handful (per-type services) per connection.
      "grpc.max_concurrent_streams": 100,
      // A connection without streams is not a proxy's (each holds one); it goes after a while.
      "grpc.max_connection_idle_ms": this.limits.idleConnectionMs,
      // Per-connection channelz bookkeeping costs about 1.3 KB a proxy and nothing reads it.
      "grpc.enable_channelz": 0,
    });
    const definitions = serviceDefinitions(this.limits.maxNamesPerStream);
    for (const [service, definition] of definitions) {
      const handlers = Object.fromEntries(
        XDS_METHODS.filter((m) => m.service === service).map((m) => [
          m.method,
          (call: ServerDuplexStream<Decoded<unknown>, Buffer>) => {
            const allowance = new NameAllowance(this.totals, this.limits);
            // The method's deserializer decides the request type, so the session matches it.
            const session = (
              m.protocol === "sotw" ? new SotwSession(m.serves, m.ordered, { pool: this.pool, allowance }) : new DeltaSession(m.serves, m.ordered, allowance, { pool: this.pool, levels: this.deltaLevels })
            ) as Session<unknown>;
            this.open(call, session, allowance, `${service.split(".").pop() ?? service}/${m.method}`, m.protocol, policy, listener);
          },
        ]),
      );
      server.addService(definition, handlers);
    }
    server.addService(
      ...csdsService({ status: this.status, holding: (id, typeUrl) => this.holding(id, typeUrl), operator: (peer) => this.guard.identified(`${listener}|${peer}`) }, policy),
    );
    return server;
  }

  /**
   * Binds an address and starts serving it; resolves to the bound port (useful with port 0).
   * The policy says whether streams must authenticate and may receive secrets (see endpoint.ts).
   * gitmesh accepts the TCP connections itself and hands them to gRPC, so that connections that
   * never become a proxy's are closed (see ConnectionGuard).
   */
  async listen(address: string, credentials: ServerCredentials = ServerCredentials.createInsecure(), policy: EndpointPolicy = PLAINTEXT): Promise<number> {
    const listener = this.listening.length;
    const grpc = this.grpcServer(policy, listener);
    const injector = grpc.createConnectionInjector(credentials);
    const tcp = await listenTcp(address, (socket) => {
      if (this.stopping) return void socket.destroy();
      if (this.guard.accept(`${listener}|${peerOf(socket)}`, socket)) injector.injectConnection(socket);
    });
    this.listening.push({ grpc, tcp });
    const bound = tcp.address();
    const port = typeof bound === "object" && bound !== null ? bound.port : 0;
    this.options.logger.info("xDS listening", {
      address,
      port,
      endpoint: policy.t,
      maxConnections: this.guard.maxConnections,
      descriptorLimit: descriptorLimit() ?? "unknown",
    });
    return port;
  }

  /** What the proxy on an open stream holds of a type, as its session knows it (config dumps, CSDS). */
  holding(streamId: number, typeUrl: string): Holding | undefined {
    return this.sessions.get(streamId)?.heldOf(typeUrl);
  }

  /** Number of open streams. */
  get streamCount(): number {
    return this.streams.size;
  }

  get holdings(): XdsHoldings {
    const pool = this.pool.stats;
    return {
      streams: this.streams.size,
      names: this.totals.names,
      nameChars: this.totals.chars,
      unreadBytes: this.totals.unreadBytes,
      subscriptions: pool.subscriptions,
      views: pool.views,
      keptViewBodyBytes: pool.keptBodyBytes,
      deltaLevels: this.deltaLevels.size,
      connections: this.guard.counts,
    };
  }

  /**
   * Ends the open streams whose credential matches (a revoked token's, say) with a status; they
   * receive nothing more. Returns how many were closed.
   */
  closeStreams(matches: (identity: StreamIdentity) => boolean, code: grpcStatus, message: string): number {
    let n = 0;
    for (const s of [...this.streams]) {
      const identity = s.identity;
      if (identity === undefined || !matches(identity)) continue;
      s.close(code, message);
      n++;
    }
    return n;
  }

  /**
   * Ends every stream with UNAVAILABLE (proxies reconnect, to another replica if there is one) and
   * stops the server; calls still open after graceMs are cut.
   */
  async shutdown(graceMs = 5_000): Promise<void> {
    this.stopping = true;
    for (const s of [...this.streams]) s.close(grpcStatus.UNAVAILABLE, "gitmesh is shutting down");
    await Promise.all(
      this.listening.map(
        ({ grpc, tcp }) =>
          new Promise<void>((resolve) => {
            tcp.close();
            const timer = setTimeout(() => {
              grpc.forceShutdown();
              this.guard.closeAll();
            }, graceMs);
            timer.unref();
            grpc.tryShutdown(() => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
    this.guard.closeAll();
    clearInterval(this.sweepTimer);
    this.throttle.close();
  }

  private open(
    call: ServerDuplexStream<Decoded<unknown>, Buffer>,
    session: Session<unknown>,
    allowance: NameAllowance,
    method: string,
    protocol: "sotw" | "delta",
    policy: EndpointPolicy,
    listener: number,
  ): void {
    if (this.stopping) {
      call.emit("error", { code: grpcStatus.UNAVAILABLE, details: "gitmesh is shutting down" });
      return;
    }
    const connection: StreamConnection = {
      identified: (peer) => this.guard.identified(`${listener}|${peer}`),
      cut: (peer) => void this.guard.cut(`${listener}|${peer}`),
    };
    const id = this.nextStreamId++;
    this.sessions.set(id, session);
    const stream = new XdsStream(call, session, {
      id,
      method,
      protocol,
      policy,
      source: this.options.source,
      proxyKey: this.options.proxyKey ?? defaultProxyKey,
      status: this.status,
      logger: this.options.logger,
      throttle: this.throttle,
      limits: this.limits,
      allowance,
      totals: this.totals,
      connection,
      onUnread: (s, unread) => this.unreadChanged(s, unread),
      onClosed: (s) => {
        this.streams.delete(s);
        this.sessions.delete(id);
      },
      onNack: this.options.onNack ?? (() => {}),
      admitNode: this.options.admitNode ?? (() => undefined),
      onProxyConnected: this.options.onProxyConnected ?? (() => {}),
      onProxyDisconnected: this.options.onProxyDisconnected ?? (() => {}),
    });
    this.streams.add(stream);
  }

  private unreadChanged(stream: XdsStream, unread: boolean): void {
    if (!unread) {
      this.unreadStreams.delete(stream);
      if (this.unreadStreams.size === 0 && this.sweepTimer !== undefined) {
        clearInterval(this.sweepTimer);
        this.sweepTimer = undefined;
      }
      return;
    }
    this.unreadStreams.add(stream);
    this.sweepTimer ??= setInterval(() => this.sweepUnread(), this.sweepMs).unref();
  }

  private get sweepMs(): number {
    return Math.max(10, Math.min(1_000, this.limits.unreadStallMs / 2));
  }

  /**
   * Closes the streams whose proxies do not read: any that took nothing for unreadStallMs, and,
   * while all streams together hold more than maxUnreadBytesTotal, those holding the most that
   * took nothing since the last sweep. Streams that are reading are never closed for the total:
   * a push to a whole fleet writes far more at once than the bound, and drains in moments.
   */
  private sweepUnread(): void {
    const now = Date.now();
    let closing = 0;
    const stalled: XdsStream[] = [];
    for (const s of this.unreadStreams) {
      if (s.closed) closing += s.unreadBytes;
      else if (s.stalledFor(now) >= this.limits.unreadStallMs) {
        s.closeUnread(`nothing taken for ${this.limits.unreadStallMs} ms`);
        closing += s.unreadBytes;
      } else if (s.stalledFor(now) >= this.sweepMs) stalled.push(s);
    }
    let over = this.totals.unreadBytes - closing - this.limits.maxUnreadBytesTotal;
    if (over <= 0) return;
    for (const s of stalled.sort((a, b) => b.unreadBytes - a.unreadBytes)) {
      if (over <= 0) break;
      over -= s.unreadBytes;
      s.closeUnread(`all streams together hold ${this.totals.unreadBytes} unread bytes; at most ${this.limits.maxUnreadBytesTotal}`);
    }
  }

  private connectionClosed(reason: CloseReason, key: string): void {
    const peer = key.slice(key.indexOf("|") + 1);
    const host = peer.slice(0, peer.lastIndexOf(":"));
    const what = {
      "setup-timeout": `xDS connection closed: it named no node within ${this.limits.connectionSetupMs} ms`,
      evicted: "xDS connection closed: the server was full, and it was the oldest that had named no node",
      refused: "xDS connection refused: the server holds its maximum of proxy connections",
      cut: "xDS connection cut: a stream on it did not take its responses",
    }[reason];
    if (this.throttle.allow(what, host)) this.options.logger.warn(what, { peer });
  }
}
