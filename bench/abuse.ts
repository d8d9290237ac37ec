// Abuse bench (issue 9, items 12-16): what attackers make the server hold, what is left once they
// leave, how fast a proxy gets in during a descriptor flood, and how /healthz answers while a
// 50 MB file is refused.
//
//   npm run build && node --expose-gc dist/bench/abuse.js [--only names,slow,fds,healthz,loader] [--rounds 2] [--cli PATH]
//
// The xDS server runs in a process of its own (bench/abuse-server.ts, default limits), so its
// memory is measured apart from the attackers' (raw HTTP/2 clients here). Memory is taken after
// two full collections: heap, Buffers (where response bytes live) and RSS. The descriptor flood
// and /healthz scenarios run the real `gitmesh serve`.
import { fork } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, get } from "node:http";
import { connect as connectTcp, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createMeshLoader } from "../src/config/load.js";
import { CDS, EDS, type XdsHoldings, type XdsLimits } from "../src/xds/index.js";
import { DELTA_REQUEST, rawStream, SOTW_REQUEST, type RawStream } from "../test/support/raw-client.js";
import { start, type Running } from "../test/support/gitmesh-process.js";
import { ADS_DELTA, ADS_SOTW, grpcNode, node, ScriptedClient } from "../test/support/xds-client.js";
import { service } from "./mesh-gen.js";
import type { Memory, ServerCommand, ServerReply } from "./abuse-server.js";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const only = option("only", "names,slow,fds,healthz,loader").split(",");
const rounds = Number(option("rounds", "2"));
// --cli PATH runs the serve scenarios against another build (dist/src/cli/main.js of a checkout
// of main, say), for a before-and-after figure.
const CLI = option("cli", fileURLToPath(new URL("../src/cli/main.js", import.meta.url)));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Measured {
  readonly memory: Memory;
  readonly holdings: XdsHoldings;
}

/** An XdsServer in a child process. */
async function xdsServer(limits: Partial<XdsLimits> = {}) {
  const child = fork(fileURLToPath(new URL("./abuse-server.js", import.meta.url)), [JSON.stringify(limits)], { execArgv: ["--expose-gc"] });
  const replies: ((r: ServerReply) => void)[] = [];
  child.on("message", (r: ServerReply) => replies.shift()?.(r));
  const next = () => new Promise<ServerReply>((resolve) => replies.push(resolve));
  const ready = await next();
  if (ready.t !== "ready") throw new Error("server did not start");
  return {
    port: ready.port,
    async measure(): Promise<Measured> {
      const reply = next();
      child.send({ t: "measure" } satisfies ServerCommand);
      const r = await reply;
      if (r.t !== "measured") throw new Error("unexpected reply");
      return r;
    },
    /** Measures once the attackers' streams and connections are gone (and a second later). */
    async afterLeaving(): Promise<Measured> {
      await this.until((m) => m.holdings.streams === 0 && m.holdings.connections.pending + m.holdings.connections.proxies === 0);
      await sleep(1_000);
      return this.measure();
    },
    /** Measures until check holds (the server has handled what was sent). */
    async until(check: (m: Measured) => boolean, timeoutMs = 120_000): Promise<Measured> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = await this.measure();
        if (check(m) || Date.now() > deadline) return m;
        await sleep(200);
      }
    },
    async stop() {
      child.send({ t: "exit" } satisfies ServerCommand);
      await once(child, "exit");
    },
  };
}

const grew = (a: Memory, b: Memory) => `heap +${(b.heapMB - a.heapMB).toFixed(1)} MB, buffers +${(b.buffersMB - a.buffersMB).toFixed(1)} MB, RSS +${(b.rssMB - a.rssMB).toFixed(1)} MB`;
const junk = (tag: string, count: number, length: number) => Array.from({ length: count }, (_, i) => `${tag}-${i}-`.padEnd(length, "x"));

function closeAll(streams: readonly RawStream[]): Promise<unknown> {
  for (const s of streams) s.session.destroy();
  return Promise.all(streams.map((s) => (s.session.closed ? undefined : once(s.session, "close"))));
}

async function names(): Promise<void> {
  console.log("\n## Names (item 12)");
  {
    const server = await xdsServer();
    const base = await server.measure();
    // One SotW stream naming 20,000 new 100-character names in each of 40 requests; the last
    // request also names a real cluster, so its answer says every request has been handled.
    const s = rawStream({ port: server.port, ca: undefined }, ADS_SOTW, SOTW_REQUEST);
    s.stream.resume();
    for (let r = 0; r < 40; r++) s.send({ ...(r === 0 ? { node: node("sotw-1") } : {}), type_url: EDS.typeUrl, resource_names: junk(`r${r}`, 20_000, 100) });
    s.send({ type_url: EDS.typeUrl, resource_names: [...junk("last", 20_000, 100), `cluster-0-${"x".repeat(1000)}`] });
    await server.until(() => s.responses.length > 0);
    const peak = await server.measure();
    await closeAll([s]);
    const after = await server.afterLeaving();
    console.log(`SotW, 1 stream x 40 requests of 20,000 new names: holds ${peak.holdings.names} names (${peak.holdings.nameChars} chars); ${grew(base.memory, peak.memory)} while open; after it left: ${grew(base.memory, after.memory)}, ${after.holdings.subscriptions} subscriptions, ${after.holdings.views} views`);
    await server.stop();
  }
  for (let round = 1; round <= rounds; round++) {
    // The total lowered to 2,000,000 (the default is 10 M, about 1 GB): 40 streams fill it.
    const server = await xdsServer({ maxNamesTotal: 2_000_000 });
    const base = await server.measure();
    // 40 SotW streams each holding the most a stream may (50,000 names of 40 characters): the
    // server-wide total is then full, and a 41st is refused.
    const streams: RawStream[] = [];
    for (let i = 0; i < 41; i++) {
      const s = rawStream({ port: server.port, ca: undefined }, ADS_SOTW, SOTW_REQUEST);
      s.stream.resume();
      s.send({ node: node(`many-${i}`), type_url: EDS.typeUrl, resource_names: junk(`s${i}`, 49_999, 40) });
      streams.push(s);
      if (i < 40) await server.until((m) => m.holdings.names >= (i + 1) * 49_999);
    }
    const refused = await Promise.race([streams[40]?.trailers.then((t) => `${t.code} ${t.message}`), sleep(60_000).then(() => "not refused")]);
    const peak = await server.measure();
    await closeAll(streams);
    const after = await server.afterLeaving();
    const perStream = (peak.memory.heapMB - base.memory.heapMB) / 40;
    console.log(
      `round ${round}: SotW, 40 streams x 50,000 new names: holds ${peak.holdings.names} names; ${grew(base.memory, peak.memory)} (${perStream.toFixed(1)} MB heap per stream); 41st stream: ${refused}; after they left: ${grew(base.memory, after.memory)}`,
    );
    await server.stop();
  }
  for (let round = 1; round <= rounds; round++) {
    const server = await xdsServer();
    const base = await server.measure();
    // 30 delta streams each subscribing 20,000 new names per request: held until the third
    // request, which passes the per-stream bound (50,000).
    const streams = Array.from({ length: 30 }, (_, i) => {
      const s = rawStream({ port: server.port, ca: undefined }, ADS_DELTA, DELTA_REQUEST);
      s.stream.resume();
      s.send({ node: node(`delta-${i}`), type_url: EDS.typeUrl, resource_names_subscribe: junk(`d${i}a`, 20_000, 60) });
      s.send({ type_url: EDS.typeUrl, resource_names_subscribe: junk(`d${i}b`, 20_000, 60) });
      return s;
    });
    const peak = await server.until((m) => m.holdings.names >= 30 * 40_000);
    for (const [i, s] of streams.entries()) s.send({ type_url: EDS.typeUrl, resource_names_subscribe: junk(`d${i}c`, 20_000, 60) });
    const ends = await Promise.all(streams.map((s) => s.trailers));
    await closeAll(streams);
    const after = await server.afterLeaving();
    const exhausted = ends.filter((e) => e.code === 8).length;
    console.log(
      `round ${round}: delta, 30 streams x 40,000 names: holds ${peak.holdings.names} names; ${grew(base.memory, peak.memory)}; a third request of 20,000 more: ${exhausted}/30 closed with RESOURCE_EXHAUSTED; after: ${grew(base.memory, after.memory)}, ${after.holdings.names} names`,
    );
    await server.stop();
  }
}

async function slow(): Promise<void> {
  console.log("\n## Streams that never read (item 13), default limits");
  for (let round = 1; round <= rounds; round++) {
    const server = await xdsServer();
    const base = await server.measure();
    const started = Date.now();
    // 60 delta streams that never read, each re-subscribing 100 times: 42 MB of responses each,
    // were they all written.
    const streams = Array.from({ length: 60 }, (_, i) => {
      const s = rawStream({ port: server.port, ca: undefined }, ADS_DELTA, DELTA_REQUEST);
      s.send({ node: node(`slow-${i}`), type_url: CDS.typeUrl, resource_names_subscribe: ["*"] });
      for (let r = 0; r < 100; r++) {
        s.send({ type_url: CDS.typeUrl, resource_names_unsubscribe: ["*"] });
        s.send({ type_url: CDS.typeUrl, resource_names_subscribe: ["*"] });
      }
      return s;
    });
    let peak = await server.until((m) => m.holdings.streams === 60 && m.holdings.unreadBytes > 0);
    // The highest the server gets to while they sit there.
    for (let i = 0; i < 10; i++) {
      const m = await server.measure();
      if (m.memory.buffersMB > peak.memory.buffersMB) peak = m;
      await sleep(300);
    }
    const closed = await server.until((m) => m.holdings.streams === 0 && m.holdings.unreadBytes === 0, 120_000);
    const closedAfter = (Date.now() - started) / 1000;
    console.log(
      `round ${round}: 60 streams: peak ${grew(base.memory, peak.memory)} (${((peak.memory.buffersMB - base.memory.buffersMB) / 60).toFixed(1)} MB buffers per stream; unread counted ${(peak.holdings.unreadBytes / 1048576).toFixed(1)} MB); all closed and freed after ${closedAfter.toFixed(1)} s: ${grew(base.memory, closed.memory)} (attackers still connected: ${streams.filter((s) => !s.session.closed).length})`,
    );
    await closeAll(streams);
    const gone = await server.afterLeaving();
    console.log(`         once the attackers are gone too: ${grew(base.memory, gone.memory)}`);
    await server.stop();
  }
}

/** `gitmesh serve ARGS` (of the build --cli names), stopped with SIGTERM. */
function serve(args: readonly string[], prefix: readonly string[] = []): Running & { stop(): Promise<void> } {
  const running = start(["serve", ...args], {}, { prefix, cli: CLI });
  return {
    ...running,
    async stop() {
      running.child.kill("SIGTERM");
      await running.exited;
    },
  };
}

async function fds(): Promise<void> {
  console.log("\n## Descriptor flood (item 14): gitmesh serve under prlimit --nofile=1024:1024");
  const bookinfo = fileURLToPath(new URL("../../config-examples/bookinfo", import.meta.url));
  const contract = grpcNode("healthy");
  for (let round = 1; round <= rounds; round++) {
    const state = mkdtempSync(join(tmpdir(), "gitmesh-xa-bench-"));
    const s = serve(["--config", bookinfo, "--state-dir", state, "--xds-address", "127.0.0.1:0", "--xds-tls-address", "off", "--admin-address", "127.0.0.1:0"], ["prlimit", "--nofile=1024:1024", "--"]);
    const port = Number(/xds=127\.0\.0\.1:(\d+)/.exec(await s.waitFor(/gitmesh serving/))?.[1]);
    const connectOnce = async (): Promise<number> => {
      const t0 = performance.now();
      const client = new ScriptedClient(`127.0.0.1:${port}`, { "grpc.use_local_subchannel_pool": 1 });
      const stream = client.sotw();
      stream.send({ node: contract, type_url: CDS.typeUrl });
      try {
        await stream.next();
        return performance.now() - t0;
      } catch {
        return Number.NaN;
      } finally {
        client.close();
      }
    };
    const quiet = await connectOnce();
    const silent: Socket[] = [];
    let closed = 0;
    const flood0 = Date.now();
    let lastClosedAt = 0;
    for (let i = 0; i < 1_100; i++) {
      const sock = connectTcp(port, "127.0.0.1");
      sock.on("error", () => {});
      sock.on("close", () => {
        closed++;
        lastClosedAt = Date.now();
      });
      sock.resume();
      silent.push(sock);
    }
    await Promise.all(silent.map((sock) => (sock.readyState === "open" ? undefined : once(sock, "connect").catch(() => undefined))));
    const closedBefore = closed;
    const during = await connectOnce();
    while (closed < 1_100 && Date.now() - flood0 < 60_000) await sleep(100);
    console.log(
      `round ${round}: ${s.lines.find((l) => l.includes("xDS listening"))?.replace(/^.*xDS listening /, "") ?? "?"}; a proxy's first response: ${quiet.toFixed(0)} ms alone, ${during.toFixed(0)} ms during the flood of 1,100 silent connections (${closedBefore} closed to make room when it came); all 1,100 closed ${((lastClosedAt - flood0) / 1000).toFixed(1)} s after the flood began`,
    );
    silent.forEach((sock) => sock.destroy());
    await s.stop();
    rmSync(state, { recursive: true, force: true });
  }
}

/** Polls /healthz every 5 ms while work runs; returns the latencies (ms). */
async function healthzDuring(adminPort: number, work: () => Promise<void>): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  let done = false;
  const poll = (async () => {
    while (!done) {
      const t0 = performance.now();
      await new Promise<void>((resolve) => get({ host: "127.0.0.1", port: adminPort, path: "/healthz", agent }, (res) => res.resume().on("end", resolve)).on("error", () => resolve()));
      latencies.push(performance.now() - t0);
      await sleep(5);
    }
  })();
  await work();
  done = true;
  await poll;
  agent.destroy();
  return latencies;
}

const summary = (xs: readonly number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return `${sorted.length} requests, median ${at(0.5).toFixed(1)} ms, p99 ${at(0.99).toFixed(1)} ms, max ${(sorted[sorted.length - 1] ?? NaN).toFixed(1)} ms`;
};

function peakRssMB(pid: number | undefined): string {
  try {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return `${(Number(hwm) / 1024).toFixed(0)} MB`;
  } catch {
    return "?";
  }
}

/**
 * About bytes of typical config (the validate bench's services, from service number from on) in
 * one multi-document file.
 */
function typicalYaml(bytes: number, from = 0): string {
  const docs: string[] = [];
  let size = 0;
  for (let i = from; size < bytes; i++) {
    for (const text of Object.values(service(i))) {
      if (size + text.length + 4 > bytes) return docs.join("---\n");
      docs.push(text);
      size += text.length + 4;
    }
  }
  return docs.join("---\n");
}

/** How long work takes, and the longest the event loop went without running a 1 ms timer meanwhile. */
async function timedWithStall(work: () => Promise<unknown>): Promise<{ ms: number; stallMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 1);
  await sleep(20);
  const t0 = performance.now();
  // Started from a timer, so that a synchronous load blocks the loop the timer runs on.
  await new Promise<void>((resolve, reject) => setTimeout(() => void work().then(() => resolve(), reject), 0));
  const ms = performance.now() - t0;
  await sleep(20);
  clearInterval(timer);
  return { ms, stallMs };
}

async function healthz(): Promise<void> {
  console.log("\n## /healthz while a big file is refused or a large one is loaded (item 16)");
  // 50 MB of ordinary config: about 160,000 resources in one file.
  const bigText = typicalYaml(50 * 1024 * 1024, 100_000);
  for (let round = 1; round <= rounds; round++) {
    const dir = mkdtempSync(join(tmpdir(), "gitmesh-xa-cfg-"));
    const state = mkdtempSync(join(tmpdir(), "gitmesh-xa-state-"));
    writeFileSync(join(dir, "mesh.yaml"), typicalYaml(64 * 1024));
    const s = serve(["--config", dir, "--state-dir", state, "--xds-address", "127.0.0.1:0", "--xds-tls-address", "off", "--admin-address", "127.0.0.1:0"]);
    const started = await s.waitFor(/gitmesh serving/);
    const admin = Number(/admin=127\.0\.0\.1:(\d+)/.exec(started)?.[1]);
    const resources = /resources=(\d+)/.exec(started)?.[1] ?? "?";
    const rssBefore = peakRssMB(s.child.pid);
    let rejectMs = 0;
    const big = await healthzDuring(admin, async () => {
      await sleep(500);
      const t0 = performance.now();
      const reloaded = s.waitFor(/config has errors|config loaded resources=(?!\d{1,4} )/);
      writeFileSync(join(dir, "big.yaml"), bigText);
      await reloaded;
      rejectMs = performance.now() - t0;
      await sleep(500);
    });
    const outcome = s.lines.some((l) => l.includes("GM0005")) ? "refused" : "loaded (not refused)";
    console.log(`round ${round}: 50 MB file ${outcome} ${rejectMs.toFixed(0)} ms after it was written (the reload waits 300 ms for the tree to settle); /healthz meanwhile: ${summary(big)}; peak RSS ${rssBefore} before, ${peakRssMB(s.child.pid)} after`);
    const back = s.waitFor(new RegExp(`config loaded resources=${resources} `), s.lines.length);
    rmSync(join(dir, "big.yaml"));
    await back;
    const large = await healthzDuring(admin, async () => {
      await sleep(500);
      const loaded = s.waitFor(/config loaded resources=\d{4,} /);
      writeFileSync(join(dir, "large.yaml"), typicalYaml(1024 * 1024 - 1024, 10_000));
      await loaded;
      await sleep(500);
    });
    const count = /config loaded resources=(\d+)/.exec(s.lines.filter((l) => l.includes("config loaded")).at(-1) ?? "")?.[1];
    console.log(`round ${round}: a valid 1 MiB file loaded by serve (${count} resources in all): /healthz ${summary(large)}`);
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  }
}

/**
 * The loader's own stall, in process: load (what serve's reloader calls today) against loadAsync
 * (parsing in slices of 10 ms), on the same 1 MiB file.
 */
async function loader(): Promise<void> {
  console.log("\n## The loader's longest stall of the event loop on a 1 MiB file (item 16)");
  const file = { path: "large.yaml", text: typicalYaml(1024 * 1024 - 1024) };
  for (let round = 1; round <= rounds; round++) {
    for (const [what, run] of [
      ["load", () => Promise.resolve(createMeshLoader().load([file]))],
      ["loadAsync", () => createMeshLoader().loadAsync([file])],
    ] as const) {
      const { ms, stallMs } = await timedWithStall(run);
      console.log(`round ${round}: ${what} of a 1 MiB file: ${ms.toFixed(0)} ms; longest event-loop stall ${stallMs.toFixed(0)} ms`);
    }
  }
}

if (only.includes("names")) await names();
if (only.includes("slow")) await slow();
if (only.includes("fds")) await fds();
if (only.includes("healthz")) await healthz();
if (only.includes("loader")) await loader();
process.exit(0);
