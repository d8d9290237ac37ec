// makeSnapshot: grouping, sorting, content-hash versions, problems, and resource interning.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TypeUrl } from "../../src/envoy/index.js";
import type { EnvoyMessageName, EnvoyMessages } from "../../src/envoy/index.js";
import {
  ADS_ORDER,
  encodedResource,
  makeSnapshot,
  makeSnapshotSteps,
  replaceInSnapshot,
  ResourceEncoder,
  type TypedResource,
  resourcesOf,
  snapshotVersions,
  versionOf,
  type EncodedResource,
  type Snapshot,
  type SnapshotProblem,
} from "../../src/xds/index.js";
import { apiListener, edsCluster, endpoints, routeTo, secret } from "../support/fixtures.js";

function ok(resources: readonly EncodedResource[]): Snapshot {
  const result = makeSnapshot(resources);
  assert.ok(result.ok, `expected a snapshot, got ${JSON.stringify(result)}`);
  return result.snapshot;
}

const namesByType = (s: Snapshot): Record<string, string[]> =>
  Object.fromEntries([...s.types].map(([url, t]) => [url, t.items.map((r) => r.name)]));

const mixed = [
  edsCluster("b"),
  routeTo("r1", "a"),
  edsCluster("a"),
  endpoints("b", "10.0.0.2:80"),
  apiListener("l1", "r1"),
  endpoints("a", "10.0.0.1:80"),
  edsCluster("c"),
  secret("s"),
];

describe("makeSnapshot sorts and versions", () => {
  const orders: { name: string; input: EncodedResource[] }[] = [
    { name: "as given", input: mixed },
    { name: "reversed", input: [...mixed].reverse() },
    { name: "sorted by name first", input: [...mixed].sort((x, y) => (x.name < y.name ? -1 : 1)) },
    { name: "rotated", input: [...mixed.slice(3), ...mixed.slice(0, 3)] },
  ];
  const reference = ok(mixed);
  for (const c of orders) {
    test(`input order ${c.name}: items sorted by name, same per-type versions`, () => {
      const s = ok(c.input);
      assert.deepEqual(namesByType(s), {
        [TypeUrl.Cluster]: ["a", "b", "c"],
        [TypeUrl.ClusterLoadAssignment]: ["a", "b"],
        [TypeUrl.Listener]: ["l1"],
        [TypeUrl.RouteConfiguration]: ["r1"],
        [TypeUrl.Secret]: ["s"],
      });
      assert.deepEqual(snapshotVersions(s), snapshotVersions(reference));
    });
  }

  test("every ADS type is present, empty ones included", () => {
    const s = ok([edsCluster("a")]);
    assert.deepEqual([...s.types.keys()], ADS_ORDER.map((k) => k.typeUrl));
    assert.deepEqual(resourcesOf(s, TypeUrl.Listener).items, []);
    assert.equal(resourcesOf(s, TypeUrl.Listener).version, versionOf([]));
  });

  const changes: { name: string; before: EncodedResource[]; after: EncodedResource[]; changed: string[] }[] = [
    { name: "one cluster's content", before: [edsCluster("a"), edsCluster("b")], after: [edsCluster("a", { connectTimeoutSeconds: 9 }), edsCluster("b")], changed: ["CDS"] },
    { name: "an added cluster", before: [edsCluster("a")], after: [edsCluster("a"), edsCluster("b")], changed: ["CDS"] },
    { name: "a removed endpoint set", before: [endpoints("a", "10.0.0.1:80"), endpoints("b")], after: [endpoints("a", "10.0.0.1:80")], changed: ["EDS"] },
    { name: "an endpoint address", before: [endpoints("a", "10.0.0.1:80")], after: [endpoints("a", "10.0.0.2:80")], changed: ["EDS"] },
    { name: "a renamed route (same body otherwise)", before: [routeTo("r1", "a")], after: [routeTo("r2", "a")], changed: ["RDS"] },
    { name: "nothing", before: [edsCluster("a"), secret("s")], after: [secret("s"), edsCluster("a")], changed: [] },
  ];
  for (const c of changes) {
    test(`different content gives a different version: ${c.name}`, () => {
      const before = snapshotVersions(ok(c.before));
      const after = snapshotVersions(ok(c.after));
      const changed = Object.keys(before).filter((k) => before[k] !== after[k]);
      assert.deepEqual(changed, c.changed);
    });
  }

  test("versionOf the full set equals TypeResources.version for every type", () => {
    const s = ok(mixed);
    for (const t of s.types.values()) assert.equal(versionOf(t.items), t.version, t.typeUrl);
    assert.notEqual(versionOf(resourcesOf(s, TypeUrl.Cluster).items.slice(1)), resourcesOf(s, TypeUrl.Cluster).version);
  });

  test("byName finds every item", () => {
    const t = resourcesOf(ok(mixed), TypeUrl.Cluster);
    assert.deepEqual([...t.byName.keys()], ["a", "b", "c"]);
    for (const r of t.items) assert.equal(t.byName.get(r.name), r);
  });
});

describe("makeSnapshot problems", () => {
  const bogusType = "type.googleapis.com/envoy.config.core.v3.Nope";
  const cases: { name: string; input: EncodedResource[]; problems: SnapshotProblem[] | null }[] = [
    {
      name: "duplicate names within a type (different content)",
      input: [edsCluster("a"), edsCluster("a", { connectTimeoutSeconds: 2 })],
      problems: [{ t: "duplicate-name", typeUrl: TypeUrl.Cluster, name: "a" }],
    },
    {
      name: "duplicate names within a type (the same resource twice)",
      input: [endpoints("a"), endpoints("b"), endpoints("a")],
      problems: [{ t: "duplicate-name", typeUrl: TypeUrl.ClusterLoadAssignment, name: "a" }],
    },
    { name: "the same name across types is fine", input: [edsCluster("x"), endpoints("x"), apiListener("x", "x"), routeTo("x", "x"), secret("x")], problems: null },
    {
      name: "an unknown type URL",
      input: [edsCluster("a"), encodedResource(bogusType, "n", Buffer.alloc(0))],
      problems: [{ t: "unknown-type", typeUrl: bogusType, name: "n" }],
    },
    {
      name: "every problem is reported, in input order",
      input: [encodedResource("", "e", Buffer.alloc(0)), secret("s"), secret("s"), encodedResource(bogusType, "n", Buffer.alloc(0))],
      problems: [
        { t: "unknown-type", typeUrl: "", name: "e" },
        { t: "duplicate-name", typeUrl: TypeUrl.Secret, name: "s" },
        { t: "unknown-type", typeUrl: bogusType, name: "n" },
      ],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const result = makeSnapshot(c.input);
      if (c.problems === null) {
        assert.ok(result.ok);
        for (const t of result.snapshot.types.values()) assert.deepEqual(t.items.map((r) => r.name), ["x"]);
      } else {
        assert.deepEqual(result, { ok: false, problems: c.problems });
      }
    });
  }
});

describe("interning", () => {
  // The encoder a running control plane owns: identical content built twice is one object.
  const typed = <N extends EnvoyMessageName>(type: N, name: string, message: EnvoyMessages[N]) => ({ type, name, message });
  const cases: { name: string; build: () => TypedResource }[] = [
    { name: "cluster", build: () => typed("envoy.config.cluster.v3.Cluster", "a", { name: "a", type: "EDS", lb_policy: "MAGLEV", eds_cluster_config: { eds_config: { ads: {} } } }) },
    { name: "endpoints", build: () => typed("envoy.config.endpoint.v3.ClusterLoadAssignment", "a", { cluster_name: "a", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "10.0.0.1", port_value: 80 } } } }] }] }) },
    { name: "listener", build: () => typed("envoy.config.listener.v3.Listener", "l", { name: "l" }) },
  ];
  for (const c of cases) {
    test(`identical ${c.name} built twice is the same object and shares bytes`, () => {
      const encoder = new ResourceEncoder();
      const first = encoder.encode(c.build());
      const second = encoder.encode(c.build());
      assert.equal(second, first);
      assert.equal(second.anyField, first.anyField);
      assert.equal(second.bytes.buffer, first.anyField.buffer, "bytes is a view into anyField");
    });
  }

  const cluster = (name: string, seconds = 1) => typed("envoy.config.cluster.v3.Cluster", name, { name, connect_timeout: { seconds } });
  const distinct: { name: string; a: () => TypedResource; b: () => TypedResource }[] = [
    { name: "same name, different content", a: () => cluster("a"), b: () => cluster("a", 2) },
    { name: "same content, different name", a: () => typed("envoy.config.listener.v3.Listener", "n1", {}), b: () => typed("envoy.config.listener.v3.Listener", "n2", {}) },
    { name: "same bytes and name, different type", a: () => typed("envoy.config.listener.v3.Listener", "n", {}), b: () => typed("envoy.config.cluster.v3.Cluster", "n", {}) },
  ];
  for (const c of distinct) {
    test(`not interned together: ${c.name}`, () => {
      const encoder = new ResourceEncoder();
      const a = encoder.encode(c.a());
      const b = encoder.encode(c.b());
      assert.notEqual(a, b);
      assert.notEqual(a.anyField, b.anyField);
    });
  }

  test("snapshots built separately from identical content share resource objects", () => {
    const encoder = new ResourceEncoder();
    const s1 = ok([encoder.encode(cluster("a")), encoder.encode(cluster("b"))]);
    const s2 = ok([encoder.encode(cluster("b")), encoder.encode(cluster("a"))]);
    assert.equal(resourcesOf(s1, TypeUrl.Cluster).items[0], resourcesOf(s2, TypeUrl.Cluster).items[0]);
    assert.equal(resourcesOf(s1, TypeUrl.Cluster).items[1], resourcesOf(s2, TypeUrl.Cluster).items[1]);
  });

  test("each encoder owns its cache: two control planes in one process share nothing", () => {
    const a = new ResourceEncoder().encode(cluster("a"));
    const b = new ResourceEncoder().encode(cluster("a"));
    assert.notEqual(a, b);
    assert.deepEqual(a.anyField, b.anyField, "same bytes, separate objects");
  });
});

describe("makeSnapshot given the snapshot it replaces", () => {
  const before = ok(mixed);
  const rows: readonly { why: string; resources: readonly EncodedResource[]; keeps: Record<string, boolean> }[] = [
    { why: "the same resources in another order: every type is kept", resources: [...mixed].reverse(), keeps: { [TypeUrl.Cluster]: true, [TypeUrl.RouteConfiguration]: true, [TypeUrl.Listener]: true } },
    { why: "one route replaced: the other types are kept", resources: mixed.map((r) => (r.name === "r1" ? routeTo("r1", "b") : r)), keeps: { [TypeUrl.Cluster]: true, [TypeUrl.RouteConfiguration]: false } },
    { why: "a cluster gone", resources: mixed.filter((r) => r.name !== "c"), keeps: { [TypeUrl.Cluster]: false, [TypeUrl.ClusterLoadAssignment]: true } },
    { why: "a cluster of another name in place of one", resources: mixed.map((r) => (r.name === "c" ? edsCluster("d") : r)), keeps: { [TypeUrl.Cluster]: false } },
  ];
  for (const row of rows) {
    test(row.why, () => {
      const r = makeSnapshot(row.resources, before);
      assert.ok(r.ok);
      for (const [typeUrl, kept] of Object.entries(row.keeps)) assert.equal(resourcesOf(r.snapshot, typeUrl) === resourcesOf(before, typeUrl), kept, `${typeUrl} ${kept ? "kept" : "made anew"}`);
      assert.deepEqual(namesByType(r.snapshot), namesByType(ok(row.resources)), "the same as one made from scratch");
      assert.deepEqual(snapshotVersions(r.snapshot), snapshotVersions(ok(row.resources)));
    });
  }
});

test("makeSnapshotSteps pauses while it groups and sorts thousands of resources, and gives what makeSnapshot gives", () => {
  const many = Array.from({ length: 3000 }, (_, i) => edsCluster(`c-${(i * 7919) % 3000}`));
  const steps = makeSnapshotSteps(many);
  let ticks = 0;
  let r = steps.next();
  for (; r.done !== true; r = steps.next()) ticks++;
  assert.ok(ticks >= 3000 / 512, `paused ${ticks} times`);
  assert.ok(r.value.ok);
  assert.deepEqual(namesByType(r.value.snapshot), namesByType(ok(many)));
  assert.deepEqual(snapshotVersions(r.value.snapshot), snapshotVersions(ok(many)));
});

describe("replaceInSnapshot: a few resources replaced by namesakes", () => {
  const before = ok(mixed);
  test("a route replaced: only its type made again, the same as a snapshot made from scratch", () => {
    const route = routeTo("r1", "b");
    const next = replaceInSnapshot(before, [route]);
    assert.ok(next !== undefined);
    const scratch = ok(mixed.map((r) => (r.name === "r1" && r.typeUrl === TypeUrl.RouteConfiguration ? route : r)));
    assert.deepEqual(snapshotVersions(next), snapshotVersions(scratch));
    assert.equal(resourcesOf(next, TypeUrl.Cluster), resourcesOf(before, TypeUrl.Cluster));
    assert.notEqual(resourcesOf(next, TypeUrl.RouteConfiguration), resourcesOf(before, TypeUrl.RouteConfiguration));
    assert.equal(resourcesOf(next, TypeUrl.RouteConfiguration).byName.get("r1"), route);
  });
  test("a resource without a namesake: undefined, for the caller to make the snapshot anew", () => {
    assert.equal(replaceInSnapshot(before, [routeTo("r2", "a")]), undefined);
  });
});
