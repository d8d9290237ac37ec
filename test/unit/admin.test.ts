// The admin HTTP server over a real port, reading a real XdsServer that a scripted client talks to.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test, type TestContext } from "node:test";
import { createMetrics, parseAddress, startAdminServer, syncState, type Metrics, type Readiness, type XdsView } from "../../src/admin/index.js";
import { CDS, SDS, XdsStatus } from "../../src/xds/index.js";
import { edsCluster, endpoints, secret, snapshot } from "../support/fixtures.js";
import { ack, barrier, barrierSecrets, nack, nextOf, startServer, type Harness } from "../support/harness.js";
import { node } from "../support/xds-client.js";

interface Admin {
  readonly h: Harness;
  readonly metrics: Metrics;
  readonly url: string;
  ready: Readiness;
  config: unknown;
}

async function startAdmin(t: TestContext): Promise<Admin> {
  const h = await startServer(t);
  const metrics = createMetrics(h.server.status);
  const state: Admin = { h, metrics, url: "", ready: { ready: false, reasons: ["no valid config loaded", "xDS not listening"] }, config: null };
  const admin = await startAdminServer({
    address: "127.0.0.1:0",
    status: h.server.status,
    registry: metrics.registry,
    readiness: () => state.ready,
    config: () => state.config,
  });
  t.after(() => admin.close());
  assert.match(admin.address, /^127\.0\.0\.1:\d+$/);
  assert.notEqual(admin.port, 0);
  return Object.assign(state, { url: `http://${admin.address}` });
}

async function get(url: string, init: RequestInit = {}): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(url, init);
  return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
}

async function xds(a: Admin): Promise<XdsView> {
  const r = await get(`${a.url}/debug/xds`);
  assert.equal(r.status, 200);
  assert.match(r.type ?? "", /^application\/json/);
  return JSON.parse(r.body) as XdsView;
}

/** The value of an unlabelled series, or of one with exactly these labels. */
function sample(text: string, name: string, labels = ""): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

test("/debug/xds shows a type SYNCED once the proxy ACKs it and NACKED when it rejects the next version", async (t) => {
  const a = await startAdmin(t);
  assert.deepEqual(a.h.cache.set("p", snapshot(edsCluster("a"), endpoints("a", "10.0.0.1:80"), ...barrierSecrets)), { ok: true });
  const s = a.h.client().sotw();

  assert.deepEqual(await xds(a), { streams: [], recentNacks: [] });

  s.send({ node: node("p"), type_url: CDS.typeUrl });
  const v1 = await nextOf(s, CDS.typeUrl);
  let view = await xds(a);
  assert.equal(view.streams.length, 1);
  assert.equal(view.streams[0]?.types["CDS"]?.sync, "STALE", "sent, not answered yet");

  ack(s, v1);
  await barrier(s, "after ACK");
  view = await xds(a);
  const stream = view.streams[0];
  assert.ok(stream);
  assert.equal(stream.proxy, "p");
  assert.equal(stream.nodeId, "p");
  assert.equal(stream.protocol, "sotw");
  assert.equal(stream.method, "AggregatedDiscoveryService/StreamAggregatedResources");
  assert.ok(stream.peer.length > 0);
  assert.equal(new Date(stream.connectedAt).toISOString(), stream.connectedAt);
  assert.deepEqual(Object.keys(stream.types), ["CDS", "SDS"], "short names, in ADS order");
  const cds = stream.types["CDS"];
  assert.ok(cds);
  assert.equal(cds.typeUrl, CDS.typeUrl);
  assert.equal(cds.sync, "SYNCED");
  assert.equal(cds.sentVersion, v1.version_info);
  assert.equal(cds.ackedVersion, v1.version_info);
  assert.equal(cds.lastNack, null);

  assert.deepEqual(a.h.cache.set("p", snapshot(edsCluster("a", { lbPolicy: "MAGLEV" }), endpoints("a", "10.0.0.1:80"), ...barrierSecrets)), { ok: true });
  const v2 = await nextOf(s, CDS.typeUrl);
  nack(s, v2, v1.version_info, "unsupported lb_policy MAGLEV");
  await barrier(s, "after NACK");
  view = await xds(a);
  const rejected = view.streams[0]?.types["CDS"];
  assert.ok(rejected);
  assert.equal(rejected.sync, "NACKED");
  assert.equal(rejected.sentVersion, v2.version_info);
  assert.equal(rejected.ackedVersion, v1.version_info, "the proxy keeps the version it accepted");
  assert.equal(rejected.lastNack?.version, v2.version_info);
  assert.equal(rejected.lastNack?.message, "unsupported lb_policy MAGLEV");
  assert.equal(view.recentNacks.length, 1);
  assert.equal(view.recentNacks[0]?.proxy, "p");
  assert.equal(view.recentNacks[0]?.type, "CDS");
  assert.equal(view.recentNacks[0]?.code, 3);
  assert.equal(view.recentNacks[0]?.version, v2.version_info);

  // Fixed content: sent, then accepted, so the old NACK no longer marks the type.
  assert.deepEqual(a.h.cache.set("p", snapshot(edsCluster("a", { connectTimeoutSeconds: 3 }), endpoints("a", "10.0.0.1:80"), ...barrierSecrets)), { ok: true });
  const v3 = await nextOf(s, CDS.typeUrl);
  assert.equal((await xds(a)).streams[0]?.types["CDS"]?.sync, "STALE");
  ack(s, v3);
  await barrier(s, "after the fix is ACKed");
  assert.equal((await xds(a)).streams[0]?.types["CDS"]?.sync, "SYNCED");

  s.cancel();
  await s.ended();
  for (let i = 0; i < 100 && a.h.server.status.list().length > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual((await xds(a)).streams, [], "a closed stream leaves the view");
});

test("sync state: an old NACK of the same version does not mark content sent again", () => {
  const lastNack = { proxy: "p", streamId: 1, type: "CDS", typeUrl: CDS.typeUrl, version: "v1", nonce: "1", code: 3, message: "no", at: 0 } as const;
  assert.equal(syncState({}), "NOT SENT");
  assert.equal(syncState({ ackedVersion: "v0" }), "NOT SENT");
  assert.equal(syncState({ sentVersion: "v1", sentNonce: "1", lastNack }), "NACKED");
  assert.equal(syncState({ sentVersion: "v1", sentNonce: "2", lastNack }), "STALE");
  assert.equal(syncState({ sentVersion: "v1", sentNonce: "2", ackedVersion: "v1", lastNack }), "SYNCED");
  assert.equal(syncState({ sentVersion: "v2", sentNonce: "2", ackedVersion: "v1", lastNack }), "STALE");
});

test("/healthz is ok; /readyz is 503 with the reasons until the callback says ready", async (t) => {
  const a = await startAdmin(t);
  assert.deepEqual(await get(`${a.url}/healthz`), { status: 200, type: "text/plain; charset=utf-8", body: "ok" });
  assert.deepEqual(await get(`${a.url}/readyz`), { status: 503, type: "text/plain; charset=utf-8", body: "no valid config loaded\nxDS not listening" });
  a.ready = { ready: true };
  assert.deepEqual(await get(`${a.url}/readyz`), { status: 200, type: "text/plain; charset=utf-8", body: "ok" });
  a.ready = { ready: false, reasons: [] };
  assert.deepEqual(await get(`${a.url}/readyz`), { status: 503, type: "text/plain; charset=utf-8", body: "not ready" });
});

test("/debug/config serialises what the provider gives, pretty-printed", async (t) => {
  const a = await startAdmin(t);
  a.config = { source: { commit: "abc123", dirty: false }, loadedAt: "2024-01-01T00:00:00.000Z", diagnostics: [], resources: { clusters: 2 } };
  const r = await get(`${a.url}/debug/config`);
  assert.equal(r.status, 200);
  assert.equal(r.type, "application/json; charset=utf-8");
  assert.equal(r.body, `${JSON.stringify(a.config, null, 2)}\n`);
  a.config = { n: 1n }; // JSON cannot hold it
  assert.equal((await get(`${a.url}/debug/config`)).status, 500);
});

test("/metrics: reload counters, config info, diagnostics, xDS totals and connected streams", async (t) => {
  const a = await startAdmin(t);
  assert.deepEqual(a.h.cache.set("p", snapshot(secret("s1"))), { ok: true });
  const s = a.h.client().sotw();
  s.send({ node: node("p"), type_url: SDS.typeUrl, resource_names: ["s1"] });
  const res = await nextOf(s, SDS.typeUrl);
  ack(s, res, ["s1"]);
  a.metrics.configReloaded("ok", { warning: 2 }, { commit: "abc123", dirty: true });
  a.metrics.configReloaded("invalid", { error: 1, warning: 3 }, { commit: "def456", dirty: false });
  a.metrics.nacked("CDS");
  // The ACK is handled when the server reads it: wait until the status has it.
  for (let i = 0; i < 100 && a.h.server.status.counters.acks === 0; i++) await new Promise((r) => setTimeout(r, 10));

  const r = await get(`${a.url}/metrics`);
  assert.equal(r.status, 200);
  assert.equal(r.type, a.metrics.registry.contentType);
  const m = r.body;
  assert.equal(sample(m, "gitmesh_config_reloads_total", '{outcome="ok"}'), 1);
  assert.equal(sample(m, "gitmesh_config_reloads_total", '{outcome="invalid"}'), 1);
  assert.equal(sample(m, "gitmesh_config_reloads_total", '{outcome="error"}'), 0);
  assert.equal(sample(m, "gitmesh_config_diagnostics", '{severity="error"}'), 1, "of the last reload");
  assert.equal(sample(m, "gitmesh_config_diagnostics", '{severity="warning"}'), 3);
  assert.equal(sample(m, "gitmesh_config_info", '{commit="abc123",dirty="true"}'), 1, "the served config is the last good one");
  assert.ok(!m.includes('commit="def456"'));
  assert.ok((sample(m, "gitmesh_config_last_reload_timestamp_seconds") ?? 0) > 1e9);
  assert.ok((sample(m, "gitmesh_config_last_reload_success_timestamp_seconds") ?? 0) > 1e9);
  assert.equal(sample(m, "gitmesh_xds_connected_streams"), 1);
  assert.equal(sample(m, "gitmesh_xds_responses_total"), 1);
  assert.equal(sample(m, "gitmesh_xds_acks_total"), 1);
  assert.equal(sample(m, "gitmesh_xds_nacks_total"), 0);
  assert.equal(sample(m, "gitmesh_xds_nacks_by_type_total", '{type="CDS"}'), 1);
  assert.equal(sample(m, "gitmesh_xds_nacks_by_type_total", '{type="EDS"}'), 0);
  assert.match(m, /^# TYPE gitmesh_xds_acks_total counter$/m);
  assert.match(m, /^process_cpu_user_seconds_total /m, "process metrics on the same registry");

  // A new good reload replaces the info series rather than adding one.
  a.metrics.configReloaded("ok", {}, {});
  const m2 = (await get(`${a.url}/metrics`)).body;
  assert.equal(sample(m2, "gitmesh_config_info", '{commit="",dirty=""}'), 1);
  assert.ok(!m2.includes('commit="abc123"'));
  assert.equal(sample(m2, "gitmesh_config_diagnostics", '{severity="error"}'), 0);
});

test("two metric sets in one process do not collide", () => {
  // prom-client throws on a second metric of the same name in one registry, global included.
  const a = createMetrics(new XdsStatus());
  const b = createMetrics(new XdsStatus());
  assert.notEqual(a.registry, b.registry);
  a.configReloaded("ok", {}, {});
});

test("unknown paths are 404, other methods 405 with Allow: GET", async (t) => {
  const a = await startAdmin(t);
  const missing = await get(`${a.url}/nope`);
  assert.equal(missing.status, 404);
  assert.match(missing.body, /^not found: \/nope/);
  assert.equal((await get(`${a.url}/healthz/`)).status, 404);
  assert.equal((await get(`${a.url}/healthz?verbose=1`)).status, 200, "a query string does not change the route");
  const post = await fetch(`${a.url}/healthz`, { method: "POST", body: "x" });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET");
  await post.text();
  assert.equal((await get(`${a.url}/metrics`, { method: "DELETE" })).status, 405);
});

test("a bind failure names the address and the cause; close() is prompt with keep-alive clients", async (t) => {
  const h = await startServer(t);
  const metrics = createMetrics(h.server.status);
  const options = { status: h.server.status, registry: metrics.registry, readiness: () => ({ ready: true }) as const, config: () => null };
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const port = (taken.address() as { port: number }).port;
  await assert.rejects(startAdminServer({ ...options, address: `127.0.0.1:${port}` }), {
    message: `admin server cannot listen on 127.0.0.1:${port}: the address is already in use (another gitmesh, or another program, is listening there)`,
  });
  await assert.rejects(startAdminServer({ ...options, address: "localhost" }), /not host:port/);

  const admin = await startAdminServer({ ...options, address: "127.0.0.1:0" });
  // fetch keeps its connection open for reuse; close() must not wait for it to time out.
  const alive = await fetch(`http://${admin.address}/healthz`);
  assert.equal(alive.status, 200);
  await alive.text();
  const started = Date.now();
  await admin.close();
  await admin.close();
  assert.ok(Date.now() - started < 1_000, `close took ${Date.now() - started} ms`);
  await assert.rejects(fetch(`http://${admin.address}/healthz`));
});

test("addresses: host:port and [v6]:port", () => {
  assert.deepEqual(parseAddress("127.0.0.1:15014"), { host: "127.0.0.1", port: 15014 });
  assert.deepEqual(parseAddress("[::1]:0"), { host: "::1", port: 0 });
  assert.deepEqual(parseAddress(":15014"), { host: "", port: 15014 });
  assert.throws(() => parseAddress("127.0.0.1:70000"), /port from 0 to 65535/);
  assert.throws(() => parseAddress("::1:80"), /not host:port/);
});
