// Composed snapshots: a sidecar's shared outbound layer and its own inbound layer.
import assert from "node:assert/strict";
import { test } from "node:test";
import { TypeUrl } from "../../src/envoy/index.js";
import { SnapshotCache, composeSnapshot, resourcesOf } from "../../src/xds/index.js";
import { apiListener, edsCluster, endpoints, routeTo, snapshot } from "../support/fixtures.js";

test("a composed snapshot merges types without copying resources and shares single-layer types", () => {
  const shared = snapshot(edsCluster("a"), endpoints("a", "10.0.0.1:80"), apiListener("b-listener", "r"), routeTo("r", "a"));
  const own = snapshot(apiListener("a-own", "r"));
  const composed = composeSnapshot([shared, own]);
  assert.ok(composed.ok);
  const lds = resourcesOf(composed.snapshot, TypeUrl.Listener);
  assert.deepEqual(lds.items.map((r) => r.name), ["a-own", "b-listener"], "sorted by name");
  assert.equal(lds.items[1], resourcesOf(shared, TypeUrl.Listener).items[0], "the same resource object");
  assert.equal(lds.byName.get("a-own"), resourcesOf(own, TypeUrl.Listener).items[0]);
  assert.equal(lds.byName.size, 2);
  assert.equal(resourcesOf(composed.snapshot, TypeUrl.Cluster), resourcesOf(shared, TypeUrl.Cluster), "a type one layer has is that layer's object");
  const again = composeSnapshot([shared, own]);
  assert.ok(again.ok);
  assert.equal(resourcesOf(again.snapshot, TypeUrl.Listener).version, lds.version, "same layers, same version");
  const other = composeSnapshot([shared, snapshot(apiListener("a-own", "other"))]);
  assert.ok(other.ok);
  assert.notEqual(resourcesOf(other.snapshot, TypeUrl.Listener).version, lds.version, "a changed layer changes the version");
});

test("layers that both hold a name are refused", () => {
  const r = composeSnapshot([snapshot(apiListener("l", "r")), snapshot(apiListener("l", "r"))]);
  assert.equal(r.ok, false);
  assert.deepEqual(!r.ok && r.problems, [{ t: "duplicate-name", typeUrl: TypeUrl.Listener, name: "l" }]);
});

test("the cache checks a composed snapshot through its layers, and refuses an inconsistent layer", () => {
  const cache = new SnapshotCache();
  const good = composeSnapshot([snapshot(edsCluster("a"), endpoints("a", "10.0.0.1:80")), snapshot(apiListener("l", "r"), routeTo("r", "a"))]);
  assert.ok(good.ok);
  assert.deepEqual(cache.set("p", good.snapshot), { ok: true });
  const bad = composeSnapshot([snapshot(edsCluster("a")), snapshot(apiListener("l", "missing"))]);
  assert.ok(bad.ok);
  const set = cache.set("p", bad.snapshot);
  assert.equal(set.ok, false, "a missing ClusterLoadAssignment and RouteConfiguration are still found");
  assert.equal(!set.ok && set.problems.length, 2);
});

test("a few resources merged into many land in name order (the sidecar case)", () => {
  const many = snapshot(...Array.from({ length: 100 }, (_, i) => apiListener(`l-${String(i).padStart(3, "0")}`, "r")));
  const few = snapshot(apiListener("a-first", "r"), apiListener("l-050x", "r"), apiListener("z-last", "r"));
  for (const layers of [[many, few], [few, many]]) {
    const composed = composeSnapshot(layers);
    assert.ok(composed.ok);
    const names = resourcesOf(composed.snapshot, TypeUrl.Listener).items.map((r) => r.name);
    assert.equal(names.length, 103);
    assert.deepEqual(names, [...names].sort(), "sorted by name");
    assert.equal(names[0], "a-first");
    assert.equal(names[52], "l-050x");
    assert.equal(names[102], "z-last");
  }
});
