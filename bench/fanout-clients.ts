// The fleet for bench/fanout: N scripted ADS (state of the world) clients in one child process, so
// the server process is measured alone. Each client has its own HTTP/2 connection (raw
// node:http2, as Envoy's own codec would) and behaves like Envoy: CDS wildcard, EDS by the names
// it got, LDS wildcard, RDS by the names it got, and it ACKs every response. Messages are read and
// written by hand so the fleet's CPU stays small next to the server's.
import { connect, type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import { TypeUrl } from "../src/envoy/index.js";
import { lengthDelimited, stringField } from "../src/xds/wire.js";

export const ADS_PATH = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";

/** Parent to fleet. */
export type Command =
  | { readonly t: "connect"; readonly port: number; readonly ids: readonly string[]; readonly concurrency: number }
  | { readonly t: "open-floor"; readonly port: number }
  | { readonly t: "report" }
  | { readonly t: "exit" };

/** Fleet to parent. */
export type Reply =
  | { readonly t: "synced" }
  | { readonly t: "floor-open" }
  | { readonly t: "report"; readonly report: Report }
  | { readonly t: "error"; readonly message: string };

export interface Report {
  /** `ROLE TYPE VERSION` -> streams whose last ACK of that type was that version. */
  readonly acked: Record<string, number>;
  /** Responses received, over every stream. */
  readonly responses: number;
  /** Raw DiscoveryResponses the first client's real stream received since the last report. */
  readonly captured: readonly string[];
  /** The fleet process's CPU time so far (user + system). */
  readonly cpuMs: number;
}

// --- protobuf, by hand: only the fields we need -------------------------------------------------

/** Calls onField for every length-delimited field of a message; skips the other wire types. */
function eachField(buf: Buffer, onField: (field: number, value: Buffer) => void): void {
  let i = 0;
  const varint = (): number => {
    let v = 0;
    for (let shift = 1; ; shift *= 128) {
      const b = buf[i++] ?? 0;
      v += (b & 0x7f) * shift;
      if (b < 0x80) return v;
    }
  };
  while (i < buf.length) {
    const tag = varint();
    const wire = tag & 7;
    if (wire === 0) varint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = varint();
      onField(Math.floor(tag / 8), buf.subarray(i, i + len));
      i += len;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
}

/** The first length-delimited field `field`, following a path of nested messages. */
function fieldAt(buf: Buffer, ...path: number[]): Buffer | undefined {
  let cur: Buffer | undefined = buf;
  for (const f of path) {
    let found: Buffer | undefined;
    eachField(cur, (n, v) => {
      if (n === f && found === undefined) found = v;
    });
    if ((cur = found) === undefined) return undefined;
  }
  return cur;
}

interface Response {
  readonly version: string;
  readonly typeUrl: string;
  readonly nonce: string;
  /** Each resource, a google.protobuf.Any. */
  readonly resources: Buffer[];
}

function parseResponse(msg: Buffer): Response {
  let version = "";
  let typeUrl = "";
  let nonce = "";
  const resources: Buffer[] = [];
  eachField(msg, (n, v) => {
    if (n === 1) version = v.toString();
    else if (n === 2) resources.push(v);
    else if (n === 4) typeUrl = v.toString();
    else if (n === 5) nonce = v.toString();
  });
  return { version, typeUrl, nonce, resources };
}

/** The names a response makes the client subscribe to next: EDS from clusters, RDS from listeners. */
function dependentNames(res: Response): string[] | undefined {
  const names = (path: number[]) => res.resources.flatMap((r) => fieldAt(r, ...path)?.toString() ?? []).sort();
  if (res.typeUrl === TypeUrl.Cluster) return names([2, 1]); // Any.value(2) -> Cluster.name(1)
  // Any.value(2) -> Listener.api_listener(19).api_listener(1) -> Any.value(2) -> HCM.rds(3).route_config_name(2)
  if (res.typeUrl === TypeUrl.Listener) return names([2, 19, 1, 2, 3, 2]);
  return undefined;
}

/** A DiscoveryRequest; resource names come pre-encoded (they change only on re-subscription). */
function request(typeUrl: string, names: Buffer, version = "", nonce = "", node?: Buffer): Buffer {
  return Buffer.concat([stringField(1, version), node ?? Buffer.alloc(0), names, stringField(4, typeUrl), stringField(5, nonce)]);
}

const encodeNames = (names: readonly string[]): Buffer => Buffer.concat(names.map((n) => stringField(3, n)));

// --- one proxy -----------------------------------------------------------------------------------

/** What one proxy subscribes to, shared by its real stream and its floor stream. */
class ProxyState {
  readonly names = new Map<string, Buffer>([
    [TypeUrl.Cluster, Buffer.alloc(0)],
    [TypeUrl.Listener, Buffer.alloc(0)],
  ]);
  readonly nameKeys = new Map<string, string>();
  readonly node: Buffer;
  real: AdsStream | undefined;
  floor: AdsStream | undefined;

  constructor(readonly id: string) {
    this.node = lengthDelimited(2, Buffer.concat([stringField(1, id), stringField(2, "fanout")])); // Node{id, cluster}
  }
}

const DEPENDENT: Readonly<Record<string, string>> = { [TypeUrl.Cluster]: TypeUrl.ClusterLoadAssignment, [TypeUrl.Listener]: TypeUrl.RouteConfiguration };

/** One ADS stream on its own HTTP/2 connection. */
class AdsStream {
  readonly acked = new Map<string, string>();
  private readonly nonces = new Map<string, string>();
  responses = 0;
  capture: Buffer[] | undefined;
  readonly connected: Promise<void>;
  private readonly session: ClientHttp2Session;
  private readonly call: ClientHttp2Stream;
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;
  /** A floor stream joins a proxy that is already in sync: it only ACKs. */
  private askedListeners: boolean;

  constructor(
    port: number,
    private readonly proxy: ProxyState,
    private readonly onSynced: (() => void) | undefined,
  ) {
    this.askedListeners = onSynced === undefined;
    this.session = connect(`http://127.0.0.1:${port}`);
    this.session.on("error", (e) => this.fail(e));
    this.connected = new Promise((resolve) => this.session.once("connect", () => resolve()));
    this.call = this.session.request({ ":method": "POST", ":path": ADS_PATH, "content-type": "application/grpc", te: "trailers" });
    this.call.on("data", (chunk: Buffer) => this.onData(chunk));
    this.call.on("error", (e) => this.fail(e));
    this.call.on("close", () => this.fail(new Error(`stream of ${proxy.id} closed`)));
    this.send(request(TypeUrl.Cluster, Buffer.alloc(0), "", "", proxy.node));
  }

  close(): void {
    this.ended = true;
    this.session.destroy();
  }

  private fail(e: Error): void {
    if (!this.ended) process.send?.({ t: "error", message: `${this.proxy.id}: ${e.message}` } satisfies Reply);
    this.ended = true;
  }

  private send(msg: Buffer): void {
    const frame = Buffer.allocUnsafe(5 + msg.length);
    frame[0] = 0;
    frame.writeUInt32BE(msg.length, 1);
    msg.copy(frame, 5);
    this.call.write(frame);
  }

  /** gRPC length-prefixed framing over whatever chunks HTTP/2 hands us. */
  private onData(chunk: Buffer): void {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (buf.length >= 5) {
      const len = buf.readUInt32BE(1);
      if (buf.length < 5 + len) break;
      this.onMessage(buf.subarray(5, 5 + len));
      buf = buf.subarray(5 + len);
    }
    this.pending = buf.length === 0 ? Buffer.alloc(0) : buf; // do not pin the last chunk
  }

  private onMessage(msg: Buffer): void {
    this.capture?.push(Buffer.from(msg));
    const res = parseResponse(msg);
    this.responses++;
    const p = this.proxy;
    // ACK first (with the names we hold), then subscribe to what the response made us need.
    this.send(request(res.typeUrl, p.names.get(res.typeUrl) ?? Buffer.alloc(0), res.version, res.nonce));
    this.acked.set(res.typeUrl, res.version);
    this.nonces.set(res.typeUrl, res.nonce);
    const names = dependentNames(res);
    const dep = DEPENDENT[res.typeUrl];
    if (names !== undefined && dep !== undefined && p.nameKeys.get(dep) !== names.join("\0")) {
      p.nameKeys.set(dep, names.join("\0"));
      p.names.set(dep, encodeNames(names));
      this.send(request(dep, encodeNames(names), this.acked.get(dep), this.nonces.get(dep)));
    }
    // Envoy asks for listeners once its clusters are warm (have endpoints).
    if (res.typeUrl === TypeUrl.ClusterLoadAssignment && !this.askedListeners) {
      this.askedListeners = true;
      this.send(request(TypeUrl.Listener, Buffer.alloc(0)));
    }
    if (res.typeUrl === TypeUrl.RouteConfiguration && this.onSynced !== undefined) this.onSynced();
  }
}

// --- the fleet -----------------------------------------------------------------------------------

const proxies: ProxyState[] = [];

/** Runs fn over items, at most `concurrency` at a time (a thundering herd of SYNs overflows the accept backlog). */
async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Connects every proxy and resolves once each has ACKed its first RouteConfiguration (the last type it syncs). */
function connectAll(port: number, ids: readonly string[], concurrency: number): Promise<void> {
  return pool(ids, concurrency, (id) => {
    const proxy = new ProxyState(id);
    proxies.push(proxy);
    return new Promise((resolve) => (proxy.real = new AdsStream(port, proxy, resolve)));
  });
}

function openFloor(port: number): Promise<void> {
  return pool(proxies, 100, (p) => (p.floor = new AdsStream(port, p, undefined)).connected);
}

function report(): Report {
  const acked: Record<string, number> = {};
  let responses = 0;
  for (const p of proxies) {
    for (const [role, s] of [["real", p.real], ["floor", p.floor]] as const) {
      if (s === undefined) continue;
      responses += s.responses;
      for (const [type, version] of s.acked) {
        const key = `${role} ${type.slice(type.lastIndexOf(".") + 1)} ${version}`;
        acked[key] = (acked[key] ?? 0) + 1;
      }
    }
  }
  const first = proxies[0]?.real;
  const captured = (first?.capture ?? []).map((b) => b.toString("base64"));
  if (first !== undefined) first.capture = [];
  const cpu = process.cpuUsage();
  return { acked, responses, captured, cpuMs: (cpu.user + cpu.system) / 1000 };
}

const reply = (r: Reply): void => void process.send?.(r);

process.on("message", (cmd: Command) => {
  switch (cmd.t) {
    case "connect":
      void connectAll(cmd.port, cmd.ids, cmd.concurrency).then(() => {
        if (proxies[0]?.real !== undefined) proxies[0].real.capture = [];
        reply({ t: "synced" });
      });
      break;
    case "open-floor":
      void openFloor(cmd.port).then(() => reply({ t: "floor-open" }));
      break;
    case "report":
      reply({ t: "report", report: report() });
      break;
    case "exit":
      for (const p of proxies) {
        p.real?.close();
        p.floor?.close();
      }
      process.disconnect();
      break;
  }
});
