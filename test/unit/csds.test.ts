// CSDS answers without a server: node matchers, and the bound on the plaintext port.
import assert from "node:assert/strict";
import { test } from "node:test";
import { status as grpcStatus } from "@grpc/grpc-js";
import { clientStatus, PLAINTEXT_CSDS_PROXIES } from "../../src/xds/csds.js";
import { PLAINTEXT, XdsStatus, type EndpointPolicy } from "../../src/xds/index.js";
import type { ClientStatusRequest__Output } from "../../src/envoy/index.js";

function store(n: number): XdsStatus {
  const status = new XdsStatus();
  for (let i = 1; i <= n; i++) status.opened({ id: i, proxy: `plain/p${i}`, nodeId: `p${i}`, protocol: "sotw", method: "ADS", peer: "", connectedAt: 0, endpoint: "plaintext" });
  return status;
}

const request = (matchers: ClientStatusRequest__Output["node_matchers"] = []): ClientStatusRequest__Output => ({ node_matchers: matchers, node: null, exclude_resource_contents: false });
const operator: EndpointPolicy = { t: "authenticated", authenticate: () => ({ ok: true, identity: { namespace: "istio-system", serviceAccount: "gitmesh-operator" } }) };
const exact = (id: string) => ({ node_id: { exact: id, prefix: "", suffix: "", contains: "", ignore_case: false, safe_regex: null, custom: null, match_pattern: "exact" as const }, node_metadatas: [] });

test("the plaintext port answers about a bounded number of proxies at once; the operator's port about all", () => {
  const source = { status: store(3), holding: () => undefined, operator: () => {} };
  const over = clientStatus(source, PLAINTEXT, request(), 2);
  assert.equal(over.ok, false);
  assert.equal(!over.ok && over.code, grpcStatus.RESOURCE_EXHAUSTED);
  assert.match(!over.ok ? over.details : "", /matches 3 proxies; .* at most 2 at once: narrow node_matchers/);
  assert.equal(clientStatus(source, PLAINTEXT, request([exact("p2")]), 2).ok, true, "a narrower request is answered");
  assert.equal(clientStatus(source, operator, request(), 2).ok, true);
  assert.ok(PLAINTEXT_CSDS_PROXIES >= 64);
});
