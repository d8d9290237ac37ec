// State-of-the-world ADS, asserted on exactly what a scripted client receives over real gRPC.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CDS, EDS, LDS, RDS, SDS, type NackRecord } from "../../src/xds/index.js";
import { apiListener, edsCluster, endpoints, replacing, routeTo, secret, snapshot } from "../support/fixtures.js";
import { ack, barrier, barrierSecrets, nack, nextOf, startServer } from "../support/harness.js";
import { namesOf, node, type SotwResponse, type SotwStream } from "../support/xds-client.js";

const base = [
  edsCluster("a"),
  edsCluster("b"),
  endpoints("a", "10.0.0.1:80"),
  endpoints("b", "10.0.0.2:80"),
  apiListener("l1", "r1"),
  routeTo("r1", "a"),
  ...barrierSecrets,
];

/** Subscribes to everything the way Envoy does (CDS wildcard, EDS by name, LDS wildcard, RDS by name) and ACKs it all. */
async function syncAll(s: SotwStream, id: string): Promise<Record<string, SotwResponse>> {
  s.send({ node: node(id), type_url: CDS.typeUrl });
  const cds = await nextOf(s, CDS.typeUrl);
  ack(s, cds);
  s.send({ type_url: EDS.typeUrl, resource_names: ["a", "b"] });
  const eds = await nextOf(s, EDS.typeUrl);
  ack(s, eds, ["a", "b"]);
  s.send({ type_url: LDS.typeUrl });
  const lds = await nextOf(s, LDS.typeUrl);
  ack(s, lds);
  s.send({ type_url: RDS.typeUrl, resource_names: ["r1"] });
  const rds = await nextOf(s, RDS.typeUrl);
  ack(s, rds, ["r1"]);
  await barrier(s, "initial sync");
  return { cds, eds, lds, rds };
}

test("a push that changes every type arrives in ADS order: clusters, endpoints, listeners, routes, secrets", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().sotw();
  await syncAll(s, "p");

  const changed = snapshot(
    ...replacing(
      base,
      edsCluster("a", { connectTimeoutSeconds: 2 }),
      endpoints("a", "10.0.0.9:80"),
      apiListener("l1", "r2"),
      routeTo("r1", "b"),
      routeTo("r2", "a"),
      secret("barrier-0", "rotated") // syncAll's barrier subscribed to it,
    ),
  );
  assert.deepEqual(h.cache.set("p", changed), { ok: true });
  const order = [];
  for (let i = 0; i < 5; i++) order.push((await s.next()).type_url);
  assert.deepEqual(order, [CDS.typeUrl, EDS.typeUrl, LDS.typeUrl, RDS.typeUrl, SDS.typeUrl]);
});

test("versions are content hashes: equal content gives equal versions on any stream, and an identical push sends nothing", async (t) => {
  const h = await startServer(t);
  h.cache.set("p1", snapshot(...base));
  h.cache.set("p2", snapshot(...[...base].reverse()));
  const s1 = h.client().sotw();
  const s2 = h.client().sotw();
  const r1 = await syncAll(s1, "p1");
  const r2 = await syncAll(s2, "p2");
  for (const type of ["cds", "eds", "lds", "rds"]) assert.equal(r1[type]?.version_info, r2[type]?.version_info);
  assert.deepEqual(namesOf(r1["cds"]!), ["a", "b"], "resources are sorted by name");

  h.cache.set("p1", snapshot(...base));
  await barrier(s1, "identical snapshot pushed again");
});

test("ACK records the accepted version; NACK is recorded and the rejected content is never re-sent", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().sotw();
  const { cds } = await syncAll(s, "p");
  await barrier(s, "after ACKs");
  const clusterStatus = () => h.server.status.list()[0]?.types.get(CDS.typeUrl);
  assert.equal(clusterStatus()?.ackedVersion, cds!.version_info);

  h.cache.set("p", snapshot(...replacing(base, edsCluster("b", { lbPolicy: "MAGLEV" }))));
  const bad = await nextOf(s, CDS.typeUrl);
  const edsAgain = await nextOf(s, EDS.typeUrl); // a changed cluster is re-warmed, so endpoints follow
  ack(s, edsAgain, ["a", "b"]);
  nack(s, bad, cds!.version_info, "cluster b: unsupported lb_policy MAGLEV");
  await barrier(s, "after NACK");

  const [record] = h.server.status.recentNacks();
  assert.ok(record);
  assert.equal(record.proxy, "p");
  assert.equal(record.type, "CDS");
  assert.equal(record.version, bad.version_info);
  assert.equal(record.message, "cluster b: unsupported lb_policy MAGLEV");
  assert.equal(clusterStatus()?.ackedVersion, cds!.version_info, "the proxy still runs the version it accepted");
  assert.equal(clusterStatus()?.lastNack?.version, bad.version_info);

  // The same bad content again: still nothing. New content: sent.
  h.cache.set("p", snapshot(...replacing(base, edsCluster("b", { lbPolicy: "MAGLEV" }))));
  await barrier(s, "same rejected content pushed again");
  h.cache.set("p", snapshot(...base));
  const fixed = await nextOf(s, CDS.typeUrl);
  assert.equal(fixed.version_info, cds!.version_info);
});

test("a request with a stale nonce is ignored; only the answer to the latest response counts", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().sotw();
  const { cds } = await syncAll(s, "p");
  h.cache.set("p", snapshot(...base, edsCluster("c"), endpoints("c")));
  const v2 = await nextOf(s, CDS.typeUrl);
  await nextOf(s, EDS.typeUrl); // a new cluster: endpoints are re-sent after it
  h.cache.set("p", snapshot(...base, edsCluster("d"), endpoints("d")));
  const v3 = await nextOf(s, CDS.typeUrl);
  await nextOf(s, EDS.typeUrl);
  assert.notEqual(v2.nonce, v3.nonce);

  nack(s, v2, cds!.version_info, "stale complaint"); // answers v2, but v3 is already out
  await barrier(s, "stale NACK");
  assert.equal(h.server.status.recentNacks().length, 0, "a stale NACK is not recorded");
  ack(s, v3);
  await barrier(s, "ACK of the latest");
  assert.equal(h.server.status.list()[0]?.types.get(CDS.typeUrl)?.ackedVersion, v3.version_info);
});

test("legacy wildcard, explicit '*' and named subscriptions for clusters", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().sotw();
  s.send({ node: node("p"), type_url: CDS.typeUrl, resource_names: [] });
  const all = await nextOf(s, CDS.typeUrl);
  assert.deepEqual(namesOf(all), ["a", "b"], "an empty first list is the legacy wildcard");

  ack(s, all, ["a"]);
  const named = await nextOf(s, CDS.typeUrl);
  assert.deepEqual(namesOf(named), ["a"], "naming a cluster ends the wildcard");

  ack(s, named, []);
  const none = await nextOf(s, CDS.typeUrl);
  assert.deepEqual(namesOf(none), [], "after naming something, an empty list means nothing");

  ack(s, none, ["*", "a"]);
  const explicit = await nextOf(s, CDS.typeUrl);
  assert.deepEqual(namesOf(explicit), ["a", "b"], "'*' is the explicit wildcard");
  assert.equal(explicit.version_info, all.version_info);
});

test("names asked for before they exist are answered when they appear; duplicates are sent once", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().sotw();
  await syncAll(s, "p");
  s.send({ type_url: RDS.typeUrl, resource_names: ["r1", "later", "later"], response_nonce: "" });
  // The RDS request above carries a nonce that is not the latest: it is ignored, as Envoy's
  // real follow-up will carry the latest nonce. Send it again properly.
  await barrier(s, "stale-nonce subscription change");
  const rdsNonce = h.server.status.list()[0]?.types.get(RDS.typeUrl)?.sentNonce ?? "";
  s.send({ type_url: RDS.typeUrl, resource_names: ["r1", "later", "later"], response_nonce: rdsNonce });
  await barrier(s, "subscribing to a route that does not exist yet");

  h.cache.set("p", snapshot(...base, routeTo("later", "b")));
  const res = await nextOf(s, RDS.typeUrl);
  assert.deepEqual(namesOf(res), ["later", "r1"]);
});

test("RDS and EDS carry only what was asked; LDS and CDS always carry the full set", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base, routeTo("r2", "b")));
  const s = h.client().sotw();
  await syncAll(s, "p");
  h.cache.set("p", snapshot(...replacing(base, edsCluster("a", { connectTimeoutSeconds: 5 }), routeTo("r2", "a"))));
  const cds = await nextOf(s, CDS.typeUrl);
  assert.deepEqual(namesOf(cds), ["a", "b"], "one changed cluster, yet every cluster is sent");
  const eds = await nextOf(s, EDS.typeUrl);
  assert.deepEqual(namesOf(eds), ["a", "b"], "endpoints follow a changed cluster");
  ack(s, cds);
  ack(s, eds, ["a", "b"]);
  await barrier(s, "r2 changed but is not subscribed");
});

test("unsubscribing stops updates for a route", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base, routeTo("r2", "b")));
  const s = h.client().sotw();
  s.send({ node: node("p"), type_url: RDS.typeUrl, resource_names: ["r1", "r2"] });
  const both = await nextOf(s, RDS.typeUrl);
  assert.deepEqual(namesOf(both), ["r1", "r2"]);
  ack(s, both, ["r1"]);
  const one = await nextOf(s, RDS.typeUrl);
  assert.deepEqual(namesOf(one), ["r1"]);
  ack(s, one, ["r1"]);
  h.cache.set("p", snapshot(...base, routeTo("r2", "a")));
  await barrier(s, "change to an unsubscribed route");
  h.cache.set("p", snapshot(...replacing(base, routeTo("r1", "b"), routeTo("r2", "a"))));
  assert.deepEqual(namesOf(await nextOf(s, RDS.typeUrl)), ["r1"]);
});

test("a reconnecting proxy that reports the current version is not sent it again", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const c = h.client();
  const first = c.sotw();
  const { cds, eds } = await syncAll(first, "p");
  first.cancel();
  await first.ended();

  const second = c.sotw();
  second.send({ node: node("p"), type_url: CDS.typeUrl, version_info: cds!.version_info });
  second.send({ type_url: EDS.typeUrl, resource_names: ["a", "b"], version_info: eds!.version_info });
  await barrier(second, "reconnect with current versions");

  const third = c.sotw();
  third.send({ node: node("p"), type_url: CDS.typeUrl, version_info: "some-older-version" });
  assert.deepEqual(namesOf(await nextOf(third, CDS.typeUrl)), ["a", "b"]);
});

test("clusters removed by a push stay until the routes that used them are replaced and ACKed", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().sotw();
  await syncAll(s, "p");
  // One commit: r1 moves from cluster a to a new cluster c, and a goes away.
  const next = [edsCluster("b"), edsCluster("c"), endpoints("b", "10.0.0.2:80"), endpoints("c", "10.0.0.3:80")];
  h.cache.set("p", snapshot(...next, apiListener("l1", "r1"), routeTo("r1", "c"), ...barrierSecrets));
  const cds = await nextOf(s, CDS.typeUrl);
  assert.deepEqual(namesOf(cds), ["a", "b", "c"], "c arrives before the route needs it; a stays while r1 still points at it");
  ack(s, cds);
  const eds = await nextOf(s, EDS.typeUrl);
  ack(s, eds, ["a", "b", "c"]); // Envoy, having created cluster c, asks for its endpoints
  const edsForC = await nextOf(s, EDS.typeUrl);
  assert.deepEqual(namesOf(edsForC), ["b", "c"]);
  await barrier(s, "the route waits while c is warming (its endpoints not yet ACKed)");
  ack(s, edsForC, ["a", "b", "c"]);
  const rds = await nextOf(s, RDS.typeUrl); // c is warm: the route may name it
  await barrier(s, "a is still held while the new route is unanswered");
  ack(s, rds, ["r1"]);
  const final = await nextOf(s, CDS.typeUrl);
  assert.deepEqual(namesOf(final), ["b", "c"], "a goes once the new route is in place");
});

test("per-type services serve their one type; an empty type_url means that type", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const c = h.client();
  const clusters = c.sotw("/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters");
  clusters.send({ node: node("p") });
  assert.deepEqual(namesOf(await nextOf(clusters, CDS.typeUrl)), ["a", "b"]);

  const routes = c.sotw("/envoy.service.route.v3.RouteDiscoveryService/StreamRoutes");
  routes.send({ node: node("p"), type_url: CDS.typeUrl });
  const status = await routes.ended();
  assert.equal(status.code, 3);
  assert.match(status.details, /not served on this stream; it serves type.googleapis.com\/envoy.config.route.v3.RouteConfiguration/);
});

test("an inconsistent snapshot is refused and proxies keep the last good one", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().sotw();
  await syncAll(s, "p");
  const result = h.cache.set("p", snapshot(edsCluster("a"), apiListener("l1", "missing-route"), ...barrierSecrets));
  assert.equal(result.ok, false);
  assert.ok(!result.ok && result.problems.length === 2, "missing endpoints for a and missing route");
  await barrier(s, "refused snapshot");
});

test("held clusters stay while the proxy NACKs the new route, and go once a fixed route is ACKed", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().sotw();
  await syncAll(s, "p");
  const next = [edsCluster("b"), edsCluster("c"), endpoints("b", "10.0.0.2:80"), endpoints("c", "10.0.0.3:80"), apiListener("l1", "r1")];
  h.cache.set("p", snapshot(...next, routeTo("r1", "c"), ...barrierSecrets));
  const cds = await nextOf(s, CDS.typeUrl);
  ack(s, cds);
  const eds = await nextOf(s, EDS.typeUrl);
  ack(s, eds, ["a", "b", "c"]);
  ack(s, await nextOf(s, EDS.typeUrl), ["a", "b", "c"]);
  const rds = await nextOf(s, RDS.typeUrl);
  nack(s, rds, "", "route r1 rejected", ["r1"]);
  await barrier(s, "the proxy still routes r1 to a: a must stay");
  assert.deepEqual(namesOf(cds), ["a", "b", "c"]);

  h.cache.set("p", snapshot(...next, routeTo("r1", { c: 100 }), ...barrierSecrets));
  ack(s, await nextOf(s, RDS.typeUrl), ["r1"]);
  assert.deepEqual(namesOf(await nextOf(s, CDS.typeUrl)), ["b", "c"], "a goes once a route is accepted");
});

test("every NACK reaches the onNack hook with its record (metrics count them)", async (t) => {
  const seen: NackRecord[] = [];
  const h = await startServer(t, { onNack: (r) => seen.push(r) });
  h.cache.set("p", snapshot(...base));
  const s = h.client().sotw();
  const { cds } = await syncAll(s, "p");
  h.cache.set("p", snapshot(...replacing(base, edsCluster("b", { lbPolicy: "MAGLEV" }))));
  const bad = await nextOf(s, CDS.typeUrl);
  ack(s, await nextOf(s, EDS.typeUrl), ["a", "b"]); // endpoints follow a changed cluster
  nack(s, bad, cds!.version_info, "unsupported lb_policy");
  await barrier(s, "after the NACK");
  assert.deepEqual(
    seen.map((r) => [r.proxy, r.type, r.version, r.message]),
    [["p", "CDS", bad.version_info, "unsupported lb_policy"]],
  );
});

test("a repeated list keeps its subscription, and repeating the named part of a wildcard list ends the wildcard", async (t) => {
  const h = await startServer(t);
  h.cache.set("p", snapshot(...base));
  const s = h.client().sotw();
  s.send({ node: node("p"), type_url: CDS.typeUrl, resource_names: ["*", "a"] });
  const all = await nextOf(s, CDS.typeUrl);
  assert.deepEqual(namesOf(all), ["a", "b"]);
  ack(s, all, ["a"]);
  const named = await nextOf(s, CDS.typeUrl);
  assert.deepEqual(namesOf(named), ["a"], "dropping '*' ends the wildcard");
  ack(s, named, ["a"]);
  await barrier(s, "the ACK repeating its list");
  h.cache.set("p", snapshot(...replacing(base, edsCluster("a", { connectTimeoutSeconds: 7 }), edsCluster("b", { connectTimeoutSeconds: 7 }))));
  const pushed = await nextOf(s, CDS.typeUrl);
  assert.deepEqual(namesOf(pushed), ["a"], "the repeated list kept the named subscription");
});
