// The status page (GET /status): the commit served, the last reload's diagnostics and every
// connected proxy with its sync state and NACK text, refreshing itself every second from
// /debug/status. No external assets: the page, its script and its style come from the admin
// server, under a Content-Security-Policy that allows nothing else. Everything shown is text:
// the server escapes what it renders, the script only ever sets textContent.
import type { SyncView } from "./proxy-status.js";

/** What the page shows of the last reload attempt. */
export interface ReloadView {
  readonly at: string;
  readonly outcome: "ok" | "invalid" | "error";
  readonly commit: string | null;
  readonly error: string | null;
  readonly diagnostics: readonly { readonly severity: string; readonly code: string; readonly message: string; readonly where: string }[];
}

/** The body of /debug/status, which the page renders. */
export interface StatusView {
  readonly commit: string | null;
  readonly lastReload: ReloadView | null;
  readonly sync: SyncView;
}

export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "referrer-policy": "no-referrer",
};

const ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

const TYPES = ["CDS", "EDS", "LDS", "RDS", "SDS"];

/** The proxies table's rows, as cells of text: the server and the script render the same rows. */
export function proxyRows(view: SyncView): string[][] {
  return view.proxies.map((p) => [p.nodeId, p.kind ?? "-", p.identity ?? "-", p.address, p.state, p.commit ?? "-", ...TYPES.map((t) => p.types[t]?.state ?? "NOT SENT")]);
}

/** The NACKs to show: proxy, type, text. */
export function nackRows(view: SyncView): string[][] {
  return view.proxies.flatMap((p) => Object.entries(p.types).flatMap(([t, s]) => (s.state === "NACKED" && s.lastNack !== null ? [[p.nodeId, t, s.lastNack.message]] : [])));
}

export function diagnosticRows(reload: ReloadView | null): string[][] {
  return (reload?.diagnostics ?? []).map((d) => [d.severity, d.where, d.code, d.message]);
}

function rowsHtml(rows: readonly (readonly string[])[]): string {
  return rows.map((r) => `<tr>${r.map((c) => `<td class="${/^[A-Z ]+$/.test(c) ? `s-${c.replace(" ", "-").toLowerCase()}` : ""}">${escapeHtml(c)}</td>`).join("")}</tr>`).join("\n");
}

function reloadText(r: ReloadView | null): string {
  if (r === null) return "no reload yet";
  return `${r.outcome} at ${r.at}${r.commit === null ? "" : ` (commit ${r.commit})`}${r.error === null ? "" : `: ${r.error}`}`;
}

/** The page, rendered with the state of now; the script keeps it current. */
export function statusPage(view: StatusView): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gitmesh status</title>
<link rel="stylesheet" href="/status.css">
<script src="/status.js" defer></script>
</head>
<body>
<h1>gitmesh</h1>
<p>Serving commit <code id="commit">${escapeHtml(view.commit ?? "(none)")}</code>; <span id="summary">${escapeHtml(summary(view.sync))}</span>.
<span id="updated" class="muted">rendered ${escapeHtml(new Date().toISOString())}</span></p>
<h2>Last reload</h2>
<p id="reload">${escapeHtml(reloadText(view.lastReload))}</p>
<table id="diagnostics"><thead><tr><th>severity</th><th>where</th><th>code</th><th>message</th></tr></thead>
<tbody>${rowsHtml(diagnosticRows(view.lastReload))}</tbody></table>
<h2>Proxies</h2>
<table id="proxies"><thead><tr><th>proxy</th><th>kind</th><th>identity</th><th>address</th><th>state</th><th>commit</th>${TYPES.map((t) => `<th>${t}</th>`).join("")}</tr></thead>
<tbody>${rowsHtml(proxyRows(view.sync))}</tbody></table>
<h2>NACKs</h2>
<table id="nacks"><thead><tr><th>proxy</th><th>type</th><th>the proxy's error</th></tr></thead>
<tbody>${rowsHtml(nackRows(view.sync))}</tbody></table>
</body>
</html>
`;
}

export function summary(view: SyncView): string {
  const counts = new Map<string, number>();
  for (const p of view.proxies) counts.set(p.state, (counts.get(p.state) ?? 0) + 1);
  const parts = [...counts].map(([s, n]) => `${n} ${s}`);
  return `${view.proxies.length} proxy stream(s)${parts.length === 0 ? "" : `: ${parts.join(", ")}`}`;
}

export const STATUS_CSS = `body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1em; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: left; vertical-align: top; }
td { font-family: ui-monospace, monospace; white-space: pre-wrap; }
.muted { color: #888; }
.s-synced { background: #e6f4e6; } .s-stale { background: #fff4d6; } .s-nacked, .s-error { background: #fbe3e3; } .s-not-sent { color: #888; }
`;

/**
 * The page's script: every second, /debug/status, rendered with textContent only (no HTML is
 * ever parsed from data). It repeats proxyRows, nackRows and diagnosticRows for the browser.
 */
export const STATUS_JS = `"use strict";
const TYPES = ${JSON.stringify(TYPES)};
function rows(id, data) {
  const body = document.querySelector("#" + id + " tbody");
  const fresh = document.createElement("tbody");
  for (const r of data) {
    const tr = document.createElement("tr");
    for (const c of r) {
      const td = document.createElement("td");
      td.textContent = c;
      if (/^[A-Z ]+$/.test(c)) td.className = "s-" + c.replace(" ", "-").toLowerCase();
      tr.appendChild(td);
    }
    fresh.appendChild(tr);
  }
  body.replaceWith(fresh);
}
function text(id, value) { document.getElementById(id).textContent = value; }
async function refresh() {
  try {
    const res = await fetch("/debug/status", { cache: "no-store" });
    const v = await res.json();
    text("commit", v.commit === null ? "(none)" : v.commit);
    const counts = {};
    for (const p of v.sync.proxies) counts[p.state] = (counts[p.state] || 0) + 1;
    const parts = Object.entries(counts).map(([s, n]) => n + " " + s);
    text("summary", v.sync.proxies.length + " proxy stream(s)" + (parts.length === 0 ? "" : ": " + parts.join(", ")));
    const r = v.lastReload;
    text("reload", r === null ? "no reload yet" : r.outcome + " at " + r.at + (r.commit === null ? "" : " (commit " + r.commit + ")") + (r.error === null ? "" : ": " + r.error));
    rows("diagnostics", (r === null ? [] : r.diagnostics).map((d) => [d.severity, d.where, d.code, d.message]));
    rows("proxies", v.sync.proxies.map((p) => [p.nodeId, p.kind || "-", p.identity || "-", p.address, p.state, p.commit || "-"].concat(TYPES.map((t) => (p.types[t] ? p.types[t].state : "NOT SENT")))));
    rows("nacks", v.sync.proxies.flatMap((p) => Object.entries(p.types).filter(([, s]) => s.state === "NACKED" && s.lastNack !== null).map(([t, s]) => [p.nodeId, t, s.lastNack.message])));
    text("updated", "updated " + new Date().toISOString());
  } catch (e) {
    text("updated", "cannot reach gitmesh: " + e);
  }
}
setInterval(refresh, 1000);
refresh();
`;
