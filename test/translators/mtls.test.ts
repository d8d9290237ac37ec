// Mutual TLS decisions: PeerAuthentication precedence (table-driven), the inbound filter chains
// each mode gives, and the upstream TLS a cluster gets (automatic mTLS, DestinationRule tls).
import assert from "node:assert/strict";
import { test } from "node:test";
import { stringify } from "yaml";
import { loadMesh } from "../../src/config/load.js";
import type { MeshModel } from "../../src/config/load.js";
import type { MeshResource } from "../../src/config/resources.js";
import { decodeMessage, encodeMessage } from "../../src/envoy/index.js";
import { inboundListener, type InboundPort } from "../../src/translators/inbound.js";
import { meshMtls, peerAuthentications, type MtlsMode } from "../../src/translators/mtls.js";
import { indexServices } from "../../src/translators/services.js";

type Doc = Record<string, unknown>;

function model(docs: readonly Doc[]): MeshModel {
  const loaded = loadMesh([{ path: "mesh.yaml", text: docs.map((d) => stringify(d)).join("---\n") }]);
  // The decisions are asked about workloads the config need not declare: a policy selecting none
  // of its declared workloads (GM0316) is beside the point here.
  const errors = loaded.diagnostics.filter((d) => d.severity === "error" && d.code !== "GM0316");
  assert.deepEqual(errors.map((d) => `${d.code} ${d.line}:${d.col} ${d.message}`), []);
  return loaded.model;
}

function pa(namespace: string, name: string, spec: Doc): Doc {
  return { apiVersion: "security.istio.io/v1", kind: "PeerAuthentication", metadata: { name, namespace }, spec };
}

const peerAuths = (m: MeshModel) => m.resources.filter((r): r is MeshResource<"PeerAuthentication"> => r.kind === "PeerAuthentication");

const WEB = { namespace: "shop", labels: { app: "web" } };
const OTHER = { namespace: "shop", labels: { app: "other" } };
const ELSEWHERE = { namespace: "data", labels: { app: "web" } };

const resolution: readonly { name: string; docs: Doc[]; expect: readonly [typeof WEB, number, MtlsMode][] }[] = [
  { name: "no policy: PERMISSIVE", docs: [pa("shop", "unrelated", { selector: { matchLabels: { app: "nothing" } }, mtls: { mode: "STRICT" } })], expect: [[WEB, 80, "PERMISSIVE"]] },
  { name: "mesh STRICT applies everywhere", docs: [pa("istio-system", "default", { mtls: { mode: "STRICT" } })], expect: [[WEB, 80, "STRICT"], [ELSEWHERE, 80, "STRICT"]] },
  { name: "mesh UNSET: the default PERMISSIVE", docs: [pa("istio-system", "default", { mtls: { mode: "UNSET" } })], expect: [[WEB, 80, "PERMISSIVE"]] },
  {
    name: "a policy with no selector outside the root namespace applies to its namespace only",
    docs: [pa("shop", "default", { mtls: { mode: "STRICT" } })],
    expect: [[WEB, 80, "STRICT"], [ELSEWHERE, 80, "PERMISSIVE"]],
  },
  {
    name: "namespace overrides mesh; UNSET at namespace level inherits the mesh's",
    docs: [pa("istio-system", "default", { mtls: { mode: "STRICT" } }), pa("shop", "default", { mtls: { mode: "DISABLE" } }), pa("data", "default", { mtls: { mode: "UNSET" } })],
    expect: [[WEB, 80, "DISABLE"], [ELSEWHERE, 80, "STRICT"]],
  },
  {
    name: "workload (selector) overrides namespace, only for the workloads it selects",
    docs: [pa("shop", "default", { mtls: { mode: "STRICT" } }), pa("shop", "web", { selector: { matchLabels: { app: "web" } }, mtls: { mode: "PERMISSIVE" } })],
    expect: [[WEB, 80, "PERMISSIVE"], [OTHER, 80, "STRICT"]],
  },
  {
    name: "a selector in the root namespace selects only workloads of the root namespace",
    docs: [pa("istio-system", "web", { selector: { matchLabels: { app: "web" } }, mtls: { mode: "STRICT" } })],
    expect: [[WEB, 80, "PERMISSIVE"], [{ namespace: "istio-system", labels: { app: "web" } }, 80, "STRICT"]],
  },
  {
    name: "portLevelMtls overrides the workload policy on that port; UNSET there keeps the workload's mode",
    docs: [pa("shop", "web", { selector: { matchLabels: { app: "web" } }, mtls: { mode: "STRICT" }, portLevelMtls: { "8080": { mode: "DISABLE" }, "9090": { mode: "UNSET" } } })],
    expect: [[WEB, 80, "STRICT"], [WEB, 8080, "DISABLE"], [WEB, 9090, "STRICT"]],
  },
  {
    name: "a workload policy without mtls, only ports: other ports inherit the namespace",
    docs: [pa("shop", "default", { mtls: { mode: "DISABLE" } }), pa("shop", "web", { selector: { matchLabels: { app: "web" } }, portLevelMtls: { "8080": { mode: "STRICT" } } })],
    expect: [[WEB, 80, "DISABLE"], [WEB, 8080, "STRICT"]],
  },
  {
    name: "two workload policies selecting one workload: the first by name wins",
    docs: [pa("shop", "b-strict", { selector: { matchLabels: { app: "web" } }, mtls: { mode: "STRICT" } }), pa("shop", "a-disable", { selector: { matchLabels: { app: "web" } }, mtls: { mode: "DISABLE" } })],
    expect: [[WEB, 80, "DISABLE"]],
  },
  {
    name: "two namespace policies: the first by name wins",
    docs: [pa("shop", "zz", { mtls: { mode: "DISABLE" } }), pa("shop", "aa", { mtls: { mode: "STRICT" } })],
    expect: [[WEB, 80, "STRICT"]],
  },
];

for (const c of resolution) {
  test(`PeerAuthentication: ${c.name}`, () => {
    const peers = peerAuthentications(peerAuths(model(c.docs)), "istio-system");
    for (const [workload, port, mode] of c.expect) assert.equal(peers.mode(workload, port), mode, `${workload.namespace} ${JSON.stringify(workload.labels)} port ${port}`);
  });
}

interface DecodedChain {
  name: string;
  filter_chain_match?: { transport_protocol?: string };
  transport_socket?: { name: string; typed_config: { value: Uint8Array } };
}

function chains(port: InboundPort): { chains: DecodedChain[]; listenerFilters: unknown[] } {
  const l = inboundListener("10.0.0.1", port, { authorization: [] });
  const decoded = decodeMessage(l.type, encodeMessage(l.type, l.message)) as { filter_chains: DecodedChain[]; listener_filters?: unknown[] };
  return { chains: decoded.filter_chains, listenerFilters: decoded.listener_filters ?? [] };
}

test("inbound STRICT: one TLS chain (SDS default and ROOTCA, client certificate required, ALPN on HTTP) behind the TLS inspector", () => {
  const { chains: out, listenerFilters } = chains({ port: 8080, protocol: "HTTP", mtls: "STRICT" });
  assert.equal(out.length, 1);
  assert.equal(listenerFilters.length, 1);
  const [tls] = out;
  assert.equal(tls?.filter_chain_match?.transport_protocol, "tls");
  const ctx = decodeMessage("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", tls!.transport_socket!.typed_config.value) as {
    require_client_certificate: { value: boolean };
    common_tls_context: { tls_certificate_sds_secret_configs: { name: string }[]; validation_context_sds_secret_config: { name: string }; alpn_protocols: string[] };
  };
  assert.equal(ctx.require_client_certificate.value, true);
  assert.deepEqual(ctx.common_tls_context.tls_certificate_sds_secret_configs.map((s) => s.name), ["default"]);
  assert.equal(ctx.common_tls_context.validation_context_sds_secret_config.name, "ROOTCA");
  assert.deepEqual(ctx.common_tls_context.alpn_protocols, ["h2", "http/1.1"]);
});

test("inbound PERMISSIVE: a TLS chain and a raw_buffer chain; DISABLE and no mode: plaintext only, no inspector", () => {
  const permissive = chains({ port: 5432, protocol: "TCP", mtls: "PERMISSIVE" });
  assert.deepEqual(permissive.chains.map((c) => c.filter_chain_match?.transport_protocol), ["tls", "raw_buffer"]);
  const ctx = decodeMessage("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", permissive.chains[0]!.transport_socket!.typed_config.value) as { common_tls_context: { alpn_protocols?: string[] } };
  assert.equal(ctx.common_tls_context.alpn_protocols, undefined, "no ALPN on a TCP port");
  for (const mtls of ["DISABLE", undefined] as const) {
    const plain = chains({ port: 5432, protocol: "TCP", ...(mtls === undefined ? {} : { mtls }) });
    assert.equal(plain.chains.length, 1);
    assert.equal(plain.chains[0]?.transport_socket, undefined);
    assert.equal(plain.chains[0]?.filter_chain_match, undefined);
    assert.deepEqual(plain.listenerFilters, []);
  }
});

function serviceEntry(spec: Doc): Doc {
  return { apiVersion: "networking.istio.io/v1", kind: "ServiceEntry", metadata: { name: "svc", namespace: "shop" }, spec: { hosts: ["svc.shop.svc.cluster.local"], ports: [{ number: 80, name: "http", protocol: "HTTP", targetPort: 8080 }], ...spec } };
}

function workload(name: string, spec: Doc): Doc {
  return { apiVersion: "networking.istio.io/v1", kind: "WorkloadEntry", metadata: { name, namespace: "shop" }, spec: { address: `10.0.0.${name.length}`, labels: { app: "svc" }, ...spec } };
}

const internal = serviceEntry({ location: "MESH_INTERNAL", resolution: "STATIC", workloadSelector: { labels: { app: "svc" } } });

const upstream: readonly { name: string; docs: Doc[]; expect: unknown }[] = [
  {
    name: "automatic mTLS: MESH_INTERNAL selecting workloads, verifying their service accounts (default when unnamed)",
    docs: [internal, workload("a", { serviceAccount: "svc" }), workload("bb", {})],
    expect: { t: "istio-mutual", auto: true, sans: ["spiffe://cluster.local/ns/shop/sa/default", "spiffe://cluster.local/ns/shop/sa/svc"] },
  },
  { name: "no automatic mTLS without endpoints", docs: [internal], expect: { t: "plaintext" } },
  {
    name: "no automatic mTLS to a MESH_EXTERNAL service",
    docs: [serviceEntry({ location: "MESH_EXTERNAL", resolution: "STATIC", workloadSelector: { labels: { app: "svc" } } }), workload("a", {})],
    expect: { t: "plaintext" },
  },
  {
    name: "no automatic mTLS to inline endpoints",
    docs: [serviceEntry({ location: "MESH_INTERNAL", resolution: "STATIC", endpoints: [{ address: "10.0.0.1" }] })],
    expect: { t: "plaintext" },
  },
  {
    name: "no automatic mTLS when a workload says it has no proxy (tlsMode label)",
    docs: [internal, workload("a", {}), workload("bb", { labels: { app: "svc", "security.istio.io/tlsMode": "disabled" } })],
    expect: { t: "plaintext" },
  },
  {
    name: "no automatic mTLS to a gateway workload (a Gateway selects it): its servers say what they accept, as Istio's gateway pods have no tlsMode label",
    docs: [
      internal,
      workload("a", { labels: { app: "svc", istio: "egressgateway" } }),
      { apiVersion: "networking.istio.io/v1", kind: "Gateway", metadata: { name: "egress", namespace: "edge" }, spec: { selector: { istio: "egressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }] } },
    ],
    expect: { t: "plaintext" },
  },
  {
    name: "automatic mTLS to workloads no Gateway selects, a Gateway in the mesh notwithstanding",
    docs: [
      internal,
      workload("a", { serviceAccount: "svc" }),
      { apiVersion: "networking.istio.io/v1", kind: "Gateway", metadata: { name: "egress", namespace: "edge" }, spec: { selector: { istio: "egressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }] } },
    ],
    expect: { t: "istio-mutual", auto: true, sans: ["spiffe://cluster.local/ns/shop/sa/svc"] },
  },
  {
    name: "no automatic mTLS when a workload's PeerAuthentication is DISABLE on the port it serves (targetPort)",
    docs: [internal, workload("a", {}), pa("shop", "svc", { selector: { matchLabels: { app: "svc" } }, portLevelMtls: { "8080": { mode: "DISABLE" } } })],
    expect: { t: "plaintext" },
  },
  {
    name: "DestinationRule ISTIO_MUTUAL: its subjectAltNames and sni, even to inline endpoints",
    docs: [
      serviceEntry({ resolution: "STATIC", endpoints: [{ address: "10.0.0.1" }] }),
      { apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: { name: "svc", namespace: "shop" }, spec: { host: "svc", trafficPolicy: { tls: { mode: "ISTIO_MUTUAL", subjectAltNames: ["spiffe://cluster.local/ns/shop/sa/x"], sni: "svc" } } } },
    ],
    expect: { t: "istio-mutual", auto: false, sans: ["spiffe://cluster.local/ns/shop/sa/x"], sni: "svc" },
  },
  {
    name: "DestinationRule DISABLE turns automatic mTLS off",
    docs: [internal, workload("a", {}), { apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: { name: "svc", namespace: "shop" }, spec: { host: "svc", trafficPolicy: { tls: { mode: "DISABLE" } } } }],
    expect: { t: "plaintext" },
  },
];

for (const c of upstream) {
  test(`upstream: ${c.name}`, () => {
    const m = model(c.docs);
    const service = indexServices(m).service("svc.shop.svc.cluster.local");
    assert.ok(service);
    const tls = service.rule?.spec.trafficPolicy?.tls;
    assert.deepEqual(meshMtls(m).upstream(service, service.ports[0]!, tls).security, c.expect);
  });
}

test("SAN checks name the trust domain, never the cluster domain: the two may differ (one setting feeds the CA and the translators)", () => {
  const text = [internal, workload("a", { serviceAccount: "svc" })].map((d) => stringify(d)).join("---\n");
  const loaded = loadMesh([{ path: "mesh.yaml", text: text.replaceAll("svc.shop.svc.cluster.local", "svc.shop.svc.corp.internal") }], { rootNamespace: "istio-system", clusterDomain: "corp.internal", trustDomain: "mesh.example" });
  assert.ok(loaded.ok, loaded.diagnostics.map((d) => d.message).join("\n"));
  const service = indexServices(loaded.model).service("svc.shop.svc.corp.internal");
  assert.ok(service);
  assert.deepEqual(meshMtls(loaded.model).upstream(service, service.ports[0]!, undefined).security, { t: "istio-mutual", auto: true, sans: ["spiffe://mesh.example/ns/shop/sa/svc"] });
});
