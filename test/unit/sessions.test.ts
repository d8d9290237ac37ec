// SotwSession and DeltaSession driven directly: tables of requests and snapshots in, actions out.
import { describe, test } from "node:test";
import { ADS_ORDER, CDS, EDS, LDS, RDS, resourcesOf, type ResourceKind } from "../../src/xds/index.js";
import { DeltaSession } from "../../src/xds/delta-session.js";
import { SotwSession } from "../../src/xds/sotw-session.js";
import { HeldTotals, NameAllowance } from "../../src/xds/allowance.js";
import { SubscriptionPool } from "../../src/xds/subscriptions.js";
import type { DeltaDiscoveryRequest__Output, DiscoveryRequest__Output } from "../../src/envoy/index.js";
import { apiListener, edsCluster, endpoints, routeTo, snapshot } from "../support/fixtures.js";
import { deltaReq, drive, nackDetail, nodeOf, sotwReq, type Step } from "../support/session-driver.js";

const node = nodeOf("proxy-1");
const NOPE = "type.googleapis.com/envoy.config.core.v3.Nope";
const INVALID_ARGUMENT = 3;
const RESOURCE_EXHAUSTED = 8;

const a = edsCluster("a");
const b = edsCluster("b");
const a2 = edsCluster("a", { connectTimeoutSeconds: 2 });
const epA = endpoints("a", "10.0.0.1:80");
const epB = endpoints("b", "10.0.0.2:80");
const base = snapshot(a, b, epA, epB, apiListener("l1", "r1"), routeTo("r1", "a"));
const aChanged = snapshot(a2, b, epA, epB, apiListener("l1", "r1"), routeTo("r1", "a"));
const withoutB = snapshot(a, epA, apiListener("l1", "r1"), routeTo("r1", "a"));
const routedToB = snapshot(a, b, epA, epB, apiListener("l1", "r1"), routeTo("r1", "b"));
const clustersOnly = snapshot(a, b);
const withX = snapshot(a, b, epA, epB, endpoints("x", "10.0.0.9:80"));
const noEndpointsA = snapshot(a, b, epB);

/** maxNames: the stream's name allowance (unbounded when absent). */
type Row<Req> = { name: string; serves?: ResourceKind[]; ordered?: boolean; maxNames?: number; steps: Step<Req>[] };

const send = (kind: ResourceKind, names: string[], removed: string[] = []) => ({ t: "send" as const, kind: kind.short, names, removed });
const ack = (kind: ResourceKind, nonce: string) => ({ t: "ack" as const, kind: kind.short, nonce });
const nack = (kind: ResourceKind, nonce: string) => ({ t: "nack" as const, kind: kind.short, nonce });
const close = (message: RegExp) => ({ t: "close" as const, code: INVALID_ARGUMENT, message });

/** A SotW request for a kind: the first one of a test carries the node. */
const sotw = (kind: ResourceKind | string, names: string[] = [], more: Partial<DiscoveryRequest__Output> = {}) =>
  sotwReq({ type_url: typeof kind === "string" ? kind : kind.typeUrl, resource_names: names, ...more });
const first = { node };

const sotwRows: Row<DiscoveryRequest__Output>[] = [
  { name: "first request without node closes with INVALID_ARGUMENT", steps: [{ req: sotw(CDS), expect: [close(/must carry node/)] }] },
  { name: "empty node.id closes with INVALID_ARGUMENT", steps: [{ req: sotw(CDS, [], { node: nodeOf("") }), expect: [close(/node\.id is empty/)] }] },
  {
    name: "ADS leaves a type it does not serve unanswered and keeps the node",
    steps: [
      { snap: base, expect: [] },
      { req: sotw(NOPE, [], first), expect: [{ t: "unserved", typeUrl: NOPE }] },
      { req: sotw(CDS, []), expect: [send(CDS, ["a", "b"])] },
    ],
  },
  { name: "ADS treats an empty type_url as a type it does not serve", steps: [{ req: sotw("", [], first), expect: [{ t: "unserved", typeUrl: "" }] }] },
  {
    name: "per-type session (serves [CDS]) accepts an empty type_url as CDS",
    serves: [CDS],
    ordered: false,
    steps: [{ snap: base, expect: [] }, { req: sotw("", [], first), expect: [send(CDS, ["a", "b"])] }],
  },
  { name: "per-type CDS session refuses another type", serves: [CDS], ordered: false, steps: [{ req: sotw(EDS, ["a"], first), expect: [close(/type_url "type\.googleapis\.com\/envoy\.config\.endpoint\.v3\.ClusterLoadAssignment" is not served/)] }] },
  {
    name: "no snapshot yet: nothing is sent until onSnapshot",
    steps: [{ req: sotw(CDS, [], first), expect: [] }, { req: sotw(EDS, ["a"]), expect: [] }, { snap: base, expect: [send(CDS, ["a", "b"]), send(EDS, ["a"])] }],
  },
  { name: "legacy wildcard: an empty first CDS list means every cluster", steps: [{ snap: base, expect: [] }, { req: sotw(CDS, [], first), expect: [send(CDS, ["a", "b"])] }] },
  {
    name: "named CDS subscription gets only those; an empty list afterwards means none",
    steps: [
      { snap: base, expect: [] },
      { req: sotw(CDS, ["b", "b"], first), expect: [send(CDS, ["b"])] },
      { req: sotw(CDS, [], { response_nonce: "1" }), expect: [ack(CDS, "1"), send(CDS, [])] },
    ],
  },
  {
    name: "EDS has no legacy wildcard; an explicit * is everything",
    steps: [{ snap: base, expect: [] }, { req: sotw(EDS, [], first), expect: [] }, { req: sotw(EDS, ["*"]), expect: [send(EDS, ["a", "b"])] }],
  },
  {
    name: "EDS names that do not exist: no send until they do",
    steps: [{ snap: base, expect: [] }, { req: sotw(EDS, ["x", "y"], first), expect: [] }, { snap: withX, expect: [send(EDS, ["x"])] }],
  },
  {
    name: "ACK, NACK, and a NACKed version is not re-sent",
    steps: [
      { snap: base, expect: [] },
      { req: sotw(CDS, [], first), expect: [send(CDS, ["a", "b"])] },
      { req: sotw(CDS, [], { response_nonce: "1" }), expect: [ack(CDS, "1")] },
      { snap: aChanged, expect: [send(CDS, ["a", "b"])] },
      { req: sotw(CDS, [], { response_nonce: "2", error_detail: nackDetail("bad cluster") }), expect: [nack(CDS, "2")] },
      { req: sotw(CDS, [], { response_nonce: "2" }), expect: [] },
    ],
  },
  {
    name: "a request with a stale nonce is ignored, subscription change included",
    steps: [
      { snap: base, expect: [] },
      { req: sotw(CDS, [], first), expect: [send(CDS, ["a", "b"])] },
      { snap: aChanged, expect: [send(CDS, ["a", "b"])] },
      { req: sotw(CDS, ["a"], { response_nonce: "1" }), expect: [] },
      { req: sotw(CDS, [], { response_nonce: "2" }), expect: [ack(CDS, "2")] },
    ],
  },
  {
    name: "reconnecting proxy that holds the current version is sent nothing; an old version is answered",
    steps: [
      { snap: base, expect: [] },
      { req: sotw(CDS, [], { ...first, version_info: resourcesOf(base, CDS.typeUrl).version }), expect: [] },
      { req: sotw(LDS, [], { version_info: "old" }), expect: [send(LDS, ["l1"])] },
    ],
  },
  {
    name: "an identical snapshot pushed again sends nothing",
    steps: [{ snap: base, expect: [] }, { req: sotw(CDS, [], first), expect: [send(CDS, ["a", "b"])] }, { snap: snapshot(b, a, epB, epA, apiListener("l1", "r1"), routeTo("r1", "a")), expect: [] }],
  },
  ...[true, false].map((ordered) => ({
    name: `a CDS change ${ordered ? "forces an EDS resend on an ordered (ADS) session" : "does not resend EDS on an unordered session"}`,
    ordered,
    steps: [
      { snap: base, expect: [] },
      { req: sotw(CDS, [], first), expect: [send(CDS, ["a", "b"])] },
      { req: sotw(EDS, ["a"]), expect: [send(EDS, ["a"])] },
      { req: sotw(CDS, [], { response_nonce: "1" }), expect: [ack(CDS, "1")] },
      { req: sotw(EDS, ["a"], { response_nonce: "2" }), expect: [ack(EDS, "2")] },
      { snap: aChanged, expect: ordered ? [send(CDS, ["a", "b"]), send(EDS, ["a"])] : [send(CDS, ["a", "b"])] },
    ],
  })),
  {
    name: "ordered: a CDS removal alone does not resend EDS",
    steps: [
      { snap: base, expect: [] },
      { req: sotw(CDS, [], first), expect: [send(CDS, ["a", "b"])] },
      { req: sotw(EDS, ["a"]), expect: [send(EDS, ["a"])] },
      { snap: snapshot(a, epA, epB), expect: [send(CDS, ["a"])] },
    ],
  },
  ...[true, false].map((ordered) => ({
    name: ordered ? "ordered: a removed cluster is kept until the route moving off it is ACKed" : "unordered: a removed cluster goes at once",
    ordered,
    steps: [
      { snap: routedToB, expect: [] },
      { req: sotw(CDS, [], first), expect: [send(CDS, ["a", "b"])] },
      { req: sotw(LDS), expect: [send(LDS, ["l1"])] },
      { req: sotw(RDS, ["r1"]), expect: [send(RDS, ["r1"])] },
      { req: sotw(CDS, [], { response_nonce: "1" }), expect: [ack(CDS, "1")] },
      { req: sotw(LDS, [], { response_nonce: "2" }), expect: [ack(LDS, "2")] },
      { req: sotw(RDS, ["r1"], { response_nonce: "3" }), expect: [ack(RDS, "3")] },
      { snap: withoutB, expect: ordered ? [send(RDS, ["r1"])] : [send(CDS, ["a"]), send(RDS, ["r1"])] },
      { req: sotw(RDS, ["r1"], { response_nonce: ordered ? "4" : "5" }), expect: ordered ? [ack(RDS, "4"), send(CDS, ["a"])] : [ack(RDS, "5")] },
    ],
  })),
  {
    name: "while holding (the proxy is not reading), responses are owed; on resume the latest state of each type goes once, in ADS order",
    steps: [
      { snap: base, expect: [] },
      { req: sotw(CDS, [], first), expect: [send(CDS, ["a", "b"])] },
      { hold: true, expect: [] },
      { req: sotw(EDS, ["a"]), expect: [] },
      { snap: aChanged, expect: [] },
      { snap: withoutB, expect: [] },
      { req: sotw(CDS, [], { response_nonce: "1", version_info: "" }), expect: [ack(CDS, "1")] },
      { resume: true, expect: [send(CDS, ["a"]), send(EDS, ["a"])] },
      { resume: true, expect: [] },
    ],
  },
  {
    name: "a request past the stream's name allowance closes it with RESOURCE_EXHAUSTED and keeps what it held",
    steps: [
      { snap: base, expect: [] },
      { req: sotw(EDS, ["a"], first), expect: [send(EDS, ["a"])] },
      { req: sotw(EDS, ["a", "b", "c"], { response_nonce: "1" }), expect: [ack(EDS, "1"), { t: "close", code: RESOURCE_EXHAUSTED, message: /would hold 3 resource names; at most 2 per stream/ }] },
    ],
    maxNames: 2,
  },
];

const delta = (kind: ResourceKind | string, subscribe: string[] = [], more: Partial<DeltaDiscoveryRequest__Output> = {}) =>
  deltaReq({ type_url: typeof kind === "string" ? kind : kind.typeUrl, resource_names_subscribe: subscribe, ...more });

const deltaRows: Row<DeltaDiscoveryRequest__Output>[] = [
  { name: "first request without node closes with INVALID_ARGUMENT", steps: [{ req: delta(CDS), expect: [close(/must carry node/)] }] },
  { name: "empty node.id closes", steps: [{ req: delta(CDS, [], { node: nodeOf("") }), expect: [close(/node\.id is empty/)] }] },
  { name: "ADS leaves a type it does not serve unanswered", steps: [{ req: delta(NOPE, [], first), expect: [{ t: "unserved", typeUrl: NOPE }] }] },
  { name: "a per-type session refuses another type", serves: [CDS], ordered: false, steps: [{ req: delta(EDS, [], first), expect: [close(/"type\.googleapis\.com\/envoy\.config\.endpoint\.v3\.ClusterLoadAssignment" is not served/)] }] },
  { name: "per-type session (serves [CDS]) accepts an empty type_url", serves: [CDS], ordered: false, steps: [{ snap: base, expect: [] }, { req: delta("", [], first), expect: [send(CDS, ["a", "b"])] }] },
  { name: "no snapshot yet: nothing is sent until onSnapshot", steps: [{ req: delta(EDS, ["a"], first), expect: [] }, { snap: base, expect: [send(EDS, ["a"])] }] },
  {
    name: "removed_resources names only what the client had",
    steps: [
      { snap: base, expect: [] },
      { req: delta(EDS, ["a", "ghost"], first), expect: [send(EDS, ["a"])] },
      { req: delta(EDS, [], { response_nonce: "1" }), expect: [ack(EDS, "1")] },
      { snap: noEndpointsA, expect: [send(EDS, [], ["a"])] },
    ],
  },
  {
    name: "wildcard CDS: a cluster gone from the snapshot is removed",
    steps: [{ snap: base, expect: [] }, { req: delta(CDS, [], first), expect: [send(CDS, ["a", "b"])] }, { snap: withoutB, expect: [send(CDS, [], ["b"])] }],
  },
  {
    name: "initial_resource_versions: only what differs is sent, only what the client holds is removed",
    steps: [
      { snap: clustersOnly, expect: [] },
      { req: delta(CDS, [], { ...first, initial_resource_versions: { a: a.version, b: "stale", gone: "v1" } }), expect: [send(CDS, ["b"], ["gone"])] },
    ],
  },
  {
    name: "an unsubscribed name is forgotten, not removed",
    steps: [
      { snap: base, expect: [] },
      { req: delta(EDS, ["a", "b"], first), expect: [send(EDS, ["a", "b"])] },
      { req: delta(EDS, [], { response_nonce: "1", resource_names_unsubscribe: ["b"] }), expect: [ack(EDS, "1")] },
      { snap: snapshot(a, b, epA), expect: [] },
    ],
  },
  {
    name: "a re-subscribe resends; a NACK is reported",
    steps: [
      { snap: base, expect: [] },
      { req: delta(EDS, ["a"], first), expect: [send(EDS, ["a"])] },
      { req: delta(EDS, [], { response_nonce: "1", error_detail: nackDetail("bad") }), expect: [nack(EDS, "1")] },
      { req: delta(EDS, ["a"]), expect: [send(EDS, ["a"])] },
    ],
  },
  ...[true, false].map((ordered) => ({
    name: ordered ? "ordered: a cluster removal is held until the route moving off it is ACKed" : "unordered: a cluster removal goes at once",
    ordered,
    steps: [
      { snap: routedToB, expect: [] },
      { req: delta(CDS, [], first), expect: [send(CDS, ["a", "b"])] },
      { req: delta(LDS), expect: [send(LDS, ["l1"])] },
      { req: delta(RDS, ["r1"]), expect: [send(RDS, ["r1"])] },
      { req: delta(CDS, [], { response_nonce: "1" }), expect: [ack(CDS, "1")] },
      { req: delta(LDS, [], { response_nonce: "2" }), expect: [ack(LDS, "2")] },
      { req: delta(RDS, [], { response_nonce: "3" }), expect: [ack(RDS, "3")] },
      { snap: withoutB, expect: ordered ? [send(RDS, ["r1"])] : [send(CDS, [], ["b"]), send(RDS, ["r1"])] },
      { req: delta(RDS, [], { response_nonce: ordered ? "4" : "5" }), expect: ordered ? [ack(RDS, "4"), send(CDS, [], ["b"])] : [ack(RDS, "5")] },
    ],
  })),
  {
    name: "while holding, changes are owed; on resume only the latest differences go, once",
    steps: [
      { snap: base, expect: [] },
      { req: delta(CDS, [], first), expect: [send(CDS, ["a", "b"])] },
      { hold: true, expect: [] },
      { req: delta(EDS, ["a"]), expect: [] },
      { snap: aChanged, expect: [] },
      { snap: withoutB, expect: [] },
      { resume: true, expect: [send(CDS, [], ["b"]), send(EDS, ["a"])] },
      { resume: true, expect: [] },
    ],
  },
  {
    name: "subscriptions and initial versions past the stream's allowance close it with RESOURCE_EXHAUSTED",
    steps: [
      { snap: base, expect: [] },
      { req: delta(EDS, ["a"], { ...first, initial_resource_versions: { x: "1" } }), expect: [send(EDS, ["a"])] },
      { req: delta(EDS, ["b"], { resource_names_unsubscribe: ["a"] }), expect: [send(EDS, ["b"])] },
      { req: delta(EDS, ["c"]), expect: [{ t: "close", code: RESOURCE_EXHAUSTED, message: /would hold 3 resource names; at most 2 per stream/ }] },
    ],
    maxNames: 2,
  },
];

function allowanceOf(row: { maxNames?: number }): NameAllowance {
  const max = row.maxNames ?? Number.POSITIVE_INFINITY;
  return new NameAllowance(new HeldTotals(), { maxNamesPerStream: max, maxNameCharsPerStream: Number.POSITIVE_INFINITY, maxNamesTotal: Number.POSITIVE_INFINITY, maxNameCharsTotal: Number.POSITIVE_INFINITY });
}

describe("SotwSession", () => {
  for (const row of sotwRows) {
    test(row.name, () => drive(new SotwSession(row.serves ?? ADS_ORDER, row.ordered ?? true, { pool: new SubscriptionPool(), allowance: allowanceOf(row) }), row.steps, false));
  }
});

describe("DeltaSession", () => {
  for (const row of deltaRows) {
    test(row.name, () => drive(new DeltaSession(row.serves ?? ADS_ORDER, row.ordered ?? true, allowanceOf(row)), row.steps, true));
  }
});
