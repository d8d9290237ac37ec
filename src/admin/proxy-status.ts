// "Did every proxy accept the commit?": the per-proxy sync view behind `gitmesh status`, the
// status page, the sync-state metrics and CSDS, built from the xDS status store (what was sent
// and answered) and the sessions (what each proxy holds).
import { describeMessage, messageNameOf, redacted, type Node__Output } from "../envoy/index.js";
import { ADS_ORDER, kindOf } from "../xds/resource-kinds.js";
import type { Holding } from "../xds/session.js";
import type { StreamStatus, TypeStatus, XdsStatus } from "../xds/status.js";
import { syncState, type SyncState } from "./server.js";

/** What the views read from the running server. */
export interface SyncSource {
  readonly status: XdsStatus;
  /** What the proxy on a stream holds of a type (XdsServer.holding). */
  readonly holding: (streamId: number, typeUrl: string) => Holding | undefined;
  /** The proxy's kind from its node (sidecar, gateway, grpc), when the node says. */
  readonly kindOf?: (node: Node__Output) => string | undefined;
}

export interface TypeSync {
  readonly state: SyncState;
  /** The version of the latest response (or the one the proxy said it held on reconnect). */
  readonly sentVersion: string | null;
  readonly sentAt: string | null;
  readonly ackedVersion: string | null;
  /** The commit whose config of this type the proxy runs: null when unknown or never accepted. */
  readonly acceptedCommit: string | null;
  readonly resources: number;
  readonly lastNack: { readonly version: string; readonly message: string; readonly at: string } | null;
}

export interface ProxySync {
  readonly stream: number;
  /** The snapshot key: plain/NODE or mesh/NS/SA/NODE. */
  readonly proxy: string;
  readonly nodeId: string;
  readonly kind: string | null;
  /** NS/SA its credential proved; null on the plaintext port. */
  readonly identity: string | null;
  readonly address: string;
  readonly protocol: "sotw" | "delta";
  readonly method: string;
  readonly connectedAt: string;
  /** The worst state of its types: NACKED, then STALE, then SYNCED; NOT SENT when nothing was sent. */
  readonly state: SyncState;
  /** The commit the proxy runs in full (every type sent and accepted), else null. */
  readonly commit: string | null;
  /** Every type the server serves, in ADS order, by short name. */
  readonly types: Readonly<Record<string, TypeSync>>;
}

export interface SyncView {
  /** The commit being served (null without git, or before the first config). */
  readonly commit: string | null;
  readonly proxies: readonly ProxySync[];
}

const iso = (ms: number) => new Date(ms).toISOString();
const WORST: readonly SyncState[] = ["NACKED", "STALE", "SYNCED", "NOT SENT"];

function typeState(t: TypeStatus | undefined, held: Holding | undefined): SyncState {
  if (t !== undefined && t.sentVersion !== undefined) return syncState(t);
  // Nothing sent on this stream, but a reconnecting proxy said it holds exactly what it would get.
  return held?.answer === "ack" ? "SYNCED" : "NOT SENT";
}

/** One stream's proxy, type by type; the commit of a type is the proxy's label once nothing is pending. */
export function proxySync(source: SyncSource, s: StreamStatus): ProxySync {
  const label = source.status.labelOf(s.proxy);
  const rows = ADS_ORDER.map((kind) => {
    const t = s.types.get(kind.typeUrl);
    const held = source.holding(s.id, kind.typeUrl);
    return { kind, t, held, state: typeState(t, held) };
  });
  const sent = rows.filter((r) => r.state !== "NOT SENT");
  const state = sent.length === 0 ? "NOT SENT" : (WORST.find((w) => sent.some((r) => r.state === w)) ?? "NOT SENT");
  // Nothing in flight: every type the proxy accepted is what its latest snapshot holds.
  const settled = label !== undefined && !sent.some((r) => r.state === "STALE");
  const types: Record<string, TypeSync> = {};
  for (const { kind, t, held, state: st } of rows) {
    const acceptedCommit = st === "SYNCED" && settled ? label : (t?.ackedLabel ?? null);
    types[kind.short] = {
      state: st,
      sentVersion: t?.sentVersion ?? held?.version ?? null,
      sentAt: t?.sentAt === undefined ? null : iso(t.sentAt),
      ackedVersion: t?.ackedVersion ?? (held?.answer === "ack" ? held.version : null),
      acceptedCommit: st === "NOT SENT" ? null : acceptedCommit,
      resources: held?.count ?? 0,
      lastNack: t?.lastNack === undefined ? null : { version: t.lastNack.version, message: t.lastNack.message, at: iso(t.lastNack.at) },
    };
  }
  return {
    stream: s.id,
    proxy: s.proxy,
    nodeId: s.nodeId,
    kind: (s.node === undefined ? undefined : source.kindOf?.(s.node)) ?? null,
    identity: s.identity ?? null,
    address: s.peer,
    protocol: s.protocol,
    method: s.method,
    connectedAt: iso(s.connectedAt),
    state,
    commit: state === "SYNCED" && settled ? label : null,
    types,
  };
}

/** Every connected proxy, by node id then stream. */
export function syncView(source: SyncSource, commit: string | undefined): SyncView {
  const proxies = source.status
    .list()
    .map((s) => proxySync(source, s))
    .sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : a.stream - b.stream));
  return { commit: commit ?? null, proxies };
}

/** The streams a PROXY argument names: its node id, its key, or its stream number. */
export function streamsNamed(status: XdsStatus, name: string): StreamStatus[] {
  return status.list().filter((s) => s.nodeId === name || s.proxy === name || String(s.id) === name);
}

/** config-dump's --type names, as Envoy's own config dump names its sections. */
export const DUMP_TYPES: Readonly<Record<string, string>> = {
  cluster: "CDS",
  endpoint: "EDS",
  listener: "LDS",
  route: "RDS",
  secret: "SDS",
};

export interface TypeDump {
  readonly typeUrl: string;
  readonly version: string;
  readonly state: SyncState;
  /** Names the proxy holds at a version the server no longer has (delta), shown by name only. */
  readonly outdated: readonly string[];
  readonly resources: readonly unknown[];
}

export interface ConfigDump {
  readonly stream: number;
  readonly proxy: string;
  readonly nodeId: string;
  /** By short type name (CDS ...), what the proxy was sent, decoded, secrets redacted. */
  readonly types: Readonly<Record<string, TypeDump>>;
}

/** What the server sent one stream's proxy, decoded; only the types in `only` when given. */
export function configDump(source: SyncSource, s: StreamStatus, only?: ReadonlySet<string>): ConfigDump {
  const types: Record<string, TypeDump> = {};
  for (const kind of ADS_ORDER) {
    if (only !== undefined && !only.has(kind.short)) continue;
    const held = source.holding(s.id, kind.typeUrl);
    if (held === undefined) continue;
    const message = messageNameOf(kind.typeUrl);
    const { items, outdated } = held.resources();
    types[kind.short] = {
      typeUrl: kind.typeUrl,
      version: held.version,
      state: typeState(s.types.get(kind.typeUrl), held),
      outdated,
      resources: items.map((r) => redacted(describeMessage(message, r.bytes))),
    };
  }
  return { stream: s.id, proxy: s.proxy, nodeId: s.nodeId, types };
}

/** The short type name of a type URL (CDS ...), or the URL itself. */
export function shortType(typeUrl: string): string {
  return kindOf(typeUrl)?.short ?? typeUrl;
}
