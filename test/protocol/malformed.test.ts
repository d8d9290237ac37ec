// Bad requests end their own stream with a clear status and never touch the server or other streams.
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:http2";
import { test } from "node:test";
import { status } from "@grpc/grpc-js";
import { messageType } from "../../src/envoy/index.js";
import { silentLogger } from "../../src/log.js";
import { CDS, SnapshotCache, XdsServer, type Snapshot } from "../../src/xds/index.js";
import { edsCluster, endpoints, snapshot } from "../support/fixtures.js";
import { nextOf, startServer } from "../support/harness.js";
import { ADS_DELTA, namesOf, node, ScriptedClient } from "../support/xds-client.js";

interface BadCase {
  readonly name: string;
  readonly open: (c: ScriptedClient) => { send(req: object | Buffer): void; ended(): Promise<{ code: number; details: string }> };
  readonly request: object | Buffer;
  readonly code: status;
  readonly details: RegExp;
}

const cases: readonly BadCase[] = [
  {
    name: "per-type service: a type it does not serve",
    open: (c) => c.delta("/envoy.service.route.v3.RouteDiscoveryService/DeltaRoutes"),
    request: { node: node("p"), type_url: CDS.typeUrl },
    code: status.INVALID_ARGUMENT,
    details: /type_url "type.googleapis.com\/envoy.config.cluster.v3.Cluster" is not served on this stream/,
  },
  {
    name: "more names than any mesh has",
    open: (c) => c.sotw(),
    request: { node: node("p"), type_url: CDS.typeUrl, resource_names: Array.from({ length: 50_001 }, (_, i) => `c${i}`) },
    code: status.RESOURCE_EXHAUSTED,
    details: /request names 50001 resources; a stream may hold at most 50000/,
  },
  {
    name: "SotW: first request without node",
    open: (c) => c.sotw(),
    request: { type_url: CDS.typeUrl },
    code: status.INVALID_ARGUMENT,
    details: /first request on an xDS stream must carry node/,
  },
  {
    name: "delta: first request without node",
    open: (c) => c.delta(),
    request: { type_url: CDS.typeUrl },
    code: status.INVALID_ARGUMENT,
    details: /must carry node/,
  },
  {
    name: "node with an empty id",
    open: (c) => c.sotw(),
    request: { node: { cluster: "c" }, type_url: CDS.typeUrl },
    code: status.INVALID_ARGUMENT,
    details: /node.id is empty/,
  },
  {
    name: "SotW: bytes that are not a DiscoveryRequest",
    open: (c) => c.sotw(),
    request: Buffer.from([0x12, 0x05, 0x01]), // node: 5 bytes promised, 1 present
    code: status.INVALID_ARGUMENT,
    details: /could not decode envoy.service.discovery.v3.DiscoveryRequest/,
  },
  {
    name: "delta: bytes that are not a DeltaDiscoveryRequest",
    open: (c) => c.delta(),
    request: Buffer.from("this is not protobuf at all, just text"),
    code: status.INVALID_ARGUMENT,
    details: /could not decode envoy.service.discovery.v3.DeltaDiscoveryRequest/,
  },
  {
    name: "a method we do not serve (REST-style Fetch)",
    open: (c) => c.sotw("/envoy.service.cluster.v3.ClusterDiscoveryService/FetchClusters"),
    request: { node: node("p") },
    code: status.UNIMPLEMENTED,
    details: /FetchClusters/,
  },
];

test("malformed requests get a clear status and other streams keep working", async (t) => {
  const h = await startServer(t);
  h.cache.set("healthy", snapshot(edsCluster("a"), endpoints("a", "10.0.0.1:80")));
  const healthy = h.client().sotw();
  healthy.send({ node: node("healthy"), type_url: CDS.typeUrl });
  const first = await nextOf(healthy, CDS.typeUrl);

  for (const c of cases) {
    await t.test(c.name, async () => {
      const stream = c.open(h.client());
      stream.send(c.request);
      const end = await stream.ended();
      assert.equal(end.code, c.code, `${c.name}: got ${end.code} ${end.details}`);
      assert.match(end.details, c.details);
    });
  }

  assert.equal(h.server.streamCount, 1, "only the healthy stream is left");
  healthy.send({ type_url: CDS.typeUrl, version_info: first.version_info, response_nonce: first.nonce });
  h.cache.set("healthy", snapshot(edsCluster("a"), edsCluster("b"), endpoints("a"), endpoints("b")));
  assert.deepEqual(namesOf(await nextOf(healthy, CDS.typeUrl)), ["a", "b"]);
});

test("ADS leaves a type it does not serve unanswered and keeps serving the others", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(edsCluster("a"), endpoints("a", "10.0.0.1:80")));
  const s = h.client().sotw();
  s.send({ node: node("p"), type_url: "type.googleapis.com/envoy.service.runtime.v3.Runtime", resource_names: ["rtds"] });
  s.send({ type_url: CDS.typeUrl });
  assert.deepEqual(namesOf(await nextOf(s, CDS.typeUrl)), ["a"], "the first response is for clusters: runtime stays unanswered");
  assert.equal(h.server.streamCount, 1);
});

test("a proxy that never reads its responses is cut off once it has taken nothing for a while", async (t) => {
  const cache = new SnapshotCache();
  const server = new XdsServer({ source: cache, logger: silentLogger, proxyKey: (node) => node.id, limits: { maxUnreadBytesPerStream: 256 * 1024, unreadStallMs: 500 } });
  const port = await server.listen("127.0.0.1:0");
  t.after(() => server.shutdown(1_000));
  const names = Array.from({ length: 200 }, (_, i) => `cluster-${String(i).padStart(3, "0")}-${"x".repeat(200)}`);
  assert.deepEqual(cache.set("p", snapshot(...names.map((n) => edsCluster(n)), ...names.map((n) => endpoints(n)))), { ok: true });
  // Raw HTTP/2 so the test controls reading: the response stream is paused and never read.
  const session = connect(`http://127.0.0.1:${port}`);
  t.after(() => session.destroy());
  const stream = session.request({ ":method": "POST", ":path": ADS_DELTA, "content-type": "application/grpc", te: "trailers" });
  stream.pause();
  const encode = (req: object) => {
    const type = messageType("envoy.service.discovery.v3.DeltaDiscoveryRequest");
    const body = Buffer.from(type.encode(type.fromObject(req)).finish());
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    return frame;
  };
  const trailers = once(stream, "trailers") as Promise<[Record<string, string>]>;
  stream.write(encode({ node: node("p"), type_url: CDS.typeUrl, resource_names_subscribe: ["*"] }));
  // Delta honours subscription changes whatever the nonce: each re-subscribe to "*" makes the
  // server send the full set again, and none of it is read.
  for (let i = 0; i < 100; i++) {
    stream.write(encode({ type_url: CDS.typeUrl, resource_names_unsubscribe: ["*"] }));
    stream.write(encode({ type_url: CDS.typeUrl, resource_names_subscribe: ["*"] }));
  }
  await new Promise<void>((resolve) => {
    const check = () => (server.status.counters.streamsClosed === 1 ? resolve() : setImmediate(check));
    check();
  });
  stream.resume(); // the server has given up on the stream: read on to its final status
  const [headers] = await trailers;
  stream.close();
  assert.equal(headers["grpc-status"], String(status.RESOURCE_EXHAUSTED));
  assert.match(decodeURIComponent(headers["grpc-message"] ?? ""), /responses are not being read/);
});

test("a bug in the protocol code closes only that stream with INTERNAL", async (t) => {
  const h = await startServer(t);
  h.cache.set("healthy", snapshot(edsCluster("a"), endpoints("a", "10.0.0.1:80")));
  const healthy = h.client().sotw();
  healthy.send({ node: node("healthy"), type_url: CDS.typeUrl });
  const first = await nextOf(healthy, CDS.typeUrl);
  // A snapshot that is not one (missing its types map) makes the session throw.
  const broken = { watch: (_proxy: string, listener: (s: Snapshot) => void) => (listener({} as Snapshot), () => {}) };
  const server = new XdsServer({ source: broken, logger: silentLogger, proxyKey: (node) => node.id });
  const port = await server.listen("127.0.0.1:0");
  t.after(() => server.shutdown(1_000));
  const victim = new ScriptedClient(`127.0.0.1:${port}`).sotw();
  victim.send({ node: node("victim"), type_url: CDS.typeUrl });
  const end = await victim.ended();
  assert.equal(end.code, status.INTERNAL);
  healthy.send({ type_url: CDS.typeUrl, version_info: first.version_info, response_nonce: first.nonce });
  h.cache.set("healthy", snapshot(edsCluster("a"), edsCluster("b"), endpoints("a"), endpoints("b")));
  assert.deepEqual(namesOf(await nextOf(healthy, CDS.typeUrl)), ["a", "b"], "the process and other streams carry on");
});
