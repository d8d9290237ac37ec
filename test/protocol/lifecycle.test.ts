// Streams come and go by the thousand; nothing of a closed stream may stay behind.
import assert from "node:assert/strict";
import { once } from "node:events";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { status } from "@grpc/grpc-js";
import { CDS } from "../../src/xds/index.js";
import { edsCluster, endpoints, snapshot } from "../support/fixtures.js";
import { heapAfterGc } from "../support/gc.js";
import { nextOf, startServer, type Harness } from "../support/harness.js";
import { node, ScriptedClient } from "../support/xds-client.js";

/**
 * One proxy's whole life: open a stream, take the snapshot, go away. Proxies leave both ways: a
 * clean half-close, or a cancel (RST_STREAM) as when a process dies.
 */
async function proxyLife(client: ScriptedClient, id: string, cancel: boolean): Promise<void> {
  const s = client.sotw();
  s.send({ node: node(id), type_url: CDS.typeUrl });
  await nextOf(s, CDS.typeUrl);
  if (cancel) s.cancel();
  else s.end();
  await s.ended();
}

/**
 * Runs count proxy lives, 100 at a time. Each worker renews its connection every 50 lives, as a
 * fleet's restarts do (and so no connection sees thousands of resets, which Node's HTTP/2
 * rapid-reset protection would rightly end).
 */
async function cycles(h: Harness, count: number, offset: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      // Not h.client(): the harness keeps its clients until the test ends, which would count
      // the test's own closed channels as heap growth.
      const connect = () => new ScriptedClient(h.address, { "grpc.use_local_subchannel_pool": 1 });
      let client = connect();
      for (let lives = 1; next < count; lives++) {
        const i = offset + next++;
        await proxyLife(client, `proxy-${i % 500}`, i % 5 === 0);
        if (lives % 50 === 0) {
          client.close();
          client = connect();
        }
      }
      client.close();
    }),
  );
}

/** Resolves once the server has released every stream it opened. */
async function drained(h: Harness): Promise<void> {
  const { counters } = h.server.status;
  while (h.server.streamCount > 0 || counters.streamsClosed < counters.streamsOpened) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test("10,000 proxy connect/disconnect cycles leave no per-stream state and a flat heap", async (t) => {
  const h = await startServer(t);
  const snap = snapshot(edsCluster("a"), endpoints("a", "10.0.0.1:80"));
  for (let i = 0; i < 500; i++) h.cache.set(`proxy-${i}`, snap);

  await cycles(h, 1_000, 0); // warm up: JIT, pools, gRPC internals
  await drained(h);
  const before = heapAfterGc();
  await cycles(h, 10_000, 1_000);
  await drained(h);
  const after = heapAfterGc();

  assert.equal(h.server.streamCount, 0);
  assert.equal(h.server.status.list().length, 0, "no status entries for closed streams");
  assert.equal(h.cache.watchedProxies(), 0, "no snapshot watches for closed streams");
  assert.equal(h.server.status.counters.streamsOpened, 11_000);
  const growthKB = (after - before) / 1024;
  // A leaked stream holds at least its session, watch and status (several KB): 10,000 of them
  // would be tens of MB. 4 MB leaves room for allocator noise.
  assert.ok(growthKB < 4096, `heap grew ${growthKB.toFixed(0)} KB over 10,000 cycles`);
  t.diagnostic(`heap growth over 10,000 cycles: ${growthKB.toFixed(0)} KB`);
});

const cli = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`gitmesh serve stops on ${signal}: streams end with UNAVAILABLE and the exit code is 0`, async (t) => {
    const stateDir = mkdtempSync(join(tmpdir(), "gitmesh-lifecycle-"));
    const child = spawn(process.execPath, [cli, "serve", "--xds-address", "127.0.0.1:0", "--xds-tls-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0", "--state-dir", stateDir, "--log-level", "debug"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    t.after(() => child.kill("SIGKILL")); // a no-op when the test got as far as stopping it
    // A test that times out may not reach its after hooks: never leave a server running.
    process.once("exit", () => child.kill("SIGKILL"));
    const lines = createInterface({ input: child.stderr });
    const log: string[] = [];
    const waitFor = (pattern: RegExp) =>
      new Promise<string>((resolve, reject) => {
        const onLine = (line: string) => {
          log.push(line);
          if (pattern.test(line)) {
            lines.off("line", onLine);
            resolve(line);
          }
        };
        lines.on("line", onLine);
        child.once("exit", () => reject(new Error(`exited before ${pattern}: ${log.join("\n")}`)));
      });
    const started = await waitFor(/gitmesh serving/);
    const port = /xds=127\.0\.0\.1:(\d+)/.exec(started)?.[1];
    assert.ok(port, started);

    const client = new ScriptedClient(`127.0.0.1:${port}`);
    const stream = client.sotw();
    const identified = waitFor(/xDS stream identified/);
    // A node that satisfies the proxy contract (docs/proxies.md): serve refuses any other. A
    // proxyless client, as the plaintext port serves no Envoy proxy.
    const metadata = { fields: { NAMESPACE: { stringValue: "default" }, SERVICE_ACCOUNT: { stringValue: "test" }, PROXY_KIND: { stringValue: "grpc" } } };
    stream.send({ node: { ...node("p"), metadata }, type_url: CDS.typeUrl });
    await identified;

    const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
    const stopped = waitFor(/gitmesh stopped closedStreams=1/);
    child.kill(signal);
    const end = await stream.ended();
    assert.equal(end.code, status.UNAVAILABLE);
    assert.match(end.details, /shutting down/);
    await stopped;
    const [code] = await exited;
    assert.equal(code, 0);
    client.close();
  });
}
