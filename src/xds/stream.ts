import { status as grpcStatus, type ServerDuplexStream } from "@grpc/grpc-js";
import type { Node__Output } from "../envoy/index.js";
import type { Logger } from "../log.js";
import type { SnapshotSource } from "./cache.js";
import type { Decoded } from "./services.js";
import type { SessionAction } from "./session.js";
import type { Snapshot } from "./snapshot.js";
import type { XdsStatus } from "./status.js";

/** The protocol logic of a stream, SotW or delta: requests and snapshots in, actions out. */
export interface Session<Req> {
  readonly identifiedNode: Node__Output | undefined;
  onRequest(req: Req): SessionAction[];
  onSnapshot(snapshot: Snapshot): SessionAction[];
}

export interface StreamContext {
  readonly id: number;
  readonly method: string;
  readonly protocol: "sotw" | "delta";
  readonly source: SnapshotSource;
  readonly proxyKey: (node: Node__Output) => string;
  readonly status: XdsStatus;
  readonly logger: Logger;
  readonly onClosed: (stream: XdsStream) => void;
}

type State =
  | { readonly t: "anonymous" }
  | { readonly t: "watching"; readonly proxy: string; readonly unwatch: () => void }
  | { readonly t: "closed" };

/** One open xDS stream: wires a gRPC call to its session, its proxy's snapshots and the status store. */
export class XdsStream {
  private state: State = { t: "anonymous" };

  constructor(
    private readonly call: ServerDuplexStream<Decoded<unknown>, Buffer>,
    private readonly session: Session<unknown>,
    private readonly ctx: StreamContext,
  ) {
    call.on("data", (req: Decoded<unknown>) => this.onData(req));
    call.on("end", () => this.close(grpcStatus.OK, "client closed the stream"));
    call.on("cancelled", () => this.release());
    call.on("error", () => this.release());
    call.on("close", () => this.release());
  }

  get proxy(): string | undefined {
    return this.state.t === "watching" ? this.state.proxy : undefined;
  }

  /** Ends the stream with a status (OK ends it cleanly), freeing everything it holds. */
  close(code: grpcStatus, message: string): void {
    if (this.state.t === "closed") return;
    this.release();
    if (code === grpcStatus.OK) this.call.end();
    else this.call.emit("error", { code, details: message });
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
    const proxy = this.ctx.proxyKey(node);
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
    this.state = { t: "watching", proxy, unwatch: () => unwatch() };
    unwatch = this.ctx.source.watch(proxy, (snapshot) => this.apply(this.session.onSnapshot(snapshot)));
    // A snapshot delivered during watch() may have closed the stream (a bug guard, not a path).
    if ((this.state as State).t === "closed") unwatch();
  }

  private apply(actions: readonly SessionAction[]): void {
    for (const a of actions) {
      if (this.state.t === "closed") return;
      const proxy = this.proxy ?? "";
      switch (a.t) {
        case "send":
          this.call.write(a.bytes);
          this.ctx.status.sent(this.ctx.id, a.kind, a.version, a.nonce);
          break;
        case "ack":
          this.ctx.status.acked(this.ctx.id, a.kind, a.version);
          break;
        case "nack":
          this.ctx.status.nacked({
            proxy,
            streamId: this.ctx.id,
            type: a.kind.short,
            typeUrl: a.kind.typeUrl,
            version: a.version,
            nonce: a.nonce,
            code: a.code,
            message: a.message,
            at: Date.now(),
          });
          this.ctx.logger.warn("proxy rejected config (NACK); it keeps its last accepted config until the content changes", {
            proxy,
            type: a.kind.short,
            version: a.version,
            error: a.message,
          });
          break;
        case "close":
          this.ctx.logger.warn("xDS stream closed on a bad request", { stream: this.ctx.id, peer: this.call.getPeer(), reason: a.message });
          this.close(a.code, a.message);
          break;
      }
    }
  }

  /** Drops the watch and the status entry; idempotent, called on every way a stream can end. */
  private release(): void {
    if (this.state.t === "closed") return;
    if (this.state.t === "watching") this.state.unwatch();
    this.state = { t: "closed" };
    this.ctx.status.closed(this.ctx.id);
    this.ctx.onClosed(this);
  }
}
