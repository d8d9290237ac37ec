// Incremental (delta) ADS, asserted on exactly what a scripted client receives over real gRPC.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CDS, EDS, LDS, RDS, SDS, resourcesOf, type Snapshot } from "../../src/xds/index.js";
import { deltaAck, deltaBarrier, deltaNack, nextDelta, versionsOf } from "../support/delta-harness.js";
import { apiListener, edsCluster, endpoints, replacing, routeTo, secret, snapshot } from "../support/fixtures.js";
import { barrierSecrets, startServer, type Harness } from "../support/harness.js";
import { waitFor } from "../support/wait.js";
import { node, type DeltaStream } from "../support/xds-client.js";

const clusterA = edsCluster("a");
const clusterB = edsCluster("b");
const endpointsA = endpoints("a", "10.0.0.1:80");
const endpointsB = endpoints("b", "10.0.0.2:80");
const listener1 = apiListener("l1", "r1");
const route1 = routeTo("r1", "a");

const base = [clusterA, clusterB, endpointsA, endpointsB, listener1, route1, ...barrierSecrets];

/** Subscribes to everything the way Envoy does (CDS wildcard, EDS by name, LDS wildcard, RDS by name) and ACKs it all. */
async function syncAll(s: DeltaStream, id: string): Promise<void> {
  s.send({ node: node(id), type_url: CDS.typeUrl });
  deltaAck(s, await nextDelta(s, CDS.typeUrl, { resources: [clusterA, clusterB] }, "initial clusters"));
  s.send({ type_url: EDS.typeUrl, resource_names_subscribe: ["a", "b"] });
  deltaAck(s, await nextDelta(s, EDS.typeUrl, { resources: [endpointsA, endpointsB] }, "initial endpoints"));
  s.send({ type_url: LDS.typeUrl });
  deltaAck(s, await nextDelta(s, LDS.typeUrl, { resources: [listener1] }, "initial listeners"));
  s.send({ type_url: RDS.typeUrl, resource_names_subscribe: ["r1"] });
  deltaAck(s, await nextDelta(s, RDS.typeUrl, { resources: [route1] }, "initial routes"));
  await deltaBarrier(s, "initial sync");
}

test("legacy wildcard CDS: a first request naming nothing gets every cluster, each with its own content-hash version", async (t) => {
  const h = await startServer(t);
  const snap = snapshot(...base);
  h.cache.set("p", snap);
  const s = h.client().delta();
  s.send({ node: node("p"), type_url: CDS.typeUrl });
  const all = await nextDelta(s, CDS.typeUrl, { resources: [clusterA, clusterB] }, "legacy wildcard");
  assert.notEqual(all.resources[0]?.version, all.resources[1]?.version, "each cluster has its own version");
  assert.equal(all.system_version_info, resourcesOf(snap, CDS.typeUrl).version);

  // Another proxy, on another channel, with a different set of clusters that includes the same a.
  const c = edsCluster("c");
  h.cache.set("q", snapshot(c, edsCluster("a"), endpoints("c"), endpoints("a", "10.9.9.9:80")));
  const other = h.client().delta();
  other.send({ node: node("q"), type_url: CDS.typeUrl });
  const otherAll = await nextDelta(other, CDS.typeUrl, { resources: [clusterA, c] }, "another proxy's wildcard");
  assert.equal(otherAll.resources[0]?.version, all.resources[0]?.version, "the same cluster content has the same version on any stream");
});

test("legacy wildcard CDS: after the ACK a push sends only the changed cluster, and a removal sends only removed_resources", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().delta();
  s.send({ node: node("p"), type_url: CDS.typeUrl });
  deltaAck(s, await nextDelta(s, CDS.typeUrl, { resources: [clusterA, clusterB] }, "legacy wildcard"));

  const changedA = edsCluster("a", { connectTimeoutSeconds: 2 });
  h.cache.set("p", snapshot(...replacing(base, changedA)));
  const changed = await nextDelta(s, CDS.typeUrl, { resources: [changedA] }, "one cluster changed");
  assert.notEqual(changed.resources[0]?.version, clusterA.version);
  deltaAck(s, changed);

  h.cache.set("p", snapshot(...replacing(base, changedA).filter((r) => r !== clusterB && r !== endpointsB)));
  deltaAck(s, await nextDelta(s, CDS.typeUrl, { resources: [], removed: ["b"] }, "one cluster removed"));
  await deltaBarrier(s, "nothing else follows the removal");
});

test("explicit '*' subscribes to every cluster, including ones added later", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().delta();
  s.send({ node: node("p"), type_url: CDS.typeUrl, resource_names_subscribe: ["*"] });
  deltaAck(s, await nextDelta(s, CDS.typeUrl, { resources: [clusterA, clusterB] }, "explicit wildcard"));

  const c = edsCluster("c");
  h.cache.set("p", snapshot(...base, c, endpoints("c", "10.0.0.3:80")));
  deltaAck(s, await nextDelta(s, CDS.typeUrl, { resources: [c] }, "a cluster added"));
  await deltaBarrier(s, "after the added cluster");
});

test("unsubscribing '*' keeps only the clusters named explicitly; subscribing '*' again sends what the proxy dropped", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().delta();
  s.send({ node: node("p"), type_url: CDS.typeUrl, resource_names_subscribe: ["*", "a"] });
  deltaAck(s, await nextDelta(s, CDS.typeUrl, { resources: [clusterA, clusterB] }, "wildcard and a"));

  s.send({ type_url: CDS.typeUrl, resource_names_unsubscribe: ["*"] });
  await deltaBarrier(s, "unsubscribing '*' sends nothing");

  const changedA = edsCluster("a", { connectTimeoutSeconds: 2 });
  const changedB = edsCluster("b", { connectTimeoutSeconds: 3 });
  h.cache.set("p", snapshot(...replacing(base, changedA, changedB)));
  deltaAck(s, await nextDelta(s, CDS.typeUrl, { resources: [changedA] }, "a is still subscribed, b no longer"));
  await deltaBarrier(s, "b changed but is not subscribed");

  s.send({ type_url: CDS.typeUrl, resource_names_subscribe: ["*"] });
  deltaAck(s, await nextDelta(s, CDS.typeUrl, { resources: [changedB] }, "'*' again: b, which the proxy dropped; a is current"));

  // Unchanged this time: the proxy still dropped b when it left the wildcard, so b is sent again.
  s.send({ type_url: CDS.typeUrl, resource_names_unsubscribe: ["*"] });
  await deltaBarrier(s, "unsubscribing '*' a second time sends nothing");
  s.send({ type_url: CDS.typeUrl, resource_names_subscribe: ["*"] });
  deltaAck(s, await nextDelta(s, CDS.typeUrl, { resources: [changedB] }, "'*' again with nothing changed: b once more"));
});

test("EDS by name: a later subscribe sends only the new name; an unsubscribed name gets no message and no further updates", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().delta();
  s.send({ node: node("p"), type_url: EDS.typeUrl, resource_names_subscribe: ["a"] });
  deltaAck(s, await nextDelta(s, EDS.typeUrl, { resources: [endpointsA] }, "subscribe a"));
  s.send({ type_url: EDS.typeUrl, resource_names_subscribe: ["b"] });
  deltaAck(s, await nextDelta(s, EDS.typeUrl, { resources: [endpointsB] }, "subscribe b"));

  s.send({ type_url: EDS.typeUrl, resource_names_unsubscribe: ["a"] });
  await deltaBarrier(s, "unsubscribing a sends nothing");

  h.cache.set("p", snapshot(...replacing(base, endpoints("a", "10.0.0.9:80"))));
  await deltaBarrier(s, "a change to the unsubscribed a");

  const movedB = endpoints("b", "10.0.0.8:80");
  h.cache.set("p", snapshot(...replacing(base, endpoints("a", "10.0.0.7:80"), movedB)));
  deltaAck(s, await nextDelta(s, EDS.typeUrl, { resources: [movedB] }, "a and b changed: only b"));
  await deltaBarrier(s, "after the change to b");
});

test("names subscribed before they exist get no response and no removal, and are sent when they appear", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().delta();
  s.send({ node: node("p"), type_url: EDS.typeUrl, resource_names_subscribe: ["later"] });
  await deltaBarrier(s, "subscribing only to a name that does not exist");

  s.send({ type_url: EDS.typeUrl, resource_names_subscribe: ["a", "never"] });
  deltaAck(s, await nextDelta(s, EDS.typeUrl, { resources: [endpointsA] }, "a exists, never does not: no removal for it"));

  const later = endpoints("later", "10.0.0.5:80");
  h.cache.set("p", snapshot(...base, edsCluster("later"), later));
  deltaAck(s, await nextDelta(s, EDS.typeUrl, { resources: [later] }, "later appears"));
  await deltaBarrier(s, "after later appeared");
});

test("a reconnecting proxy's initial_resource_versions: current ones are not re-sent, old ones are, vanished ones are removed", async (t) => {
  const h = await startServer(t);
  const x = edsCluster("x");
  const endpointsX = endpoints("x", "10.0.0.4:80");
  h.cache.set("p", snapshot(...base, x, endpointsX));
  const c = h.client();
  const first = c.delta();
  first.send({ node: node("p"), type_url: CDS.typeUrl });
  const cds = await nextDelta(first, CDS.typeUrl, { resources: [clusterA, clusterB, x] }, "first stream clusters");
  deltaAck(first, cds);
  first.send({ type_url: EDS.typeUrl, resource_names_subscribe: ["a", "b"] });
  const eds = await nextDelta(first, EDS.typeUrl, { resources: [endpointsA, endpointsB] }, "first stream endpoints");
  deltaAck(first, eds);
  await deltaBarrier(first, "first stream synced");
  first.cancel();
  await first.ended();

  // While the proxy was away, b changed and x went away; a and every endpoint are as it holds them.
  const changedB = edsCluster("b", { lbPolicy: "LEAST_REQUEST" });
  h.cache.set("p", snapshot(...replacing(base, changedB)));
  const second = c.delta();
  second.send({ node: node("p"), type_url: CDS.typeUrl, initial_resource_versions: versionsOf(cds) });
  deltaAck(second, await nextDelta(second, CDS.typeUrl, { resources: [changedB], removed: ["x"] }, "reconnect: only b, and x removed"));
  second.send({ type_url: EDS.typeUrl, resource_names_subscribe: ["a", "b"], initial_resource_versions: versionsOf(eds) });
  await deltaBarrier(second, "endpoints held at their current versions are not sent again");
});

test("a subscription change is honoured even when its request carries a stale nonce", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().delta();
  s.send({ node: node("p"), type_url: EDS.typeUrl, resource_names_subscribe: ["a"] });
  const old = await nextDelta(s, EDS.typeUrl, { resources: [endpointsA] }, "subscribe a");
  const movedA = endpoints("a", "10.0.0.9:80");
  h.cache.set("p", snapshot(...replacing(base, movedA)));
  await nextDelta(s, EDS.typeUrl, { resources: [movedA] }, "a push before the proxy answered");

  s.send({ type_url: EDS.typeUrl, response_nonce: old.nonce, resource_names_subscribe: ["b"] });
  await nextDelta(s, EDS.typeUrl, { resources: [endpointsB] }, "b, asked for with a stale nonce");
  assert.equal(h.server.status.list()[0]?.types.get(EDS.typeUrl)?.ackedVersion, undefined, "the stale nonce is not an ACK");
});

test("a NACK is recorded with the proxy, type and message, and the rejected cluster is not re-sent until its content changes", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().delta();
  s.send({ node: node("p"), type_url: CDS.typeUrl });
  deltaAck(s, await nextDelta(s, CDS.typeUrl, { resources: [clusterA, clusterB] }, "legacy wildcard"));

  const badB = edsCluster("b", { lbPolicy: "MAGLEV" });
  h.cache.set("p", snapshot(...replacing(base, badB)));
  const rejected = await nextDelta(s, CDS.typeUrl, { resources: [badB] }, "b changed");
  deltaNack(s, rejected, "cluster b: unsupported lb_policy MAGLEV");
  await deltaBarrier(s, "after the NACK");

  const records = h.server.status.recentNacks();
  assert.equal(records.length, 1);
  const [record] = records;
  assert.ok(record);
  assert.equal(record.proxy, "p");
  assert.equal(record.type, "CDS");
  assert.equal(record.typeUrl, CDS.typeUrl);
  assert.equal(record.message, "cluster b: unsupported lb_policy MAGLEV");
  assert.equal(record.code, 3);
  assert.equal(record.nonce, rejected.nonce);
  assert.equal(record.version, rejected.system_version_info);
  assert.equal(h.server.status.list()[0]?.types.get(CDS.typeUrl)?.lastNack, record);

  h.cache.set("p", snapshot(...replacing(base, badB)));
  await deltaBarrier(s, "the rejected content pushed again");

  const changedA = edsCluster("a", { connectTimeoutSeconds: 2 });
  h.cache.set("p", snapshot(...replacing(base, changedA, badB)));
  deltaAck(s, await nextDelta(s, CDS.typeUrl, { resources: [changedA] }, "another cluster changed: the rejected b is not re-sent"));

  h.cache.set("p", snapshot(...replacing(base, changedA)));
  const fixed = await nextDelta(s, CDS.typeUrl, { resources: [clusterB] }, "b's content changed (back to what the proxy runs)");
  deltaAck(s, fixed);
  await deltaBarrier(s, "after the fix");
  assert.equal(h.server.status.recentNacks().length, 1);
});

test("re-subscribing to a name the proxy already holds sends it again, as Envoy expects when it re-creates a cluster", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().delta();
  s.send({ node: node("p"), type_url: EDS.typeUrl, resource_names_subscribe: ["a", "b"] });
  deltaAck(s, await nextDelta(s, EDS.typeUrl, { resources: [endpointsA, endpointsB] }, "subscribe a and b"));
  s.send({ type_url: EDS.typeUrl, resource_names_subscribe: ["a"] });
  deltaAck(s, await nextDelta(s, EDS.typeUrl, { resources: [endpointsA] }, "a again, unchanged"));
  await deltaBarrier(s, "after the re-subscribe");
});

test("a push that changes every type arrives in ADS order: clusters, endpoints, listeners, routes, secrets", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().delta();
  await syncAll(s, "p"); // its barrier subscribed to barrier-0

  const changedA = edsCluster("a", { connectTimeoutSeconds: 2 });
  const movedA = endpoints("a", "10.0.0.9:80");
  const listener2 = apiListener("l2", "r1");
  const route1ToB = routeTo("r1", "b");
  const rotated = secret("barrier-0", "rotated");
  assert.deepEqual(h.cache.set("p", snapshot(...replacing(base, changedA, movedA, listener2, route1ToB, rotated))), { ok: true });
  await nextDelta(s, CDS.typeUrl, { resources: [changedA] }, "1st: clusters");
  await nextDelta(s, EDS.typeUrl, { resources: [movedA] }, "2nd: endpoints");
  await nextDelta(s, LDS.typeUrl, { resources: [listener2] }, "3rd: listeners");
  await nextDelta(s, RDS.typeUrl, { resources: [route1ToB] }, "4th: routes");
  await nextDelta(s, SDS.typeUrl, { resources: [rotated] }, "5th: secrets");
});

test("a cluster removed in the push that moves its route away is removed only after the proxy ACKs the new route", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().delta();
  await syncAll(s, "p");

  // One commit: r1 moves from cluster a to a new cluster c, and a goes away.
  const clusterC = edsCluster("c");
  const endpointsC = endpoints("c", "10.0.0.3:80");
  const route1ToC = routeTo("r1", "c");
  h.cache.set("p", snapshot(clusterB, clusterC, endpointsB, endpointsC, listener1, route1ToC, ...barrierSecrets));
  const cds = await nextDelta(s, CDS.typeUrl, { resources: [clusterC] }, "c arrives before the route needs it; a is not removed yet");
  const eds = await nextDelta(s, EDS.typeUrl, { resources: [], removed: ["a"] }, "a's endpoints are gone from the snapshot");
  deltaAck(s, cds);
  deltaAck(s, eds);
  await deltaBarrier(s, "the route waits while c is warming");
  s.send({ type_url: EDS.typeUrl, resource_names_subscribe: ["c"] }); // Envoy, warming cluster c, asks for its endpoints
  deltaAck(s, await nextDelta(s, EDS.typeUrl, { resources: [endpointsC] }, "c's endpoints"));
  const rds = await nextDelta(s, RDS.typeUrl, { resources: [route1ToC] }, "the route moves to c once c's endpoints are ACKed");
  await deltaBarrier(s, "a is still held while the new route is unanswered");

  deltaAck(s, rds);
  deltaAck(s, await nextDelta(s, CDS.typeUrl, { resources: [], removed: ["a"] }, "a goes once the new route is in place"));
  await deltaBarrier(s, "after the held removal");
});

test("a held cluster removal waits while the proxy NACKs the new route, and follows an ACKed fix", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().delta();
  await syncAll(s, "p");
  const clusterC = edsCluster("c");
  const endpointsC = endpoints("c", "10.0.0.3:80");
  const next = [clusterB, clusterC, endpointsB, endpointsC, listener1, ...barrierSecrets];
  h.cache.set("p", snapshot(...next, routeTo("r1", "c")));
  const cds = await nextDelta(s, CDS.typeUrl, { resources: [clusterC] }, "c arrives, a is held");
  const eds = await nextDelta(s, EDS.typeUrl, { resources: [], removed: ["a"] }, "a's endpoints are gone from the snapshot");
  deltaAck(s, cds);
  deltaAck(s, eds);
  s.send({ type_url: EDS.typeUrl, resource_names_subscribe: ["c"] });
  deltaAck(s, await nextDelta(s, EDS.typeUrl, { resources: [endpointsC] }, "c's endpoints"));
  const rds = await nextDelta(s, RDS.typeUrl, { resources: [routeTo("r1", "c")] }, "the route moves to c");
  deltaNack(s, rds, "route r1 rejected");
  await deltaBarrier(s, "the proxy still routes r1 to a: a must stay");

  const fixed = routeTo("r1", { c: 100 });
  h.cache.set("p", snapshot(...next, fixed));
  deltaAck(s, await nextDelta(s, RDS.typeUrl, { resources: [fixed] }, "a fixed route"));
  await nextDelta(s, CDS.typeUrl, { resources: [], removed: ["a"] }, "a goes once a route is accepted");
});

// Sharing: delta streams that hold the same thing share one diff and one response body per push
// (DeltaLevels). Asserted on what each stream receives as they share a level, leave it (an
// unsubscribe, a NACK, a re-subscribe) and join it again (a reconnect with initial versions), and on
// the server's count of levels.

/** Two proxies served the very same snapshot objects, as a pusher serves sidecars alike. */
function setBoth(h: Harness, snap: Snapshot): void {
  h.cache.set("p", snap);
  h.cache.set("q", snap);
}

test("two alike delta streams share their levels; one unsubscribing and one NACKing each leave them, and each gets what it alone would", async (t) => {
  const h = await startServer(t);
  setBoth(h, snapshot(...base));
  const p = h.client().delta();
  await syncAll(p, "p");
  const oneStream = h.server.holdings.deltaLevels;
  assert.ok(oneStream >= 5, `one stream is at a level per type (CDS, EDS, LDS, RDS, SDS): ${oneStream}`);
  const q = h.client().delta();
  await syncAll(q, "q");
  assert.equal(h.server.holdings.deltaLevels, oneStream, "the second stream, holding the same, is at the first one's levels");

  // A push both take the same step of: the same resources (one body), each with its own nonce.
  const movedA = endpoints("a", "10.0.0.9:80");
  setBoth(h, snapshot(...replacing(base, movedA)));
  const atP = await nextDelta(p, EDS.typeUrl, { resources: [movedA] }, "p: a moved");
  const atQ = await nextDelta(q, EDS.typeUrl, { resources: [movedA] }, "q: a moved");
  deltaAck(p, atP);
  deltaAck(q, atQ);
  assert.equal(h.server.holdings.deltaLevels, oneStream, "after the push both are at the new levels, and the old ones are gone");

  // q leaves the shared EDS level: it no longer follows b.
  q.send({ type_url: EDS.typeUrl, resource_names_unsubscribe: ["b"] });
  await deltaBarrier(q, "q: unsubscribing b sends nothing");
  const movedA2 = endpoints("a", "10.0.0.7:80");
  const movedB = endpoints("b", "10.0.0.8:80");
  setBoth(h, snapshot(...replacing(base, movedA2, movedB)));
  const bothAtP = await nextDelta(p, EDS.typeUrl, { resources: [movedA2, movedB] }, "p: a and b moved, p follows both");
  const onlyAtQ = await nextDelta(q, EDS.typeUrl, { resources: [movedA2] }, "q: a and b moved, q follows a");
  deltaAck(p, bothAtP);
  // q rejects its endpoints: a cluster change then brings p its endpoints again, not q.
  deltaNack(q, onlyAtQ, "endpoints a: rejected for the test");
  await deltaBarrier(p, "p: after the endpoints");
  await deltaBarrier(q, "q: after its NACK, nothing is re-sent");

  const changedA = edsCluster("a", { connectTimeoutSeconds: 2 });
  setBoth(h, snapshot(...replacing(base, changedA, movedA2, movedB)));
  deltaAck(p, await nextDelta(p, CDS.typeUrl, { resources: [changedA] }, "p: cluster a changed"));
  deltaAck(p, await nextDelta(p, EDS.typeUrl, { resources: [movedA2] }, "p: a's endpoints follow its changed cluster"));
  deltaAck(q, await nextDelta(q, CDS.typeUrl, { resources: [changedA] }, "q: cluster a changed"));
  await deltaBarrier(q, "q: its endpoints, just rejected, do not follow");
  await deltaBarrier(p, "p: nothing else");

  // Both follow the next change to a again, each from where it is.
  const movedA3 = endpoints("a", "10.0.0.6:80");
  setBoth(h, snapshot(...replacing(base, changedA, movedA3, movedB)));
  deltaAck(p, await nextDelta(p, EDS.typeUrl, { resources: [movedA3] }, "p: a moved again"));
  deltaAck(q, await nextDelta(q, EDS.typeUrl, { resources: [movedA3] }, "q: a moved again"));
  await deltaBarrier(p, "p: after the last push");
  await deltaBarrier(q, "q: after the last push");

  p.cancel();
  q.cancel();
  await Promise.all([p.ended(), q.ended()]);
  await waitFor(() => h.server.holdings.streams === 0);
  assert.deepEqual(
    { levels: h.server.holdings.deltaLevels, subscriptions: h.server.holdings.subscriptions },
    { levels: 0, subscriptions: 0 },
    "nothing is left once the streams are gone",
  );
});

test("a stream re-subscribing a name it holds is sent it again while its twin is not, and both share a level again after the next push", async (t) => {
  const h = await startServer(t);
  setBoth(h, snapshot(...base));
  const p = h.client().delta();
  const q = h.client().delta();
  await syncAll(p, "p");
  await syncAll(q, "q");
  const levels = h.server.holdings.deltaLevels;

  q.send({ type_url: EDS.typeUrl, resource_names_subscribe: ["a"] });
  deltaAck(q, await nextDelta(q, EDS.typeUrl, { resources: [endpointsA] }, "q: re-subscribing a sends it again"));
  await deltaBarrier(p, "p: nothing for q's re-subscribe");
  await deltaBarrier(q, "q: nothing else");

  const movedB = endpoints("b", "10.0.0.8:80");
  setBoth(h, snapshot(...replacing(base, movedB)));
  deltaAck(p, await nextDelta(p, EDS.typeUrl, { resources: [movedB] }, "p: b moved"));
  deltaAck(q, await nextDelta(q, EDS.typeUrl, { resources: [movedB] }, "q: b moved"));
  await deltaBarrier(p, "p: after b");
  await deltaBarrier(q, "q: after b");
  assert.equal(h.server.holdings.deltaLevels, levels, "the two streams are at the same levels again");
});

test("a reconnecting proxy's initial_resource_versions: it is sent only what changed, then shares the level of a stream that never left", async (t) => {
  const h = await startServer(t);
  setBoth(h, snapshot(...base));
  const stays = h.client().delta();
  await syncAll(stays, "p");
  const c = h.client();
  const leaves = c.delta();
  leaves.send({ node: node("q"), type_url: CDS.typeUrl });
  const cds = await nextDelta(leaves, CDS.typeUrl, { resources: [clusterA, clusterB] }, "q: clusters");
  deltaAck(leaves, cds);
  leaves.send({ type_url: EDS.typeUrl, resource_names_subscribe: ["a", "b"] });
  const eds = await nextDelta(leaves, EDS.typeUrl, { resources: [endpointsA, endpointsB] }, "q: endpoints");
  deltaAck(leaves, eds);
  await deltaBarrier(leaves, "q: synced");
  leaves.cancel();
  await leaves.ended();

  // While q was away, cluster b and a's endpoints changed; p, connected, follows them.
  const changedB = edsCluster("b", { lbPolicy: "LEAST_REQUEST" });
  const movedA = endpoints("a", "10.0.0.9:80");
  setBoth(h, snapshot(...replacing(base, changedB, movedA)));
  deltaAck(stays, await nextDelta(stays, CDS.typeUrl, { resources: [changedB] }, "p: b changed"));
  deltaAck(stays, await nextDelta(stays, EDS.typeUrl, { resources: [movedA, endpointsB] }, "p: a moved, and b's endpoints follow its changed cluster"));
  await deltaBarrier(stays, "p: after the change");
  await waitFor(() => h.server.holdings.streams === 1);
  const levels = h.server.holdings.deltaLevels;

  const back = c.delta();
  back.send({ node: node("q"), type_url: CDS.typeUrl, initial_resource_versions: versionsOf(cds) });
  deltaAck(back, await nextDelta(back, CDS.typeUrl, { resources: [changedB] }, "q reconnects: only b"));
  back.send({ type_url: EDS.typeUrl, resource_names_subscribe: ["a", "b"], initial_resource_versions: versionsOf(eds) });
  deltaAck(back, await nextDelta(back, EDS.typeUrl, { resources: [movedA] }, "q reconnects: only a's endpoints"));
  await deltaBarrier(back, "q: nothing else after reconnecting");
  // The barrier secrets q subscribed differ from p's (one against p's one): the rest are p's.
  assert.equal(h.server.holdings.deltaLevels, levels + 1, "q's clusters and endpoints are at p's levels; only its barrier's secrets are its own");

  // The next push: one step for both.
  const movedB = endpoints("b", "10.0.0.8:80");
  setBoth(h, snapshot(...replacing(base, changedB, movedA, movedB)));
  deltaAck(stays, await nextDelta(stays, EDS.typeUrl, { resources: [movedB] }, "p: b moved"));
  deltaAck(back, await nextDelta(back, EDS.typeUrl, { resources: [movedB] }, "q: b moved"));
  await deltaBarrier(stays, "p: after b");
  await deltaBarrier(back, "q: after b");
});
