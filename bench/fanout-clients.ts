// The fleet for bench/fanout and bench/side-by-side: N scripted ADS clients (state of the world or
// delta) in one child process, so the server process is measured alone. Each client has its own
// HTTP/2 connection (raw node:http2, as Envoy's own codec would) and behaves like Envoy: CDS
// wildcard, EDS by the names its EDS clusters need, then LDS wildcard, RDS by the names its
// listeners need, and it ACKs every response. Messages are read and written by hand
// (fleet-proto.ts) so the fleet's CPU stays small next to the server's.
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { connect, type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import { TypeUrl } from "../src/envoy/index.js";
import { adsPath, deltaRequest, dependentNamesOf, encodeNames, nodeField, parseResponse, sotwRequest, stateDigest, type Protocol, type Response } from "./fleet-proto.js";

export { ADS_PATH } from "./fleet-proto.js";

/** A resource every client must come to hold (digest of its Any), or no longer hold (null). */
export interface Expected {
  readonly typeUrl: string;
  readonly name: string;
  readonly digest: string | null;
}

/** Parent to fleet. */
export type Command =
  | {
      readonly t: "connect";
      readonly port: number;
      readonly ids: readonly string[];
      readonly concurrency: number;
      readonly protocol?: Protocol;
      /** Capture what the first client receives from its first response on (default: from sync on). */
      readonly captureSync?: boolean;
      /** The first client keeps a digest of every resource it holds (Report.digests). */
      readonly digests?: boolean;
      /** Each client's Node, encoded (fleet-proto.ts encodeNode), base64, in the order of ids. */
      readonly nodes?: readonly string[];
      /** Clients whose whole state is digested (Report.states). */
      readonly track?: readonly string[];
    }
  | { readonly t: "open-floor"; readonly port: number }
  /**
   * From now on, `done` is replied once every client holds all of these (the clients of a group
   * in byProxy: the group's instead).
   */
  | { readonly t: "expect"; readonly resources: readonly Expected[]; readonly byProxy?: readonly ExpectedGroup[] }
  /** Every client's real stream keeps the responses it receives from now on. */
  | { readonly t: "capture-all" }
  /** Writes what every client captured since capture-all to FILE (Captured), and stops capturing. */
  | { readonly t: "save-captured"; readonly file: string }
  | { readonly t: "report" }
  | { readonly t: "exit" };

/** Fleet to parent. */
export type Reply =
  | { readonly t: "synced" }
  | { readonly t: "floor-open" }
  | { readonly t: "expecting" }
  | { readonly t: "capturing" }
  | { readonly t: "saved" }
  | { readonly t: "done" }
  | { readonly t: "report"; readonly report: Report }
  | { readonly t: "error"; readonly message: string };

export interface Report {
  /** `ROLE TYPE VERSION` -> streams whose last ACK of that type was that version. */
  readonly acked: Record<string, number>;
  /** Responses received, over every stream. */
  readonly responses: number;
  /** Raw responses the first client's real stream received since the last report. */
  readonly captured: readonly string[];
  /** The first client's resources, `TYPE NAME` -> digest (with Command connect's digests). */
  readonly digests: Record<string, string>;
  /** The fleet process's CPU time so far (user + system). */
  readonly cpuMs: number;
  /** Per tracked client (Command connect's track), stateDigest of everything it holds. */
  readonly states: Record<string, string>;
}

/** Expectations for some of the clients: proxies are not alike, so neither are their changes. */
export interface ExpectedGroup {
  readonly ids: readonly string[];
  readonly resources: readonly Expected[];
}

/** Client id -> the responses its real stream received while capturing, base64. */
export type Captured = Record<string, readonly string[]>;


/** sha256 (hex, 16 characters) of a google.protobuf.Any: export-resources.ts's anyDigest. */
const digestOf = (any: Buffer): string => createHash("sha256").update(any).digest("hex").slice(0, 16);

const shortOf = (typeUrl: string): string => typeUrl.slice(typeUrl.lastIndexOf(".") + 1);

// --- one proxy -----------------------------------------------------------------------------------

/** The type a type's resources make the client subscribe to by name. */
const DEPENDENT: Readonly<Record<string, string>> = { [TypeUrl.Cluster]: TypeUrl.ClusterLoadAssignment, [TypeUrl.Listener]: TypeUrl.RouteConfiguration };
/** Types whose state-of-the-world response is the full set (omitted = removed). */
const FULL_STATE = new Set<string>([TypeUrl.Cluster, TypeUrl.Listener]);

/** What one proxy subscribes to, shared by its real stream and its floor stream (bench/fanout). */
class ProxyState {
  /** SotW: the names last requested per type, encoded; delta: the subscribed names. */
  readonly names = new Map<string, Buffer>([
    [TypeUrl.Cluster, Buffer.alloc(0)],
    [TypeUrl.Listener, Buffer.alloc(0)],
  ]);
  readonly subscribed = new Map<string, Set<string>>();
  /** Per CDS/LDS resource held, the names it needs (delta responses carry only changes). */
  readonly needs = new Map<string, Map<string, readonly string[]>>();
  readonly nameKeys = new Map<string, string>();
  readonly node: Buffer;
  real: AdsStream | undefined;
  floor: AdsStream | undefined;
  /** What must still arrive before this proxy counts as done (key: TYPE_URL \0 NAME). */
  pending = new Map<string, string | null>();
  /** The first proxy's resources by `TYPE NAME`, when the parent wants digests. */
  digests: Map<string, string> | undefined;

  constructor(
    readonly id: string,
    readonly protocol: Protocol,
    node?: Buffer,
  ) {
    this.node = nodeField(protocol, id, node);
  }
}

/** One ADS stream on its own HTTP/2 connection. */
class AdsStream {
  readonly acked = new Map<string, string>();
  private readonly nonces = new Map<string, string>();
  responses = 0;
  capture: Buffer[] | undefined;
  readonly connected: Promise<void>;
  private readonly session: ClientHttp2Session;
  private readonly call: ClientHttp2Stream;
  /** Received bytes not yet read as messages, in the chunks HTTP/2 handed them over. */
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  /** A floor stream joins a proxy that is already in sync: it only ACKs. */
  private askedListeners: boolean;

  constructor(
    port: number,
    private readonly proxy: ProxyState,
    private readonly onSynced: (() => void) | undefined,
    private readonly onDone: () => void,
  ) {
    this.askedListeners = onSynced === undefined;
    this.session = connect(`http://127.0.0.1:${port}`);
    this.session.on("error", (e) => this.fail(e));
    this.connected = new Promise((resolve) => this.session.once("connect", () => resolve()));
    // x-fleet-proxy: which client this is, for a floor replaying each client its own bytes.
    this.call = this.session.request({ ":method": "POST", ":path": adsPath(proxy.protocol), "content-type": "application/grpc", te: "trailers", "x-fleet-proxy": proxy.id });
    this.call.on("data", (chunk: Buffer) => this.onData(chunk));
    this.call.on("error", (e) => this.fail(e));
    this.call.on("close", () => this.fail(new Error(`stream of ${proxy.id} closed`)));
    this.subscribe(TypeUrl.Cluster, proxy.node);
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

  /** A wildcard subscription's first request. */
  private subscribe(typeUrl: string, node?: Buffer): void {
    this.send(this.proxy.protocol === "sotw" ? sotwRequest(typeUrl, Buffer.alloc(0), "", "", node) : deltaRequest(typeUrl, [], [], "", node));
  }

  /**
   * gRPC length-prefixed framing over whatever chunks HTTP/2 hands us. A message's chunks are
   * joined once it is all there (joining at every chunk copies a megabyte response dozens of times).
   */
  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= 5) {
      let head = this.chunks[0] as Buffer;
      if (head.length < 5) this.chunks = [(head = Buffer.concat(this.chunks, this.buffered))];
      const end = 5 + head.readUInt32BE(1);
      if (this.buffered < end) return;
      if (head.length < end) this.chunks = [(head = Buffer.concat(this.chunks, this.buffered))];
      this.onMessage(head.subarray(5, end));
      this.buffered -= end;
      if (head.length === end) this.chunks.shift();
      else this.chunks[0] = head.subarray(end);
    }
  }

  private onMessage(msg: Buffer): void {
    this.capture?.push(Buffer.from(msg));
    const p = this.proxy;
    const res = parseResponse(p.protocol, msg);
    this.responses++;
    // ACK first (with the names we hold), then subscribe to what the response made us need.
    if (p.protocol === "sotw") this.send(sotwRequest(res.typeUrl, p.names.get(res.typeUrl) ?? Buffer.alloc(0), res.version, res.nonce));
    else this.send(deltaRequest(res.typeUrl, [], [], res.nonce));
    this.acked.set(res.typeUrl, res.version);
    this.nonces.set(res.typeUrl, res.nonce);
    this.resubscribe(res);
    if (p.digests !== undefined) record(p.digests, p.protocol, res);
    if (p.pending.size > 0 && settle(p.pending, p.protocol, res)) this.onDone();
    // Envoy asks for listeners once its clusters are warm (have endpoints).
    if (res.typeUrl === TypeUrl.ClusterLoadAssignment && !this.askedListeners) {
      this.askedListeners = true;
      this.subscribe(TypeUrl.Listener);
    }
    if (res.typeUrl === TypeUrl.RouteConfiguration && this.onSynced !== undefined) this.onSynced();
  }

  /** Subscribes EDS (RDS) to exactly what the clusters (listeners) held now need. */
  private resubscribe(res: Response): void {
    const p = this.proxy;
    const dep = DEPENDENT[res.typeUrl];
    if (dep === undefined) return;
    let needs = p.needs.get(res.typeUrl);
    if (needs === undefined || p.protocol === "sotw") p.needs.set(res.typeUrl, (needs = new Map()));
    for (const r of res.resources) needs.set(r.name, dependentNamesOf(res.typeUrl, r.any));
    for (const name of res.removed) needs.delete(name);
    const names = [...new Set([...needs.values()].flat())].sort();
    const key = names.join("\0");
    if (p.nameKeys.get(dep) === key) return;
    p.nameKeys.set(dep, key);
    if (p.protocol === "sotw") {
      p.names.set(dep, encodeNames(3, names));
      this.send(sotwRequest(dep, encodeNames(3, names), this.acked.get(dep), this.nonces.get(dep)));
      return;
    }
    const before = p.subscribed.get(dep) ?? new Set<string>();
    const now = new Set(names);
    p.subscribed.set(dep, now);
    this.send(deltaRequest(dep, names.filter((n) => !before.has(n)), [...before].filter((n) => !now.has(n))));
  }
}

/** Keeps the digest of every resource a response leaves the client holding. */
function record(digests: Map<string, string>, protocol: Protocol, res: Response): void {
  const short = shortOf(res.typeUrl);
  if (protocol === "sotw" && FULL_STATE.has(res.typeUrl)) for (const k of [...digests.keys()]) if (k.startsWith(`${short} `)) digests.delete(k);
  for (const r of res.resources) digests.set(`${short} ${r.name}`, digestOf(r.any));
  for (const name of res.removed) digests.delete(`${short} ${name}`);
}

/** Crosses off what a response brings of the expected resources; true when nothing is left. */
function settle(pending: Map<string, string | null>, protocol: Protocol, res: Response): boolean {
  const prefix = `${res.typeUrl}\0`;
  for (const r of res.resources) {
    const key = prefix + r.name;
    const want = pending.get(key);
    if (want !== undefined && want !== null && digestOf(r.any) === want) pending.delete(key);
  }
  const gone = protocol === "sotw" && FULL_STATE.has(res.typeUrl) ? undefined : new Set(res.removed);
  const present = gone === undefined ? new Set(res.resources.map((r) => r.name)) : undefined;
  for (const [key, want] of pending) {
    if (want !== null || !key.startsWith(prefix)) continue;
    const name = key.slice(prefix.length);
    if (gone?.has(name) === true || (present !== undefined && !present.has(name))) pending.delete(key);
  }
  return pending.size === 0;
}

// --- the fleet -----------------------------------------------------------------------------------

const proxies: ProxyState[] = [];
/** Proxies still waiting for the expected resources. */
let waiting = 0;

const reply = (r: Reply): void => void process.send?.(r);

function proxyDone(): void {
  if (--waiting === 0) reply({ t: "done" });
}

/** Runs fn over items, at most `concurrency` at a time (a thundering herd of SYNs overflows the accept backlog). */
async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Connects every proxy and resolves once each has its first RouteConfiguration (the last type it syncs). */
function connectAll(cmd: Extract<Command, { t: "connect" }>): Promise<void> {
  const nodes = new Map(cmd.ids.map((id, i) => [id, cmd.nodes?.[i]]));
  const track = new Set(cmd.track ?? []);
  return pool(cmd.ids, cmd.concurrency, (id) => {
    const node = nodes.get(id);
    const proxy = new ProxyState(id, cmd.protocol ?? "sotw", node === undefined ? undefined : Buffer.from(node, "base64"));
    const first = proxies.length === 0;
    if ((first && cmd.digests === true) || track.has(id)) proxy.digests = new Map();
    proxies.push(proxy);
    return new Promise((resolve) => {
      let synced = false;
      proxy.real = new AdsStream(cmd.port, proxy, () => {
        if (!synced) resolve();
        synced = true;
      }, proxyDone);
      if (first && cmd.captureSync === true) proxy.real.capture = [];
    });
  });
}

function openFloor(port: number): Promise<void> {
  return pool(proxies, 100, (p) => (p.floor = new AdsStream(port, p, undefined, proxyDone)).connected);
}

function expect(resources: readonly Expected[], byProxy: readonly ExpectedGroup[] = []): void {
  const pendingOf = (list: readonly Expected[]) => new Map(list.map((r) => [`${r.typeUrl}\0${r.name}`, r.digest] as const));
  const groups = new Map(byProxy.flatMap((g) => g.ids.map((id) => [id, g.resources] as const)));
  waiting = 0;
  for (const p of proxies) {
    p.pending = pendingOf(groups.get(p.id) ?? resources);
    if (p.pending.size > 0) waiting++;
  }
  reply({ t: "expecting" });
  if (waiting === 0) {
    waiting = 0;
    reply({ t: "done" });
  }
}

function report(): Report {
  const acked: Record<string, number> = {};
  let responses = 0;
  for (const p of proxies) {
    for (const [role, s] of [["real", p.real], ["floor", p.floor]] as const) {
      if (s === undefined) continue;
      responses += s.responses;
      for (const [type, version] of s.acked) {
        const key = `${role} ${shortOf(type)} ${version}`;
        acked[key] = (acked[key] ?? 0) + 1;
      }
    }
  }
  const first = proxies[0];
  const captured = (first?.real?.capture ?? []).map((b) => b.toString("base64"));
  if (first?.real !== undefined) first.real.capture = [];
  const cpu = process.cpuUsage();
  const states = Object.fromEntries(proxies.flatMap((p) => (p.digests === undefined ? [] : [[p.id, stateDigest(p.digests)]])));
  return { acked, responses, captured, digests: Object.fromEntries(first?.digests ?? []), cpuMs: (cpu.user + cpu.system) / 1000, states };
}

process.on("message", (cmd: Command) => {
  switch (cmd.t) {
    case "connect":
      void connectAll(cmd).then(() => {
        if (proxies[0]?.real !== undefined) proxies[0].real.capture ??= [];
        reply({ t: "synced" });
      });
      break;
    case "open-floor":
      void openFloor(cmd.port).then(() => reply({ t: "floor-open" }));
      break;
    case "expect":
      expect(cmd.resources, cmd.byProxy);
      break;
    case "capture-all":
      for (const p of proxies) if (p.real !== undefined) p.real.capture = [];
      reply({ t: "capturing" });
      break;
    case "save-captured": {
      const captured: Captured = {};
      for (const p of proxies) {
        captured[p.id] = (p.real?.capture ?? []).map((b) => b.toString("base64"));
        if (p.real !== undefined) p.real.capture = p === proxies[0] ? [] : undefined;
      }
      writeFileSync(cmd.file, JSON.stringify(captured));
      reply({ t: "saved" });
      break;
    }
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
