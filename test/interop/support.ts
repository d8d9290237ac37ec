// The interop suite's harness: the clients under test (one long-lived peer process per client and
// bootstrap, protocol.md), and gitmesh serving them on loopback (the real XdsServer and
// MeshPusher, as `gitmesh serve` runs them), recording every NACK.
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { grpcBootstrap } from "../../src/cli/bootstrap.js";
import { loadMesh } from "../../src/config/load.js";
import { silentLogger } from "../../src/log.js";
import { MeshPusher } from "../../src/runtime/index.js";
import { SnapshotCache, XdsServer, type NackRecord } from "../../src/xds/index.js";
import { needPeer } from "../support/peers.js";

/** A client under test: how its peer is started. */
export interface ClientSpec {
  /** As the matrix names it. */
  readonly name: string;
  /** The peer's launcher in .peers/bin (scripts/peers/grpc-*.sh); undefined for grpc-js (Node). */
  readonly launcher?: string;
}

export const CLIENTS: readonly ClientSpec[] = [
  { name: "grpc-js" },
  { name: "c-core-1.51", launcher: "grpc-python-debian" },
  { name: "c-core", launcher: "grpc-python-current" },
  { name: "grpc-go", launcher: "grpc-go-peer" },
  { name: "grpc-java", launcher: "grpc-java-peer" },
];

const NODE_PEER = fileURLToPath(new URL("./node-peer.js", import.meta.url));

export interface CallResult {
  readonly code: number;
  readonly backend?: string;
  readonly ms: number;
  readonly message?: string;
}

export interface CallOptions {
  readonly target: string;
  readonly method?: string;
  readonly count?: number;
  readonly concurrency?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  /** Between call starts. */
  readonly spacingMs?: number;
  readonly secure?: boolean;
  readonly request?: Readonly<Record<string, unknown>>;
}

/** One running peer process. */
export class Peer {
  private readonly pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private stderr = "";
  private exited: string | undefined;
  readonly ready: Promise<{ client: string; version: string }>;

  constructor(
    readonly client: ClientSpec,
    readonly nodeId: string,
    private readonly child: ChildProcessWithoutNullStreams,
  ) {
    let ready: (v: { client: string; version: string }) => void = () => {};
    let failed: (e: Error) => void = () => {};
    this.ready = new Promise((resolve, reject) => {
      ready = resolve;
      failed = reject;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      this.stderr = (this.stderr + d).slice(-8_000);
    });
    createInterface({ input: child.stdout }).on("line", (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        this.stderr = (this.stderr + `\n[stdout] ${line}`).slice(-8_000);
        return;
      }
      if (msg["ready"] === true) return ready(msg as unknown as { client: string; version: string });
      const p = this.pending.get(Number(msg["id"]));
      this.pending.delete(Number(msg["id"]));
      if (p === undefined) return;
      if (typeof msg["error"] === "string") p.reject(new Error(`${client.name}: ${msg["error"]}`));
      else p.resolve(msg);
    });
    child.on("exit", (code, signal) => {
      this.exited = `${client.name} peer exited (${signal ?? code}); its stderr ends:\n${this.stderr.slice(-3_000)}`;
      failed(new Error(this.exited));
      for (const p of this.pending.values()) p.reject(new Error(this.exited));
      this.pending.clear();
    });
  }

  private send(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.exited !== undefined) return Promise.reject(new Error(this.exited));
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin.write(`${JSON.stringify({ ...command, id })}\n`);
    });
  }

  async calls(o: CallOptions): Promise<CallResult[]> {
    const r = await this.send({ op: "calls", method: "/gitmesh.test.Identity/WhoAmI", ...o });
    return r["results"] as CallResult[];
  }

  async call(o: CallOptions): Promise<CallResult> {
    const [r] = await this.calls({ ...o, count: 1 });
    assert.ok(r !== undefined);
    return r;
  }

  async serve(o: { port: number; name: string; xds: boolean; secure?: boolean }): Promise<void> {
    await this.send({ op: "serve", ...o });
  }

  /** The end of the peer's stderr (for failure messages). */
  get log(): string {
    return this.stderr.slice(-2_000);
  }

  /** Ends the peer: stdin closes, then SIGKILL if it lingers. */
  async close(): Promise<void> {
    if (this.exited !== undefined) return;
    const gone = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await gone;
    clearTimeout(timer);
  }
}

/** gitmesh on loopback: XdsServer and MeshPusher, with every NACK recorded by node id. */
export class ControlPlane {
  readonly nacks: NackRecord[] = [];
  private readonly cache = new SnapshotCache();
  readonly pusher = new MeshPusher(this.cache, silentLogger);
  private readonly server = new XdsServer({ source: this.cache, logger: silentLogger, ...this.pusher.serverHooks(), onNack: (n) => this.nacks.push(n) });
  private readonly dir = mkdtempSync(join(tmpdir(), "gitmesh-interop-"));
  private readonly peers: Peer[] = [];
  private nodes = 0;
  port = 0;
  /** Where peers dial gitmesh. */
  host = "127.0.0.1";
  /** The network namespace peers run in (netns.ts), if any. */
  netns: string | undefined;

  /** gitmesh listening on host (loopback unless told), for peers in netns when given. */
  static async start(options: { host?: string; netns?: string } = {}): Promise<ControlPlane> {
    const cp = new ControlPlane();
    cp.host = options.host ?? "127.0.0.1";
    cp.netns = options.netns;
    cp.port = await cp.server.listen(`${cp.host}:0`);
    return cp;
  }

  /**
   * Whether a peer has answered everything gitmesh sent it: on each of its streams, every type
   * sent is ACKed at the version sent, or NACKed at the nonce sent.
   */
  settled(peer: Peer): boolean {
    const streams = this.server.status.list().filter((s) => s.nodeId === peer.nodeId);
    if (streams.length === 0) return false;
    return streams.every((s) => [...s.types.values()].every((t) => t.sentNonce === undefined || t.ackedVersion === t.sentVersion || t.lastNack?.nonce === t.sentNonce));
  }

  /** The types a peer has ACKed (type URLs), over its streams. */
  acked(peer: Peer): Set<string> {
    const out = new Set<string>();
    for (const s of this.server.status.list().filter((x) => x.nodeId === peer.nodeId)) {
      for (const [url, t] of s.types) if (t.ackedVersion !== undefined && t.ackedVersion !== "") out.add(url);
    }
    return out;
  }

  setMesh(yaml: string): void {
    const loaded = loadMesh([{ path: "mesh.yaml", text: yaml }]);
    assert.ok(loaded.ok, loaded.diagnostics.map((d) => `${d.line}:${d.col} ${d.code} ${d.message}`).join("\n"));
    this.pusher.setModel(loaded.model);
  }

  /** The NACKs of one peer, as text (empty when there were none). */
  nacksOf(peer: Peer): string[] {
    return this.nacks.filter((n) => n.proxy === peer.nodeId).map((n) => `${n.type} ${n.version}: ${n.message}`);
  }

  /**
   * Starts a client's peer with its own bootstrap (node id NAME-N, the given identity), or returns
   * undefined when the client is not installed (needPeer: fails under CI=true, skips elsewhere).
   */
  async peer(
    t: TestContext,
    client: ClientSpec,
    identity: { serviceAccount: string; labels?: Readonly<Record<string, string>>; namespace?: string; certDir?: string; workloadName?: string },
  ): Promise<Peer | undefined> {
    const launcher = client.launcher === undefined ? process.execPath : needPeer(t, client.launcher);
    if (launcher === undefined) return undefined;
    const nodeId = `${client.name}-${identity.serviceAccount}-${++this.nodes}`;
    const bootstrap = grpcBootstrap({
      kind: "grpc",
      nodeId,
      namespace: identity.namespace ?? "interop",
      serviceAccount: identity.serviceAccount,
      labels: identity.labels ?? { app: identity.serviceAccount },
      ...(identity.workloadName === undefined ? {} : { workloadName: identity.workloadName }),
      xdsAddress: `${this.host}:${this.port}`,
      adminPort: 0,
      ...(identity.certDir === undefined ? {} : { certDir: identity.certDir }),
    });
    const file = join(this.dir, `${nodeId}.json`);
    writeFileSync(file, JSON.stringify(bootstrap));
    const command = [launcher, ...(client.launcher === undefined ? [NODE_PEER] : [])];
    const [exe = "", ...args] = this.netns === undefined ? command : ["ip", "netns", "exec", this.netns, ...command];
    const child = spawn(exe, args, { env: { ...process.env, GRPC_XDS_BOOTSTRAP: file }, stdio: ["pipe", "pipe", "pipe"] });
    const peer = new Peer(client, nodeId, child);
    this.peers.push(peer);
    await peer.ready;
    return peer;
  }

  /** Peers first (an xDS client whose control plane went first keeps retrying), then gitmesh. */
  async close(): Promise<void> {
    await Promise.all(this.peers.map((p) => p.close()));
    this.pusher.close();
    await this.server.shutdown(1_000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** How many results each backend answered ("code N" for failures). */
export function tally(results: readonly CallResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) {
    const key = r.code === 0 ? (r.backend ?? "") : `code ${r.code}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

/**
 * Calls until `done` holds for a batch (config reaches a client some time after it is pushed),
 * failing after `withinMs`: waits on the event, not a fixed sleep.
 */
export async function until(peer: Peer, o: CallOptions, done: (r: readonly CallResult[]) => boolean, what: string, withinMs = 20_000): Promise<readonly CallResult[]> {
  const deadline = Date.now() + withinMs;
  let last: readonly CallResult[] = [];
  while (Date.now() < deadline) {
    last = await peer.calls(o);
    if (done(last)) return last;
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.fail(`${peer.client.name}: ${what} did not happen within ${withinMs} ms; last: ${JSON.stringify(tally(last))} ${last.find((r) => r.code !== 0)?.message ?? ""}\n${peer.log}`);
}
