// The mesh config model: the Istio API as gitmesh supports it. Every interface here matches a
// definition in schemas/<kind>.schema.json field for field, so a document that passes
// validateSchema (schema.ts) can be read as the matching type. Fields Istio has and gitmesh does
// not support are absent on purpose; the schemas reject them. The security kinds' specs are in
// security-types.ts, re-exported here.
import type { AuthorizationPolicySpec, PeerAuthenticationSpec, RequestAuthenticationSpec } from "./security-types.js";

export type * from "./security-types.js";

/** The kinds gitmesh reads, by their Istio names. */
export type MeshKind = (typeof MESH_KINDS)[number];

export const MESH_KINDS = [
  "ServiceEntry", "WorkloadEntry", "WorkloadGroup", "DestinationRule", "VirtualService", "Gateway", "Sidecar",
  "PeerAuthentication", "AuthorizationPolicy", "RequestAuthentication",
] as const;

export type NetworkingApiVersion = "networking.istio.io/v1" | "networking.istio.io/v1beta1" | "networking.istio.io/v1alpha3";
export type SecurityApiVersion = "security.istio.io/v1" | "security.istio.io/v1beta1";

const NETWORKING: readonly NetworkingApiVersion[] = ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"];
const SECURITY: readonly SecurityApiVersion[] = ["security.istio.io/v1", "security.istio.io/v1beta1"];

/** The apiVersions accepted for each kind. */
export const API_VERSIONS: { readonly [K in MeshKind]: readonly ApiVersionOf<K>[] } = {
  ServiceEntry: NETWORKING, WorkloadEntry: NETWORKING, WorkloadGroup: NETWORKING, DestinationRule: NETWORKING,
  VirtualService: NETWORKING, Gateway: NETWORKING, Sidecar: NETWORKING,
  PeerAuthentication: SECURITY, AuthorizationPolicy: SECURITY, RequestAuthentication: SECURITY,
};

export type ApiVersionOf<K extends MeshKind> = K extends "PeerAuthentication" | "AuthorizationPolicy" | "RequestAuthentication" ? SecurityApiVersion : NetworkingApiVersion;

export function isMeshKind(kind: unknown): kind is MeshKind {
  return typeof kind === "string" && (MESH_KINDS as readonly string[]).includes(kind);
}

// ---- shared ----

/** Label (or annotation) names to values. */
export type Labels = Readonly<Record<string, string>>;

/** A duration in Istio's (Go's) format: "1.5s", "100ms", "1h", "1m30s". */
export type Duration = string;

export interface ObjectMeta {
  /** A DNS-1123 subdomain. */
  readonly name: string;
  /** A DNS-1123 label; "default" when omitted. */
  readonly namespace?: string;
  readonly labels?: Labels;
  readonly annotations?: Labels;
}

/** A whole document as written: envelope plus the kind's spec. */
export interface MeshDocument<K extends MeshKind = MeshKind> {
  readonly apiVersion: ApiVersionOf<K>;
  readonly kind: K;
  readonly metadata: ObjectMeta;
  readonly spec: SpecOf<K>;
}

/** Any supported document, discriminated by kind. */
export type AnyMeshDocument = { [K in MeshKind]: MeshDocument<K> }[MeshKind];

/** Each kind's spec type. */
export interface SpecByKind {
  readonly ServiceEntry: ServiceEntrySpec;
  readonly WorkloadEntry: WorkloadEntrySpec;
  readonly WorkloadGroup: WorkloadGroupSpec;
  readonly DestinationRule: DestinationRuleSpec;
  readonly VirtualService: VirtualServiceSpec;
  readonly Gateway: GatewaySpec;
  readonly Sidecar: SidecarSpec;
  readonly PeerAuthentication: PeerAuthenticationSpec;
  readonly AuthorizationPolicy: AuthorizationPolicySpec;
  readonly RequestAuthentication: RequestAuthenticationSpec;
}

export type SpecOf<K extends MeshKind> = SpecByKind[K];

/** value: 0.0 to 100.0. */
export interface Percent { readonly value: number }

export interface PortSelector { readonly number: number }

export interface Destination {
  readonly host: string;
  readonly subset?: string;
  readonly port?: PortSelector;
}

/** Exactly one of exact, prefix, regex. */
export type StringMatch =
  | { readonly exact: string; readonly prefix?: never; readonly regex?: never }
  | { readonly prefix: string; readonly exact?: never; readonly regex?: never }
  | { readonly regex: string; readonly exact?: never; readonly prefix?: never };

/** At most one of exact, prefix, regex; {} matches the header's presence. */
export type HeaderMatch = StringMatch | { readonly exact?: never; readonly prefix?: never; readonly regex?: never };

/** Exactly one of exact, regex. */
export type QueryParamMatch = { readonly exact: string; readonly regex?: never } | { readonly regex: string; readonly exact?: never };

export interface HeaderOperations {
  readonly set?: Readonly<Record<string, string>>;
  readonly add?: Readonly<Record<string, string>>;
  readonly remove?: readonly string[];
}

export interface Headers {
  readonly request?: HeaderOperations;
  readonly response?: HeaderOperations;
}

/** networking.istio.io WorkloadSelector. */
export interface WorkloadSelector {
  readonly labels: Labels;
}

/** security.istio.io (type.v1beta1) WorkloadSelector. */
export interface MatchLabelsSelector {
  readonly matchLabels?: Labels;
}

// ---- ServiceEntry, WorkloadEntry, WorkloadGroup ----

/** HTTPS is TLS from the application, passed through as TLS is (Istio treats them alike). */
export type ServiceProtocol = "HTTP" | "HTTPS" | "HTTP2" | "GRPC" | "TCP" | "TLS";

export interface ServicePort {
  readonly number: number;
  readonly name: string;
  readonly protocol: ServiceProtocol;
  readonly targetPort?: number;
}

interface ServiceEntryBase {
  readonly hosts: readonly string[];
  readonly ports?: readonly ServicePort[];
  readonly location?: "MESH_EXTERNAL" | "MESH_INTERNAL";
  readonly resolution?: "STATIC" | "DNS" | "DNS_ROUND_ROBIN" | "NONE";
  /** Namespaces whose proxies see the service: "." its own, "*" all (the default), "~" none, or names. */
  readonly exportTo?: readonly string[];
}

/** At most one of endpoints and workloadSelector. */
export type ServiceEntrySpec = ServiceEntryBase &
  (
    | { readonly endpoints?: readonly WorkloadEntrySpec[]; readonly workloadSelector?: never }
    | { readonly workloadSelector?: WorkloadSelector; readonly endpoints?: never }
  );

export interface WorkloadEntrySpec {
  /** IP address, DNS name, or unix:///path. */
  readonly address: string;
  /** Port number by service port name. */
  readonly ports?: Readonly<Record<string, number>>;
  readonly labels?: Labels;
  readonly serviceAccount?: string;
  /** region[/zone[/subzone]]. */
  readonly locality?: string;
  readonly weight?: number;
}

export interface WorkloadGroupSpec {
  readonly metadata?: { readonly labels?: Labels; readonly annotations?: Labels };
  readonly template: {
    readonly ports?: Readonly<Record<string, number>>;
    readonly serviceAccount?: string;
  };
}

// ---- DestinationRule ----

export interface DestinationRuleSpec {
  readonly host: string;
  /** Namespaces whose proxies it applies to: "." its own, "*" all (the default), "~" none, or names. */
  readonly exportTo?: readonly string[];
  readonly trafficPolicy?: TrafficPolicy;
  readonly subsets?: readonly Subset[];
  /** The workloads of its own namespace whose outbound traffic it applies to (merge-destination-rules.ts). */
  readonly workloadSelector?: { readonly matchLabels?: Labels };
}

export interface Subset {
  readonly name: string;
  readonly labels?: Labels;
  readonly trafficPolicy?: TrafficPolicy;
}

export interface PortTrafficPolicy {
  readonly port: PortSelector;
  readonly loadBalancer?: LoadBalancerSettings;
  readonly connectionPool?: ConnectionPoolSettings;
  readonly outlierDetection?: OutlierDetection;
  readonly tls?: ClientTLSSettings;
}

export interface TrafficPolicy extends Omit<PortTrafficPolicy, "port"> {
  readonly portLevelSettings?: readonly PortTrafficPolicy[];
}

export type SimpleLB = "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM";

/** At most one of simple and consistentHash. */
export type LoadBalancerSettings = (
  | { readonly simple: SimpleLB; readonly consistentHash?: never }
  | { readonly consistentHash: ConsistentHashLB; readonly simple?: never }
  | { readonly simple?: never; readonly consistentHash?: never }
) & {
  /** At most one of warmup and warmupDurationSecs (the older form: the duration alone). */
  readonly warmup?: WarmupConfiguration;
  readonly warmupDurationSecs?: Duration;
  readonly localityLbSetting?: LocalityLbSetting;
};

/** Locality failover (Istio's; applies with outlierDetection). */
export interface LocalityLbSetting {
  /** Default true. */
  readonly enabled?: boolean;
  readonly failover?: readonly { readonly from: string; readonly to: string }[];
}

/** Exactly one hash key, and the ring's minimum size (1 to 8388608; 1024 when absent). */
export type ConsistentHashLB = (
  | { readonly httpHeaderName: string; readonly httpCookie?: never; readonly useSourceIp?: never; readonly httpQueryParameterName?: never }
  | { readonly httpCookie: HTTPCookie; readonly httpHeaderName?: never; readonly useSourceIp?: never; readonly httpQueryParameterName?: never }
  | { readonly useSourceIp: boolean; readonly httpHeaderName?: never; readonly httpCookie?: never; readonly httpQueryParameterName?: never }
  | { readonly httpQueryParameterName: string; readonly httpHeaderName?: never; readonly httpCookie?: never; readonly useSourceIp?: never }
) & { readonly minimumRingSize?: number };

export interface HTTPCookie {
  readonly name: string;
  readonly path?: string;
  readonly ttl?: Duration;
}

export interface ConnectionPoolSettings {
  readonly tcp?: {
    readonly maxConnections?: number;
    readonly connectTimeout?: Duration;
    readonly tcpKeepalive?: TcpKeepalive;
  };
  readonly http?: {
    readonly http1MaxPendingRequests?: number;
    readonly http2MaxRequests?: number;
    readonly maxRequestsPerConnection?: number;
    readonly maxRetries?: number;
    readonly idleTimeout?: Duration;
    /** DEFAULT (the mesh's: no upgrade), DO_NOT_UPGRADE, UPGRADE (HTTP ports speak HTTP/2 upstream). */
    readonly h2UpgradePolicy?: "DEFAULT" | "DO_NOT_UPGRADE" | "UPGRADE";
  };
}

/** SO_KEEPALIVE on upstream connections; unset fields keep the OS's settings. */
export interface TcpKeepalive {
  readonly probes?: number;
  /** Idle time before the first probe (whole seconds). */
  readonly time?: Duration;
  /** Time between probes (whole seconds). */
  readonly interval?: Duration;
}

/** Slow start for new endpoints (Envoy's slow_start_config). */
export interface WarmupConfiguration {
  readonly duration: Duration;
  /** 0-100; Istio's default 10. */
  readonly minimumPercent?: number;
  /** At least 1; Istio's default 1 (linear). */
  readonly aggression?: number;
}

export interface OutlierDetection {
  readonly consecutive5xxErrors?: number;
  readonly consecutiveGatewayErrors?: number;
  readonly interval?: Duration;
  readonly baseEjectionTime?: Duration;
  readonly maxEjectionPercent?: number;
  readonly minHealthPercent?: number;
}

export type ClientTLSMode = "DISABLE" | "SIMPLE" | "MUTUAL" | "ISTIO_MUTUAL";

export interface ClientTLSSettings {
  readonly mode?: ClientTLSMode;
  readonly clientCertificate?: string;
  readonly privateKey?: string;
  readonly caCertificates?: string;
  readonly credentialName?: string;
  readonly subjectAltNames?: readonly string[];
  readonly sni?: string;
  /** SIMPLE and MUTUAL: do not verify the server's certificate (its chain nor its names). */
  readonly insecureSkipVerify?: boolean;
}

// ---- VirtualService ----

export interface VirtualServiceSpec {
  /** Absent in a delegate: a VirtualService that only another one's http[].delegate routes to. */
  readonly hosts?: readonly string[];
  readonly gateways?: readonly string[];
  readonly http?: readonly HTTPRoute[];
  readonly tcp?: readonly TCPRoute[];
  readonly tls?: readonly TLSRoute[];
  /** Namespaces whose proxies it applies to: "." its own, "*" all (the default), "~" none, or names. */
  readonly exportTo?: readonly string[];
}

interface HTTPRouteBase {
  readonly name?: string;
  readonly match?: readonly HTTPMatchRequest[];
  readonly timeout?: Duration;
  readonly retries?: HTTPRetry;
  readonly fault?: HTTPFaultInjection;
  readonly mirror?: Destination;
  /** At most one of mirrorPercentage and mirrorPercent (the older form, a whole percentage). */
  readonly mirrorPercentage?: Percent;
  readonly mirrorPercent?: number;
  /** Not with mirror. */
  readonly mirrors?: readonly HTTPMirrorPolicy[];
  readonly corsPolicy?: CorsPolicy;
  readonly headers?: Headers;
}

/**
 * Exactly one of route, redirect, directResponse and delegate; rewrite only with route (or with
 * delegate, for the delegate's routes to inherit).
 */
export type HTTPRoute = HTTPRouteBase &
  (
    | { readonly route: readonly HTTPRouteDestination[]; readonly rewrite?: HTTPRewrite; readonly redirect?: never; readonly directResponse?: never; readonly delegate?: never }
    | { readonly redirect: HTTPRedirect; readonly route?: never; readonly rewrite?: never; readonly directResponse?: never; readonly delegate?: never }
    | { readonly directResponse: HTTPDirectResponse; readonly route?: never; readonly rewrite?: never; readonly redirect?: never; readonly delegate?: never }
    | { readonly delegate: Delegate; readonly rewrite?: HTTPRewrite; readonly route?: never; readonly redirect?: never; readonly directResponse?: never }
  );

/** The VirtualService (without hosts) whose http routes replace this one, merged with it (config/virtual-services.ts). */
export interface Delegate {
  readonly name: string;
  /** The root's namespace when absent. */
  readonly namespace?: string;
}

/** A mirror destination and the share of requests it gets (100% when absent). */
export interface HTTPMirrorPolicy {
  readonly destination: Destination;
  readonly percentage?: Percent;
}

/** A fixed answer: status 200-599 and an optional body, as text or base64 bytes. */
export interface HTTPDirectResponse {
  readonly status: number;
  readonly body?: { readonly string: string; readonly bytes?: never } | { readonly bytes: string; readonly string?: never };
}

export interface HTTPMatchRequest {
  readonly name?: string;
  readonly uri?: StringMatch;
  readonly method?: StringMatch;
  readonly headers?: Readonly<Record<string, HeaderMatch>>;
  readonly withoutHeaders?: Readonly<Record<string, HeaderMatch>>;
  readonly queryParams?: Readonly<Record<string, QueryParamMatch>>;
  readonly port?: number;
  readonly ignoreUriCase?: boolean;
  /** The request's authority (Host header, port included when the client sent one). */
  readonly authority?: StringMatch;
  /** The request's scheme (http or https, as the proxy received it). */
  readonly scheme?: StringMatch;
  /** The match exists only for client proxies with these labels (Istio's: it decides what a proxy gets). */
  readonly sourceLabels?: Labels;
  /** The match exists only for client proxies in this namespace. */
  readonly sourceNamespace?: string;
  /** The match exists only where these gateways or "mesh" route (overriding the VirtualService's gateways). */
  readonly gateways?: readonly string[];
}

export interface HTTPRouteDestination {
  readonly destination: Destination;
  /** 0-100. */
  readonly weight?: number;
  readonly headers?: Headers;
}

export interface HTTPRedirect {
  readonly uri?: string;
  readonly authority?: string;
  readonly redirectCode?: 301 | 302 | 303 | 307 | 308;
  readonly port?: number;
  readonly scheme?: "http" | "https";
}

/** At most one of uri and uriRegexRewrite. */
export interface HTTPRewrite {
  readonly uri?: string;
  readonly authority?: string;
  /** Replace what the RE2 regex `match` matches in the path with `rewrite` (\\1 for groups). */
  readonly uriRegexRewrite?: { readonly match: string; readonly rewrite: string };
}

export interface HTTPRetry {
  readonly attempts?: number;
  readonly perTryTimeout?: Duration;
  /** Comma-separated retry conditions, e.g. "5xx,reset,connect-failure". */
  readonly retryOn?: string;
}

export interface FaultDelay {
  readonly fixedDelay: Duration;
  readonly percentage?: Percent;
}

/** The gRPC status codes a fault may abort with, by name (Istio's grpcStatus). */
export const GRPC_STATUS_CODES = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcStatusName = keyof typeof GRPC_STATUS_CODES;

/** Exactly one of httpStatus (200-599) and grpcStatus. */
export type FaultAbort =
  | { readonly httpStatus: number; readonly grpcStatus?: never; readonly percentage?: Percent }
  | { readonly grpcStatus: GrpcStatusName; readonly httpStatus?: never; readonly percentage?: Percent };

/** At least one of delay and abort. */
export type HTTPFaultInjection =
  | { readonly delay: FaultDelay; readonly abort?: FaultAbort }
  | { readonly abort: FaultAbort; readonly delay?: FaultDelay };

export interface CorsPolicy {
  readonly allowOrigins?: readonly StringMatch[];
  readonly allowMethods?: readonly string[];
  readonly allowHeaders?: readonly string[];
  readonly exposeHeaders?: readonly string[];
  readonly maxAge?: Duration;
  readonly allowCredentials?: boolean;
}

export interface TCPRoute {
  readonly match?: readonly { readonly port?: number }[];
  readonly route: readonly RouteDestination[];
}

/** Passed-through TLS, routed by the connection's SNI (sniHosts: names, or "*.suffix"). */
export interface TLSRoute {
  readonly match: readonly { readonly sniHosts: readonly string[]; readonly port?: number }[];
  readonly route: readonly RouteDestination[];
}

export interface RouteDestination {
  readonly destination: Destination;
  /** 0-100. */
  readonly weight?: number;
}

// ---- Gateway, Sidecar ----

export interface GatewaySpec {
  readonly selector?: Labels;
  readonly servers: readonly Server[];
}

export interface Server {
  readonly port: {
    readonly number: number;
    readonly name: string;
    readonly protocol: "HTTP" | "HTTPS" | "HTTP2" | "GRPC" | "TCP" | "TLS";
  };
  /** [namespace/]dnsName. */
  readonly hosts: readonly string[];
  readonly tls?: ServerTLSSettings;
  readonly name?: string;
}

export type TLSProtocolVersion = "TLS_AUTO" | "TLSV1_0" | "TLSV1_1" | "TLSV1_2" | "TLSV1_3";

export interface ServerTLSSettings {
  /** PASSTHROUGH: TLS is not terminated; the VirtualServices' tls routes pick by SNI. */
  readonly mode?: "SIMPLE" | "MUTUAL" | "ISTIO_MUTUAL" | "PASSTHROUGH" | "AUTO_PASSTHROUGH";
  readonly credentialName?: string;
  /** A plaintext HTTP server answers every request with a redirect to https. */
  readonly httpsRedirect?: boolean;
  readonly minProtocolVersion?: TLSProtocolVersion;
  readonly maxProtocolVersion?: TLSProtocolVersion;
  /** BoringSSL names, for TLS 1.2 and below (TLS 1.3's suites are not configurable). */
  readonly cipherSuites?: readonly string[];
}

export interface SidecarSpec {
  readonly workloadSelector?: WorkloadSelector;
  readonly egress?: readonly {
    /** namespace/dnsName, e.g. "./*". */
    readonly hosts: readonly string[];
  }[];
  /** ALLOW_ANY only: without interception, undeclared hosts are reached directly. */
  readonly outboundTrafficPolicy?: { readonly mode?: "ALLOW_ANY" };
}
