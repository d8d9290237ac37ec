import { status as grpcStatus, type ServerDuplexStream } from "@grpc/grpc-js";
import { at, type Timer } from "../common/timers.js";
import type { Node__Output } from "../envoy/index.js";
import type { Logger, LogThrottle } from "../log.js";
import type { HeldTotals, NameAllowance } from "./allowance.js";
import type { SnapshotSource } from "./cache.js";
import { servesSecrets, type AdmitRefusal, type EndpointPolicy, type StreamIdentity } from "./endpoint.js";
import type { XdsLimits } from "./limits.js";
import type { Decoded } from "./requests.js";
import { withoutSecrets } from "./snapshot.js";
import type { Session, SessionAction } from "./session.js";
import type { NackRecord, XdsStatus } from "./status.js";

/** The connection a stream arrived on, as far as the stream needs it. */
export interface StreamConnection {
  /** The stream named its node (and passed its credential check): the connection is a proxy's. */
  identified(peer: string): void;
  /** Closes the connection at once: the only way to free what HTTP/2 holds for a stuck stream. */
  cut(peer: string): void;
}

export interface StreamContext {
  readonly id: number;
  readonly method: string;
  readonly protocol: "sotw" | "delta";
  readonly policy: EndpointPolicy;
  readonly source: SnapshotSource;
  readonly proxyKey: (node: Node__Output, identity: StreamIdentity | undefined) => string;
  readonly status: XdsStatus;
  readonly logger: Logger;
  /** Repeated lines per proxy or address are summarised (NACKs, refusals). */
  readonly throttle: LogThrottle;
  readonly limits: XdsLimits;
  /** The names this stream may hold (its session counts subscriptions against it). */
  readonly allowance: NameAllowance;
  /** The server's totals; the stream adds its unread bytes to them. */
  readonly totals: HeldTotals;
  readonly connection: StreamConnection;
  /** The stream has unread bytes now (true) or none (false): the server sweeps such streams. */
  readonly onUnread: (stream: XdsStream, unread: boolean) => void;
  readonly onClosed: (stream: XdsStream) => void;
  readonly onNack: (record: NackRecord) => void;
  readonly admitNode: (node: Node__Output, identity: StreamIdentity | undefined) => AdmitRefusal | undefined;
  readonly onProxyConnected: (proxy: string, node: Node__Output, peer: string, identity: StreamIdentity | undefined) => void;
  readonly onProxyDisconnected: (proxy: string) => void;
}

type State =
  | { readonly t: "anonymous" }
  | { readonly t: "watching"; readonly proxy: string; readonly identity: StreamIdentity | undefined; readonly unwatch: () => void }
  | { readonly t: "closed" };

/** One open xDS stream: wires a gRPC call to its session, its proxy's snapshots and the status store. */
export class XdsStream {
  private state: State = { t: "anonymous" };
  readonly peer: string;
  /**
   * Bytes written whose write gRPC has not completed: HTTP/2 flow control holds them until the
   * proxy reads. Counted until the call is over or its connection is cut.
   */
  private unread = 0;
  /** When the proxy last took some of what it was sent (or when it was first owed anything). */
  private progressAt = 0;
  private unreadCounted = true;
  /** The session is holding its responses because the proxy is not taking them. */
  private holding = false;
  private unservedTypes: Set<string> | undefined;
  private readonly identifyTimer: NodeJS.Timeout;
  private expiry: Timer | undefined;

  constructor(
    private readonly call: ServerDuplexStream<Decoded<unknown>, Buffer>,
    private readonly session: Session<unknown>,
    private readonly ctx: StreamContext,
  ) {
    this.peer = call.getPeer();
    this.identifyTimer = setTimeout(
      () => this.close(grpcStatus.DEADLINE_EXCEEDED, `no request naming a node within ${ctx.limits.identifyWithinMs} ms`),
      ctx.limits.identifyWithinMs,
    );
    this.identifyTimer.unref();
    call.on("data", (req: Decoded<unknown>) => this.guarded(() => this.onData(req)));
    call.on("end", () => this.close(grpcStatus.OK, "client closed the stream"));
    // The call is over for gRPC too (status sent, or the stream reset): what it held is freed.
    call.on("cancelled", () => this.ended());
    call.on("error", () => this.release());
    call.on("close", () => this.ended());
  }

  get proxy(): string | undefined {
    return this.state.t === "watching" ? this.state.proxy : undefined;
  }

  /** The identity its credential proved (authenticated endpoints), once identified. */
  get identity(): StreamIdentity | undefined {
    return this.state.t === "watching" ? this.state.identity : undefined;
  }

  get closed(): boolean {
    return this.state.t === "closed";
  }

  /** Bytes the proxy has not taken yet. */
  get unreadBytes(): number {
    return this.unread;
  }

  /** ms since the proxy last took some of its bytes (0 when it owes nothing). */
  stalledFor(now: number): number {
    return this.unread === 0 ? 0 : now - this.progressAt;
  }

  /** Ends the stream with a status (OK ends it cleanly), freeing everything it holds. */
  close(code: grpcStatus, message: string): void {
    if (this.state.t === "closed") return;
    this.release();
    if (code === grpcStatus.OK) this.call.end();
    else this.call.emit("error", { code, details: message });
    // gRPC sends the status after the bytes the proxy has not taken. A proxy that does not read
    // never gets there, and HTTP/2 would hold those bytes as long as the connection lives: the
    // connection is cut, and the bytes stop counting when gRPC reports the call over.
    if (this.unread > 0) {
      setTimeout(() => {
        if (this.unreadCounted && this.unread > 0) this.ctx.connection.cut(this.peer);
      }, this.ctx.limits.unreadGraceMs).unref();
    }
  }

  /** Closes a stream whose proxy is not reading (see XdsLimits: unreadStallMs, maxUnreadBytesTotal). */
  closeUnread(why: string): void {
    if (this.state.t === "closed") return;
    if (this.ctx.throttle.allow("xDS stream closed: the proxy is not reading its responses", this.proxy ?? this.host)) {
      this.ctx.logger.warn("xDS stream closed: the proxy is not reading its responses", { stream: this.ctx.id, proxy: this.proxy, peer: this.peer, unreadBytes: this.unread, why });
    }
    this.close(grpcStatus.RESOURCE_EXHAUSTED, `responses are not being read: ${why}`);
  }

  private get host(): string {
    return this.peer.slice(0, this.peer.lastIndexOf(":"));
  }

  /** A bug in the protocol code costs its own stream, never the process or other streams. */
  private guarded(work: () => void): void {
    try {
      work();
    } catch (e) {
      this.ctx.logger.error("bug: xDS stream failed; closing it", { stream: this.ctx.id, proxy: this.proxy, error: (e as Error).stack ?? String(e) });
      this.close(grpcStatus.INTERNAL, "internal error in gitmesh; the stream was closed, reconnect");
    }
  }

  private onData(req: Decoded<unknown>): void {
    if (this.state.t === "closed") return;
    if (!req.ok) {
      this.refuse("xDS request rejected", req.code, req.reason);
      return;
    }
    this.apply(this.session.onRequest(req.value));
    const node = this.session.identifiedNode;
    if (this.state.t === "anonymous" && node !== undefined) this.identify(node);
  }

  /** Closes the stream on a client's mistake, with a log line (summarised per address). */
  private refuse(what: string, code: grpcStatus, reason: string, fields: Record<string, string | undefined> = {}): void {
    if (this.ctx.throttle.allow(what, this.host)) {
      this.ctx.logger.warn(what, { stream: this.ctx.id, peer: this.peer, ...fields, code: grpcStatus[code], reason });
    }
    this.close(code, reason);
  }

  private identify(node: Node__Output): void {
    clearTimeout(this.identifyTimer);
    const { limits } = this.ctx;
    if (node.id.length > limits.maxNodeIdChars) {
      this.refuse("proxy refused: node id too long", grpcStatus.INVALID_ARGUMENT, `node.id is ${node.id.length} characters; at most ${limits.maxNodeIdChars}`, { node: node.id });
      return;
    }
    // The node is kept for the stream's life: it counts against the stream's allowance.
    const nodeChars = JSON.stringify(node).length;
    const tooBig = nodeChars > limits.maxNodeChars ? `the node is ${nodeChars} characters as JSON; at most ${limits.maxNodeChars}` : this.ctx.allowance.take(0, nodeChars);
    if (tooBig !== undefined) {
      this.refuse("proxy refused: node too large", grpcStatus.RESOURCE_EXHAUSTED, tooBig, { node: node.id });
      return;
    }
    let identity: StreamIdentity | undefined;
    if (this.ctx.policy.t === "authenticated") {
      const decision = this.ctx.policy.authenticate(this.call.metadata, node);
      if (!decision.ok) {
        // Said to the proxy and to the operator; nothing more is sent on this stream.
        this.refuse("proxy refused: credential", grpcStatus[decision.code], decision.message, { node: node.id });
        return;
      }
      identity = decision.identity;
    }
    const refused = this.ctx.admitNode(node, identity);
    if (refused !== undefined) {
      this.refuse("proxy refused (docs/proxies.md)", grpcStatus[refused.code], refused.message, { node: node.id });
      return;
    }
    const proxy = this.ctx.proxyKey(node, identity);
    this.ctx.connection.identified(this.peer);
    this.ctx.status.opened({
      id: this.ctx.id,
      proxy,
      nodeId: node.id,
      protocol: this.ctx.protocol,
      method: this.ctx.method,
      peer: this.peer,
      connectedAt: Date.now(),
      node,
      endpoint: this.ctx.policy.t,
      ...(identity === undefined ? {} : { identity: `${identity.namespace}/${identity.serviceAccount}` }),
    });
    this.ctx.logger.debug("xDS stream identified", { stream: this.ctx.id, proxy, method: this.ctx.method });
    // watch() delivers the current snapshot at once; the state must say "watching" first.
    let unwatch: () => void = () => {};
    this.state = { t: "watching", proxy, identity, unwatch: () => unwatch() };
    // A stream lives no longer than its credential: closed at expiry, as a new one would be refused.
    if (identity?.expiresAt !== undefined) {
      this.expiry = at(identity.expiresAt, () => this.close(grpcStatus.UNAUTHENTICATED, "the credential expired; reconnect with a new token (gitmesh token issue)"));
    }
    this.ctx.onProxyConnected(proxy, node, this.peer, identity);
    const secrets = servesSecrets(this.ctx.policy);
    unwatch = this.ctx.source.watch(proxy, (snapshot) => this.guarded(() => this.apply(this.session.onSnapshot(secrets ? snapshot : withoutSecrets(snapshot)))));
    // A snapshot delivered during watch() may have closed the stream (a bug guard, not a path).
    if ((this.state as State).t === "closed") unwatch();
  }

  private apply(actions: readonly SessionAction[]): void {
    for (const a of actions) {
      if (this.state.t === "closed") return;
      const proxy = this.proxy ?? "";
      switch (a.t) {
        case "send":
          this.write(a.bytes);
          this.ctx.status.sent(this.ctx.id, a.kind, a.version, a.nonce);
          break;
        case "ack":
          this.ctx.status.acked(this.ctx.id, a.kind, a.version);
          break;
        case "nack": {
          const message = truncate(a.message, this.ctx.limits.maxNackMessageChars);
          const record: NackRecord = {
            proxy,
            streamId: this.ctx.id,
            type: a.kind.short,
            typeUrl: a.kind.typeUrl,
            version: a.version,
            nonce: a.nonce,
            code: a.code,
            message,
            at: Date.now(),
          };
          this.ctx.status.nacked(record);
          this.ctx.onNack(record);
          const line = "proxy rejected config (NACK); it keeps its last accepted config until the content changes";
          if (this.ctx.throttle.allow(line, proxy)) this.ctx.logger.warn(line, { proxy, type: a.kind.short, version: a.version, error: message });
          break;
        }
        case "unserved":
          this.unservedTypes ??= new Set();
          if (!this.unservedTypes.has(a.typeUrl) && this.unservedTypes.size < 16) {
            this.unservedTypes.add(a.typeUrl);
            const line = "proxy asked for a resource type gitmesh does not serve; it stays unanswered (check the proxy's bootstrap)";
            if (this.ctx.throttle.allow(line, proxy)) this.ctx.logger.warn(line, { proxy, type: a.typeUrl });
          }
          break;
        case "close":
          this.refuse("xDS stream closed on a bad request", a.code, a.message, { proxy: this.proxy });
          break;
      }
    }
  }

  private write(bytes: Buffer): void {
    const n = bytes.length;
    if (this.unread === 0) {
      this.progressAt = Date.now();
      this.ctx.onUnread(this, true);
    }
    this.unread += n;
    this.ctx.totals.unreadBytes += n;
    this.call.write(bytes, () => this.taken(n));
    if (!this.holding && this.unread >= this.ctx.limits.maxUnreadBytesPerStream) {
      this.holding = true;
      this.session.hold();
    }
  }

  /** gRPC completed a write: the proxy took those bytes. */
  private taken(n: number): void {
    if (!this.unreadCounted) return;
    this.unread -= n;
    this.ctx.totals.unreadBytes -= n;
    this.progressAt = Date.now();
    if (this.unread === 0) this.ctx.onUnread(this, false);
    if (this.holding && this.unread <= this.ctx.limits.maxUnreadBytesPerStream / 2) {
      this.holding = false;
      if (this.state.t !== "closed") this.guarded(() => this.apply(this.session.resume()));
    }
  }

  /** The call is over (or its connection cut): gRPC no longer holds anything for it. */
  private ended(): void {
    this.release();
    this.forgetUnread();
  }

  private forgetUnread(): void {
    if (!this.unreadCounted) return;
    this.unreadCounted = false;
    this.ctx.totals.unreadBytes -= this.unread;
    if (this.unread > 0) this.ctx.onUnread(this, false);
    this.unread = 0;
  }

  /** Drops the watch, the status entry and what the stream holds; idempotent, called on every way a stream can end. */
  private release(): void {
    if (this.state.t === "closed") return;
    clearTimeout(this.identifyTimer);
    this.expiry?.cancel();
    if (this.state.t === "watching") {
      this.state.unwatch();
      this.ctx.onProxyDisconnected(this.state.proxy);
    }
    this.state = { t: "closed" };
    this.session.close();
    this.ctx.allowance.release();
    this.ctx.status.closed(this.ctx.id);
    this.ctx.onClosed(this);
  }
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length - max} more characters)`;
}
