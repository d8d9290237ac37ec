// The admin routes that answer "what did each proxy get, and did it accept it?": the JSON behind
// `gitmesh status` and `gitmesh config-dump`.
import { configDump, DUMP_TYPES, streamsNamed, syncView, type SyncSource } from "./proxy-status.js";
import type { AdminAnswer, AdminRoute } from "./server.js";
import { PAGE_HEADERS, STATUS_CSS, STATUS_JS, statusPage, type ReloadView, type StatusView } from "./status-page.js";

export interface StatusRoutesOptions {
  readonly source: SyncSource;
  /** The commit being served, if any. */
  readonly commit: () => string | undefined;
  /** The last reload attempt, for the status page. */
  readonly lastReload?: () => ReloadView | null;
}

export function json(status: number, value: unknown): AdminAnswer {
  return { status, contentType: "application/json; charset=utf-8", body: `${JSON.stringify(value, null, 2)}\n` };
}

function problem(status: number, error: string): AdminAnswer {
  return json(status, { error });
}

/** Parses ?type=cluster,listener into short type names; a string is the error. */
export function dumpTypes(text: string | null): ReadonlySet<string> | undefined | string {
  if (text === null || text === "") return undefined;
  const out = new Set<string>();
  for (const t of text.split(",")) {
    const short = DUMP_TYPES[t];
    if (short === undefined) return `unknown type "${t}": use ${Object.keys(DUMP_TYPES).join(", ")}`;
    out.add(short);
  }
  return out;
}

export function statusRoutes(options: StatusRoutesOptions): Map<string, AdminRoute> {
  const { source } = options;
  const status = (): StatusView => ({ commit: options.commit() ?? null, lastReload: options.lastReload?.() ?? null, sync: syncView(source, options.commit()) });
  return new Map<string, AdminRoute>([
    ["/status", () => ({ status: 200, contentType: "text/html; charset=utf-8", body: statusPage(status()), headers: PAGE_HEADERS })],
    ["/status.js", () => ({ status: 200, contentType: "text/javascript; charset=utf-8", body: STATUS_JS })],
    ["/status.css", () => ({ status: 200, contentType: "text/css; charset=utf-8", body: STATUS_CSS })],
    ["/debug/status", () => json(200, status())],
    [
      "/debug/sync",
      (url) => {
        const view = syncView(source, options.commit());
        const name = url.searchParams.get("proxy");
        if (name === null || name === "") return json(200, view);
        const proxies = view.proxies.filter((p) => p.nodeId === name || p.proxy === name || String(p.stream) === name);
        if (proxies.length === 0) return problem(404, `no connected proxy named "${name}" (gitmesh status lists them)`);
        return json(200, { ...view, proxies });
      },
    ],
    [
      "/debug/config-dump",
      (url) => {
        const name = url.searchParams.get("proxy");
        if (name === null || name === "") return problem(400, "name a proxy: /debug/config-dump?proxy=NODE_ID[&type=cluster,listener,route,endpoint,secret]");
        const types = dumpTypes(url.searchParams.get("type"));
        if (typeof types === "string") return problem(400, types);
        const streams = streamsNamed(source.status, name);
        if (streams.length === 0) return problem(404, `no connected proxy named "${name}" (gitmesh status lists them)`);
        return json(200, { commit: options.commit() ?? null, dumps: streams.map((s) => configDump(source, s, types)) });
      },
    ],
  ]);
}
