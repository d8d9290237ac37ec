// Clusters and endpoints from ServiceEntries and DestinationRules, case by case from YAML: each
// resolution, load balancer, connection pool, outlier detection, port-level and subset overrides,
// HTTP/2 protocol options, endpoints by locality and weight, subsets. Every cluster and
// ClusterLoadAssignment produced must pass Envoy's validation rules (PGV).
import assert from "node:assert/strict";
import { test } from "node:test";
import { stringify } from "yaml";
import { loadMesh } from "../../src/config/load.js";
import { decodeMessage, encodeMessage, typeUrlOf, validateMessage } from "../../src/envoy/index.js";
import type { Cluster, ClusterLoadAssignment } from "../../src/envoy/index.js";
import { clusterNotes, serviceClusters, trafficPolicyFor } from "../../src/translators/clusters.js";
import { serviceEndpoints } from "../../src/translators/endpoints.js";
import type { MeshResource } from "../../src/config/resources.js";
import { gitmeshResolves, indexServices, type DnsAnswers, type MeshService } from "../../src/translators/services.js";
import { ClusterResourceType } from "@grpc/grpc-js-xds/build/src/xds-resource-type/cluster-resource-type.js";
import { EndpointResourceType } from "@grpc/grpc-js-xds/build/src/xds-resource-type/endpoint-resource-type.js";
import type { XdsDecodeContext } from "@grpc/grpc-js-xds/build/src/xds-resource-type/xds-resource-type.js";

const HOST = "svc.shop.svc.cluster.local";
const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const MAX = 4_294_967_295;

type Doc = Record<string, unknown>;

function serviceEntry(spec: Doc): Doc {
  return { apiVersion: "networking.istio.io/v1", kind: "ServiceEntry", metadata: { name: "svc", namespace: "shop" }, spec: { hosts: [HOST], ...spec } };
}

function destinationRule(spec: Doc): Doc {
  return { apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: { name: "svc", namespace: "shop" }, spec: { host: "svc", ...spec } };
}

function workload(name: string, spec: Doc): Doc {
  return { apiVersion: "networking.istio.io/v1", kind: "WorkloadEntry", metadata: { name, namespace: "shop" }, spec };
}

const HTTP = { number: 80, name: "http", protocol: "HTTP" };
const GRPC = { number: 9090, name: "grpc", protocol: "GRPC" };
const HTTP2 = { number: 8080, name: "h2", protocol: "HTTP2" };
const TCP = { number: 5432, name: "tcp", protocol: "TCP" };

/** A STATIC service on port 80 with two endpoints, and a DestinationRule with `rule` as its spec. */
function withRule(rule: Doc, ports: readonly Doc[] = [HTTP]): Doc[] {
  return [
    serviceEntry({ resolution: "STATIC", ports, endpoints: [{ address: "10.0.0.1", labels: { version: "v1" } }, { address: "10.0.0.2", labels: { version: "v2" } }] }),
    destinationRule(rule),
  ];
}

interface Output {
  readonly service: MeshService;
  readonly clusters: Map<string, Cluster>;
  readonly endpoints: Map<string, ClusterLoadAssignment>;
  readonly notes: string[];
}

function translate(docs: readonly Doc[], host = HOST, answers: DnsAnswers = new Map()): Output {
  const text = docs.map((d) => stringify(d)).join("---\n");
  const loaded = loadMesh([{ path: "mesh.yaml", text }]);
  assert.ok(loaded.ok, loaded.diagnostics.map((d) => `${d.code} ${d.line}:${d.col} ${d.message}`).join("\n"));
  const service = indexServices(loaded.model, answers).service(host);
  assert.ok(service, `no service ${host}`);
  const clusters = serviceClusters(service);
  const endpoints = serviceEndpoints(service);
  for (const c of clusters) {
    assert.deepEqual(validateMessage(c.type, encodeMessage(c.type, c.message)), [], `cluster ${c.name} breaks Envoy's validation rules`);
    assert.equal(c.message.name, c.name);
  }
  for (const e of endpoints) {
    assert.deepEqual(validateMessage(e.type, encodeMessage(e.type, e.message)), [], `endpoints ${e.name} break Envoy's validation rules`);
    assert.equal(e.message.cluster_name, e.name);
  }
  const names = (xs: readonly { name: string }[]) => xs.map((x) => x.name);
  assert.deepEqual(names(clusters), [...names(clusters)].sort(), "clusters sorted by name");
  assert.deepEqual(names(endpoints), [...names(endpoints)].sort(), "endpoints sorted by name");
  assert.deepEqual(
    names(endpoints),
    clusters.filter((c) => c.message.type === "EDS").map((c) => c.name),
    "every EDS cluster, and only those, has a ClusterLoadAssignment of its name",
  );
  assert.deepEqual(serviceClusters(service), clusters, "deterministic");
  assert.deepEqual(serviceEndpoints(service), endpoints, "deterministic");
  return {
    service,
    clusters: new Map(clusters.map((c) => [c.name, c.message])),
    endpoints: new Map(endpoints.map((e) => [e.name, e.message])),
    notes: clusterNotes(service),
  };
}

function cluster(out: Output, port: number, subset = ""): Cluster {
  const c = out.clusters.get(`outbound|${port}|${subset}|${HOST}`);
  assert.ok(c, `no cluster for port ${port} subset "${subset}" (have ${[...out.clusters.keys()].join(", ")})`);
  return c;
}

function assignment(out: Output, port: number, subset = ""): ClusterLoadAssignment {
  const e = out.endpoints.get(`outbound|${port}|${subset}|${HOST}`);
  assert.ok(e, `no endpoints for port ${port} subset "${subset}"`);
  return e;
}

/** The HttpProtocolOptions of a cluster, decoded; undefined when it has none. */
function httpOptions(c: Cluster): Record<string, unknown> | undefined {
  const any = c.typed_extension_protocol_options?.[HTTP_OPTIONS];
  if (any === undefined) return undefined;
  const { type_url: typeUrl, value } = any as { type_url: string; value: Uint8Array };
  assert.equal(typeUrl, typeUrlOf(HTTP_OPTIONS));
  return decodeMessage(HTTP_OPTIONS, value);
}

/** Endpoints as "locality weight: address:port@weight ...", in output order. */
function summary(cla: ClusterLoadAssignment | null | undefined): string[] {
  return (cla?.endpoints ?? []).map((l) => {
    const loc = [l.locality?.region, l.locality?.zone, l.locality?.sub_zone].filter((x) => x !== undefined).join("/");
    const eps = (l.lb_endpoints ?? []).map((e) => {
      const a = e.endpoint?.address;
      const where = a?.pipe ? `unix://${a.pipe.path}` : `${a?.socket_address?.address}:${a?.socket_address?.port_value}`;
      return `${where}@${e.load_balancing_weight?.value}`;
    });
    return `${loc || "-"} ${l.load_balancing_weight?.value}: ${eps.join(" ")}`;
  });
}

const defaultThresholds = { max_connections: { value: MAX }, max_pending_requests: { value: MAX }, max_requests: { value: MAX }, max_retries: { value: MAX }, track_remaining: true };

/** What proxyless gRPC (the pinned grpc-js xDS client) says about a resource: undefined when it accepts it. */
function grpcError(kind: "cluster" | "endpoints", message: Cluster | ClusterLoadAssignment): string | undefined {
  const context = {} as XdsDecodeContext;
  const result =
    kind === "cluster"
      ? ClusterResourceType.get().decode(context, { type_url: typeUrlOf("envoy.config.cluster.v3.Cluster"), value: encodeMessage("envoy.config.cluster.v3.Cluster", message as Cluster) })
      : EndpointResourceType.get().decode(context, {
          type_url: typeUrlOf("envoy.config.endpoint.v3.ClusterLoadAssignment"),
          value: encodeMessage("envoy.config.endpoint.v3.ClusterLoadAssignment", message as ClusterLoadAssignment),
        });
  return "error" in result ? String(result.error) : undefined;
}

/** A cluster's UpstreamTlsContext, decoded; undefined when it has no transport socket. */
function upstreamTls(c: Cluster): Record<string, unknown> | undefined {
  const any = c.transport_socket?.typed_config as { value: Uint8Array } | undefined;
  return any === undefined ? undefined : decodeMessage("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", any.value);
}

/**
 * TLS origination as Istio does it (cluster_tls.go, setAutoSniAndAutoSanValidation): the server
 * verified by default against the system roots, the SNI and the certificate's name taken from
 * the request's host on HTTP ports unless sni and subjectAltNames say otherwise.
 */
function egressTlsCases(): Case[] {
  const validation = (c: Cluster) => (upstreamTls(c)?.["common_tls_context"] as Record<string, unknown> | undefined)?.["validation_context"] as Record<string, unknown> | undefined;
  const upstreamHttp = (c: Cluster) => httpOptions(c)?.["upstream_http_protocol_options"];
  return [
    {
      name: "tls SIMPLE without caCertificates verifies against the system roots; HTTP ports take SNI and the SAN check from the request's host; TCP ports carry no HTTP options",
      docs: withRule({ trafficPolicy: { tls: { mode: "SIMPLE" } } }, [HTTP, TCP]),
      check: (out) => {
        for (const port of [80, 5432]) {
          assert.deepEqual(validation(cluster(out, port)), { trusted_ca: { filename: "/etc/ssl/certs/ca-certificates.crt" } }, `port ${port}`);
          assert.equal(upstreamTls(cluster(out, port))?.["sni"], undefined, `port ${port}: no fixed SNI`);
        }
        assert.deepEqual(upstreamHttp(cluster(out, 80)), { auto_sni: true, auto_san_validation: true });
        assert.deepEqual(httpOptions(cluster(out, 80))?.["explicit_http_config"], { http_protocol_options: {} });
        assert.equal(httpOptions(cluster(out, 5432)), undefined);
      },
    },
    {
      name: "tls with caCertificates, sni and subjectAltNames: those files and names, nothing automatic",
      docs: withRule({ trafficPolicy: { tls: { mode: "SIMPLE", caCertificates: "/certs/ca.pem", sni: "api.example.com", subjectAltNames: ["api.example.com"] } } }),
      check: (out) => {
        const v = validation(cluster(out, 80));
        assert.deepEqual(v?.["trusted_ca"], { filename: "/certs/ca.pem" });
        assert.deepEqual((v?.["match_typed_subject_alt_names"] as { san_type: string }[]).map((m) => m.san_type), ["DNS", "URI"]);
        assert.equal(upstreamTls(cluster(out, 80))?.["sni"], "api.example.com");
        assert.equal(httpOptions(cluster(out, 80)), undefined);
      },
    },
    {
      name: "tls with sni but no subjectAltNames: the SAN check stays automatic; insecureSkipVerify: no validation at all, SNI still automatic, and a note",
      docs: withRule({
        trafficPolicy: { tls: { mode: "SIMPLE", sni: "api.example.com" } },
        subsets: [{ name: "lab", labels: { version: "v1" }, trafficPolicy: { tls: { mode: "SIMPLE", insecureSkipVerify: true } } }],
      }),
      check: (out) => {
        assert.deepEqual(upstreamHttp(cluster(out, 80)), { auto_san_validation: true });
        assert.equal(validation(cluster(out, 80, "lab")), undefined);
        assert.deepEqual(upstreamHttp(cluster(out, 80, "lab")), { auto_sni: true });
        assert.ok(out.notes.includes(`outbound|80|lab|${HOST}: tls insecureSkipVerify: the server's certificate is not verified`), out.notes.join("\n"));
      },
    },
  ];
}

interface Case {
  readonly name: string;
  readonly docs: readonly Doc[];
  /** gitmesh's DNS lookups (runtime/dns-resolution.ts), by host; default none. */
  readonly answers?: DnsAnswers;
  readonly check: (out: Output) => void;
}

const cases: readonly Case[] = [
  // ---- resolution ----
  {
    name: "STATIC: EDS over ADS, no service_name, Istio's defaults; a ClusterLoadAssignment of the cluster's name",
    docs: [serviceEntry({ resolution: "STATIC", ports: [HTTP], endpoints: [{ address: "10.0.0.2" }, { address: "10.0.0.1" }] })],
    check: (out) => {
      assert.deepEqual(cluster(out, 80), {
        name: `outbound|80||${HOST}`,
        type: "EDS",
        eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" } },
        connect_timeout: { seconds: 10 },
        lb_policy: "ROUND_ROBIN",
        circuit_breakers: { thresholds: [defaultThresholds] },
      });
      assert.deepEqual(summary(assignment(out, 80)), ["- 2: 10.0.0.1:80@1 10.0.0.2:80@1"]);
      assert.deepEqual(out.notes, []);
      assert.equal(grpcError("cluster", cluster(out, 80)), undefined);
      assert.equal(grpcError("endpoints", assignment(out, 80)), undefined);
    },
  },
  {
    name: "NONE (and unset, Istio's default) with endpoints: EDS from the listed endpoints, noted",
    docs: [serviceEntry({ ports: [HTTP], endpoints: [{ address: "10.0.0.1" }] })],
    check: (out) => {
      assert.equal(cluster(out, 80).type, "EDS");
      assert.deepEqual(summary(assignment(out, 80)), ["- 1: 10.0.0.1:80@1"]);
      assert.equal(out.notes.length, 1);
      assert.match(out.notes[0] ?? "", /resolution NONE with endpoints listed or selected is served as EDS with those endpoints/);
    },
  },
  {
    name: "NONE without endpoints for a named host: passthrough to the original destination, the addresses gitmesh resolves (as DNS)",
    docs: [serviceEntry({ ports: [HTTP] })],
    answers: new Map([[HOST, ["10.9.0.7"]]]),
    check: (out) => {
      assert.equal(cluster(out, 80).type, "EDS");
      assert.deepEqual(summary(assignment(out, 80)), ["- 1: 10.9.0.7:80@1"]);
      assert.deepEqual(out.notes, []);
    },
  },
  {
    name: "DNS: STRICT_DNS with the endpoint host names inline, resolved every 5 s; gRPC clients cannot use it (noted)",
    docs: [
      serviceEntry({
        resolution: "DNS",
        ports: [HTTP],
        endpoints: [{ address: "b.example.com", ports: { http: 8080 } }, { address: "a.example.com", locality: "eu/z1", weight: 3 }],
      }),
    ],
    check: (out) => {
      const c = cluster(out, 80);
      assert.equal(c.type, "STRICT_DNS");
      assert.equal(c.eds_cluster_config, undefined);
      assert.equal(c.dns_lookup_family, "V4_PREFERRED");
      assert.equal(c.respect_dns_ttl, undefined, "deprecated in Envoy 1.40 (runtime.deprecated_feature_use)");
      assert.equal(c.load_assignment?.cluster_name, `outbound|80||${HOST}`);
      assert.deepEqual(summary(c.load_assignment), ["- 1: b.example.com:8080@1", "eu/z1 3: a.example.com:80@3"]);
      assert.equal(out.endpoints.size, 0);
      assert.deepEqual(out.notes, [`outbound|80||${HOST}: proxyless gRPC clients reject resolution DNS (STRICT_DNS); they take STATIC and DNS_ROUND_ROBIN`]);
      assert.match(grpcError("cluster", c) ?? "", /Unsupported type STRICT_DNS/);
    },
  },
  {
    name: "DNS without endpoints or a selector, before gitmesh's first lookup: EDS with no endpoints, and a note (sidecars would resolve the host to themselves)",
    docs: [serviceEntry({ resolution: "DNS", ports: [{ number: 443, name: "tls", protocol: "TLS", targetPort: 8443 }] })],
    check: (out) => {
      const c = cluster(out, 443);
      assert.equal(c.type, "EDS");
      assert.equal(c.load_assignment, undefined);
      assert.deepEqual(summary(assignment(out, 443)), []);
      assert.deepEqual(out.notes, [
        `${HOST}: resolution DNS without endpoints: gitmesh resolves ${HOST} itself while it serves (through its own DNS servers, never /etc/hosts, where sidecars would find their own address) and sends the addresses as EDS endpoints; until the first answer its clusters have none (503)`,
      ]);
      assert.equal(grpcError("cluster", c), undefined, "proxyless gRPC clients take it");
    },
  },
  {
    name: "DNS without endpoints, resolved by gitmesh: EDS with the addresses at the port's targetPort, for every subset without labels; TLS origination unchanged",
    docs: [
      serviceEntry({ resolution: "DNS", ports: [{ number: 443, name: "tls", protocol: "TLS", targetPort: 8443 }, HTTP] }),
      destinationRule({ trafficPolicy: { portLevelSettings: [{ port: { number: 80 }, tls: { mode: "SIMPLE" } }] }, subsets: [{ name: "all" }, { name: "v1", labels: { version: "v1" } }] }),
    ],
    answers: new Map([[HOST, ["10.9.0.1", "2001:db8::1"]]]),
    check: (out) => {
      assert.equal(cluster(out, 443).type, "EDS");
      assert.deepEqual(summary(assignment(out, 443)), ["- 2: 10.9.0.1:8443@1 2001:db8::1:8443@1"]);
      assert.deepEqual(summary(assignment(out, 80)), ["- 2: 10.9.0.1:80@1 2001:db8::1:80@1"]);
      assert.deepEqual(summary(assignment(out, 80, "all")), ["- 2: 10.9.0.1:80@1 2001:db8::1:80@1"]);
      assert.deepEqual(summary(assignment(out, 80, "v1")), [], "resolved addresses carry no labels");
      assert.deepEqual(httpOptions(cluster(out, 80))?.["upstream_http_protocol_options"], { auto_sni: true, auto_san_validation: true }, "SNI and the certificate check from the request's host, as before");
      assert.deepEqual(out.notes.filter((n) => !n.includes("proxyless gRPC clients cannot use tls mode SIMPLE")), [], "nothing about DNS once there is an answer");
      assert.equal(grpcError("endpoints", assignment(out, 80)), undefined, "proxyless gRPC clients take the assignment");
    },
  },
  {
    name: "DNS_ROUND_ROBIN without endpoints, resolved by gitmesh to no address: EDS with none, noted",
    docs: [serviceEntry({ resolution: "DNS_ROUND_ROBIN", ports: [HTTP] })],
    answers: new Map([[HOST, []]]),
    check: (out) => {
      assert.equal(cluster(out, 80).type, "EDS");
      assert.deepEqual(summary(assignment(out, 80)), []);
      assert.deepEqual(out.notes, [`${HOST}: gitmesh's DNS lookup of ${HOST} found no address: its clusters have no endpoints (503)`]);
    },
  },
  {
    name: "DNS listing the service's own host as an endpoint: STRICT_DNS, and the note that sidecars would resolve it to themselves",
    docs: [serviceEntry({ resolution: "DNS", ports: [HTTP], endpoints: [{ address: HOST }] })],
    answers: new Map([[HOST, ["10.9.0.1"]]]),
    check: (out) => {
      assert.equal(cluster(out, 80).type, "STRICT_DNS", "listed endpoints are Envoy's to resolve; answers are for hosts listing none");
      assert.ok(out.notes.some((n) => n.includes(`Envoy sidecars resolve ${HOST} themselves`) && n.includes("list no endpoints")), out.notes.join("\n"));
    },
  },
  {
    name: "DNS_ROUND_ROBIN: LOGICAL_DNS with the one endpoint Envoy allows; others are left out (noted); gRPC accepts it",
    docs: [serviceEntry({ resolution: "DNS_ROUND_ROBIN", ports: [HTTP], endpoints: [{ address: "b.example.com" }, { address: "a.example.com", weight: 2 }] })],
    check: (out) => {
      const c = cluster(out, 80);
      assert.equal(c.type, "LOGICAL_DNS");
      assert.deepEqual(summary(c.load_assignment), ["- 2: a.example.com:80@2"]);
      assert.deepEqual(out.notes, [`outbound|80||${HOST}: DNS_ROUND_ROBIN uses one endpoint; 1 other endpoint(s) are left out`]);
      assert.equal(grpcError("cluster", c), undefined);
    },
  },
  {
    name: "DNS_ROUND_ROBIN with a subset that selects nothing: EDS with an empty assignment (Envoy rejects LOGICAL_DNS without an endpoint)",
    docs: [
      serviceEntry({ resolution: "DNS_ROUND_ROBIN", ports: [HTTP], endpoints: [{ address: "a.example.com", labels: { version: "v1" } }] }),
      destinationRule({ subsets: [{ name: "v1", labels: { version: "v1" } }, { name: "v2", labels: { version: "v2" } }] }),
    ],
    check: (out) => {
      assert.equal(cluster(out, 80).type, "LOGICAL_DNS");
      assert.equal(cluster(out, 80, "v1").type, "LOGICAL_DNS");
      assert.equal(cluster(out, 80, "v2").type, "EDS");
      assert.deepEqual(assignment(out, 80, "v2").endpoints, []);
      assert.deepEqual(out.notes, [`outbound|80|v2|${HOST}: DNS_ROUND_ROBIN needs exactly one endpoint and this cluster has none; it is served as EDS with no endpoints`]);
    },
  },
  // ---- load balancing ----
  ...(["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"] as const).map(
    (simple): Case => ({
      name: `loadBalancer simple ${simple} → lb_policy ${simple}`,
      docs: withRule({ trafficPolicy: { loadBalancer: { simple } } }),
      check: (out) => {
        const c = cluster(out, 80);
        assert.equal(c.lb_policy, simple);
        assert.equal(c.ring_hash_lb_config, undefined);
        const grpc = grpcError("cluster", c);
        if (simple === "ROUND_ROBIN") {
          assert.equal(grpc, undefined);
          assert.deepEqual(out.notes, []);
        } else {
          assert.match(grpc ?? "", /unsupported lb_policy/);
          assert.deepEqual(out.notes, [`outbound|80||${HOST}: proxyless gRPC clients reject loadBalancer ${simple} (they take ROUND_ROBIN and consistentHash)`]);
        }
      },
    }),
  ),
  ...[{ httpHeaderName: "x-user" }, { httpCookie: { name: "session", ttl: "1h" } }, { useSourceIp: true }, { httpQueryParameterName: "user" }].map(
    (consistentHash): Case => ({
      name: `consistentHash ${Object.keys(consistentHash)[0]} → RING_HASH with Istio's minimum ring size (the hash key is the routes')`,
      docs: withRule({ trafficPolicy: { loadBalancer: { consistentHash } } }),
      check: (out) => {
        const c = cluster(out, 80);
        assert.equal(c.lb_policy, "RING_HASH");
        assert.deepEqual(c.ring_hash_lb_config, { minimum_ring_size: { value: 1024 } });
        assert.equal(grpcError("cluster", c), undefined);
        assert.deepEqual(trafficPolicyFor(out.service.rule?.spec, 80).loadBalancer, { consistentHash });
      },
    }),
  ),
  // ---- connection pool ----
  {
    name: "connectionPool → connect_timeout, circuit breaker thresholds, and HTTP common options in HttpProtocolOptions",
    docs: withRule({
      trafficPolicy: {
        connectionPool: {
          tcp: { maxConnections: 100, connectTimeout: "1.5s" },
          http: { http1MaxPendingRequests: 10, http2MaxRequests: 1000, maxRetries: 3, maxRequestsPerConnection: 5, idleTimeout: "1m30s" },
        },
      },
    }),
    check: (out) => {
      const c = cluster(out, 80);
      assert.deepEqual(c.connect_timeout, { seconds: 1, nanos: 500_000_000 });
      assert.deepEqual(c.circuit_breakers, {
        thresholds: [{ max_connections: { value: 100 }, max_pending_requests: { value: 10 }, max_requests: { value: 1000 }, max_retries: { value: 3 }, track_remaining: true }],
      });
      assert.equal(c.max_requests_per_connection, undefined, "not the deprecated cluster field");
      assert.equal(c.common_http_protocol_options, undefined, "not the deprecated cluster field");
      assert.deepEqual(httpOptions(c), {
        common_http_protocol_options: { idle_timeout: { seconds: "90" }, max_requests_per_connection: { value: 5 } },
        explicit_http_config: { http_protocol_options: {} },
      });
    },
  },
  {
    name: "connectionPool values of 0 keep the defaults (as Istio); maxRequestsPerConnection 0 is unlimited",
    docs: withRule({ trafficPolicy: { connectionPool: { tcp: { maxConnections: 0 }, http: { http2MaxRequests: 0, maxRetries: 0, maxRequestsPerConnection: 0 } } } }),
    check: (out) => {
      const c = cluster(out, 80);
      assert.deepEqual(c.circuit_breakers, { thresholds: [defaultThresholds] });
      assert.equal(httpOptions(c), undefined);
    },
  },
  {
    name: "connectTimeout 0 would be rejected by Envoy: the default is used and noted",
    docs: withRule({ trafficPolicy: { connectionPool: { tcp: { connectTimeout: "0s" } } } }),
    check: (out) => {
      assert.deepEqual(cluster(out, 80).connect_timeout, { seconds: 10 });
      assert.deepEqual(out.notes, [`outbound|80||${HOST}: connectionPool.tcp.connectTimeout 0s is not accepted by Envoy (it must be more than 0); the default 10s is used`]);
    },
  },
  {
    name: "on a TCP port, HTTP connection settings have nothing to act on: thresholds only",
    docs: withRule({ trafficPolicy: { connectionPool: { tcp: { maxConnections: 7 }, http: { idleTimeout: "5s", maxRequestsPerConnection: 1 } } } }, [TCP]),
    check: (out) => {
      const c = cluster(out, 5432);
      assert.equal(c.circuit_breakers?.thresholds?.[0]?.max_connections?.value, 7);
      assert.equal(httpOptions(c), undefined);
    },
  },
  // ---- outlier detection ----
  {
    name: "outlierDetection → outlier_detection as Istio (success rate off, enforcing 100%), minHealthPercent → healthy_panic_threshold",
    docs: withRule({
      trafficPolicy: {
        outlierDetection: { consecutive5xxErrors: 5, consecutiveGatewayErrors: 3, interval: "10s", baseEjectionTime: "30s", maxEjectionPercent: 50, minHealthPercent: 25 },
      },
    }),
    check: (out) => {
      const c = cluster(out, 80);
      assert.deepEqual(c.outlier_detection, {
        enforcing_success_rate: { value: 0 },
        consecutive_5xx: { value: 5 },
        enforcing_consecutive_5xx: { value: 100 },
        consecutive_gateway_failure: { value: 3 },
        enforcing_consecutive_gateway_failure: { value: 100 },
        interval: { seconds: 10 },
        base_ejection_time: { seconds: 30 },
        max_ejection_percent: { value: 50 },
      });
      assert.deepEqual(c.common_lb_config, { healthy_panic_threshold: { value: 25 } });
      assert.equal(grpcError("cluster", c), undefined);
    },
  },
  {
    name: "outlierDetection: a count of 0 turns the detector off, panic threshold 0 when minHealthPercent is unset, 0 durations left to Envoy (noted)",
    docs: withRule({ trafficPolicy: { outlierDetection: { consecutive5xxErrors: 0, interval: "0", maxEjectionPercent: 0 } } }),
    check: (out) => {
      const c = cluster(out, 80);
      assert.deepEqual(c.outlier_detection, { enforcing_success_rate: { value: 0 }, consecutive_5xx: { value: 0 }, enforcing_consecutive_5xx: { value: 0 } });
      assert.deepEqual(c.common_lb_config, { healthy_panic_threshold: { value: 0 } });
      assert.deepEqual(out.notes, [`outbound|80||${HOST}: outlierDetection.interval 0 is not accepted by Envoy (it must be more than 0); Envoy's default is used`]);
    },
  },
  {
    name: "no outlierDetection: no outlier_detection and no common_lb_config",
    docs: withRule({ trafficPolicy: { loadBalancer: { simple: "ROUND_ROBIN" } } }),
    check: (out) => {
      assert.equal(cluster(out, 80).outlier_detection, undefined);
      assert.equal(cluster(out, 80).common_lb_config, undefined);
    },
  },
  // ---- precedence ----
  {
    name: "portLevelSettings replace the rule's policy for that port as a whole (omitted sections fall back to defaults, as Istio)",
    docs: withRule(
      {
        trafficPolicy: {
          loadBalancer: { simple: "RANDOM" },
          connectionPool: { tcp: { maxConnections: 10 } },
          portLevelSettings: [{ port: { number: 9090 }, loadBalancer: { simple: "LEAST_REQUEST" } }],
        },
      },
      [HTTP, GRPC],
    ),
    check: (out) => {
      assert.equal(cluster(out, 80).lb_policy, "RANDOM");
      assert.equal(cluster(out, 80).circuit_breakers?.thresholds?.[0]?.max_connections?.value, 10);
      assert.equal(cluster(out, 9090).lb_policy, "LEAST_REQUEST");
      assert.equal(cluster(out, 9090).circuit_breakers?.thresholds?.[0]?.max_connections?.value, MAX, "not inherited from the rule level");
    },
  },
  {
    name: "a subset's trafficPolicy replaces the sections it sets, keeps the others, and overrides port-level settings",
    docs: withRule(
      {
        trafficPolicy: {
          loadBalancer: { simple: "RANDOM" },
          connectionPool: { tcp: { maxConnections: 10 } },
          outlierDetection: { consecutive5xxErrors: 7 },
          portLevelSettings: [{ port: { number: 9090 }, loadBalancer: { simple: "LEAST_REQUEST" }, connectionPool: { tcp: { maxConnections: 20 } } }],
        },
        subsets: [
          { name: "v1", labels: { version: "v1" } },
          { name: "v2", labels: { version: "v2" }, trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: "x-user" } } } },
          {
            name: "v3",
            labels: { version: "v3" },
            trafficPolicy: { connectionPool: { tcp: { maxConnections: 30 } }, portLevelSettings: [{ port: { number: 80 }, loadBalancer: { simple: "ROUND_ROBIN" } }] },
          },
        ],
      },
      [HTTP, GRPC],
    ),
    check: (out) => {
      const lb = (port: number, subset = "") => cluster(out, port, subset).lb_policy;
      const conns = (port: number, subset = "") => cluster(out, port, subset).circuit_breakers?.thresholds?.[0]?.max_connections?.value;
      const od = (port: number, subset = "") => cluster(out, port, subset).outlier_detection?.consecutive_5xx?.value;
      // v1: no policy of its own: the rule's, per port.
      assert.deepEqual([lb(80, "v1"), conns(80, "v1"), od(80, "v1")], ["RANDOM", 10, 7]);
      assert.deepEqual([lb(9090, "v1"), conns(9090, "v1"), od(9090, "v1")], ["LEAST_REQUEST", 20, undefined]);
      // v2: its load balancer wins on every port; the rest comes from the rule (per port).
      assert.deepEqual([lb(80, "v2"), conns(80, "v2"), od(80, "v2")], ["RING_HASH", 10, 7]);
      assert.deepEqual([lb(9090, "v2"), conns(9090, "v2"), od(9090, "v2")], ["RING_HASH", 20, undefined]);
      // v3: its port-level entry for 80 replaces everything on 80; on 9090 its connection pool wins.
      assert.deepEqual([lb(80, "v3"), conns(80, "v3"), od(80, "v3")], ["ROUND_ROBIN", MAX, undefined]);
      assert.deepEqual([lb(9090, "v3"), conns(9090, "v3"), od(9090, "v3")], ["LEAST_REQUEST", 30, undefined]);
      assert.deepEqual(
        [...out.clusters.keys()],
        [80, 9090].flatMap((p) => ["v1", "v2", "v3", ""].map((s) => `outbound|${p}|${s}|${HOST}`)),
        "one cluster per port and per port × subset, sorted by name (\"|\" sorts after letters)",
      );
    },
  },
  // ---- protocol ----
  {
    name: "HTTP2 and GRPC ports speak HTTP/2 upstream (HttpProtocolOptions); HTTP and TCP ports carry no options",
    docs: withRule({ trafficPolicy: { connectionPool: { http: { idleTimeout: "100ms" } } } }, [HTTP2, GRPC, TCP]),
    check: (out) => {
      for (const port of [8080, 9090]) {
        assert.deepEqual(httpOptions(cluster(out, port)), {
          common_http_protocol_options: { idle_timeout: { nanos: 100_000_000 } },
          explicit_http_config: { http2_protocol_options: {} },
        });
      }
      assert.equal(httpOptions(cluster(out, 5432)), undefined);
    },
  },
  {
    name: "a GRPC port without connection settings: HTTP/2 only",
    docs: [serviceEntry({ resolution: "STATIC", ports: [GRPC], endpoints: [{ address: "10.0.0.1" }] })],
    check: (out) => {
      assert.deepEqual(httpOptions(cluster(out, 9090)), { explicit_http_config: { http2_protocol_options: {} } });
      assert.equal(grpcError("cluster", cluster(out, 9090)), undefined);
    },
  },
  // ---- tls ----
  {
    name: "tls SIMPLE with files: an UpstreamTlsContext with its SNI; a subset's DISABLE keeps that subset plaintext; notes say what gRPC cannot use",
    docs: withRule({
      trafficPolicy: { tls: { mode: "SIMPLE", sni: "svc.example.com" } },
      subsets: [{ name: "v1", labels: { version: "v1" }, trafficPolicy: { tls: { mode: "DISABLE" } } }, { name: "v2", labels: { version: "v2" } }],
    }),
    check: (out) => {
      assert.equal(out.clusters.get(`outbound|80|v1|${HOST}`)?.transport_socket, undefined);
      for (const name of [`outbound|80||${HOST}`, `outbound|80|v2|${HOST}`]) {
        const socket = out.clusters.get(name)?.transport_socket;
        assert.equal(socket?.name, "envoy.transport_sockets.tls");
        const tls = decodeMessage("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", (socket?.typed_config as { value: Uint8Array }).value);
        assert.equal(tls["sni"], "svc.example.com");
      }
      const tails = ["proxyless gRPC clients cannot use tls mode SIMPLE with files; they connect with their fallback credentials"];
      assert.deepEqual(out.notes, [...tails.map((t) => `outbound|80|v2|${HOST}: ${t}`), ...tails.map((t) => `outbound|80||${HOST}: ${t}`)], "in cluster (name) order");
    },
  },
  ...egressTlsCases(),
  // ---- endpoints ----
  {
    name: "endpoints grouped by locality (sorted), weighted (default 1, 0 means 1), locality weight = sum; ports by name, targetPort",
    docs: [
      serviceEntry({ resolution: "STATIC", ports: [HTTP, { number: 90, name: "admin", protocol: "HTTP", targetPort: 9901 }], workloadSelector: { labels: { app: "svc" } } }),
      workload("c", { address: "10.0.0.3", labels: { app: "svc" }, locality: "us-east/us-east-1a/rack2", weight: 5, ports: { http: 8080 } }),
      workload("a", { address: "10.0.0.1", labels: { app: "svc" }, locality: "eu-west/eu-west-1b" }),
      workload("b", { address: "10.0.0.2", labels: { app: "svc" }, locality: "eu-west/eu-west-1b", weight: 0 }),
      workload("d", { address: "10.0.0.4", labels: { app: "svc" } }),
      workload("e", { address: "10.0.0.10", labels: { app: "svc" }, locality: "eu-west", weight: 2 }),
      workload("other", { address: "10.9.9.9", labels: { app: "other" } }),
    ],
    check: (out) => {
      assert.deepEqual(summary(assignment(out, 80)), [
        "- 1: 10.0.0.4:80@1",
        "eu-west 2: 10.0.0.10:80@2",
        "eu-west/eu-west-1b 2: 10.0.0.1:80@1 10.0.0.2:80@1",
        "us-east/us-east-1a/rack2 5: 10.0.0.3:8080@5",
      ]);
      assert.deepEqual(assignment(out, 80).endpoints?.[3]?.locality, { region: "us-east", zone: "us-east-1a", sub_zone: "rack2" });
      assert.deepEqual(assignment(out, 80).endpoints?.[0]?.locality, {}, "present even when empty: gRPC needs a locality");
      assert.deepEqual(summary(assignment(out, 90)).map((l) => l.split(": ")[1]), ["10.0.0.4:9901@1", "10.0.0.10:9901@2", "10.0.0.1:9901@1 10.0.0.2:9901@1", "10.0.0.3:9901@5"]);
      assert.equal(grpcError("endpoints", assignment(out, 80)), undefined);
    },
  },
  {
    name: "subset clusters get only the endpoints whose labels match; a subset without labels gets them all",
    docs: [
      serviceEntry({
        resolution: "STATIC",
        ports: [HTTP],
        endpoints: [
          { address: "10.0.0.1", labels: { version: "v1", zone: "a" } },
          { address: "10.0.0.2", labels: { version: "v2", zone: "a" } },
          { address: "10.0.0.3", labels: { version: "v1", zone: "b" } },
        ],
      }),
      destinationRule({ subsets: [{ name: "v1", labels: { version: "v1" } }, { name: "v1a", labels: { version: "v1", zone: "a" } }, { name: "all" }] }),
    ],
    check: (out) => {
      assert.deepEqual(summary(assignment(out, 80, "v1")), ["- 2: 10.0.0.1:80@1 10.0.0.3:80@1"]);
      assert.deepEqual(summary(assignment(out, 80, "v1a")), ["- 1: 10.0.0.1:80@1"]);
      assert.deepEqual(summary(assignment(out, 80, "all")), ["- 3: 10.0.0.1:80@1 10.0.0.2:80@1 10.0.0.3:80@1"]);
    },
  },
  {
    name: "an EDS cluster without endpoints (or a subset selecting none) still gets an empty ClusterLoadAssignment",
    docs: [
      serviceEntry({ resolution: "STATIC", ports: [HTTP], workloadSelector: { labels: { app: "nothing" } } }),
      destinationRule({ subsets: [{ name: "v9", labels: { version: "v9" } }] }),
    ],
    check: (out) => {
      assert.deepEqual(assignment(out, 80), { cluster_name: `outbound|80||${HOST}`, endpoints: [] });
      assert.deepEqual(assignment(out, 80, "v9"), { cluster_name: `outbound|80|v9|${HOST}`, endpoints: [] });
      assert.equal(grpcError("endpoints", assignment(out, 80)), undefined);
    },
  },
  {
    name: "EDS endpoints: host names are left out (Envoy would reject the assignment), unix:// becomes a pipe, duplicates are used once",
    docs: [
      serviceEntry({
        resolution: "STATIC",
        ports: [HTTP],
        endpoints: [{ address: "db.example.com" }, { address: "unix:///var/run/svc.sock" }, { address: "10.0.0.1" }, { address: "10.0.0.1", weight: 3 }, { address: "2001:db8::1" }],
      }),
    ],
    check: (out) => {
      assert.deepEqual(summary(assignment(out, 80)), ["- 3: 10.0.0.1:80@1 2001:db8::1:80@1 unix:///var/run/svc.sock@1"]);
      assert.deepEqual(out.notes, [
        `outbound|80||${HOST}: endpoint db.example.com is not an IP address, which an EDS cluster needs (use resolution DNS for host names); it is left out`,
        `outbound|80||${HOST}: endpoint 10.0.0.1:80 is listed more than once; the first (by locality, then weight) is used`,
      ]);
    },
  },
  {
    name: "a wildcard DestinationRule applies to the host",
    docs: [
      serviceEntry({ resolution: "STATIC", ports: [HTTP], endpoints: [{ address: "10.0.0.1" }] }),
      { ...destinationRule({ host: "*.shop.svc.cluster.local", trafficPolicy: { loadBalancer: { simple: "RANDOM" } } }), metadata: { name: "all", namespace: "shop" } },
    ],
    check: (out) => {
      assert.equal(cluster(out, 80).lb_policy, "RANDOM");
    },
  },
];

for (const c of cases) {
  test(c.name, () => c.check(translate(c.docs, HOST, c.answers)));
}

test("output does not depend on the order of the config", () => {
  const docs = [
    serviceEntry({ resolution: "STATIC", ports: [HTTP, GRPC], workloadSelector: { labels: { app: "svc" } } }),
    destinationRule({ subsets: [{ name: "v1", labels: { version: "v1" } }, { name: "v2", labels: { version: "v2" } }] }),
    ...["10.0.0.5", "10.0.0.3", "10.0.0.4", "10.0.0.1"].map((address, i) =>
      workload(`w${i}`, { address, labels: { app: "svc", version: i % 2 === 0 ? "v1" : "v2" }, locality: i < 2 ? "b/z" : "a/z", weight: i + 1 }),
    ),
  ];
  const a = translate(docs);
  const b = translate([...docs].reverse());
  assert.deepEqual([...b.clusters], [...a.clusters]);
  assert.deepEqual([...b.endpoints], [...a.endpoints]);
  assert.deepEqual(summary(assignment(a, 80)), ["a/z 7: 10.0.0.1:80@4 10.0.0.4:80@3", "b/z 3: 10.0.0.3:80@2 10.0.0.5:80@1"]);
});

test("the bookinfo example: every cluster and assignment passes Envoy's rules, and reviews is shaped as its DestinationRule says", async () => {
  const { readDirectory } = await import("../../src/config/source.js");
  const loaded = loadMesh(await readDirectory(new URL("../../../config-examples/bookinfo", import.meta.url).pathname));
  assert.ok(loaded.ok);
  const index = indexServices(loaded.model);
  for (const service of index.services) {
    for (const c of serviceClusters(service)) assert.deepEqual(validateMessage(c.type, encodeMessage(c.type, c.message)), [], c.name);
    for (const e of serviceEndpoints(service)) assert.deepEqual(validateMessage(e.type, encodeMessage(e.type, e.message)), [], e.name);
  }
  const reviews = index.service("reviews.bookinfo.svc.cluster.local");
  assert.ok(reviews);
  const byName = new Map(serviceClusters(reviews).map((c) => [c.name, c.message]));
  assert.equal(byName.get("outbound|9080|v1|reviews.bookinfo.svc.cluster.local")?.lb_policy, "ROUND_ROBIN");
  assert.equal(byName.get("outbound|9080|v2|reviews.bookinfo.svc.cluster.local")?.lb_policy, "RING_HASH");
  assert.equal(byName.get("outbound|9080|v2|reviews.bookinfo.svc.cluster.local")?.circuit_breakers?.thresholds?.[0]?.max_connections?.value, 100);
});


test("gitmesh resolves a host without endpoints or a selector for DNS, DNS_ROUND_ROBIN and NONE (unset: NONE), never a wildcard host", () => {
  const spec = (extra: Doc) => ({ hosts: ["en.wikipedia.org"], ports: [{ number: 80, name: "http", protocol: "HTTP" }], ...extra }) as unknown as MeshResource<"ServiceEntry">["spec"];
  const cases: [Doc, boolean][] = [
    [{}, true],
    [{ resolution: "NONE" }, true],
    [{ resolution: "DNS" }, true],
    [{ resolution: "DNS_ROUND_ROBIN" }, true],
    [{ resolution: "STATIC" }, false],
    [{ hosts: ["*.wikipedia.org"] }, false],
    [{ hosts: ["*.wikipedia.org"], resolution: "NONE" }, false],
    [{ endpoints: [{ address: "10.0.0.1" }] }, false],
    [{ workloadSelector: { labels: { app: "x" } } }, false],
  ];
  for (const [extra, resolves] of cases) assert.equal(gitmeshResolves(spec(extra)), resolves, JSON.stringify(extra));
});
