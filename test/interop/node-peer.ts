// The grpc-js (@grpc/grpc-js-xds) peer of the interop suite: the same JSON-line protocol as the
// other languages' peers (protocol.md), so the Node client is driven like every other one. Also
// the identity servers the routing tests use as backends (identityServer).
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { Client, credentials, Metadata, Server, ServerCredentials, status, type ServiceDefinition, type ServerUnaryCall, type sendUnaryData } from "@grpc/grpc-js";

// gRPC registers its RBAC filter only with this set, read when the package first loads.
process.env["GRPC_XDS_EXPERIMENTAL_RBAC"] = "true";
const xds = await import("@grpc/grpc-js-xds");
xds.register();

/** The methods the identity servers answer (grpc-js serves only methods it was told of). */
export const METHODS = ["/gitmesh.test.Identity/WhoAmI", "/gitmesh.test.Identity/Other", "/gitmesh.test.Admin/WhoAmI"] as const;

export interface BackendRequest {
  readonly sleepMs?: number;
  readonly fail?: number;
  /** The first failFirst requests carrying this token fail with UNAVAILABLE (a retry gets past them). */
  readonly failFirst?: number;
  readonly token?: string;
}

const json = {
  serialize: (value: object): Buffer => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer): Record<string, unknown> => JSON.parse(bytes.toString("utf8") || "{}") as Record<string, unknown>,
};

const service: ServiceDefinition = Object.fromEntries(
  METHODS.map((path) => [path, { path, requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize }]),
);

/**
 * Handlers answering {"backend": name}; `calls` counts the requests that reached it. failAlways:
 * every request fails with that status code (a host outlier detection must eject).
 */
function handlers(name: string, counter: { calls: number }, failAlways = 0) {
  const tokens = new Map<string, number>();
  const answer = (call: ServerUnaryCall<BackendRequest, object>, callback: sendUnaryData<object>) => {
    counter.calls++;
    const { sleepMs = 0, token = "" } = call.request;
    const seen = (tokens.get(token) ?? 0) + 1;
    if (token !== "") tokens.set(token, seen);
    const fail = failAlways !== 0 ? failAlways : seen <= (call.request.failFirst ?? 0) ? status.UNAVAILABLE : (call.request.fail ?? 0);
    const done = () => (fail !== 0 ? callback({ code: fail, details: `${name} fails on request` }) : callback(null, { backend: name }));
    if (sleepMs > 0) setTimeout(done, sleepMs);
    else done();
  };
  return Object.fromEntries(METHODS.map((path) => [path, answer]));
}

export interface IdentityServer {
  readonly port: number;
  calls(): number;
  close(): Promise<void>;
}

/** A plain gRPC server on host:port (a free port unless told) answering the identity methods. */
export async function identityServer(name: string, options: { host?: string; port?: number; failAlways?: number } = {}): Promise<IdentityServer> {
  const server = new Server();
  const counter = { calls: 0 };
  server.addService(service, handlers(name, counter, options.failAlways));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${options.host ?? "127.0.0.1"}:${options.port ?? 0}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { port, calls: () => counter.calls, close: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}

// ---- the peer process ----

interface Command {
  readonly id: number;
  readonly op: string;
  readonly target?: string;
  readonly method?: string;
  readonly count?: number;
  readonly concurrency?: number;
  readonly headers?: Record<string, string>;
  readonly timeoutMs?: number;
  readonly spacingMs?: number;
  readonly secure?: boolean;
  readonly request?: BackendRequest;
  readonly port?: number;
  readonly name?: string;
  readonly xds?: boolean;
}

interface CallResult {
  code: number;
  backend?: string;
  ms: number;
  message?: string;
}

const clients = new Map<string, Client>();
const servers: Server[] = [];

function client(target: string, secure: boolean): Client {
  const key = `${target}|${secure}`;
  let c = clients.get(key);
  if (c === undefined) {
    c = new Client(target, secure ? new xds.XdsChannelCredentials(credentials.createInsecure()) : credentials.createInsecure());
    clients.set(key, c);
  }
  return c;
}

function oneCall(c: Client, cmd: Command): Promise<CallResult> {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(cmd.headers ?? {})) metadata.set(k, v);
  const start = performance.now();
  return new Promise((resolve) => {
    c.makeUnaryRequest(cmd.method ?? METHODS[0], json.serialize, json.deserialize, cmd.request ?? {}, metadata, { deadline: Date.now() + (cmd.timeoutMs ?? 10_000) }, (err, value) => {
      const ms = performance.now() - start;
      if (err) resolve({ code: err.code, ms, message: err.details });
      else resolve({ code: status.OK, backend: String(value?.["backend"] ?? ""), ms });
    });
  });
}

async function calls(cmd: Command): Promise<object> {
  const c = client(cmd.target ?? "", cmd.secure === true);
  const count = Math.max(1, cmd.count ?? 1);
  const results: CallResult[] = new Array<CallResult>(count);
  let next = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const wait = i * (cmd.spacingMs ?? 0) - (performance.now() - start);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      results[i] = await oneCall(c, cmd);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, cmd.concurrency ?? 1) }, worker));
  return { id: cmd.id, results };
}

async function serve(cmd: Command): Promise<object> {
  const name = cmd.name ?? "grpc-js";
  const counter = { calls: 0 };
  const server = cmd.xds === true ? new xds.XdsServer() : new Server();
  server.addService(service, handlers(name, counter));
  const creds = cmd.xds === true && cmd.secure === true ? new xds.XdsServerCredentials(ServerCredentials.createInsecure()) : ServerCredentials.createInsecure();
  // XdsServer calls back once it serves (its Listener arrived); a plain server once bound.
  await new Promise<void>((resolve, reject) => server.bindAsync(`0.0.0.0:${cmd.port ?? 0}`, creds, (err) => (err ? reject(err) : resolve())));
  servers.push(server);
  return { id: cmd.id, serving: true };
}

async function handle(cmd: Command): Promise<object> {
  try {
    if (cmd.op === "calls") return await calls(cmd);
    if (cmd.op === "serve") return await serve(cmd);
    return { id: cmd.id, error: `unknown op ${cmd.op}` };
  } catch (e) {
    return { id: cmd.id, error: String(e) };
  }
}

function reply(value: object): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

async function main(): Promise<void> {
  const { version } = createRequire(import.meta.url)("@grpc/grpc-js-xds/package.json") as { version: string };
  reply({ ready: true, client: "grpc-js", version });
  const pending: Promise<void>[] = [];
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === "") continue;
    pending.push(handle(JSON.parse(line) as Command).then(reply));
  }
  await Promise.all(pending);
  // Clients first: an xDS client whose control plane went first keeps the process alive.
  for (const c of clients.values()) c.close();
  for (const s of servers) s.forceShutdown();
  process.exit(0);
}

if (process.argv[1] === import.meta.filename) await main();
