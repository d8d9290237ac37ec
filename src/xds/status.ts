import type { Node__Output } from "../envoy/index.js";
import type { ResourceKind } from "./resource-kinds.js";

/** A proxy rejected a response. Kept for the status API and metrics. */
export interface NackRecord {
  readonly proxy: string;
  readonly streamId: number;
  readonly type: ResourceKind["short"];
  readonly typeUrl: string;
  /** The version the proxy rejected. */
  readonly version: string;
  readonly nonce: string;
  readonly code: number;
  readonly message: string;
  /** When it was received (ms since the epoch). */
  readonly at: number;
}

/** Where one type stands on one stream: what we sent, what the proxy accepted, what it refused. */
export interface TypeStatus {
  sentVersion?: string;
  sentNonce?: string;
  /** ms since the epoch. */
  sentAt?: number;
  ackedVersion?: string;
  lastNack?: NackRecord;
  /** The config label (the commit) of the snapshot the latest response was made from. */
  sentLabel?: string;
  /** The label of the latest response the proxy ACKed. */
  ackedLabel?: string;
}

export interface StreamStatus {
  readonly id: number;
  readonly proxy: string;
  readonly nodeId: string;
  readonly protocol: "sotw" | "delta";
  readonly method: string;
  readonly peer: string;
  /** ms since the epoch. */
  readonly connectedAt: number;
  readonly types: Map<string, TypeStatus>;
  /** The node it named (shared with its session, not copied). */
  readonly node?: Node__Output;
  /** "NAMESPACE/SERVICE_ACCOUNT" its credential proved, on an authenticated endpoint. */
  readonly identity?: string;
  /** The kind of port it came in on (CSDS answers the plaintext port about its own streams only). */
  readonly endpoint?: "plaintext" | "authenticated";
}

/**
 * Told of every response, ACK and NACK as it is recorded (metrics); labelOf names the config a
 * proxy's latest snapshot came from (the commit: sync-status.ts).
 */
export interface SyncObserver {
  labelOf?(proxy: string): string | undefined;
  /** An ACK of the latest response of a type, msAfterSend after it was sent. */
  acked?(kind: ResourceKind, msAfterSend: number): void;
  nacked?(record: NackRecord): void;
}

export interface XdsCounters {
  responses: number;
  acks: number;
  nacks: number;
  streamsOpened: number;
  streamsClosed: number;
}

const RECENT_NACKS = 256;

/**
 * Per-stream protocol state for operators: `gitmesh status`, the status page, the metrics and
 * CSDS answer "did this proxy accept its config?" from it. Entries leave with their stream, so memory follows connected proxies only.
 */
export class XdsStatus {
  private readonly streams = new Map<number, StreamStatus>();
  private readonly recent: NackRecord[] = [];
  readonly counters: XdsCounters = { responses: 0, acks: 0, nacks: 0, streamsOpened: 0, streamsClosed: 0 };
  private observer: SyncObserver = {};

  /** Sets who is told of responses and answers (one observer: serve.ts composes them). */
  observe(observer: SyncObserver): void {
    this.observer = observer;
  }

  /** The config label of a proxy's latest snapshot, if an observer knows it. */
  labelOf(proxy: string): string | undefined {
    return this.observer.labelOf?.(proxy);
  }

  opened(s: Omit<StreamStatus, "types">): void {
    this.streams.set(s.id, { ...s, types: new Map() });
    this.counters.streamsOpened++;
  }

  sent(id: number, kind: ResourceKind, version: string, nonce: string): void {
    const t = this.typeStatus(id, kind);
    if (t === undefined) return;
    t.sentVersion = version;
    t.sentNonce = nonce;
    t.sentAt = Date.now();
    const label = this.observer.labelOf?.(this.streams.get(id)?.proxy ?? "");
    if (label === undefined) delete t.sentLabel;
    else t.sentLabel = label;
    this.counters.responses++;
  }

  acked(id: number, kind: ResourceKind, version: string): void {
    const t = this.typeStatus(id, kind);
    if (t === undefined) return;
    // Sessions report answers to their latest response only (stale nonces are ignored).
    const latest = version === t.sentVersion;
    t.ackedVersion = version;
    if (latest) {
      if (t.sentLabel === undefined) delete t.ackedLabel;
      else t.ackedLabel = t.sentLabel;
      if (t.sentAt !== undefined) this.observer.acked?.(kind, Date.now() - t.sentAt);
    }
    this.counters.acks++;
  }

  nacked(record: NackRecord): void {
    const t = this.streams.get(record.streamId)?.types.get(record.typeUrl);
    if (t !== undefined) t.lastNack = record;
    this.recent.push(record);
    if (this.recent.length > RECENT_NACKS) this.recent.shift();
    this.counters.nacks++;
    this.observer.nacked?.(record);
  }

  closed(id: number): void {
    if (this.streams.delete(id)) this.counters.streamsClosed++;
  }

  /** Open streams, oldest first. */
  list(): StreamStatus[] {
    return [...this.streams.values()];
  }

  /** The most recent NACKs, oldest first (bounded). */
  recentNacks(): readonly NackRecord[] {
    return [...this.recent];
  }

  private typeStatus(id: number, kind: ResourceKind): TypeStatus | undefined {
    const s = this.streams.get(id);
    if (s === undefined) return undefined;
    let t = s.types.get(kind.typeUrl);
    if (t === undefined) {
      t = {};
      s.types.set(kind.typeUrl, t);
    }
    return t;
  }
}
