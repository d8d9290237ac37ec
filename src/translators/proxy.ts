// The contract between a proxy and gitmesh: what its node must say about it. docs/proxies.md
// describes it for users; this module is the only place that reads node metadata.

export type ProxyKind = "sidecar" | "gateway" | "grpc";

/** Who a connected proxy is, as the translators need it. */
export interface ProxyIdentity {
  readonly nodeId: string;
  readonly kind: ProxyKind;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly workloadName?: string;
  /** A WorkloadGroup this proxy registers itself in (it becomes an endpoint while connected). */
  readonly workloadGroup?: string;
  readonly instanceIps: readonly string[];
  /** node.user_agent_name and user_agent_version, when the node gives them (grpc-clients.ts reads them). */
  readonly userAgent?: UserAgent;
  /**
   * The address the proxy's xDS stream comes from, as gitmesh sees it: where a self-registering
   * workload is reached when its node gives no INSTANCE_IPS. Not from the node: set on connect.
   */
  readonly peerAddress?: string;
  /**
   * Set by the server, never by the node: the proxy's stream presented a credential for exactly
   * this namespace and service account (the TLS port). Only such a proxy may register itself as
   * an endpoint or receive a gateway's private keys; render assumes it.
   */
  readonly authenticated?: boolean;
}

/**
 * A canonical text of everything a proxy's resources can depend on: equal for equal identities
 * whatever the order their labels arrived in (a node's metadata map has no order), so it is what
 * identities are compared by.
 */
export function canonicalProxy(p: ProxyIdentity): string {
  return JSON.stringify([
    p.nodeId,
    p.kind,
    p.namespace,
    p.serviceAccount,
    Object.entries(p.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    p.workloadName ?? null,
    p.workloadGroup ?? null,
    p.instanceIps,
    p.peerAddress ?? null,
    p.authenticated === true,
    p.userAgent === undefined ? null : [p.userAgent.name, p.userAgent.version],
  ]);
}

/** Who wrote the proxy's xDS client: "gRPC C-core linux Python", "C-core 29.0.0 Python 1.51.1". */
export interface UserAgent {
  readonly name: string;
  readonly version: string;
}

/** The parts of an Envoy Node the contract reads (as decoded with protobufjs's toObject). */
export interface NodeLike {
  readonly id: string;
  readonly user_agent_name?: string;
  readonly user_agent_version?: string;
  readonly metadata?: StructLike | null;
}

export interface StructLike {
  readonly fields?: Readonly<Record<string, ValueLike>> | null;
}

/** google.protobuf.Value as decoded: protobufjs's bundled well-known types use camelCase names. */
interface ValueLike {
  readonly stringValue?: string;
  readonly numberValue?: number;
  readonly boolValue?: boolean;
  readonly structValue?: StructLike | null;
  readonly listValue?: { readonly values?: readonly ValueLike[] } | null;
}

export type ProxyResult = { readonly ok: true; readonly proxy: ProxyIdentity } | { readonly ok: false; readonly problems: readonly string[] };

const KINDS: readonly ProxyKind[] = ["sidecar", "gateway", "grpc"];

/** Reads a node against the contract: every problem is reported, not just the first. */
export function proxyFromNode(node: NodeLike): ProxyResult {
  const meta = structToJson(node.metadata ?? undefined);
  const problems: string[] = [];
  const str = (key: string): string | undefined => {
    const v = meta[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string") problems.push(`node.metadata.${key} must be a string`);
    return typeof v === "string" ? v : undefined;
  };
  const namespace = str("NAMESPACE");
  const serviceAccount = str("SERVICE_ACCOUNT");
  const workloadName = str("WORKLOAD_NAME");
  const workloadGroup = str("WORKLOAD_GROUP");
  const kindText = str("PROXY_KIND");
  const labels = meta["LABELS"] ?? {};
  const ips = str("INSTANCE_IPS");
  if (node.id === "") problems.push("node.id is empty: give every proxy a unique id");
  if (namespace === undefined || namespace === "") problems.push("node.metadata.NAMESPACE is missing: the proxy's namespace");
  if (serviceAccount === undefined || serviceAccount === "") problems.push("node.metadata.SERVICE_ACCOUNT is missing: the proxy's service account");
  if (typeof labels !== "object" || labels === null || Array.isArray(labels) || Object.values(labels).some((v) => typeof v !== "string")) {
    problems.push("node.metadata.LABELS must be a map of string to string");
  }
  const kind = kindText ?? ((node.user_agent_name ?? "").startsWith("gRPC") ? "grpc" : "sidecar");
  if (!KINDS.includes(kind as ProxyKind)) problems.push(`node.metadata.PROXY_KIND is "${kind}"; use one of ${KINDS.join(", ")}`);
  if (problems.length > 0) return { ok: false, problems };
  const userAgent = node.user_agent_name === undefined || node.user_agent_name === "" ? undefined : { name: node.user_agent_name, version: node.user_agent_version ?? "" };
  return {
    ok: true,
    proxy: {
      nodeId: node.id,
      kind: kind as ProxyKind,
      namespace: namespace ?? "",
      serviceAccount: serviceAccount ?? "",
      labels: labels as Record<string, string>,
      ...(workloadName === undefined ? {} : { workloadName }),
      ...(workloadGroup === undefined ? {} : { workloadGroup }),
      instanceIps: (ips ?? "").split(",").map((s) => s.trim()).filter((s) => s !== ""),
      ...(userAgent === undefined ? {} : { userAgent }),
    },
  };
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** google.protobuf.Struct (decoded) as plain JSON. */
export function structToJson(s: StructLike | undefined): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = valueToJson(v);
  return out;
}

function valueToJson(v: ValueLike): Json {
  if (v.stringValue !== undefined && v.stringValue !== null) return v.stringValue;
  if (v.numberValue !== undefined && v.numberValue !== null) return v.numberValue;
  if (v.boolValue !== undefined && v.boolValue !== null) return v.boolValue;
  if (v.structValue !== undefined && v.structValue !== null) return structToJson(v.structValue);
  if (v.listValue !== undefined && v.listValue !== null) return (v.listValue.values ?? []).map(valueToJson);
  return null;
}

/**
 * The host part of a gRPC peer string ("1.2.3.4:5678", "[::1]:5678", "ipv4:..."), with an
 * IPv4-mapped IPv6 address given as IPv4. Undefined for a peer that is not an IP address.
 */
export function peerHost(peer: string): string | undefined {
  const bare = peer.replace(/^ipv[46]:/, "");
  const host = bare.startsWith("[") ? bare.slice(1, bare.indexOf("]")) : bare.slice(0, bare.lastIndexOf(":"));
  const v4 = host.replace(/^::ffff:/i, "");
  if (/^[0-9]{1,3}(\.[0-9]{1,3}){3}$/.test(v4)) return v4;
  return host.includes(":") ? host : undefined;
}

/**
 * The address a sidecar's inbound listeners bind and a self-registered workload is reached at:
 * the first INSTANCE_IPS entry, else the workload's registered address (its WorkloadEntry), else
 * the stream's peer address.
 */
export function workloadAddress(proxy: ProxyIdentity, registered: string | undefined): string | undefined {
  return proxy.instanceIps[0] ?? (registered === undefined || registered === "" ? undefined : registered) ?? proxy.peerAddress;
}
