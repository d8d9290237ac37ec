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
 * Per-stream protocol state for operators (a later status API answers "did this proxy accept its
 * config?" from it). Entries leave with their stream, so memory follows connected proxies only.
 */
export class XdsStatus {
  private readonly streams = new Map<number, StreamStatus>();
  private readonly recent: NackRecord[] = [];
  readonly counters: XdsCounters = { responses: 0, acks: 0, nacks: 0, streamsOpened: 0, streamsClosed: 0 };

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
    this.counters.responses++;
  }

  acked(id: number, kind: ResourceKind, version: string): void {
    const t = this.typeStatus(id, kind);
    if (t === undefined) return;
    t.ackedVersion = version;
    this.counters.acks++;
  }

  nacked(record: NackRecord): void {
    const t = this.streams.get(record.streamId)?.types.get(record.typeUrl);
    if (t !== undefined) t.lastNack = record;
    this.recent.push(record);
    if (this.recent.length > RECENT_NACKS) this.recent.shift();
    this.counters.nacks++;
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
