import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { silentLogger, type Logger } from "../log.js";
import { ADS_ORDER, kindOf } from "../xds/resource-kinds.js";
import type { NackRecord, StreamStatus, TypeStatus, XdsStatus } from "../xds/status.js";

export const DEFAULT_ADMIN_ADDRESS = "127.0.0.1:15014";

/** The answer of a readiness check; when not ready, the reasons are shown to whoever probes. */
export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reasons: readonly string[] };

export interface AdminServerOptions {
  /** host:port ([v6]:port for IPv6); port 0 picks a free one. Default 127.0.0.1:15014. */
  readonly address?: string;
  readonly status: XdsStatus;
  /** Served at /metrics. */
  readonly registry: Registry;
  /** Decides /readyz. */
  readonly readiness: () => Readiness | Promise<Readiness>;
  /** What /debug/config shows (source, load time, diagnostics, a summary of resources ...), as JSON; may be async. */
  readonly config: () => unknown;
  /**
   * What /debug/proxies shows: each connected proxy's notices (what it was not given and why),
   * registrations and certificates, as JSON.
   */
  readonly proxies?: () => unknown;
  /** Where failures of the callbacks are logged. */
  readonly logger?: Logger;
  /** More GET routes by path (status-routes.ts: the sync view, config dumps, the status page). */
  readonly routes?: ReadonlyMap<string, AdminRoute>;
}

/** An answer of an added route. */
export interface AdminAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  /** More response headers (the status page's Content-Security-Policy). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** An added route: the request's URL (its query) in, the answer out. */
export type AdminRoute = (url: URL) => AdminAnswer | Promise<AdminAnswer>;

export interface AdminServer {
  /** The bound address as host:port, with the real port when 0 was asked for. */
  readonly address: string;
  readonly port: number;
  /** Stops listening and closes every connection, keep-alive ones included; idempotent. */
  close(): Promise<void>;
}

/** Where one type stands on one stream. */
export type SyncState = "SYNCED" | "STALE" | "NACKED" | "NOT SENT";

/** One NACK as /debug/xds shows it. */
export interface NackView {
  readonly proxy: string;
  readonly streamId: number;
  readonly type: string;
  readonly typeUrl: string;
  readonly version: string;
  readonly nonce: string;
  readonly code: number;
  readonly message: string;
  readonly at: string;
}

export interface TypeView {
  readonly typeUrl: string;
  readonly sync: SyncState;
  readonly sentVersion: string | null;
  readonly sentAt: string | null;
  readonly ackedVersion: string | null;
  readonly lastNack: NackView | null;
}

export interface StreamView {
  readonly id: number;
  readonly proxy: string;
  readonly nodeId: string;
  readonly protocol: "sotw" | "delta";
  readonly method: string;
  readonly peer: string;
  readonly connectedAt: string;
  /** By short type name (CDS, EDS, LDS, RDS, SDS), in ADS order. */
  readonly types: Record<string, TypeView>;
}

/** The body of /debug/xds: the proxy status. */
export interface XdsView {
  readonly streams: StreamView[];
  readonly recentNacks: NackView[];
}

/**
 * NACKED when the proxy rejected the latest response sent (its nonce answers it, and so its version
 * is the one sent); SYNCED when it accepted it; STALE while it has not answered yet. Matching the
 * nonce, not only the version, keeps an old NACK from marking content sent again later.
 */
export function syncState(t: TypeStatus): SyncState {
  if (t.sentVersion === undefined) return "NOT SENT";
  if (t.lastNack !== undefined && t.lastNack.version === t.sentVersion && t.lastNack.nonce === t.sentNonce) return "NACKED";
  if (t.ackedVersion === t.sentVersion) return "SYNCED";
  return "STALE";
}

const iso = (ms: number) => new Date(ms).toISOString();

function nackView(n: NackRecord): NackView {
  return { proxy: n.proxy, streamId: n.streamId, type: n.type, typeUrl: n.typeUrl, version: n.version, nonce: n.nonce, code: n.code, message: n.message, at: iso(n.at) };
}

const adsRank = new Map(ADS_ORDER.map((k, i) => [k.typeUrl as string, i]));

function streamView(s: StreamStatus): StreamView {
  const entries = [...s.types].sort(([a], [b]) => (adsRank.get(a) ?? ADS_ORDER.length) - (adsRank.get(b) ?? ADS_ORDER.length) || (a < b ? -1 : a > b ? 1 : 0));
  const types: Record<string, TypeView> = {};
  for (const [typeUrl, t] of entries) {
    types[kindOf(typeUrl)?.short ?? typeUrl] = {
      typeUrl,
      sync: syncState(t),
      sentVersion: t.sentVersion ?? null,
      sentAt: t.sentAt === undefined ? null : iso(t.sentAt),
      ackedVersion: t.ackedVersion ?? null,
      lastNack: t.lastNack === undefined ? null : nackView(t.lastNack),
    };
  }
  return { id: s.id, proxy: s.proxy, nodeId: s.nodeId, protocol: s.protocol, method: s.method, peer: s.peer, connectedAt: iso(s.connectedAt), types };
}

export function xdsView(status: XdsStatus): XdsView {
  return { streams: status.list().map(streamView), recentNacks: status.recentNacks().map(nackView) };
}

/** Splits host:port; [v6]:port for IPv6. */
export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(address);
  const port = Number(m?.[3]);
  if (m === null || port > 65535) throw new Error(`admin address ${JSON.stringify(address)} is not host:port (or [ipv6]:port) with a port from 0 to 65535`);
  return { host: m[1] ?? m[2] ?? "", port };
}

function formatAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function bindError(address: string, err: NodeJS.ErrnoException): Error {
  const why =
    err.code === "EADDRINUSE"
      ? "the address is already in use (another gitmesh, or another program, is listening there)"
      : err.code === "EACCES"
        ? "permission denied (ports below 1024 need privileges)"
        : err.code === "EADDRNOTAVAIL"
          ? "no network interface of this host has that address"
          : err.code === "ENOTFOUND" || err.code === "EAI_AGAIN"
            ? "the host name does not resolve"
            : err.message;
  return new Error(`admin server cannot listen on ${address}: ${why}`, { cause: err });
}

type Route = (res: ServerResponse, url: URL) => Promise<void> | void;

/** Starts the admin HTTP server; rejects with a readable message when it cannot bind. */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const address = options.address ?? DEFAULT_ADMIN_ADDRESS;
  const { host, port } = parseAddress(address);
  const logger = options.logger ?? silentLogger;

  const routes = new Map<string, Route>([
    ["/healthz", (res) => text(res, 200, "ok")],
    [
      "/readyz",
      async (res) => {
        let r: Readiness;
        try {
          r = await options.readiness();
        } catch (e) {
          logger.error("admin: readiness check failed", { error: errorText(e) });
          r = { ready: false, reasons: [`readiness check failed: ${errorText(e)}`] };
        }
        if (r.ready) text(res, 200, "ok");
        else text(res, 503, r.reasons.length > 0 ? r.reasons.join("\n") : "not ready");
      },
    ],
    ["/debug/config", async (res) => json(res, await options.config())],
    ["/debug/xds", (res) => json(res, xdsView(options.status))],
    ["/debug/proxies", (res) => json(res, options.proxies?.() ?? null)],
    [
      "/metrics",
      async (res) => {
        const body = await options.registry.metrics();
        send(res, 200, options.registry.contentType, body);
      },
    ],
  ]);
  for (const [path, route] of options.routes ?? []) {
    routes.set(path, async (res, url) => {
      const a = await route(url);
      for (const [k, v] of Object.entries(a.headers ?? {})) res.setHeader(k, v);
      send(res, a.status, a.contentType, a.body);
    });
  }

  const server = createServer((req, res) => {
    void handle(req, res).catch((e: unknown) => {
      logger.error("admin: request failed", { path: req.url, error: errorText(e) });
      if (!res.headersSent) text(res, 500, `internal error: ${errorText(e)}`);
      else res.destroy();
    });
  });
  // Nothing here should take long; a client that dribbles its request is cut.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://admin");
    const path = url.pathname;
    const route = routes.get(path);
    if (route === undefined) return text(res, 404, `not found: ${path}\nroutes: ${[...routes.keys()].join(" ")}`);
    if (req.method !== "GET") {
      res.setHeader("allow", "GET");
      return text(res, 405, `method ${req.method ?? ""} not allowed: ${path} answers GET only`);
    }
    await route(res, url);
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(bindError(address, err));
    server.once("error", onError);
    const listening = () => {
      server.off("error", onError);
      resolve();
    };
    // An empty host (":15014") means every interface.
    if (host === "") server.listen(port, listening);
    else server.listen(port, host, listening);
  });
  // After binding, a server error (rare: EMFILE on accept, say) is logged, not thrown.
  server.on("error", (err) => logger.error("admin server error", { error: err.message }));

  const bound = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    address: formatAddress(bound.address, bound.port),
    port: bound.port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, {
    "content-type": contentType,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  res.end(body);
}

function text(res: ServerResponse, status: number, body: string): void {
  send(res, status, "text/plain; charset=utf-8", body);
}

/** Pretty-printed; undefined (nothing to show) is null. Throws (so 500) on what JSON cannot hold. */
function json(res: ServerResponse, value: unknown): void {
  send(res, 200, "application/json; charset=utf-8", `${JSON.stringify(value, null, 2) ?? "null"}\n`);
}
