// Issue 9, item 12: a client that names ever more resources. What one stream and all streams make
// the server hold is bounded, the offending stream gets RESOURCE_EXHAUSTED, nothing else is
// affected, and everything goes when the stream does. Scripted clients over real gRPC, on the
// plaintext port and on a TLS port.
import assert from "node:assert/strict";
import { test } from "node:test";
import { status } from "@grpc/grpc-js";
import { CDS, EDS } from "../../src/xds/index.js";
import { waitFor } from "../support/wait.js";
import { ENDPOINTS, serveOn } from "../support/endpoints.js";
import { edsCluster, endpoints, snapshot } from "../support/fixtures.js";
import { heapAfterGc } from "../support/gc.js";
import { nextOf } from "../support/harness.js";
import { node, type DeltaStream, type SotwStream } from "../support/xds-client.js";

const CLUSTERS = Array.from({ length: 50 }, (_, i) => `cluster-${i}`);
const MESH = snapshot(...CLUSTERS.map((c) => edsCluster(c)), ...CLUSTERS.map((c) => endpoints(c, "10.0.0.1:80")));

/** count names no mesh has, of about 100 characters each, unique to the round. */
const junk = (round: number, count: number) => Array.from({ length: count }, (_, i) => `round-${round}-name-${i}-${"x".repeat(80)}`);

/** The stream's final status, or the response that came instead (a server that did not refuse). */
async function endOrNext(s: SotwStream | DeltaStream): Promise<string> {
  const next = await s.next().then(
    (r) => `a ${r.type_url} response`,
    () => undefined,
  );
  if (next !== undefined) return next;
  const end = await s.ended();
  return `ended ${status[end.code]}: ${end.details}`;
}

for (const endpoint of ENDPOINTS) {
  test(`${endpoint}: a SotW stream naming 20,000 new names in every request holds one request's names, and nothing once it leaves`, async (t) => {
    const target = await serveOn(t, endpoint);
    target.cache.set("attacker", MESH);
    // Warm up: JIT, gRPC's per-connection objects, the first views.
    const warm = target.client().sotw();
    warm.send({ node: node("warm"), type_url: CDS.typeUrl });
    target.cache.set("warm", MESH);
    await nextOf(warm, CDS.typeUrl);
    const before = heapAfterGc();

    const s = target.client().sotw();
    let nonce = "";
    for (let round = 0; round < 40; round++) {
      // One real name in each list so that every request gets an answer (and its nonce).
      s.send({ node: node("attacker"), type_url: EDS.typeUrl, resource_names: [CLUSTERS[round % 50] ?? "", ...junk(round, 20_000)], response_nonce: nonce });
      nonce = (await nextOf(s, EDS.typeUrl)).nonce;
    }
    const during = target.server.holdings;
    s.cancel();
    await s.ended();
    await waitFor(() => target.server.streamCount === 1);
    const grewMB = (heapAfterGc() - before) / 1024 / 1024;
    // 40 requests of 2 MB of names: a server that kept them would have grown by tens of MB.
    assert.ok(grewMB < 8, `heap grew ${grewMB.toFixed(1)} MB after the stream left`);
    assert.equal(during.names, 20_001, "while open, the stream holds its latest request's names only");
    const after = target.server.holdings;
    assert.equal(after.names, 0, "no names left (the warm-up stream subscribes to everything)");
    assert.equal(after.subscriptions, 0, "no subscription outlives its last stream");
    assert.equal(after.views, 0, "no view outlives its last stream");
    t.diagnostic(`heap growth after 40 x 20,000 names and close: ${grewMB.toFixed(1)} MB`);
  });

  test(`${endpoint}: a delta stream subscribing new names in each request is closed with RESOURCE_EXHAUSTED past 50,000, and no other stream notices`, async (t) => {
    const target = await serveOn(t, endpoint);
    target.cache.set("attacker", MESH);
    target.cache.set("healthy", MESH);
    const healthy = target.client().delta();
    healthy.send({ node: node("healthy"), type_url: CDS.typeUrl, resource_names_subscribe: ["*"] });
    const first = await nextOf(healthy, CDS.typeUrl);

    const s = target.client().delta();
    s.send({ node: node("attacker"), type_url: EDS.typeUrl, resource_names_subscribe: junk(0, 20_000) });
    s.send({ type_url: EDS.typeUrl, resource_names_subscribe: junk(1, 20_000) });
    s.send({ type_url: EDS.typeUrl, resource_names_subscribe: [...junk(2, 20_000), "cluster-1"] });
    assert.match(await endOrNext(s), /^ended RESOURCE_EXHAUSTED: the stream would hold 60001 resource names; at most 50000 per stream/);
    await waitFor(() => target.server.holdings.names === 0 || target.server.streamCount === 1);

    healthy.send({ type_url: CDS.typeUrl, response_nonce: first.nonce });
    target.cache.set("healthy", snapshot(...CLUSTERS.slice(1).map((c) => edsCluster(c)), ...CLUSTERS.slice(1).map((c) => endpoints(c, "10.0.0.1:80"))));
    const next = await nextOf(healthy, CDS.typeUrl);
    assert.deepEqual(next.removed_resources, ["cluster-0"], "the healthy stream is served as before");
  });
}

test("many streams each under their own bound: the stream that passes the server's total gets RESOURCE_EXHAUSTED", async (t) => {
  const target = await serveOn(t, "plaintext", { limits: { maxNamesPerStream: 10_000, maxNamesTotal: 25_000 } });
  const streams: DeltaStream[] = [];
  for (let i = 0; i < 3; i++) {
    target.cache.set(`p${i}`, MESH);
    const s = target.client().delta();
    s.send({ node: node(`p${i}`), type_url: EDS.typeUrl, resource_names_subscribe: [...junk(i, 9_000), "cluster-0"] });
    streams.push(s);
  }
  const [a, b, c] = streams as [DeltaStream, DeltaStream, DeltaStream];
  await nextOf(a, EDS.typeUrl);
  await nextOf(b, EDS.typeUrl);
  assert.match(await endOrNext(c), /^ended RESOURCE_EXHAUSTED: the server holds 18002 resource names for all streams; 9001 more would pass its bound of 25000/);
  assert.equal(target.server.holdings.names, 18_002);
  // The two within the total are untouched.
  target.cache.set("p0", snapshot(edsCluster("cluster-0"), endpoints("cluster-0", "10.0.0.2:80")));
  assert.equal((await nextOf(a, EDS.typeUrl)).resources[0]?.name, "cluster-0");
});

test("a stream whose names pass its own character bound is refused, and gives back what it held", async (t) => {
  const target = await serveOn(t, "plaintext", { limits: { maxNameCharsPerStream: 100_000 } });
  target.cache.set("p", MESH);
  const s = target.client().sotw();
  s.send({ node: node("p"), type_url: EDS.typeUrl, resource_names: ["cluster-0", ...junk(0, 500)] });
  const res = await nextOf(s, EDS.typeUrl);
  const held = target.server.holdings;
  assert.ok(held.nameChars > 40_000 && held.nameChars < 100_000, `holds ${held.nameChars} characters`);
  s.send({ type_url: EDS.typeUrl, resource_names: ["cluster-0", ...junk(1, 1_100)], response_nonce: res.nonce });
  assert.match(await endOrNext(s), /^ended RESOURCE_EXHAUSTED: the stream would hold \d+ characters of names and node; at most 100000 per stream/);
  await waitFor(() => target.server.streamCount === 0);
  const { streams, names, nameChars, subscriptions, views } = target.server.holdings;
  assert.deepEqual({ streams, names, nameChars, subscriptions, views }, { streams: 0, names: 0, nameChars: 0, subscriptions: 0, views: 0 });
});

