// Hand-framed discovery responses decode, with protobufjs, to exactly the fields they should carry.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import protobuf from "protobufjs";
import { decodeMessage, TypeUrl } from "../../src/envoy/index.js";
import { encodedResource, makeSnapshot, resourcesOf, type EncodedResource } from "../../src/xds/index.js";
import { deltaResponse, sotwBody, sotwFullBody, withNonce } from "../../src/xds/responses.js";
import { fieldHeader, lengthDelimited, stringField, varint, WIRE_LEN } from "../../src/xds/wire.js";
import { edsCluster, endpoints, secret } from "../support/fixtures.js";

const SOTW = "envoy.service.discovery.v3.DiscoveryResponse";
const DELTA = "envoy.service.discovery.v3.DeltaDiscoveryResponse";
const CONTROL_PLANE = { identifier: "gitmesh" };

const many = Array.from({ length: 1200 }, (_, i) => `10.${Math.floor(i / 250)}.${i % 250}.1:8080`);
const big = endpoints("big", ...many);
const huge = secret("huge", "x".repeat(2_200_000)); // over 2^21 bytes: 4-byte varint lengths

const any = (r: EncodedResource) => ({ type_url: r.typeUrl, value: r.bytes });

describe("varint", () => {
  const cases: { name: string; value: number; bytes: number[] }[] = [
    { name: "zero", value: 0, bytes: [0x00] },
    { name: "one", value: 1, bytes: [0x01] },
    { name: "largest one-byte value", value: 127, bytes: [0x7f] },
    { name: "smallest two-byte value", value: 128, bytes: [0x80, 0x01] },
    { name: "300 (the protobuf docs example)", value: 300, bytes: [0xac, 0x02] },
    { name: "2^21 (first four-byte value)", value: 2 ** 21, bytes: [0x80, 0x80, 0x80, 0x01] },
    { name: "2^31+5 (above int32, where bitwise ops wrap)", value: 2 ** 31 + 5, bytes: [0x85, 0x80, 0x80, 0x80, 0x08] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual([...varint(c.value)], c.bytes);
      assert.deepEqual([...varint(c.value)], [...protobuf.Writer.create().uint32(c.value).finish()], "agrees with protobufjs");
    });
  }

  test("fieldHeader and stringField frame tag, length and payload", () => {
    assert.deepEqual([...fieldHeader(6, WIRE_LEN, 300)], [0x32, 0xac, 0x02]);
    assert.deepEqual([...fieldHeader(16, 0)], [0x80, 0x01]);
    assert.deepEqual([...lengthDelimited(1, Buffer.from("ab"))], [0x0a, 0x02, 0x61, 0x62]);
    assert.equal(stringField(1, "").length, 0, "proto3 default string is omitted");
  });
});

describe("state-of-the-world response (sotwBody + withNonce)", () => {
  const cases: { name: string; typeUrl: string; version: string; nonce: string; items: EncodedResource[] }[] = [
    { name: "empty resource list", typeUrl: TypeUrl.Cluster, version: "v0", nonce: "1", items: [] },
    { name: "one resource", typeUrl: TypeUrl.Cluster, version: "v1", nonce: "2", items: [edsCluster("a")] },
    {
      name: "several resources, in the order given",
      typeUrl: TypeUrl.ClusterLoadAssignment,
      version: "v2",
      nonce: "3",
      items: [endpoints("a", "10.0.0.1:80"), endpoints("b", "10.0.0.2:80"), endpoints("c", "10.0.0.3:80")],
    },
    {
      name: "names with non-ASCII characters",
      typeUrl: TypeUrl.Cluster,
      version: "versión-ü",
      nonce: "nonce-☃",
      items: [edsCluster("café"), edsCluster("服务-😀")],
    },
    { name: "a resource larger than 16 KB", typeUrl: TypeUrl.ClusterLoadAssignment, version: "v3", nonce: "4", items: [big] },
    { name: "a resource larger than 2 MB", typeUrl: TypeUrl.Secret, version: "v4", nonce: "5", items: [huge] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const bytes = withNonce(sotwBody(c.typeUrl, c.version, c.items), c.nonce);
      const expected: Record<string, unknown> = {
        version_info: c.version,
        type_url: c.typeUrl,
        nonce: c.nonce,
        control_plane: CONTROL_PLANE,
      };
      if (c.items.length > 0) expected["resources"] = c.items.map(any);
      assert.deepEqual(decodeMessage(SOTW, bytes), expected);
    });
  }

  test("large resources really use multi-byte lengths", () => {
    assert.ok(big.bytes.length > 16 * 1024 && big.bytes.length < 2 ** 21, `big is ${big.bytes.length} bytes`);
    assert.deepEqual(big.anyField.subarray(0, 4), Buffer.concat([varint(0x12), varint(big.anyField.length - 4)]));
    assert.equal(varint(huge.anyField.length).length, 4);
  });

  test("the inner resource bytes decode back to the resource", () => {
    const decoded = decodeMessage(SOTW, withNonce(sotwBody(TypeUrl.Cluster, "v", [edsCluster("服务-😀")]), "n"));
    const [first] = decoded["resources"] as { value: Buffer }[];
    assert.equal(decodeMessage("envoy.config.cluster.v3.Cluster", first?.value ?? Buffer.alloc(0))["name"], "服务-😀");
  });

  test("sotwFullBody frames a snapshot type with its version, once", () => {
    const result = makeSnapshot([edsCluster("b"), edsCluster("a")]);
    assert.ok(result.ok);
    const all = resourcesOf(result.snapshot, TypeUrl.Cluster);
    const body = sotwFullBody(all);
    assert.equal(sotwFullBody(all), body, "cached per TypeResources");
    assert.deepEqual(decodeMessage(SOTW, withNonce(body, "7")), {
      version_info: all.version,
      resources: [any(edsCluster("a")), any(edsCluster("b"))],
      type_url: TypeUrl.Cluster,
      nonce: "7",
      control_plane: CONTROL_PLANE,
    });
  });
});

describe("delta response (deltaResponse)", () => {
  const raw = encodedResource(TypeUrl.Cluster, "raw", Buffer.from([0x0a, 0x03, 0x72, 0x61, 0x77])); // Cluster{name:"raw"}
  const cases: { name: string; typeUrl: string; systemVersion: string; nonce: string; resources: EncodedResource[]; removed: string[] }[] = [
    { name: "empty: nothing changed or removed", typeUrl: TypeUrl.Cluster, systemVersion: "s0", nonce: "1", resources: [], removed: [] },
    { name: "one resource", typeUrl: TypeUrl.Cluster, systemVersion: "s1", nonce: "2", resources: [raw], removed: [] },
    {
      name: "several resources and removals",
      typeUrl: TypeUrl.ClusterLoadAssignment,
      systemVersion: "s2",
      nonce: "3",
      resources: [endpoints("a", "10.0.0.1:80"), endpoints("b", "10.0.0.2:80")],
      removed: ["c", "d"],
    },
    {
      name: "names with non-ASCII characters",
      typeUrl: TypeUrl.Cluster,
      systemVersion: "sü",
      nonce: "4",
      resources: [edsCluster("café"), edsCluster("服务-😀")],
      removed: ["ñame", "🚫"],
    },
    { name: "a resource larger than 16 KB", typeUrl: TypeUrl.ClusterLoadAssignment, systemVersion: "s3", nonce: "5", resources: [big], removed: [] },
    { name: "a resource larger than 2 MB", typeUrl: TypeUrl.Secret, systemVersion: "s4", nonce: "6", resources: [huge], removed: [] },
    { name: "removed-only", typeUrl: TypeUrl.Cluster, systemVersion: "s5", nonce: "7", resources: [], removed: ["gone-1", "gone-2"] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const bytes = deltaResponse(c);
      const expected: Record<string, unknown> = {
        system_version_info: c.systemVersion,
        type_url: c.typeUrl,
        nonce: c.nonce,
        control_plane: CONTROL_PLANE,
      };
      if (c.resources.length > 0) {
        expected["resources"] = c.resources.map((r) => ({ name: r.name, version: r.version, resource: any(r) }));
      }
      if (c.removed.length > 0) expected["removed_resources"] = c.removed;
      assert.deepEqual(decodeMessage(DELTA, bytes), expected);
    });
  }

  test("an empty system version is omitted, as proto3 would", () => {
    const decoded = decodeMessage(DELTA, deltaResponse({ typeUrl: TypeUrl.Cluster, systemVersion: "", resources: [], removed: ["x"], nonce: "1" }));
    assert.deepEqual(decoded, { type_url: TypeUrl.Cluster, nonce: "1", removed_resources: ["x"], control_plane: CONTROL_PLANE });
  });
});
