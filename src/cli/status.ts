// Printing for `gitmesh status` and `gitmesh config-dump`: the admin server's sync view as a table
// (or one proxy in detail), and config dumps as JSON.
import type { ProxySync, SyncView } from "../admin/proxy-status.js";
import { ADS_ORDER } from "../xds/resource-kinds.js";
import { adminGet } from "./admin-client.js";

interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

export interface StatusOptions extends Io {
  readonly admin: string;
  readonly json: boolean;
  readonly proxy?: string;
}

const short = (commit: string | null) => (commit === null ? "-" : commit.slice(0, 10));

/** Columns padded to their widest cell; the last one is not padded. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ").trimEnd());
}

function overview(view: SyncView): string[] {
  const types = ADS_ORDER.map((k) => k.short);
  const rows = [["PROXY", "KIND", "IDENTITY", "ADDRESS", "STATE", "COMMIT", ...types]];
  for (const p of view.proxies) {
    rows.push([p.nodeId, p.kind ?? "-", p.identity ?? "-", p.address, p.state, short(p.commit), ...types.map((t) => p.types[t]?.state ?? "NOT SENT")]);
  }
  const lines = [`serving commit ${view.commit ?? "(none)"}; ${view.proxies.length} proxy stream(s) connected`, ...table(rows)];
  for (const p of view.proxies) {
    for (const [t, s] of Object.entries(p.types)) {
      if (s.state === "NACKED" && s.lastNack !== null) lines.push(`${p.nodeId} ${t} NACKED: ${s.lastNack.message}`);
    }
  }
  return lines;
}

function detail(p: ProxySync): string[] {
  const lines = [
    `proxy      ${p.nodeId}`,
    `key        ${p.proxy} (stream ${p.stream}, ${p.protocol}, ${p.method})`,
    `kind       ${p.kind ?? "-"}`,
    `identity   ${p.identity ?? "- (plaintext port)"}`,
    `address    ${p.address}`,
    `connected  ${p.connectedAt}`,
    `state      ${p.state}${p.commit === null ? "" : ` at commit ${p.commit}`}`,
  ];
  const rows = [["TYPE", "STATE", "ACCEPTED COMMIT", "SENT VERSION", "SENT AT", "ACKED VERSION", "RESOURCES"]];
  for (const [t, s] of Object.entries(p.types)) {
    rows.push([t, s.state, s.acceptedCommit ?? "-", s.sentVersion ?? "-", s.sentAt ?? "-", s.ackedVersion ?? "-", String(s.resources)]);
  }
  lines.push("", ...table(rows));
  for (const [t, s] of Object.entries(p.types)) {
    if (s.lastNack !== null) lines.push("", `last ${t} NACK (version ${s.lastNack.version}, ${s.lastNack.at}${s.state === "NACKED" ? "" : "; a later response was accepted"}):`, s.lastNack.message);
  }
  return lines;
}

/** Exit 0 when every proxy shown is SYNCED or was sent nothing; 1 otherwise, or when gitmesh cannot be asked. */
export async function status(options: StatusOptions): Promise<number> {
  const path = options.proxy === undefined ? "/debug/sync" : `/debug/sync?proxy=${encodeURIComponent(options.proxy)}`;
  const reply = await adminGet(options.admin, path);
  if (!reply.ok) {
    options.err(`gitmesh status: ${reply.error}`);
    return 1;
  }
  const view = reply.body as SyncView;
  if (options.json) options.out(JSON.stringify(view, null, 2));
  else if (options.proxy === undefined) for (const line of overview(view)) options.out(line);
  else {
    options.out(`serving commit ${view.commit ?? "(none)"}`);
    for (const p of view.proxies) for (const line of ["", ...detail(p)]) options.out(line);
  }
  return view.proxies.every((p) => p.state === "SYNCED" || p.state === "NOT SENT") ? 0 : 1;
}

export interface ConfigDumpOptions extends Io {
  readonly admin: string;
  readonly proxy: string;
  readonly type?: string;
}

export async function configDump(options: ConfigDumpOptions): Promise<number> {
  const query = new URLSearchParams({ proxy: options.proxy, ...(options.type === undefined ? {} : { type: options.type }) });
  const reply = await adminGet(options.admin, `/debug/config-dump?${query.toString()}`);
  if (!reply.ok) {
    options.err(`gitmesh config-dump: ${reply.error}`);
    return 1;
  }
  options.out(JSON.stringify(reply.body, null, 2));
  return 0;
}
