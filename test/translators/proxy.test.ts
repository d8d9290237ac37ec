// The proxy contract read from real request bytes, decoded the way the server decodes them.
import assert from "node:assert/strict";
import { test } from "node:test";
import { messageType, type DiscoveryRequest__Output } from "../../src/envoy/index.js";
import { proxyFromNode } from "../../src/translators/proxy.js";
import { requestDecoder } from "../../src/xds/requests.js";

type Value = { stringValue: string } | { structValue: { fields: Record<string, Value> } } | { numberValue: number };
const s = (v: string): Value => ({ stringValue: v });

function nodeFrom(id: string, fields: Record<string, Value>, userAgent = "envoy") {
  const type = messageType("envoy.service.discovery.v3.DiscoveryRequest");
  const bytes = Buffer.from(type.encode(type.fromObject({ node: { id, user_agent_name: userAgent, metadata: { fields } } })).finish());
  const decoded = requestDecoder<DiscoveryRequest__Output>("envoy.service.discovery.v3.DiscoveryRequest", () => 0)(bytes);
  assert.ok(decoded.ok && decoded.value.node);
  return decoded.value.node;
}

const full = { NAMESPACE: s("shop"), SERVICE_ACCOUNT: s("reviews"), LABELS: { structValue: { fields: { app: s("reviews"), version: s("v2") } } } };

test("a complete node: identity, labels, kind, instance IPs", () => {
  const r = proxyFromNode(nodeFrom("reviews-1", { ...full, PROXY_KIND: s("sidecar"), WORKLOAD_GROUP: s("reviews"), INSTANCE_IPS: s("10.0.0.1, 10.0.0.2") }));
  assert.deepEqual(r, {
    ok: true,
    proxy: { nodeId: "reviews-1", kind: "sidecar", namespace: "shop", serviceAccount: "reviews", labels: { app: "reviews", version: "v2" }, workloadGroup: "reviews", instanceIps: ["10.0.0.1", "10.0.0.2"], userAgent: { name: "envoy", version: "" } },
  });
});

test("the user agent is read from the node, for gating gRPC client variants", () => {
  const type = messageType("envoy.service.discovery.v3.DiscoveryRequest");
  const node = { id: "p", user_agent_name: "gRPC C-core linux Python", user_agent_version: "C-core 29.0.0 Python 1.51.1", metadata: { fields: full } };
  const bytes = Buffer.from(type.encode(type.fromObject({ node })).finish());
  const decoded = requestDecoder<DiscoveryRequest__Output>("envoy.service.discovery.v3.DiscoveryRequest", () => 0)(bytes);
  assert.ok(decoded.ok && decoded.value.node);
  const r = proxyFromNode(decoded.value.node);
  assert.ok(r.ok);
  assert.deepEqual(r.proxy.userAgent, { name: "gRPC C-core linux Python", version: "C-core 29.0.0 Python 1.51.1" });
  assert.equal(r.proxy.kind, "grpc");
});

const cases: { name: string; fields: Record<string, Value>; userAgent?: string; kind?: string; problems?: RegExp[] }[] = [
  { name: "no PROXY_KIND, gRPC user agent: grpc", fields: full, userAgent: "gRPC Node", kind: "grpc" },
  { name: "no PROXY_KIND, Envoy: sidecar", fields: full, kind: "sidecar" },
  { name: "gateway", fields: { ...full, PROXY_KIND: s("gateway") }, kind: "gateway" },
  { name: "unknown kind", fields: { ...full, PROXY_KIND: s("router") }, problems: [/PROXY_KIND is "router"; use one of sidecar, gateway, grpc/] },
  { name: "missing namespace and service account: both named", fields: { LABELS: full.LABELS }, problems: [/NAMESPACE is missing/, /SERVICE_ACCOUNT is missing/] },
  { name: "labels not a map of strings", fields: { ...full, LABELS: { structValue: { fields: { replicas: { numberValue: 3 } } } } }, problems: [/LABELS must be a map of string to string/] },
];

for (const c of cases) {
  test(`node contract: ${c.name}`, () => {
    const r = proxyFromNode(nodeFrom("p", c.fields, c.userAgent));
    if (c.kind !== undefined) {
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.proxy.kind, c.kind);
    } else {
      assert.ok(!r.ok);
      assert.equal(r.problems.length, c.problems?.length);
      c.problems?.forEach((p, i) => assert.match(r.problems[i] ?? "", p));
    }
  });
}
