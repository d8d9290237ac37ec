// Issue 9, item 13: clients that do not read their responses. What the server holds for one
// (unread bytes) is bounded, a stream that takes nothing is closed, the total across streams is
// bounded, and the memory goes when they do. Raw HTTP/2 clients whose reading the test controls,
// over real gRPC on loopback, on the plaintext port and a TLS port.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { decodeMessage } from "../../src/envoy/index.js";
import { createLogger } from "../../src/log.js";
import { CDS, resource } from "../../src/xds/index.js";
import { waitFor } from "../support/wait.js";
import { ENDPOINTS, serveOn, type Target } from "../support/endpoints.js";
import { snapshot } from "../support/fixtures.js";
import { DELTA_REQUEST, rawStream, type RawStream } from "../support/raw-client.js";
import { ADS_DELTA, node } from "../support/xds-client.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Buffer memory of the process (where response bytes live) after full collections. */
function buffersAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().arrayBuffers;
}

const MiB = 1024 * 1024;

/** Clusters of about 1 KB each: the full set is about 220 KB, a response worth holding back. */
function bigClusters(count: number, version = 1) {
  return Array.from({ length: count }, (_, i) =>
    resource("envoy.config.cluster.v3.Cluster", `cluster-${i}-${"x".repeat(1000)}`, {
      name: `cluster-${i}-${"x".repeat(1000)}`,
      type: "STATIC",
      connect_timeout: { seconds: version },
    }),
  );
}

/**
 * A client that never reads: it subscribes to every cluster, then re-subscribes again and again.
 * Delta honours every subscription change, so each one asks the server for the full set anew.
 */
function nonReader(target: Target, id: string, rounds: number): RawStream {
  const s = rawStream(target, ADS_DELTA, DELTA_REQUEST);
  s.send({ node: node(id), type_url: CDS.typeUrl, resource_names_subscribe: ["*"] });
  for (let i = 0; i < rounds; i++) {
    s.send({ type_url: CDS.typeUrl, resource_names_unsubscribe: ["*"] });
    s.send({ type_url: CDS.typeUrl, resource_names_subscribe: ["*"] });
  }
  // Last, a type the server does not serve: its log line says every request before was handled.
  s.send({ type_url: LAST });
  return s;
}

const LAST = "type.googleapis.com/test.Last";


for (const endpoint of ENDPOINTS) {
  test(`${endpoint}: 10 streams that never read hold at most their bound each, are closed, and leave nothing behind`, async (t) => {
    const lines: string[] = [];
    // The defaults, but a stall of 1 s and a grace of 0.5 s, so the test does not wait 32 s.
    const target = await serveOn(t, endpoint, { logger: createLogger({ write: (l) => lines.push(l) }), limits: { unreadStallMs: 1_000, unreadGraceMs: 500 } });
    const push = snapshot(...bigClusters(200));
    const before = buffersAfterGc();
    const attackers: RawStream[] = [];
    for (let i = 0; i < 10; i++) {
      target.cache.set(`slow-${i}`, push);
      // 40 re-subscriptions: 17 MB of responses each, were they all written.
      attackers.push(nonReader(target, `slow-${i}`, 40));
    }
    t.after(() => attackers.forEach((a) => a.session.destroy()));
    await waitFor(() => lines.filter((l) => l.includes(LAST)).length === 10);
    const peakMB = (buffersAfterGc() - before) / MiB;
    // Each holds its bound and at most one response (420 KB) more; all it asked for is 17 MB.
    const bound = target.server.limits.maxUnreadBytesPerStream;
    assert.ok(peakMB < 10 * (bound / MiB + 0.5) + 10, `buffers grew ${peakMB.toFixed(0)} MB for 10 streams that do not read`);
    assert.ok(target.server.holdings.unreadBytes <= 10 * (bound + 430_000), `unread ${target.server.holdings.unreadBytes}`);

    // Nothing taken for unreadStallMs: closed; their connections are cut after the grace, and
    // the bytes stop counting once gRPC reports the calls over.
    await waitFor(() => target.server.status.counters.streamsClosed === 10 && target.server.holdings.unreadBytes === 0);
    const afterMB = (buffersAfterGc() - before) / MiB;
    assert.ok(afterMB < 5, `buffers still ${afterMB.toFixed(1)} MB above the start after the server closed them`);
    t.diagnostic(`buffers: ${peakMB.toFixed(1)} MB for 10 non-reading streams, ${afterMB.toFixed(1)} MB after they were closed`);
  });
}

test("when all streams together hold more than the total, the stalled ones holding most are closed and a reading stream is not", async (t) => {
  const lines: string[] = [];
  const target = await serveOn(t, "plaintext", {
    logger: createLogger({ write: (line) => lines.push(line) }),
    limits: { maxUnreadBytesPerStream: 1 * MiB, maxUnreadBytesTotal: 3 * MiB, unreadStallMs: 600_000, unreadGraceMs: 300 },
  });
  const push = snapshot(...bigClusters(200));
  target.cache.set("reader", push);
  const reader = rawStream(target, ADS_DELTA, DELTA_REQUEST);
  reader.stream.resume();
  reader.send({ node: node("reader"), type_url: CDS.typeUrl, resource_names_subscribe: ["*"] });
  const attackers: RawStream[] = [];
  for (let i = 0; i < 6; i++) {
    target.cache.set(`slow-${i}`, push);
    attackers.push(nonReader(target, `slow-${i}`, 20));
  }
  t.after(() => [reader, ...attackers].forEach((a) => a.session.destroy()));
  await waitFor(() => target.server.holdings.unreadBytes > 3 * MiB);
  // The sweep closes the stalled streams holding most until the rest fit; the grace then cuts them.
  await waitFor(() => target.server.status.counters.streamsClosed >= 1 && target.server.holdings.unreadBytes <= 3 * MiB);
  const closed = target.server.status.counters.streamsClosed;
  assert.ok(closed >= 3 && closed <= 5, `${closed} of 6 non-reading streams closed to bring 6 x ~1.2 MiB under 3 MiB`);
  const said = lines.filter((l) => l.includes("the proxy is not reading its responses"));
  assert.equal(said.length, closed);
  for (const line of said) assert.match(line, /why="all streams together hold \d+ unread bytes; at most 3145728"/);
  // The reader was never touched, and is still served.
  target.cache.set("reader", snapshot(...bigClusters(200, 2)));
  await waitFor(() => reader.responses.length === 2);
  assert.equal((reader.responses[1]?.["resources"] as unknown[]).length, 200);
});

test("a proxy that reads slowly is never cut off: while it is behind its responses are held, then it gets the latest state once", async (t) => {
  const target = await serveOn(t, "plaintext", { limits: { maxUnreadBytesPerStream: 512 * 1024 } });
  target.cache.set("slow", snapshot(...bigClusters(200, 1)));
  const s = rawStream(target, ADS_DELTA, DELTA_REQUEST);
  t.after(() => s.session.destroy());
  s.send({ node: node("slow"), type_url: CDS.typeUrl, resource_names_subscribe: ["*"] });
  await waitFor(() => target.server.holdings.unreadBytes > 0);
  const onePush = target.server.holdings.unreadBytes;
  // Ten pushes while it is not reading: past its bound, they are owed, not queued.
  for (let v = 2; v <= 11; v++) target.cache.set("slow", snapshot(...bigClusters(200, v)));
  const held = target.server.holdings.unreadBytes;
  assert.ok(held <= 512 * 1024 + onePush, `held ${held} bytes for a proxy that is behind (bound 512 KiB, one push ${onePush})`);
  s.stream.resume();
  // It reads: what was held goes out, then the latest state in one response.
  await waitFor(() => target.server.holdings.unreadBytes === 0 && s.responses.length > 0 && lastTimeout(s) === "11s");
  assert.ok(s.responses.length < 11, `${s.responses.length} responses for 11 versions: the ones it could not take were skipped`);
  assert.equal(target.server.status.counters.streamsClosed, 0);
});

/** The connect timeout of the first cluster in the latest response: the version it was pushed as. */
function lastTimeout(s: RawStream): string | undefined {
  const last = s.responses[s.responses.length - 1];
  const first = (last?.["resources"] as { resource: { value: Buffer } }[] | undefined)?.[0];
  if (first === undefined) return undefined;
  const cluster = decodeMessage("envoy.config.cluster.v3.Cluster", first.resource.value) as { connect_timeout?: { seconds?: string } };
  return `${cluster.connect_timeout?.seconds ?? "?"}s`;
}
