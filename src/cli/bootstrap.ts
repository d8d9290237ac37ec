// `gitmesh bootstrap`: what a workload's proxy starts with. An Envoy sidecar or gateway gets an
// Envoy bootstrap (built as the typed Bootstrap message, so a misspelled field fails to compile,
// and checked against Envoy's validation rules); a proxyless gRPC application gets the gRPC xDS
// bootstrap its client and XdsServer read. Both carry the node contract of docs/proxies.md.
import { isIP } from "node:net";
import { writeFileAtomic } from "../common/files.js";
import { encodeMessage, pack, protoJson, validateMessage } from "../envoy/index.js";
import type { Bootstrap } from "../envoy/index.js";
import type { Struct } from "../envoy/generated/google/protobuf/Struct.js";
import { GRPC_SERVER_LISTENER_TEMPLATE } from "../translators/grpc-server.js";
import { GRPC_CERT_PROVIDER } from "../translators/tls-contexts.js";
import { CERT_FILES } from "./ca-usage.js";
import type { ProxyKind } from "../translators/proxy.js";

export interface BootstrapOptions {
  readonly kind: ProxyKind;
  readonly nodeId: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly workloadName?: string;
  readonly workloadGroup?: string;
  readonly instanceIps?: readonly string[];
  /** gitmesh's xDS address as the proxy reaches it (host:port). */
  readonly xdsAddress: string;
  /** Envoy's admin interface port, on 127.0.0.1. */
  readonly adminPort: number;
  /** A gitmesh token (`gitmesh token issue`), sent as "authorization: Bearer TOKEN" on the xDS stream. */
  readonly token?: string;
  /**
   * gRPC only: the directory `gitmesh cert issue --out DIR` writes to, read by gRPC's file_watcher
   * certificate provider for mutual TLS (docs/mtls.md). Without it the application has no
   * certificate provider and NACKs clusters and listeners that use one.
   */
  readonly certDir?: string;
  /**
   * The mesh trust bundle on the proxy's disk: the xDS connection uses TLS and verifies gitmesh
   * against it (the TLS port, 15012, which is where secrets are served).
   */
  readonly xdsCaFile?: string;
}

/** How often gRPC's file_watcher re-reads the certificate files (renewal replaces them). */
export const CERT_REFRESH_INTERVAL = "60s";

export const XDS_CLUSTER = "gitmesh-xds";

/** What a node says about its workload: the contract of docs/proxies.md. */
export type NodeContract = Pick<BootstrapOptions, "kind" | "namespace" | "serviceAccount" | "labels" | "workloadName" | "workloadGroup" | "instanceIps">;

/** The node metadata of the contract, as plain JSON (gRPC's bootstrap form). */
export function nodeMetadata(o: NodeContract): Record<string, unknown> {
  return {
    NAMESPACE: o.namespace,
    SERVICE_ACCOUNT: o.serviceAccount,
    LABELS: { ...o.labels },
    PROXY_KIND: o.kind,
    ...(o.workloadName === undefined ? {} : { WORKLOAD_NAME: o.workloadName }),
    ...(o.workloadGroup === undefined ? {} : { WORKLOAD_GROUP: o.workloadGroup }),
    ...(o.instanceIps === undefined || o.instanceIps.length === 0 ? {} : { INSTANCE_IPS: o.instanceIps.join(",") }),
  };
}

/** Plain JSON (strings and nested objects, as node metadata has) as a google.protobuf.Struct. */
export function struct(json: Record<string, unknown>): Struct {
  const value = (v: unknown): NonNullable<Struct["fields"]>[string] =>
    typeof v === "string" ? { stringValue: v } : { structValue: struct(v as Record<string, unknown>) };
  return { fields: Object.fromEntries(Object.entries(json).map(([k, v]) => [k, value(v)])) };
}

export function envoyBootstrap(o: BootstrapOptions): Bootstrap {
  const colon = o.xdsAddress.lastIndexOf(":");
  const host = o.xdsAddress.slice(0, colon);
  const port = Number(o.xdsAddress.slice(colon + 1));
  return {
    node: { id: o.nodeId, cluster: `${o.serviceAccount}.${o.namespace}`, metadata: struct(nodeMetadata(o)) },
    dynamic_resources: {
      ads_config: {
        api_type: "DELTA_GRPC",
        transport_api_version: "V3",
        set_node_on_first_message_only: true,
        grpc_services: [
          {
            envoy_grpc: { cluster_name: XDS_CLUSTER },
            ...(o.token === undefined ? {} : { initial_metadata: [{ key: "authorization", value: `Bearer ${o.token}` }] }),
          },
        ],
      },
      cds_config: { ads: {}, resource_api_version: "V3" },
      lds_config: { ads: {}, resource_api_version: "V3" },
    },
    static_resources: {
      clusters: [
        {
          name: XDS_CLUSTER,
          // A name (compose's "gitmesh") is resolved and re-resolved; an address works as well.
          type: "STRICT_DNS",
          // gitmesh listens on 0.0.0.0 by default (IPv4): Envoy's default (AUTO) would dial a
          // name's IPv6 address first, such as ::1 for localhost, and never get through.
          dns_lookup_family: "V4_PREFERRED",
          connect_timeout: { seconds: 5, nanos: 0 },
          load_assignment: {
            cluster_name: XDS_CLUSTER,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: host, port_value: port } } } }] }],
          },
          typed_extension_protocol_options: {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": pack("envoy.extensions.upstreams.http.v3.HttpProtocolOptions", {
              explicit_http_config: { http2_protocol_options: {} },
            }),
          },
          ...(o.xdsCaFile === undefined
            ? {}
            : {
                transport_socket: {
                  name: "envoy.transport_sockets.tls",
                  typed_config: pack("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", {
                    sni: host,
                    common_tls_context: {
                      alpn_protocols: ["h2"],
                      // The root alone would admit any certificate the mesh CA signed, every
                      // workload's included: the proxy would hand its token to any of them.
                      validation_context: { trusted_ca: { filename: o.xdsCaFile }, match_typed_subject_alt_names: [gitmeshSan(host)] },
                    },
                  }),
                },
              }),
        },
      ],
    },
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: o.adminPort } } },
    // Envoy warns at every start when no downstream connection limit is configured. Istio's
    // bootstrap sets this monitor with the largest value; so does gitmesh: the proxy's own
    // capacity, not an arbitrary number, should limit what the application asked it to carry.
    overload_manager: {
      resource_monitors: [
        {
          name: "envoy.resource_monitors.global_downstream_max_connections",
          typed_config: pack("envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig", { max_active_downstream_connections: MAX_DOWNSTREAM_CONNECTIONS }),
        },
      ],
    },
  };
}

/** The downstream connection limit in the bootstrap's overload manager (Istio's value, 2^31 - 1). */
export const MAX_DOWNSTREAM_CONNECTIONS = "2147483647";

/**
 * What the TLS port's certificate must name: the host the proxy dials, as a DNS name or an IP
 * address, as Istio's agent checks istiod's certificate against the discovery address's host.
 * gitmesh's certificate carries exactly its --xds-tls-name names (src/ca/serving.ts); workload
 * certificates carry a SPIFFE URI and no DNS name or address, so none of them can pass.
 */
function gitmeshSan(host: string): { san_type: "DNS" | "IP_ADDRESS"; matcher: { exact: string } } {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  return { san_type: isIP(bare) === 0 ? "DNS" : "IP_ADDRESS", matcher: { exact: bare } };
}

/** The gRPC xDS bootstrap (GRPC_XDS_BOOTSTRAP) of a proxyless client or server. */
export function grpcBootstrap(o: BootstrapOptions): Record<string, unknown> {
  return {
    xds_servers: [{ server_uri: o.xdsAddress, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }],
    node: { id: o.nodeId, cluster: `${o.serviceAccount}.${o.namespace}`, locality: {}, metadata: nodeMetadata(o) },
    server_listener_resource_name_template: GRPC_SERVER_LISTENER_TEMPLATE,
    ...(o.certDir === undefined ? {} : { certificate_providers: grpcCertificateProviders(o.certDir) }),
  };
}

/**
 * The certificate provider instance the translators name for proxyless mutual TLS ("default"):
 * file_watcher over the chain, key and trust bundle in dir. Paths are joined with "/" as written,
 * so a relative dir stays relative to the application's working directory.
 */
export function grpcCertificateProviders(dir: string): Record<string, unknown> {
  const path = (file: string) => `${dir.replace(/\/+$/, "")}/${file}`;
  return {
    [GRPC_CERT_PROVIDER]: {
      plugin_name: "file_watcher",
      config: {
        certificate_file: path(CERT_FILES.chain),
        private_key_file: path(CERT_FILES.key),
        ca_certificate_file: path(CERT_FILES.bundle),
        refresh_interval: CERT_REFRESH_INTERVAL,
      },
    },
  };
}

/**
 * The bootstrap as JSON text, or the Envoy validation rules it breaks (a bug: the inputs are
 * checked before this is called).
 */
export function bootstrapText(o: BootstrapOptions): string {
  if (o.kind === "grpc") return `${JSON.stringify(grpcBootstrap(o), null, 2)}\n`;
  const bytes = encodeMessage("envoy.config.bootstrap.v3.Bootstrap", envoyBootstrap(o));
  const violations = validateMessage("envoy.config.bootstrap.v3.Bootstrap", bytes);
  if (violations.length > 0) throw new Error(`bug: the bootstrap breaks Envoy's rules: ${JSON.stringify(violations)}`);
  return `${JSON.stringify(protoJson("envoy.config.bootstrap.v3.Bootstrap", bytes), null, 2)}\n`;
}

/**
 * Writes the bootstrap to a file, atomically. One that holds a token is a credential: 0600, even
 * where an older file was readable by others (a new file replaces it).
 */
export async function writeBootstrap(path: string, o: BootstrapOptions): Promise<void> {
  await writeFileAtomic(path, bootstrapText(o), o.token === undefined ? 0o644 : 0o600);
}
