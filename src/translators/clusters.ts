// Clusters from ServiceEntries and DestinationRules, the way Istio builds them
// (pilot/pkg/networking/core/cluster_builder.go, cluster_traffic_policy.go), except where noted.
// One cluster per service port, and per port and subset, named outbound|PORT|SUBSET|HOST.
// Pure and deterministic. Settings a cluster does not carry (yet) are listed by clusterNotes.
import { admittedDuration } from "../common/duration.js";
import { positiveDuration, refusedDurationNote } from "../config/serving.js";
import type { ConnectionPoolSettings, DestinationRuleSpec, LoadBalancerSettings, OutlierDetection, ServicePort, TcpKeepalive, TrafficPolicy, ClientTLSSettings } from "../config/types.js";
import { pack, type Any, type Cluster, type HttpProtocolOptions } from "../envoy/index.js";
import {
  clusterDiscovery,
  clusterEndpoints,
  localityLbEndpoints,
  resolutionOf,
  serviceClusterKeys,
  type ServiceCluster,
} from "./endpoints.js";
import { DEFAULT_MESH_MTLS, type MeshMtls, type UpstreamSecurity } from "./mtls.js";
import type { MeshService } from "./services.js";
import { envoyFileTls, envoyIstioMutual, upstreamTlsHttpOptions } from "./tls-contexts.js";
import { sortTranslated, type TranslatedCluster } from "./translated.js";

const HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const UINT32_MAX = 4_294_967_295;
/** Istio's MeshConfig.connectTimeout default. */
const DEFAULT_CONNECT_TIMEOUT_NS = 10_000_000_000n;
/** Istio's (and Envoy's) ring size for consistent hashing when none is given. */
const MINIMUM_RING_SIZE = 1024;

type Duration = NonNullable<Cluster["connect_timeout"]>;
type Thresholds = NonNullable<NonNullable<Cluster["circuit_breakers"]>["thresholds"]>[number];
type EnvoyOutlierDetection = NonNullable<Cluster["outlier_detection"]>;
type TransportSocket = NonNullable<Cluster["transport_socket"]>;
type CommonHttpOptions = NonNullable<HttpProtocolOptions["common_http_protocol_options"]>;
type EnvoyTcpKeepalive = NonNullable<NonNullable<Cluster["upstream_connection_options"]>["tcp_keepalive"]>;
type SlowStartConfig = NonNullable<NonNullable<Cluster["round_robin_lb_config"]>["slow_start_config"]>;
type UpstreamHttpOptions = NonNullable<HttpProtocolOptions["upstream_http_protocol_options"]>;

/** The parts of a traffic policy that shape one cluster, after port-level and subset overrides. */
export interface EffectivePolicy {
  readonly loadBalancer?: LoadBalancerSettings;
  readonly connectionPool?: ConnectionPoolSettings;
  readonly outlierDetection?: OutlierDetection;
  readonly tls?: ClientTLSSettings;
}

/**
 * The policy for a port (and subset) of a DestinationRule, merged as Istio merges it
 * (util.MergeSubsetTrafficPolicy):
 * 1. The rule's portLevelSettings entry for the port replaces the rule's trafficPolicy as a whole:
 *    a section it leaves out falls back to the default, not to the rule-level section.
 * 2. A subset's trafficPolicy replaces each section (loadBalancer, connectionPool,
 *    outlierDetection, tls) it sets and keeps the others from step 1; a portLevelSettings entry
 *    of the subset for the port replaces all four sections, as in step 1.
 * Exported for the routes translator: a consistentHash load balancer needs a route hash policy.
 */
export function trafficPolicyFor(rule: DestinationRuleSpec | undefined, port: number, subset?: string): EffectivePolicy {
  const base = portLevel(rule?.trafficPolicy, port);
  const subsetPolicy = subset === undefined ? undefined : rule?.subsets?.find((s) => s.name === subset)?.trafficPolicy;
  if (subsetPolicy === undefined) return base.policy;
  const over = portLevel(subsetPolicy, port);
  if (over.portLevel) return over.policy;
  return {
    ...sections(base.policy),
    ...sections(over.policy),
  };
}

/** The clusters of a service, sorted by name; mtls decides their upstream TLS (mtls.ts). */
export function serviceClusters(service: MeshService, mtls: MeshMtls = DEFAULT_MESH_MTLS): TranslatedCluster[] {
  const sockets = new Map<string, TransportSocket>();
  return sortTranslated(
    serviceClusterKeys(service).map((c) => {
      const { cluster, upstream } = buildCluster(service, c, new Notes(c.name), mtls, sockets);
      return { type: "envoy.config.cluster.v3.Cluster", name: c.name, message: cluster, upstream };
    }),
  );
}

/**
 * What the service's clusters do not carry, one line per cluster and setting, in cluster order: TLS
 * settings not honoured (or not by proxyless gRPC), settings Envoy would reject and gitmesh replaced, endpoints a
 * cluster cannot use, and clusters proxyless gRPC clients reject. For `gitmesh render`.
 */
export function clusterNotes(service: MeshService, mtls: MeshMtls = DEFAULT_MESH_MTLS): string[] {
  return [...new Set(clusterNoteEntries(service, mtls).map((e) => e.text))];
}

/** clusterNotes, each with who else says it (validate reports the others: see servingNotes). */
export function clusterNoteEntries(service: MeshService, mtls: MeshMtls = DEFAULT_MESH_MTLS): ClusterNote[] {
  const lines: ClusterNote[] = [];
  if (resolutionOf(service) === "NONE" && service.lookup === undefined && service.ports.length > 0) {
    lines.push({
      text: service.host.includes("*")
        ? `${service.host}: resolution NONE for a wildcard host: its names have no hosts line, so applications reach them directly, past the sidecar (gitmesh does not intercept traffic); its clusters serve the endpoints the ServiceEntry lists or selects`
        : `${service.host}: resolution NONE with endpoints listed or selected is served as EDS with those endpoints (without them, gitmesh would resolve the host as the original destination)`,
    });
  }
  const lookup = service.lookup;
  if (lookup !== undefined && service.ports.length > 0) {
    if (lookup.addresses === undefined) {
      lines.push({
        text: `${service.host}: resolution ${resolutionOf(service)} without endpoints: gitmesh resolves ${service.host} itself while it serves (through its own DNS servers, never /etc/hosts, where sidecars would find their own address) and sends the addresses as EDS endpoints; until the first answer its clusters have none (503)`,
      });
    } else if (lookup.addresses.length === 0) {
      lines.push({ text: `${service.host}: gitmesh's DNS lookup of ${service.host} found no address: its clusters have no endpoints (503)` });
    }
  }
  for (const c of serviceClusterKeys(service)) {
    const notes = new Notes(c.name);
    buildCluster(service, c, notes, mtls);
    if (c.subset === undefined && clusterDiscovery(service, c) !== "EDS" && clusterEndpoints(service, c).some((e) => e.address === service.host)) {
      // Found with real Envoy: a sidecar's resolver reads the /etc/hosts that sends the application
      // to the sidecar, and got the sidecar's own address back. gitmesh resolves a host listing no
      // endpoints itself (services.ts, gitmeshResolves); one listing its own name is resolved by Envoy.
      notes.add(
        `Envoy sidecars resolve ${service.host} themselves, through the same /etc/hosts that maps it to their loopback address for applications (gitmesh hosts, compose extra_hosts), and would reach themselves: list no endpoints (gitmesh then resolves the host itself), or list them by another name (endpoints: [{ address: NAME }]) or by their addresses (resolution STATIC)`,
      );
    }
    if (c.subset === undefined && clusterDiscovery(service, c) === "EDS" && resolutionOf(service) !== "DNS_ROUND_ROBIN") {
      // Endpoint problems are the same in every subset: say them once, on the whole-service cluster.
      for (const s of localityLbEndpoints(clusterEndpoints(service, c), c.port, "ip").skipped) notes.add(`endpoint ${s.address} ${s.reason}`, "validate");
    }
    lines.push(...notes.entries);
  }
  const seen = new Set<string>();
  return lines.filter((e) => {
    if (seen.has(e.text)) return false;
    seen.add(e.text);
    return true;
  });
}

/**
 * Who else says a note: validate reports some where they are written (config/serving.ts decides
 * them for both, GM0321-GM0323), and the gRPC client notes are render's, for gRPC proxies only
 * (grpc-notes.ts). The rest only clusterNotes says, and validate reports them as GM0338.
 */
export type NoteAlsoSaid = "validate" | "grpc";

export interface ClusterNote {
  readonly text: string;
  readonly alsoSaid?: NoteAlsoSaid;
}

class Notes {
  readonly entries: ClusterNote[] = [];
  constructor(private readonly cluster: string) {}
  add(text: string, alsoSaid?: NoteAlsoSaid): void {
    this.entries.push({ text: `${this.cluster}: ${text}`, ...(alsoSaid === undefined ? {} : { alsoSaid }) });
  }
  get lines(): string[] {
    return this.entries.map((e) => e.text);
  }
}

/**
 * sockets: the service's mutual TLS transport sockets by SANs and SNI, shared by its clusters (its
 * subsets' clusters take the same one), so each is encoded once.
 */
function buildCluster(service: MeshService, key: ServiceCluster, notes: Notes, mtls: MeshMtls, sockets?: Map<string, TransportSocket>): { cluster: Cluster; upstream: UpstreamSecurity } {
  const policy = trafficPolicyFor(service.rule?.spec, key.port.number, key.subset?.name);
  const cluster: Cluster = {
    name: key.name,
    ...discovery(service, key, notes),
    connect_timeout: connectTimeout(policy.connectionPool, notes),
    ...loadBalancer(policy.loadBalancer, notes),
    circuit_breakers: { thresholds: [thresholds(policy.connectionPool)] },
  };
  const keepalive = tcpKeepalive(policy.connectionPool?.tcp?.tcpKeepalive, notes);
  if (keepalive !== undefined) cluster.upstream_connection_options = { tcp_keepalive: keepalive };
  if (policy.outlierDetection !== undefined) {
    cluster.outlier_detection = outlierDetection(policy.outlierDetection, notes);
    // Istio: with outlier detection, the panic threshold is minHealthPercent, 0 (panic mode off)
    // when unset, instead of Envoy's 50%.
    cluster.common_lb_config = { healthy_panic_threshold: { value: policy.outlierDetection.minHealthPercent ?? 0 } };
  }
  const upstream = mtls.upstream(service, key.port, policy.tls);
  for (const n of upstream.notes) notes.add(n);
  if (upstream.security.t === "files") notes.add(`proxyless gRPC clients cannot use tls mode ${upstream.security.tls.mode ?? ""} with files; they connect with their fallback credentials`, "grpc");
  // Read by the HTTP router only: httpProtocolOptions leaves it out on TCP and TLS ports.
  const autoTls = upstream.security.t === "files" ? upstreamTlsHttpOptions(upstream.security.tls) : undefined;
  const http = httpProtocolOptions(key.port, policy.connectionPool, autoTls);
  if (http !== undefined) cluster.typed_extension_protocol_options = { [HTTP_PROTOCOL_OPTIONS]: packHttpOptions(http) };
  const socket = upstreamTransportSocket(upstream.security, sockets);
  if (socket !== undefined) cluster.transport_socket = socket;
  grpcCompatibility(cluster, notes);
  return { cluster, upstream: upstream.security };
}

function discovery(service: MeshService, key: ServiceCluster, notes: Notes): Partial<Cluster> {
  const type = clusterDiscovery(service, key);
  if (type === "EDS") {
    if (resolutionOf(service) === "DNS_ROUND_ROBIN" && service.lookup === undefined) notes.add("DNS_ROUND_ROBIN needs exactly one endpoint and this cluster has none; it is served as EDS with no endpoints");
    // service_name is left empty: the ClusterLoadAssignment has the cluster's name.
    return { type: "EDS", eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" } } };
  }
  const found = localityLbEndpoints(clusterEndpoints(service, key), key.port, "dns");
  let endpoints = found.endpoints;
  if (key.subset === undefined) for (const s of found.skipped) notes.add(`endpoint ${s.address} ${s.reason}`, "validate");
  if (type === "LOGICAL_DNS") {
    // Envoy takes a LOGICAL_DNS cluster with exactly one locality of one endpoint: the first, in address order.
    const [first] = endpoints;
    const lb = first?.lb_endpoints?.[0];
    const count = endpoints.reduce((n, l) => n + (l.lb_endpoints?.length ?? 0), 0);
    if (count > 1) notes.add(`DNS_ROUND_ROBIN uses one endpoint; ${count - 1} other endpoint(s) are left out`, "validate");
    endpoints = first === undefined || lb === undefined ? [] : [{ ...first, lb_endpoints: [lb], load_balancing_weight: lb.load_balancing_weight ?? null }];
  }
  return {
    type,
    load_assignment: { cluster_name: key.name, endpoints },
    // Istio's choice is per proxy (V4_ONLY unless dual stack); one cluster serves every proxy here,
    // so: IPv4 when the name has an IPv4 address, else IPv6.
    dns_lookup_family: "V4_PREFERRED",
    // No respect_dns_ttl (Istio sets it): Envoy 1.40 counts it as a deprecated field (its successor
    // is the envoy.clusters.dns extension, newer than the protos gitmesh builds against), so names
    // are resolved again at Envoy's default refresh rate, every 5 s, whatever their TTL.
  };
}

function connectTimeout(pool: ConnectionPoolSettings | undefined, notes: Notes): Duration {
  const text = pool?.tcp?.connectTimeout;
  if (text === undefined) return protoDuration(DEFAULT_CONNECT_TIMEOUT_NS);
  // Validation warns of it (GM0323): the same decision.
  const ns = positiveDuration(text);
  if (ns !== undefined) return protoDuration(ns);
  notes.add(refusedDurationNote("connectionPool.tcp.connectTimeout", text), "validate");
  return protoDuration(DEFAULT_CONNECT_TIMEOUT_NS);
}

/**
 * simple → lb_policy; unset → ROUND_ROBIN. (Istio's default is LEAST_REQUEST, but these clusters
 * also go to proxyless gRPC clients, which reject LEAST_REQUEST.) consistentHash → RING_HASH with
 * its minimumRingSize, else Istio's 1024. The hash key itself (header, cookie, source IP, query parameter) is a
 * route hash_policy: the routes translator adds it, using trafficPolicyFor; without it Envoy
 * hashes nothing and picks hosts at random.
 */
function loadBalancer(lb: LoadBalancerSettings | undefined, notes: Notes): Partial<Cluster> {
  const slow = slowStart(lb);
  if (slow !== undefined && (lb?.consistentHash !== undefined || lb?.simple === "RANDOM")) {
    notes.add(`loadBalancer warmup has no effect with ${lb.consistentHash !== undefined ? "consistentHash" : "RANDOM"} (Envoy slows the start of new endpoints under ROUND_ROBIN and LEAST_REQUEST only)`);
  }
  if (lb?.consistentHash !== undefined) return { lb_policy: "RING_HASH", ring_hash_lb_config: { minimum_ring_size: { value: lb.consistentHash.minimumRingSize ?? MINIMUM_RING_SIZE } } };
  switch (lb?.simple) {
    case "LEAST_REQUEST":
      return { lb_policy: "LEAST_REQUEST", ...(slow === undefined ? {} : { least_request_lb_config: { slow_start_config: slow } }) };
    case "RANDOM":
      return { lb_policy: "RANDOM" };
    case "ROUND_ROBIN":
    case undefined:
      return { lb_policy: "ROUND_ROBIN", ...(slow === undefined ? {} : { round_robin_lb_config: { slow_start_config: slow } }) };
  }
}

/** Istio's defaults for warmup: a new endpoint starts at 10% of its weight and grows linearly. */
const WARMUP_MINIMUM_PERCENT = 10;
const WARMUP_AGGRESSION = 1;

/**
 * warmup (or the older warmupDurationSecs) as Envoy's slow start, as Istio builds it; a duration
 * of 0 is no warmup. Envoy requires a runtime key for the aggression; nothing sets it, so the
 * configured value applies.
 */
function slowStart(lb: LoadBalancerSettings | undefined): SlowStartConfig | undefined {
  const text = lb?.warmup?.duration ?? lb?.warmupDurationSecs;
  if (text === undefined) return undefined;
  const ns = admittedDuration(text);
  if (ns <= 0n) return undefined;
  return {
    slow_start_window: protoDuration(ns),
    aggression: { default_value: lb?.warmup?.aggression ?? WARMUP_AGGRESSION, runtime_key: "gitmesh.slow_start.aggression" },
    min_weight_percent: { value: lb?.warmup?.minimumPercent ?? WARMUP_MINIMUM_PERCENT },
  };
}

/** Linux's limits on TCP_KEEPIDLE and TCP_KEEPINTVL (seconds); a larger value fails the socket option, and with it every connection. */
const KEEPALIVE_MAX_SECONDS = 32_767;

/**
 * tcpKeepalive as Istio sets it: SO_KEEPALIVE, and each setting given (probes 0: the system's).
 * Envoy takes whole seconds: a time under a second becomes 1s (0 would fail the socket option),
 * and more than Linux allows becomes its maximum; both are noted.
 */
function tcpKeepalive(k: TcpKeepalive | undefined, notes: Notes): EnvoyTcpKeepalive | undefined {
  if (k === undefined) return undefined;
  const out: EnvoyTcpKeepalive = {};
  if (k.probes !== undefined && k.probes > 0) out.keepalive_probes = { value: k.probes };
  const seconds = (field: "time" | "interval", text: string | undefined): { value: number } | undefined => {
    if (text === undefined) return undefined;
    const exact = Number(admittedDuration(text)) / 1e9;
    const value = Math.min(KEEPALIVE_MAX_SECONDS, Math.max(1, Math.floor(exact)));
    if (value !== exact) notes.add(`connectionPool.tcp.tcpKeepalive.${field} ${text} is applied as ${value}s (whole seconds, from 1s to ${KEEPALIVE_MAX_SECONDS}s)`);
    return { value };
  };
  const time = seconds("time", k.time);
  if (time !== undefined) out.keepalive_time = time;
  const interval = seconds("interval", k.interval);
  if (interval !== undefined) out.keepalive_interval = interval;
  return out;
}

/**
 * Every cluster gets Istio's defaults (no limit, remaining counts tracked): Envoy's own defaults
 * (1024 connections, 3 retries) trip during ordinary endpoint churn. A setting of 0 keeps the
 * default, as in Istio. http1MaxPendingRequests limits queued requests (HTTP/1.1), http2MaxRequests
 * active requests (HTTP/2, and Envoy's max_requests for any pool).
 */
function thresholds(pool: ConnectionPoolSettings | undefined): Thresholds {
  const limit = (v: number | undefined) => ({ value: v !== undefined && v > 0 ? Math.min(v, UINT32_MAX) : UINT32_MAX });
  return {
    max_connections: limit(pool?.tcp?.maxConnections),
    max_pending_requests: limit(pool?.http?.http1MaxPendingRequests),
    max_requests: limit(pool?.http?.http2MaxRequests),
    max_retries: limit(pool?.http?.maxRetries),
    track_remaining: true,
  };
}

/**
 * As Istio: success-rate ejection off; a consecutive-error count of 0 turns that detector off
 * (enforcing 0), any other count enforces it always (100%). maxEjectionPercent 0 keeps Envoy's
 * default, as in Istio. minHealthPercent goes to common_lb_config (buildCluster).
 */
function outlierDetection(od: OutlierDetection, notes: Notes): EnvoyOutlierDetection {
  const out: EnvoyOutlierDetection = { enforcing_success_rate: { value: 0 } };
  if (od.consecutive5xxErrors !== undefined) {
    out.consecutive_5xx = { value: od.consecutive5xxErrors };
    out.enforcing_consecutive_5xx = { value: od.consecutive5xxErrors > 0 ? 100 : 0 };
  }
  if (od.consecutiveGatewayErrors !== undefined) {
    out.consecutive_gateway_failure = { value: od.consecutiveGatewayErrors };
    out.enforcing_consecutive_gateway_failure = { value: od.consecutiveGatewayErrors > 0 ? 100 : 0 };
  }
  const positive = (field: string, text: string | undefined): Duration | undefined => {
    if (text === undefined) return undefined;
    const ns = positiveDuration(text);
    if (ns !== undefined) return protoDuration(ns);
    notes.add(refusedDurationNote(`outlierDetection.${field}`, text), "validate");
    return undefined;
  };
  const interval = positive("interval", od.interval);
  if (interval !== undefined) out.interval = interval;
  const base = positive("baseEjectionTime", od.baseEjectionTime);
  if (base !== undefined) out.base_ejection_time = base;
  if (od.maxEjectionPercent !== undefined && od.maxEjectionPercent > 0) out.max_ejection_percent = { value: od.maxEjectionPercent };
  return out;
}

/**
 * The upstream HTTP options (the cluster-level http2_protocol_options, max_requests_per_connection
 * and common_http_protocol_options fields are deprecated). HTTP2 and GRPC ports speak HTTP/2, and
 * HTTP ports too under h2UpgradePolicy UPGRADE (Istio's; DEFAULT is the mesh's default, which is
 * Istio's DO_NOT_UPGRADE);
 * maxRequestsPerConnection (0: unlimited) and idleTimeout go in the common options of HTTP ports.
 * On TCP and TLS ports the HTTP settings have nothing to act on and are left out.
 */
function httpProtocolOptions(port: ServicePort, pool: ConnectionPoolSettings | undefined, autoTls: UpstreamHttpOptions | undefined): HttpProtocolOptions | undefined {
  const h2 = port.protocol === "HTTP2" || port.protocol === "GRPC" || (port.protocol === "HTTP" && pool?.http?.h2UpgradePolicy === "UPGRADE");
  if (!h2 && port.protocol !== "HTTP") return undefined;
  const common: CommonHttpOptions = {};
  const idle = pool?.http?.idleTimeout;
  if (idle !== undefined) common.idle_timeout = protoDuration(admittedDuration(idle));
  const perConnection = pool?.http?.maxRequestsPerConnection;
  if (perConnection !== undefined && perConnection > 0) common.max_requests_per_connection = { value: perConnection };
  const hasCommon = Object.keys(common).length > 0;
  if (!h2 && !hasCommon && autoTls === undefined) return undefined;
  return {
    // The protocol is required once the options are there; Istio says HTTP/1.1 explicitly too.
    explicit_http_config: h2 ? { http2_protocol_options: {} } : { http_protocol_options: {} },
    ...(hasCommon ? { common_http_protocol_options: common } : {}),
    ...(autoTls === undefined ? {} : { upstream_http_protocol_options: autoTls }),
  };
}

/** Packed HttpProtocolOptions; the two plain ones (HTTP/1.1, HTTP/2, nothing else) are constants, packed once on first use. */
function packHttpOptions(http: HttpProtocolOptions): Any {
  const explicit = http.explicit_http_config;
  const only = Object.keys(http).length === 1 && explicit !== undefined && explicit !== null && Object.keys(explicit).length === 1;
  if (only && isEmpty(explicit.http2_protocol_options)) return (plainHttpOptions.h2 ??= pack(HTTP_PROTOCOL_OPTIONS, { explicit_http_config: { http2_protocol_options: {} } }));
  if (only && isEmpty(explicit.http_protocol_options)) return (plainHttpOptions.h1 ??= pack(HTTP_PROTOCOL_OPTIONS, { explicit_http_config: { http_protocol_options: {} } }));
  return pack(HTTP_PROTOCOL_OPTIONS, http);
}

const isEmpty = (o: object | null | undefined) => o !== undefined && o !== null && Object.keys(o).length === 0;

const plainHttpOptions: { h1?: Any; h2?: Any } = {};

/** The cluster's transport_socket (an UpstreamTlsContext), as mtls.ts decided; none for plaintext. */
function upstreamTransportSocket(security: UpstreamSecurity, sockets?: Map<string, TransportSocket>): TransportSocket | undefined {
  switch (security.t) {
    case "plaintext":
      return undefined;
    case "istio-mutual": {
      if (sockets === undefined) return envoyIstioMutual(security.sans, security.sni);
      const key = `${security.sni ?? ""}\n${security.sans.join("\n")}`;
      let socket = sockets.get(key);
      if (socket === undefined) sockets.set(key, (socket = envoyIstioMutual(security.sans, security.sni)));
      return socket;
    }
    case "files":
      return envoyFileTls(security.tls);
  }
}

/** The pinned gRPC xDS client (grpc-js) takes EDS and LOGICAL_DNS clusters balanced ROUND_ROBIN or RING_HASH. */
function grpcCompatibility(cluster: Cluster, notes: Notes): void {
  if (cluster.lb_policy === "LEAST_REQUEST" || cluster.lb_policy === "RANDOM") {
    notes.add(`proxyless gRPC clients reject loadBalancer ${cluster.lb_policy} (they take ROUND_ROBIN and consistentHash)`, "grpc");
  }
  if (cluster.type === "STRICT_DNS") notes.add("proxyless gRPC clients reject resolution DNS (STRICT_DNS); they take STATIC and DNS_ROUND_ROBIN", "grpc");
}

function portLevel(policy: TrafficPolicy | undefined, port: number): { policy: EffectivePolicy; portLevel: boolean } {
  if (policy === undefined) return { policy: {}, portLevel: false };
  const entry = policy.portLevelSettings?.find((p) => p.port.number === port);
  return entry === undefined ? { policy: sections(policy), portLevel: false } : { policy: sections(entry), portLevel: true };
}

/** The four sections a cluster reads, without the ones left unset. */
function sections(p: EffectivePolicy): EffectivePolicy {
  return {
    ...(p.loadBalancer === undefined ? {} : { loadBalancer: p.loadBalancer }),
    ...(p.connectionPool === undefined ? {} : { connectionPool: p.connectionPool }),
    ...(p.outlierDetection === undefined ? {} : { outlierDetection: p.outlierDetection }),
    ...(p.tls === undefined ? {} : { tls: p.tls }),
  };
}

/** Nanoseconds as a google.protobuf.Duration, capped at Envoy's largest (about 292 years). */
function protoDuration(ns: bigint): Duration {
  const max = 9_223_372_036n;
  const seconds = ns / 1_000_000_000n;
  if (seconds > max) return { seconds: Number(max) };
  const nanos = Number(ns % 1_000_000_000n);
  return { ...(seconds === 0n ? {} : { seconds: Number(seconds) }), ...(nanos === 0 ? {} : { nanos }) };
}
