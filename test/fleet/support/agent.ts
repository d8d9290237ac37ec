// The program every fleet host runs (node dist/test/fleet/support/agent.js, inside the host's
// network namespace; its config is the JSON in GMF_AGENT):
// - the workload's applications: HTTP, gRPC (HTTP/2) and TCP servers that answer with who they
//   are and what they received, on 127.0.0.1 behind a sidecar (or on the host's address for a
//   host outside the mesh), and an HTTPS server for hosts that stand for external TLS services;
// - a control API on the host's address that the test drives: make requests from inside the host
//   (so they go through its sidecar), run a load generator, read what the applications received,
//   change how they answer, and reach the host's Envoy admin page (which listens on 127.0.0.1).
// It exits when its stdin closes, so a test process that dies takes its agents with it.
import { createServer as createHttpServer, request as httpRequest, Agent, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, request as httpsRequest } from "node:https";
import { createServer as createTcpServer, connect, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import * as grpc from "@grpc/grpc-js";

export interface AgentConfig {
  /** Who answers (the workload's name): every response says it. */
  readonly name: string;
  /** ADDRESS:PORT of the control API. */
  readonly control: string;
  /** Where the applications listen: 127.0.0.1 behind a sidecar, else the host's address. */
  readonly bind: string;
  readonly http?: readonly number[];
  readonly grpc?: readonly number[];
  readonly tcp?: readonly number[];
  /** HTTPS servers; with `ca`, one that requires a client certificate from that CA. */
  readonly https?: readonly { readonly port: number; readonly cert: string; readonly key: string; readonly ca?: string }[];
  /** The host's Envoy admin port on 127.0.0.1, relayed at /envoy/. */
  readonly envoyAdmin?: number;
}

/** What an HTTP application answers: who it is and what it received. */
export interface EchoAnswer {
  readonly name: string;
  readonly port: number;
  readonly method: string;
  readonly path: string;
  readonly httpVersion: string;
  readonly headers: IncomingHttpHeaders;
  /** The TLS server name the client sent (HTTPS servers only). */
  readonly servername?: string | false | null;
  /** The common name of the client's certificate (HTTPS servers that ask for one). */
  readonly clientCn?: string;
}

export interface Received {
  readonly port: number;
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly at: number;
}

/** How the HTTP applications answer, set through POST /behaviour. */
export interface Behaviour {
  /** Answer this many next requests with failStatus. */
  readonly failNext?: number;
  /** Answer every request with failStatus. */
  readonly failAll?: boolean;
  readonly failStatus?: number;
  /** Wait this long before answering. */
  readonly delayMs?: number;
}

export interface HttpCall {
  readonly url: string;
  /** The load generator only: its workers take these URLs in turn (worker i the i-th, cycling). */
  readonly urls?: readonly string[];
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly count?: number;
  readonly concurrency?: number;
  readonly timeoutMs?: number;
  /** Answer with counts only (by status, by answering workload, by error). */
  readonly summary?: boolean;
  /** A fresh connection per request instead of keep-alive. */
  readonly fresh?: boolean;
  /** https:// URLs: the CA (PEM) the application verifies the server with (a fresh connection per request). */
  readonly ca?: string;
}

export interface HttpResult {
  readonly status?: number;
  readonly headers?: IncomingHttpHeaders;
  readonly body?: unknown;
  readonly error?: string;
  readonly ms: number;
}

export interface Summary {
  readonly total: number;
  readonly byStatus: Record<string, number>;
  readonly byName: Record<string, number>;
  readonly errors: Record<string, number>;
  /** The first failures (any answer but 2xx, and errors), with when they happened (ms since the epoch). */
  readonly failures: readonly { readonly at: number; readonly status?: number; readonly error?: string; readonly body?: unknown }[];
}

export interface GrpcCall {
  readonly target: string;
  readonly count?: number;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly deadlineMs?: number;
}

export interface GrpcResult {
  readonly code: number;
  readonly details?: string;
  readonly answer?: { name: string; port: number; metadata: Record<string, string> };
}

export interface TcpCall {
  readonly host: string;
  readonly port: number;
  readonly count?: number;
  readonly payload?: string;
}

export const GRPC_METHOD = "/gitmesh.test.Echo/Call";
const json = {
  serialize: (value: unknown): Buffer => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer): unknown => JSON.parse(bytes.toString("utf8")),
};

function main(): void {
  const config = JSON.parse(process.env["GMF_AGENT"] ?? "{}") as AgentConfig;
  const received: Received[] = [];
  let behaviour: Behaviour = {};
  let failed = 0;
  const pending: Promise<void>[] = [];

  const echo = (port: number, tls: boolean) => async (req: IncomingMessage, res: ServerResponse) => {
    for await (const _ of req) void _; // drain the body
    received.push({ port, method: req.method ?? "", path: req.url ?? "", headers: req.headers, at: Date.now() });
    if (received.length > 20_000) received.shift();
    if (behaviour.delayMs !== undefined) await sleep(behaviour.delayMs);
    const delay = Number(req.headers["x-echo-delay-ms"] ?? 0);
    if (delay > 0) await sleep(delay);
    const failing = behaviour.failAll === true || (behaviour.failNext !== undefined && failed < behaviour.failNext);
    if (failing) failed++;
    const asked = Number(req.headers["x-echo-status"] ?? 0);
    const status = failing ? (behaviour.failStatus ?? 503) : asked > 0 ? asked : 200;
    const answer: EchoAnswer = {
      name: config.name,
      port,
      method: req.method ?? "",
      path: req.url ?? "",
      httpVersion: req.httpVersion,
      headers: req.headers,
      ...(tls ? { servername: (req.socket as TLSSocket).servername } : {}),
      ...(tls ? clientCn(req.socket as TLSSocket) : {}),
    };
    res.writeHead(status, { "content-type": "application/json", "x-echo-name": config.name });
    res.end(JSON.stringify(answer));
  };

  for (const port of config.http ?? []) pending.push(listen(createHttpServer(echo(port, false)), port, config.bind));
  for (const s of config.https ?? []) {
    const mutual = s.ca === undefined ? {} : { ca: s.ca, requestCert: true, rejectUnauthorized: true };
    pending.push(listen(createHttpsServer({ cert: s.cert, key: s.key, ...mutual }, echo(s.port, true)), s.port, config.bind));
  }
  for (const port of config.tcp ?? []) {
    const server = createTcpServer((socket) => {
      socket.on("error", () => {});
      socket.once("data", (d) => socket.end(`${config.name}:${port}:${d.toString("utf8")}`));
    });
    pending.push(listen(server, port, config.bind));
  }
  for (const port of config.grpc ?? []) {
    const server = new grpc.Server();
    server.addService(
      { call: { path: GRPC_METHOD, requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize } },
      {
        call: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
          const metadata: Record<string, string> = {};
          for (const [k, v] of Object.entries(call.metadata.getMap())) metadata[k] = String(v);
          received.push({ port, method: "POST", path: GRPC_METHOD, headers: metadata, at: Date.now() });
          callback(null, { name: config.name, port, metadata });
        },
      },
    );
    pending.push(
      new Promise((resolve, reject) => server.bindAsync(`${config.bind}:${port}`, grpc.ServerCredentials.createInsecure(), (e) => (e === null ? resolve() : reject(e)))),
    );
  }

  const load = new LoadGenerator();
  const [controlHost, controlPort] = splitAddress(config.control);
  const control = createHttpServer((req, res) => {
    handle(req, res).catch((e: unknown) => reply(res, 500, { error: String(e) }));
  });
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://agent");
    if (url.pathname.startsWith("/envoy/")) return relay(req, res, config.envoyAdmin ?? 15000, url.pathname.slice("/envoy".length) + url.search);
    const body = await readJson(req);
    switch (`${req.method} ${url.pathname}`) {
      case "GET /health":
        return reply(res, 200, { name: config.name });
      case "POST /http":
        return reply(res, 200, await httpCalls(body as HttpCall));
      case "POST /grpc":
        return reply(res, 200, await grpcCalls(body as GrpcCall));
      case "POST /tcp":
        return reply(res, 200, await tcpCalls(body as TcpCall));
      case "GET /received":
        return reply(res, 200, received);
      case "POST /reset":
        received.length = 0;
        behaviour = {};
        failed = 0;
        return reply(res, 200, {});
      case "POST /behaviour":
        behaviour = body as Behaviour;
        failed = 0;
        return reply(res, 200, {});
      case "POST /load/start":
        load.start(body as HttpCall);
        return reply(res, 200, {});
      case "GET /load/stats":
        return reply(res, 200, load.summary());
      case "POST /load/stop":
        return reply(res, 200, await load.stop());
      default:
        return reply(res, 404, { error: `no ${req.method} ${url.pathname}` });
    }
  };
  pending.push(listen(control, controlPort, controlHost));
  Promise.all(pending).then(
    () => console.log(`agent ${config.name} ready`),
    (e: unknown) => {
      console.error(`agent ${config.name} could not start: ${String(e)}`);
      process.exit(1);
    },
  );
  process.stdin.on("end", () => process.exit(0));
  process.stdin.on("close", () => process.exit(0));
  process.stdin.resume();
}

function clientCn(socket: TLSSocket): { clientCn?: string } {
  const cn = socket.getPeerCertificate().subject?.CN;
  return typeof cn === "string" ? { clientCn: cn } : {};
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function splitAddress(address: string): [string, number] {
  const at = address.lastIndexOf(":");
  return [address.slice(0, at), Number(address.slice(at + 1))];
}

function listen(server: { listen(port: number, host: string, cb: () => void): unknown; once(e: "error", cb: (e: Error) => void): unknown }, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return text === "" ? {} : (JSON.parse(text) as unknown);
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function relay(req: IncomingMessage, res: ServerResponse, port: number, path: string): void {
  const out = httpRequest({ host: "127.0.0.1", port, path, method: req.method ?? "GET" }, (r) => {
    res.writeHead(r.statusCode ?? 502, r.headers);
    r.pipe(res);
  });
  out.on("error", (e) => reply(res, 502, { error: `envoy admin: ${e.message}` }));
  req.pipe(out);
}

/** One HTTP request from this host; errors are results, never thrown. */
function oneRequest(call: HttpCall, agent: Agent | undefined): Promise<HttpResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const url = new URL(call.url);
    // TLS made by the application itself (a ServiceEntry port of protocol HTTPS or TLS).
    const tls = url.protocol === "https:";
    const request = tls ? httpsRequest : httpRequest;
    const req = request(
      {
        host: url.hostname,
        port: url.port === "" ? (tls ? 443 : 80) : Number(url.port),
        path: url.pathname + url.search,
        method: call.method ?? "GET",
        headers: call.headers ?? {},
        ...(agent === undefined || tls ? { agent: false } : { agent }),
        ...(tls && call.ca !== undefined ? { ca: call.ca } : {}),
        timeout: call.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON: Envoy's own answers (503 text, a fault's body)
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ms: performance.now() - started });
        });
        res.on("error", (e) => resolve({ error: e.message, ms: performance.now() - started }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message, ms: performance.now() - started }));
    req.end(call.body);
  });
}

async function httpCalls(call: HttpCall): Promise<HttpResult[] | Summary> {
  const count = call.count ?? 1;
  const agent = call.fresh === true ? undefined : new Agent({ keepAlive: true, maxSockets: call.concurrency ?? 1 });
  const results: HttpResult[] = new Array<HttpResult>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await oneRequest(call, agent);
    }
  };
  await Promise.all(Array.from({ length: Math.min(call.concurrency ?? 1, count) }, worker));
  agent?.destroy();
  return call.summary === true ? summarise(results) : results;
}

type Counts = { total: number; byStatus: Record<string, number>; byName: Record<string, number>; errors: Record<string, number>; failures: Summary["failures"][number][] };

function counts(): Counts {
  return { total: 0, byStatus: {}, byName: {}, errors: {}, failures: [] };
}

function summarise(results: readonly HttpResult[]): Summary {
  const s = counts();
  for (const r of results) add(s, r);
  return s;
}

const KEPT_FAILURES = 20;

function add(s: Counts, r: HttpResult): void {
  s.total++;
  if (r.error !== undefined) s.errors[r.error] = (s.errors[r.error] ?? 0) + 1;
  else s.byStatus[String(r.status)] = (s.byStatus[String(r.status)] ?? 0) + 1;
  const name = (r.body as { name?: unknown } | undefined)?.name;
  if (typeof name === "string") s.byName[name] = (s.byName[name] ?? 0) + 1;
  const failed = r.error !== undefined || r.status === undefined || r.status >= 300;
  if (failed && s.failures.length < KEPT_FAILURES) {
    s.failures.push({ at: Date.now(), ...(r.status === undefined ? {} : { status: r.status }), ...(r.error === undefined ? {} : { error: r.error }), body: r.body });
  }
}

/** Requests without pause from `concurrency` workers, every answer counted, until stopped. */
class LoadGenerator {
  private running = false;
  private workers: Promise<void>[] = [];
  private stats = counts();
  private agent: Agent | undefined;

  start(call: HttpCall): void {
    if (this.running) throw new Error("load is already running");
    this.running = true;
    this.stats = counts();
    this.agent = new Agent({ keepAlive: true, maxSockets: call.concurrency ?? 4 });
    const worker = async (i: number) => {
      const urls = call.urls ?? [call.url];
      const mine = { ...call, url: urls[i % urls.length] ?? call.url };
      while (this.running) add(this.stats, await oneRequest(mine, this.agent));
    };
    this.workers = Array.from({ length: call.concurrency ?? 4 }, (_, i) => worker(i));
  }

  summary(): Summary {
    return structuredClone(this.stats);
  }

  async stop(): Promise<Summary> {
    this.running = false;
    await Promise.all(this.workers);
    this.agent?.destroy();
    return this.summary();
  }
}

async function grpcCalls(call: GrpcCall): Promise<GrpcResult[]> {
  const client = new grpc.Client(call.target, grpc.credentials.createInsecure());
  const out: GrpcResult[] = [];
  for (let i = 0; i < (call.count ?? 1); i++) {
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(call.metadata ?? {})) metadata.set(k, v);
    out.push(
      await new Promise<GrpcResult>((resolve) => {
        client.makeUnaryRequest(GRPC_METHOD, json.serialize, json.deserialize, {}, metadata, { deadline: Date.now() + (call.deadlineMs ?? 5_000) }, (e, answer) =>
          resolve(e === null ? { code: 0, answer: answer as GrpcResult["answer"] & object } : { code: e.code, details: e.details }),
        );
      }),
    );
  }
  client.close();
  return out;
}

async function tcpCalls(call: TcpCall): Promise<{ reply?: string; error?: string }[]> {
  const out: { reply?: string; error?: string }[] = [];
  for (let i = 0; i < (call.count ?? 1); i++) {
    out.push(
      await new Promise((resolve) => {
        const socket: Socket = connect(call.port, call.host);
        let text = "";
        socket.setTimeout(5_000, () => socket.destroy(new Error("timeout")));
        socket.on("connect", () => socket.write(call.payload ?? "ping"));
        socket.on("data", (d) => (text += d.toString("utf8")));
        socket.on("end", () => resolve(text === "" ? { error: "closed without a reply" } : { reply: text }));
        socket.on("error", (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
      }),
    );
  }
  return out;
}

if (process.env["GMF_AGENT"] !== undefined) main();
