// Bad requests end their own stream with a clear status and never touch the server or other streams.
import assert from "node:assert/strict";
import { test } from "node:test";
import { status } from "@grpc/grpc-js";
import { CDS } from "../../src/xds/index.js";
import { edsCluster, endpoints, snapshot } from "../support/fixtures.js";
import { nextOf, startServer } from "../support/harness.js";
import { namesOf, node, type ScriptedClient } from "../support/xds-client.js";

interface BadCase {
  readonly name: string;
  readonly open: (c: ScriptedClient) => { send(req: object | Buffer): void; ended(): Promise<{ code: number; details: string }> };
  readonly request: object | Buffer;
  readonly code: status;
  readonly details: RegExp;
}

const cases: readonly BadCase[] = [
  {
    name: "SotW: unknown type URL",
    open: (c) => c.sotw(),
    request: { node: node("p"), type_url: "type.googleapis.com/envoy.config.core.v3.Nonsense" },
    code: status.INVALID_ARGUMENT,
    details: /type_url "type.googleapis.com\/envoy.config.core.v3.Nonsense" is not served on this stream/,
  },
  {
    name: "delta: unknown type URL",
    open: (c) => c.delta(),
    request: { node: node("p"), type_url: "nonsense" },
    code: status.INVALID_ARGUMENT,
    details: /type_url "nonsense" is not served/,
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
