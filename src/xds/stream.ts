import { status as grpcStatus, type ServerDuplexStream } from "@grpc/grpc-js";
import { at, type Timer } from "../common/timers.js";
import type { Node__Output } from "../envoy/index.js";
import type { Logger } from "../log.js";
import type { SnapshotSource } from "./cache.js";
import { servesSecrets, type AdmitRefusal, type EndpointPolicy, type StreamIdentity } from "./endpoint.js";
import type { Decoded } from "./requests.js";
import { withoutSecrets } from "./snapshot.js";
import type { Session, SessionAction } from "./session.js";
import type { NackRecord, XdsStatus } from "./status.js";

/** Limits that keep one misbehaving client from costing the server more than its share. */
export interface StreamLimits {
  /** A stream that has not named its node by then is closed. */
  readonly identifyWithinMs: number;
  /**
   * Bytes written to a proxy that is not reading (gRPC's buffer is full) before the stream is
   * closed with RESOURCE_EXHAUSTED. A proxy that reads never comes near it.
   */
  readonly maxUnreadBytes: number;
  /** NACK error text kept and logged (Envoy's own messages are far shorter). */
  readonly maxNackMessageChars: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  identifyWithinMs: 30_000,
  maxUnreadBytes: 64 * 1024 * 1024,
  maxNackMessageChars: 4096,
};

export interface StreamContext {
  readonly id: number;
  readonly method: string;
  readonly protocol: "sotw" | "delta";
  readonly policy: EndpointPolicy;
  readonly source: SnapshotSource;
  readonly proxyKey: (node: Node__Output, identity: StreamIdentity | undefined) => string;
  readonly status: XdsStatus;
  readonly logger: Logger;
  readonly onClosed: (stream: XdsStream) => void;
  readonly limits: StreamLimits;
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
  /** Bytes written since gRPC's buffer last had room; see StreamLimits.maxUnreadBytes. */
  private unreadBytes = 0;
  private unservedTypes: Set<string> | undefined;
  private readonly identifyTimer: NodeJS.Timeout;
  private expiry: Timer | undefined;

  constructor(
    private readonly call: ServerDuplexStream<Decoded<unknown>, Buffer>,
    private readonly session: Session<unknown>,
    private readonly ctx: StreamContext,
  ) {
    this.identifyTimer = setTimeout(
      () => this.close(grpcStatus.DEADLINE_EXCEEDED, `no request naming a node within ${ctx.limits.identifyWithinMs} ms`),
      ctx.limits.identifyWithinMs,
    );
    this.identifyTimer.unref();
    call.on("data", (req: Decoded<unknown>) => this.guarded(() => this.onData(req)));
    call.on("drain", () => (this.unreadBytes = 0));
    call.on("end", () => this.close(grpcStatus.OK, "client closed the stream"));
    call.on("cancelled", () => this.release());
    call.on("error", () => this.release());
    call.on("close", () => this.release());
  }

  get proxy(): string | undefined {
    return this.state.t === "watching" ? this.state.proxy : undefined;
  }

  /** The identity its credential proved (authenticated endpoints), once identified. */
  get identity(): StreamIdentity | undefined {
    return this.state.t === "watching" ? this.state.identity : undefined;
  }

  /** Ends the stream with a status (OK ends it cleanly), freeing everything it holds. */
  close(code: grpcStatus, message: string): void {
    if (this.state.t === "closed") return;
    this.release();
    if (code === grpcStatus.OK) this.call.end();
    else this.call.emit("error", { code, details: message });
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
      this.ctx.logger.warn("xDS request rejected", { stream: this.ctx.id, peer: this.call.getPeer(), reason: req.reason });
      this.close(grpcStatus.INVALID_ARGUMENT, req.reason);
      return;
    }
    this.apply(this.session.onRequest(req.value));
    const node = this.session.identifiedNode;
    if (this.state.t === "anonymous" && node !== undefined) this.identify(node);
  }

  private identify(node: Node__Output): void {
    clearTimeout(this.identifyTimer);
    let identity: StreamIdentity | undefined;
    if (this.ctx.policy.t === "authenticated") {
      const decision = this.ctx.policy.authenticate(this.call.metadata, node);
      if (!decision.ok) {
        // Said to the proxy and to the operator; nothing more is sent on this stream.
        this.ctx.logger.warn("proxy refused: credential", { stream: this.ctx.id, node: node.id, peer: this.call.getPeer(), code: decision.code, reason: decision.message });
        this.close(grpcStatus[decision.code], decision.message);
        return;
      }
      identity = decision.identity;
    }
    const refused = this.ctx.admitNode(node, identity);
    if (refused !== undefined) {
      this.ctx.logger.warn("proxy refused (docs/proxies.md)", { stream: this.ctx.id, node: node.id, code: refused.code, problem: refused.message });
      this.close(grpcStatus[refused.code], refused.message);
      return;
    }
    const proxy = this.ctx.proxyKey(node, identity);
    this.ctx.status.opened({
      id: this.ctx.id,
      proxy,
      nodeId: node.id,
      protocol: this.ctx.protocol,
      method: this.ctx.method,
      peer: this.call.getPeer(),
      connectedAt: Date.now(),
    });
    this.ctx.logger.debug("xDS stream identified", { stream: this.ctx.id, proxy, method: this.ctx.method });
    // watch() delivers the current snapshot at once; the state must say "watching" first.
    let unwatch: () => void = () => {};
    this.state = { t: "watching", proxy, identity, unwatch: () => unwatch() };
    // A stream lives no longer than its credential: closed at expiry, as a new one would be refused.
    if (identity?.expiresAt !== undefined) {
      this.expiry = at(identity.expiresAt, () => this.close(grpcStatus.UNAUTHENTICATED, "the credential expired; reconnect with a new token (gitmesh token issue)"));
    }
    this.ctx.onProxyConnected(proxy, node, this.call.getPeer(), identity);
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
          this.ctx.logger.warn("proxy rejected config (NACK); it keeps its last accepted config until the content changes", {
            proxy,
            type: a.kind.short,
            version: a.version,
            error: message,
          });
          break;
        }
        case "unserved":
          this.unservedTypes ??= new Set();
          if (!this.unservedTypes.has(a.typeUrl) && this.unservedTypes.size < 16) {
            this.unservedTypes.add(a.typeUrl);
            this.ctx.logger.warn("proxy asked for a resource type gitmesh does not serve; it stays unanswered (check the proxy's bootstrap)", {
              proxy,
              type: a.typeUrl,
            });
          }
          break;
        case "close":
          this.ctx.logger.warn("xDS stream closed on a bad request", { stream: this.ctx.id, peer: this.call.getPeer(), reason: a.message });
          this.close(a.code, a.message);
          break;
      }
    }
  }

  private write(bytes: Buffer): void {
    this.unreadBytes += bytes.length;
    if (this.call.write(bytes)) this.unreadBytes = 0;
    else if (this.unreadBytes > this.ctx.limits.maxUnreadBytes) {
      this.ctx.logger.warn("proxy is not reading its xDS responses; closing the stream", { stream: this.ctx.id, proxy: this.proxy, unreadBytes: this.unreadBytes });
      this.close(grpcStatus.RESOURCE_EXHAUSTED, "responses are not being read");
    }
  }

  /** Drops the watch and the status entry; idempotent, called on every way a stream can end. */
  private release(): void {
    if (this.state.t === "closed") return;
    clearTimeout(this.identifyTimer);
    this.expiry?.cancel();
    if (this.state.t === "watching") {
      this.state.unwatch();
      this.ctx.onProxyDisconnected(this.state.proxy);
    }
    this.state = { t: "closed" };
    this.ctx.status.closed(this.ctx.id);
    this.ctx.onClosed(this);
  }
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length - max} more characters)`;
}
