// The make-before-break rules, driven on the sessions directly, in the scenarios a review found
// them failing: after a reconnect, with the gRPC client's order of ACK and route request, with a
// NACK, and in delta.
import { test } from "node:test";
import { ADS_ORDER, CDS, EDS, LDS, RDS, resourcesOf, type ResourceKind, type Snapshot } from "../../src/xds/index.js";
import { DeltaSession } from "../../src/xds/delta-session.js";
import { SotwSession } from "../../src/xds/sotw-session.js";
import type { DeltaDiscoveryRequest__Output, DiscoveryRequest__Output } from "../../src/envoy/index.js";
import { apiListener, edsCluster, endpoints, routeTo, snapshot } from "../support/fixtures.js";
import { deltaReq, drive, nackDetail, nodeOf, sotwReq } from "../support/session-driver.js";

const node = nodeOf("proxy-1");
const [a, x] = [edsCluster("a"), edsCluster("x")];
const [epA, epX] = [endpoints("a", "10.0.0.1:80"), endpoints("x", "10.0.0.9:80")];
/** Route r goes to x; the next commit moves it to a and deletes x. */
const s1 = snapshot(a, x, epA, epX, apiListener("l", "r"), routeTo("r", "x"));
const s2 = snapshot(a, epA, apiListener("l", "r"), routeTo("r", "a"));

const version = (s: Snapshot, k: ResourceKind) => resourcesOf(s, k.typeUrl).version;
const sotw = (kind: ResourceKind, names: string[], more: Partial<DiscoveryRequest__Output> = {}) =>
  sotwReq({ type_url: kind.typeUrl, resource_names: names, ...more });
const send = (kind: ResourceKind, names: string[], removed: string[] = []) => ({ t: "send" as const, kind: kind.short, names, removed });
const ack = (kind: ResourceKind, nonce: string) => ({ t: "ack" as const, kind: kind.short, nonce });

test("SotW: after a reconnect the proxy's clusters are known, so a removal still waits for the routes", () => {
  drive(
    new SotwSession(ADS_ORDER, true),
    [
      { snap: s1, expect: [] },
      { req: sotw(CDS, [], { node, version_info: version(s1, CDS) }), expect: [] },
      { req: sotw(LDS, [], { version_info: version(s1, LDS) }), expect: [] },
      { req: sotw(RDS, ["r"], { version_info: version(s1, RDS) }), expect: [] },
      { snap: s2, expect: [send(RDS, ["r"])] }, // CDS unchanged: x is held
      { req: sotw(RDS, ["r"], { response_nonce: "1" }), expect: [ack(RDS, "1"), send(CDS, ["a"])] },
    ],
    false,
  );
});

test("SotW: an ACKed listener whose new route was not even asked for yet does not release clusters", () => {
  // The gRPC client ACKs a listener first and asks for the route it names afterwards.
  const before = snapshot(a, x, epA, epX, apiListener("l", "r1"), routeTo("r1", "x"));
  const after = snapshot(a, epA, apiListener("l", "r2"), routeTo("r2", "a"));
  drive(
    new SotwSession(ADS_ORDER, true),
    [
      { snap: before, expect: [] },
      { req: sotw(CDS, [], { node }), expect: [send(CDS, ["a", "x"])] },
      { req: sotw(CDS, [], { response_nonce: "1" }), expect: [ack(CDS, "1")] },
      { req: sotw(LDS, []), expect: [send(LDS, ["l"])] },
      { req: sotw(LDS, [], { response_nonce: "2" }), expect: [ack(LDS, "2")] },
      { req: sotw(RDS, ["r1"]), expect: [send(RDS, ["r1"])] },
      { req: sotw(RDS, ["r1"], { response_nonce: "3" }), expect: [ack(RDS, "3")] },
      { snap: after, expect: [send(LDS, ["l"])] },
      { req: sotw(LDS, [], { response_nonce: "4" }), expect: [ack(LDS, "4")] }, // x still held
      { req: sotw(RDS, ["r1", "r2"], { response_nonce: "3" }), expect: [send(RDS, ["r2"])] },
      { req: sotw(RDS, ["r2"], { response_nonce: "5" }), expect: [ack(RDS, "5"), send(CDS, ["a"])] },
    ],
    false,
  );
});

test("SotW: before any response of a type was sent, a request's nonce is not stale", () => {
  // Older Envoys carry their last nonce across a reconnect; nothing was sent on this stream yet.
  drive(
    new SotwSession(ADS_ORDER, true),
    [
      { snap: s1, expect: [] },
      { req: sotw(CDS, [], { node, version_info: version(s1, CDS), response_nonce: "7" }), expect: [] },
      { req: sotw(CDS, ["a"], { response_nonce: "7" }), expect: [send(CDS, ["a"])] },
    ],
    false,
  );
});

test("SotW: a cluster change does not re-send endpoints the proxy rejected", () => {
  const changed = snapshot(edsCluster("a", { connectTimeoutSeconds: 3 }), x, epA, epX, apiListener("l", "r"), routeTo("r", "x"));
  drive(
    new SotwSession(ADS_ORDER, true),
    [
      { snap: s1, expect: [] },
      { req: sotw(CDS, [], { node }), expect: [send(CDS, ["a", "x"])] },
      { req: sotw(EDS, ["a", "x"]), expect: [send(EDS, ["a", "x"])] },
      { req: sotw(CDS, [], { response_nonce: "1" }), expect: [ack(CDS, "1")] },
      { req: sotw(EDS, ["a", "x"], { response_nonce: "2", error_detail: nackDetail("bad endpoints") }), expect: [{ t: "nack", kind: "EDS", nonce: "2" }] },
      { snap: changed, expect: [send(CDS, ["a", "x"])] },
    ],
    false,
  );
});

const delta = (kind: ResourceKind, subscribe: string[], more: Partial<DeltaDiscoveryRequest__Output> = {}) =>
  deltaReq({ type_url: kind.typeUrl, resource_names_subscribe: subscribe, ...more });

test("delta: endpoints follow a changed cluster even when they did not change", () => {
  const changed = snapshot(edsCluster("a", { connectTimeoutSeconds: 3 }), x, epA, epX, apiListener("l", "r"), routeTo("r", "x"));
  drive(
    new DeltaSession(ADS_ORDER, true),
    [
      { snap: s1, expect: [] },
      { req: delta(CDS, [], { node }), expect: [send(CDS, ["a", "x"])] },
      { req: delta(EDS, ["a", "x"]), expect: [send(EDS, ["a", "x"])] },
      { req: delta(CDS, [], { response_nonce: "1" }), expect: [ack(CDS, "1")] },
      { req: delta(EDS, [], { response_nonce: "2" }), expect: [ack(EDS, "2")] },
      { snap: changed, expect: [send(CDS, ["a"]), send(EDS, ["a"])] },
    ],
    true,
  );
});

test("delta: a NACKed route keeps the cluster it still uses; an accepted one releases it", () => {
  drive(
    new DeltaSession(ADS_ORDER, true),
    [
      { snap: s1, expect: [] },
      { req: delta(CDS, [], { node }), expect: [send(CDS, ["a", "x"])] },
      { req: delta(CDS, [], { response_nonce: "1" }), expect: [ack(CDS, "1")] },
      { req: delta(LDS, []), expect: [send(LDS, ["l"])] },
      { req: delta(LDS, [], { response_nonce: "2" }), expect: [ack(LDS, "2")] },
      { req: delta(RDS, ["r"]), expect: [send(RDS, ["r"])] },
      { req: delta(RDS, [], { response_nonce: "3" }), expect: [ack(RDS, "3")] },
      { snap: s2, expect: [send(RDS, ["r"])] },
      { req: delta(RDS, [], { response_nonce: "4", error_detail: nackDetail("no") }), expect: [{ t: "nack", kind: "RDS", nonce: "4" }] },
      { snap: snapshot(a, epA, apiListener("l", "r"), routeTo("r", { a: 100 })), expect: [send(RDS, ["r"])] },
      { req: delta(RDS, [], { response_nonce: "5" }), expect: [ack(RDS, "5"), send(CDS, [], ["x"])] },
    ],
    true,
  );
});

// Found with real Envoy (test/fleet, changes under load): a route naming a cluster Envoy has just
// been sent answers 503 until that cluster's endpoints arrive, a round trip later.
const n = edsCluster("n");
const epN = endpoints("n", "10.0.0.5:80");
/** Route r moves from x to a cluster n the proxy does not have yet. */
const s3 = snapshot(a, x, n, epA, epX, epN, apiListener("l", "r"), routeTo("r", "n"));

test("delta: routes naming a new cluster wait until its endpoints are ACKed", () => {
  drive(
    new DeltaSession(ADS_ORDER, true),
    [
      { snap: s1, expect: [] },
      { req: delta(CDS, [], { node }), expect: [send(CDS, ["a", "x"])] },
      { req: delta(EDS, ["a", "x"]), expect: [send(EDS, ["a", "x"])] },
      { req: delta(CDS, [], { response_nonce: "1" }), expect: [ack(CDS, "1")] },
      { req: delta(EDS, [], { response_nonce: "2" }), expect: [ack(EDS, "2")] },
      { req: delta(LDS, []), expect: [send(LDS, ["l"])] },
      { req: delta(LDS, [], { response_nonce: "3" }), expect: [ack(LDS, "3")] },
      { req: delta(RDS, ["r"]), expect: [send(RDS, ["r"])] },
      { req: delta(RDS, [], { response_nonce: "4" }), expect: [ack(RDS, "4")] },
      { snap: s3, expect: [send(CDS, ["n"])] }, // the route waits
      { req: delta(CDS, [], { response_nonce: "5" }), expect: [ack(CDS, "5")] }, // n is warming
      { req: delta(EDS, ["n"]), expect: [send(EDS, ["n"])] },
      { req: delta(EDS, [], { response_nonce: "6" }), expect: [ack(EDS, "6"), send(RDS, ["r"])] }, // n is warm
    ],
    true,
  );
});

test("delta: rejected endpoints of a new cluster do not hold its routes back", () => {
  drive(
    new DeltaSession(ADS_ORDER, true),
    [
      { snap: s1, expect: [] },
      { req: delta(CDS, [], { node }), expect: [send(CDS, ["a", "x"])] },
      { req: delta(EDS, ["a", "x"]), expect: [send(EDS, ["a", "x"])] },
      { req: delta(EDS, [], { response_nonce: "2" }), expect: [ack(EDS, "2")] },
      { req: delta(RDS, ["r"]), expect: [send(RDS, ["r"])] },
      { req: delta(RDS, [], { response_nonce: "3" }), expect: [ack(RDS, "3")] },
      { snap: s3, expect: [send(CDS, ["n"])] },
      { req: delta(EDS, ["n"]), expect: [send(EDS, ["n"])] },
      { req: delta(EDS, [], { response_nonce: "5", error_detail: nackDetail("bad") }), expect: [{ t: "nack", kind: "EDS", nonce: "5" }, send(RDS, ["r"])] },
    ],
    true,
  );
});

test("SotW: routes naming a new cluster wait until its endpoints are ACKed", () => {
  drive(
    new SotwSession(ADS_ORDER, true),
    [
      { snap: s1, expect: [] },
      { req: sotw(CDS, [], { node }), expect: [send(CDS, ["a", "x"])] },
      { req: sotw(EDS, ["a", "x"]), expect: [send(EDS, ["a", "x"])] },
      { req: sotw(CDS, [], { response_nonce: "1" }), expect: [ack(CDS, "1")] },
      { req: sotw(EDS, ["a", "x"], { response_nonce: "2" }), expect: [ack(EDS, "2")] },
      { req: sotw(RDS, ["r"]), expect: [send(RDS, ["r"])] },
      { req: sotw(RDS, ["r"], { response_nonce: "3" }), expect: [ack(RDS, "3")] },
      { snap: s3, expect: [send(CDS, ["a", "n", "x"]), send(EDS, ["a", "x"])] }, // endpoints follow; the route waits
      { req: sotw(CDS, [], { response_nonce: "4" }), expect: [ack(CDS, "4")] },
      { req: sotw(EDS, ["a", "n", "x"], { response_nonce: "5" }), expect: [ack(EDS, "5"), send(EDS, ["a", "n", "x"])] },
      { req: sotw(EDS, ["a", "n", "x"], { response_nonce: "6" }), expect: [ack(EDS, "6"), send(RDS, ["r"])] },
    ],
    false,
  );
});
