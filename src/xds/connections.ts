import { readFileSync } from "node:fs";
import { createServer, type Server as NetServer, type Socket } from "node:net";

/**
 * The process's limit on open descriptors (the soft RLIMIT_NOFILE, which Node raises to the hard
 * limit when it starts), or undefined where the system does not say (not Linux, or unlimited).
 */
export function descriptorLimit(): number | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = Number(line?.split(/\s{2,}/)[1]);
    return Number.isFinite(soft) && soft > 0 ? soft : undefined;
  } catch {
    return undefined;
  }
}

/** Why the guard closed a connection. */
export type CloseReason =
  /** It did not name a node within connectionSetupMs. */
  | "setup-timeout"
  /** The address was full, and it was the oldest connection without a node. */
  | "evicted"
  /** The address was full of proxies. */
  | "refused"
  /** The server cut it (a stream on it would not read what it was sent). */
  | "cut";

export interface GuardOptions {
  readonly setupMs: number;
  readonly maxConnections: number;
  readonly onClose: (reason: CloseReason, key: string) => void;
}

interface Tracked {
  readonly socket: Socket;
  timer: NodeJS.Timeout | undefined;
}

/** How a connection is named: the same text grpc-js's call.getPeer() gives for its streams. */
export function peerOf(socket: Socket): string {
  return `${socket.remoteAddress ?? ""}:${socket.remotePort ?? ""}`;
}

/**
 * The connections of a server's listening addresses, each known by a key (its address and its
 * peer). gitmesh accepts connections itself (and hands them to gRPC) so that it can close those
 * that never become a proxy: a connection must name its node within setupMs, and when the server
 * holds maxConnections, the oldest connection still without a node makes room for the new one.
 * So silent or half-open connections cannot fill the process's descriptors, and a flood of them
 * cannot keep a proxy from connecting.
 */
export class ConnectionGuard {
  /** Connections that have not named a node yet, oldest first. */
  private readonly pending = new Map<string, Tracked>();
  private readonly proxies = new Map<string, Tracked>();

  constructor(private readonly options: GuardOptions) {}

  get maxConnections(): number {
    return this.options.maxConnections;
  }

  get counts(): { readonly pending: number; readonly proxies: number } {
    return { pending: this.pending.size, proxies: this.proxies.size };
  }

  /** Takes a new connection; false when it was closed at once (the server is full of proxies). */
  accept(key: string, socket: Socket): boolean {
    // The same address and port again: the connection that had them is gone (its close event
    // has not arrived yet).
    this.close(key, undefined);
    if (this.pending.size + this.proxies.size >= this.options.maxConnections) {
      const [oldest] = this.pending.keys();
      if (oldest === undefined) {
        socket.destroy();
        this.options.onClose("refused", key);
        return false;
      }
      this.close(oldest, "evicted");
    }
    const tracked: Tracked = { socket, timer: undefined };
    tracked.timer = setTimeout(() => this.close(key, "setup-timeout"), this.options.setupMs);
    tracked.timer.unref();
    this.pending.set(key, tracked);
    // However it ends (by either side), it is forgotten at once.
    socket.once("close", () => this.forget(key, socket));
    // Errors (a reset by the peer) are the end of the connection, not of the server.
    socket.on("error", () => {});
    return true;
  }

  /** A stream on this connection named its node (and, on TLS, passed its credential check). */
  identified(key: string): void {
    const tracked = this.pending.get(key);
    if (tracked === undefined) return;
    clearTimeout(tracked.timer);
    tracked.timer = undefined;
    this.pending.delete(key);
    this.proxies.set(key, tracked);
  }

  /** Closes a connection at once (everything HTTP/2 holds for it is freed); false if unknown. */
  cut(key: string): boolean {
    return this.close(key, "cut");
  }

  /** Closes every connection (the server is stopping). */
  closeAll(): void {
    for (const key of [...this.pending.keys(), ...this.proxies.keys()]) this.close(key, undefined);
  }

  private close(key: string, reason: CloseReason | undefined): boolean {
    const tracked = this.pending.get(key) ?? this.proxies.get(key);
    if (tracked === undefined) return false;
    this.forget(key, tracked.socket);
    tracked.socket.destroy();
    if (reason !== undefined) this.options.onClose(reason, key);
    return true;
  }

  private forget(key: string, socket: Socket): void {
    for (const map of [this.pending, this.proxies]) {
      const tracked = map.get(key);
      if (tracked?.socket !== socket) continue;
      clearTimeout(tracked.timer);
      map.delete(key);
    }
  }
}

/** host:port or [v6]:port, as the CLI takes them (an empty host: every address). */
export function parseAddress(address: string): { readonly host: string; readonly port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]*):(\d+)$/.exec(address);
  const port = Number(m?.[2]);
  return m === null || !(port < 65536) ? undefined : { host: m[1] ?? "", port };
}

/** A TCP listener on address that gives every connection to accept; resolves once bound. */
export function listenTcp(address: string, accept: (socket: Socket) => void): Promise<NetServer> {
  const parsed = parseAddress(address);
  if (parsed === undefined) return Promise.reject(new Error(`not an address to listen on (HOST:PORT or [V6]:PORT): ${address}`));
  const server = createServer({ noDelay: true }, accept);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: parsed.host === "" ? undefined : parsed.host, port: parsed.port }, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}
