// The per-proxy sync view's rules, table by table: a type's state from what was sent and
// answered, and the commit a proxy runs, which is its label only while nothing is in flight.
import assert from "node:assert/strict";
import { test } from "node:test";
import { proxySync, type SyncSource } from "../../src/admin/proxy-status.js";
import { CDS, LDS, XdsStatus } from "../../src/xds/index.js";
import type { Holding } from "../../src/xds/session.js";

function setup(held: Record<string, Holding> = {}) {
  const status = new XdsStatus();
  let label: string | undefined = "c1";
  status.observe({ labelOf: () => label });
  status.opened({ id: 1, proxy: "plain/p", nodeId: "p", protocol: "sotw", method: "ADS", peer: "ipv4:10.0.0.1:5000", connectedAt: 0 });
  const source: SyncSource = { status, holding: (_id, typeUrl) => held[typeUrl] };
  const view = () => {
    const s = status.list()[0];
    assert.ok(s !== undefined);
    return proxySync(source, s);
  };
  return { status, view, relabel: (l: string) => (label = l) };
}

test("a type accepted at a commit, then a commit that changes nothing for the proxy: it runs the new commit", () => {
  const { status, view, relabel } = setup();
  status.sent(1, CDS, "v1", "1");
  assert.equal(view().types["CDS"]?.state, "STALE");
  assert.equal(view().commit, null, "nothing accepted yet");
  status.acked(1, CDS, "v1");
  assert.deepEqual([view().state, view().commit, view().types["CDS"]?.acceptedCommit, view().types["LDS"]?.state], ["SYNCED", "c1", "c1", "NOT SENT"]);
  relabel("c2");
  assert.deepEqual([view().commit, view().types["CDS"]?.acceptedCommit], ["c2", "c2"]);
});

test("while a type is in flight the others show the commit they were ACKed at; a NACK keeps the accepted commit and the text", () => {
  const { status, view, relabel } = setup();
  status.sent(1, CDS, "v1", "1");
  status.acked(1, CDS, "v1");
  relabel("c2");
  status.sent(1, LDS, "l2", "2");
  let v = view();
  assert.deepEqual([v.state, v.commit, v.types["CDS"]?.acceptedCommit, v.types["LDS"]?.state, v.types["LDS"]?.acceptedCommit], ["STALE", null, "c1", "STALE", null]);
  status.nacked({ proxy: "plain/p", streamId: 1, type: "LDS", typeUrl: LDS.typeUrl, version: "l2", nonce: "2", code: 3, message: "bad listener", at: 0 });
  v = view();
  assert.deepEqual([v.state, v.commit, v.types["CDS"]?.acceptedCommit, v.types["LDS"]?.state, v.types["LDS"]?.acceptedCommit], ["NACKED", null, "c2", "NACKED", null]);
  assert.equal(v.types["LDS"]?.lastNack?.message, "bad listener");
  // The next content is accepted: the NACK stays as history, the state is SYNCED.
  relabel("c3");
  status.sent(1, LDS, "l3", "3");
  status.acked(1, LDS, "l3");
  v = view();
  assert.deepEqual([v.state, v.commit, v.types["LDS"]?.state, v.types["LDS"]?.acceptedCommit], ["SYNCED", "c3", "SYNCED", "c3"]);
  assert.equal(v.types["LDS"]?.lastNack?.message, "bad listener");
});

test("a reconnecting proxy that already held its config was sent nothing, and is SYNCED", () => {
  const held: Holding = { version: "v9", answer: "ack", count: 3, resources: () => ({ items: [], outdated: [] }) };
  const { view } = setup({ [CDS.typeUrl]: held });
  const v = view();
  assert.deepEqual([v.state, v.commit, v.types["CDS"]?.state, v.types["CDS"]?.sentVersion, v.types["CDS"]?.ackedVersion, v.types["CDS"]?.resources], ["SYNCED", "c1", "SYNCED", "v9", "v9", 3]);
});
