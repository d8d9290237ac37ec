// The Client Status Discovery Service (envoy.service.status.v3) on the xDS ports: per connected
// proxy, what the server sent it and how the proxy answered, so standard tools can ask gitmesh
// what istioctl proxy-status asks istiod. Who may ask (docs/xds-server.md, "CSDS"):
// - on an authenticated (TLS) port, a caller whose token is for the operator identity
//   (OPERATOR below); it is answered about every connected proxy. A workload's token is refused:
//   one proxy must not read another's config.
// - on the plaintext port, anyone who can reach it, about the streams of that port only (what any
//   of them could be sent by naming the node id anyway).
// Secrets are never included: SDS resources are listed by name and status, without contents.
import { status as grpcStatus, type Metadata, type ServerDuplexStream, type ServerUnaryCall, type sendUnaryData, type ServiceDefinition, type UntypedHandleCall } from "@grpc/grpc-js";
import { encodeMessage, type ClientStatusRequest__Output, type GenericXdsConfig, type Node__Output } from "../envoy/index.js";
import type { EndpointPolicy } from "./endpoint.js";
import { requestDecoder, type Decoded } from "./requests.js";
import { ADS_ORDER, SDS } from "./resource-kinds.js";
import type { Holding } from "./session.js";
import type { StreamStatus, XdsStatus } from "./status.js";

/** The identity whose token may ask CSDS on the TLS port: `gitmesh token issue --namespace istio-system --service-account gitmesh-operator`. */
export const OPERATOR = { namespace: "istio-system", serviceAccount: "gitmesh-operator" } as const;

const SERVICE = "envoy.service.status.v3.ClientStatusDiscoveryService";

/** What CSDS reads of the server. */
export interface CsdsSource {
  readonly status: XdsStatus;
  readonly holding: (streamId: number, typeUrl: string) => Holding | undefined;
  /**
   * An operator's call passed its credential: its connection is kept like a proxy's (others are
   * closed once the connection setup window ends, as any connection that names no node).
   */
  readonly operator: (peer: string) => void;
}

type Answer = { readonly ok: true; readonly bytes: Buffer } | { readonly ok: false; readonly code: grpcStatus; readonly details: string };

/** The node the caller's token is checked against: the operator identity, as a proxyless client would say it. */
function operatorNode(): Node__Output {
  const str = (v: string) => ({ stringValue: v, kind: "stringValue" });
  return {
    id: "gitmesh-csds",
    cluster: "",
    metadata: { fields: { NAMESPACE: str(OPERATOR.namespace), SERVICE_ACCOUNT: str(OPERATOR.serviceAccount), PROXY_KIND: str("grpc") } },
  } as unknown as Node__Output;
}

/** Whether a caller may ask on this port; undefined when it may. */
export function csdsRefusal(policy: EndpointPolicy, metadata: Metadata): { code: grpcStatus; details: string } | undefined {
  if (policy.t === "plaintext") return undefined;
  const decision = policy.authenticate(metadata, operatorNode());
  if (decision.ok) return undefined;
  return {
    code: grpcStatus[decision.code],
    details: `CSDS on this port answers an operator only: a token for ${OPERATOR.namespace}/${OPERATOR.serviceAccount} (gitmesh token issue --namespace ${OPERATOR.namespace} --service-account ${OPERATOR.serviceAccount}): ${decision.message}`,
  };
}

/**
 * StringMatcher, as far as node ids need it; undefined for forms not supported. Requests are
 * decoded with defaults, so the pattern is the first of exact, prefix, suffix, contains that is
 * set (all empty is exact "").
 */
function stringMatch(m: Record<string, unknown>, value: string): boolean | undefined {
  const set = (k: string) => m[k] !== null && m[k] !== undefined;
  if (set("safe_regex") || set("custom")) return undefined;
  const ignoreCase = m["ignore_case"] === true;
  const v = ignoreCase ? value.toLowerCase() : value;
  const pattern = (["exact", "prefix", "suffix", "contains"] as const).find((k) => typeof m[k] === "string" && m[k] !== "") ?? "exact";
  const arg = ignoreCase ? String(m[pattern] ?? "").toLowerCase() : String(m[pattern] ?? "");
  switch (pattern) {
    case "exact":
      return v === arg;
    case "prefix":
      return v.startsWith(arg);
    case "suffix":
      return v.endsWith(arg);
    case "contains":
      return v.includes(arg);
  }
}

/** The streams a request's node matchers select (all when it has none); a string is an unsupported matcher. */
function selected(req: ClientStatusRequest__Output, streams: readonly StreamStatus[]): StreamStatus[] | string {
  if (req.node_matchers.length === 0) return [...streams];
  const out = new Set<StreamStatus>();
  for (const m of req.node_matchers) {
    if (m.node_metadatas.length > 0) return "node_metadatas matchers are not supported; match node_id (exact, prefix, suffix or contains)";
    if (m.node_id === null) return "a NodeMatcher needs node_id";
    for (const s of streams) {
      const hit = stringMatch(m.node_id as unknown as Record<string, unknown>, s.nodeId);
      if (hit === undefined) return "node_id matchers may be exact, prefix, suffix or contains";
      if (hit) out.add(s);
    }
  }
  return streams.filter((s) => out.has(s));
}

const CONFIG_STATUS = { SYNCED: "SYNCED", STALE: "STALE", NACKED: "ERROR", "NOT SENT": "NOT_SENT" } as const;
const CLIENT_STATUS = { ack: "ACKED", nack: "NACKED", pending: "REQUESTED" } as const;

function timestamp(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

/** One proxy stream's config, resource by resource. */
function clientConfig(source: CsdsSource, s: StreamStatus, withContents: boolean) {
  const configs: GenericXdsConfig[] = [];
  for (const kind of ADS_ORDER) {
    const held = source.holding(s.id, kind.typeUrl);
    if (held === undefined) continue;
    const t = s.types.get(kind.typeUrl);
    const nack = t?.lastNack !== undefined && t.lastNack.nonce === t.sentNonce ? t.lastNack : undefined;
    const configStatus = held.answer === "ack" ? "SYNCED" : held.answer === "nack" ? "NACKED" : "STALE";
    for (const r of held.resources().items) {
      configs.push({
        type_url: kind.typeUrl,
        name: r.name,
        version_info: s.protocol === "delta" ? r.version : held.version,
        ...(withContents && kind !== SDS ? { xds_config: { type_url: kind.typeUrl, value: r.bytes } } : {}),
        ...(t?.sentAt === undefined ? {} : { last_updated: timestamp(t.sentAt) }),
        config_status: CONFIG_STATUS[configStatus],
        client_status: CLIENT_STATUS[held.answer],
        ...(nack === undefined ? {} : { error_state: { details: nack.message, version_info: nack.version, last_update_attempt: timestamp(nack.at) } }),
      });
    }
  }
  const node = s.node;
  return {
    node: { id: s.nodeId, cluster: node?.cluster ?? "", user_agent_name: node?.user_agent_name ?? "", ...(node?.metadata === null || node?.metadata === undefined ? {} : { metadata: node.metadata }) },
    generic_xds_configs: configs,
    client_scope: s.proxy,
  };
}

/**
 * How many proxies one answer on the plaintext port may cover: anyone may ask there, and an
 * answer costs the server an encoding of every resource of every proxy it covers.
 */
export const PLAINTEXT_CSDS_PROXIES = 64;

/** The answer to one ClientStatusRequest on a port with this policy. */
export function clientStatus(source: CsdsSource, policy: EndpointPolicy, req: ClientStatusRequest__Output, plaintextLimit = PLAINTEXT_CSDS_PROXIES): Answer {
  const streams = source.status.list().filter((s) => policy.t === "authenticated" || s.endpoint === "plaintext");
  const chosen = selected(req, streams);
  if (typeof chosen === "string") return { ok: false, code: grpcStatus.INVALID_ARGUMENT, details: chosen };
  if (policy.t === "plaintext" && chosen.length > plaintextLimit) {
    return {
      ok: false,
      code: grpcStatus.RESOURCE_EXHAUSTED,
      details: `the request matches ${chosen.length} proxies; CSDS on the plaintext port answers about at most ${plaintextLimit} at once: narrow node_matchers, or ask the TLS port with an operator token`,
    };
  }
  const config = chosen.map((s) => clientConfig(source, s, !req.exclude_resource_contents));
  return { ok: true, bytes: encodeMessage("envoy.service.status.v3.ClientStatusResponse", { config } as never) };
}

const decode = requestDecoder<ClientStatusRequest__Output>("envoy.service.status.v3.ClientStatusRequest", (r) => r.node_matchers.length, 64);

/** The CSDS service definition and its handlers for one port. */
export function csdsService(source: CsdsSource, policy: EndpointPolicy): [ServiceDefinition, Record<string, UntypedHandleCall>] {
  const common = {
    requestSerialize: (): Buffer => {
      throw new Error("bug: the CSDS server never serializes requests");
    },
    requestDeserialize: decode,
    responseSerialize: (bytes: Buffer) => bytes,
    responseDeserialize: (bytes: Buffer) => bytes,
  };
  const definition = {
    StreamClientStatus: { ...common, path: `/${SERVICE}/StreamClientStatus`, requestStream: true, responseStream: true, originalName: "StreamClientStatus" },
    FetchClientStatus: { ...common, path: `/${SERVICE}/FetchClientStatus`, requestStream: false, responseStream: false, originalName: "FetchClientStatus" },
  } as unknown as ServiceDefinition;
  const answer = (call: { metadata: Metadata; getPeer(): string }, req: Decoded<ClientStatusRequest__Output>): Answer => {
    const refused = csdsRefusal(policy, call.metadata);
    if (refused !== undefined) return { ok: false, ...refused };
    if (policy.t === "authenticated") source.operator(call.getPeer());
    if (!req.ok) return { ok: false, code: req.code, details: req.reason };
    return clientStatus(source, policy, req.value);
  };
  const handlers = {
    FetchClientStatus: (call: ServerUnaryCall<Decoded<ClientStatusRequest__Output>, Buffer>, callback: sendUnaryData<Buffer>) => {
      const a = answer(call, call.request);
      if (a.ok) callback(null, a.bytes);
      else callback({ code: a.code, details: a.details });
    },
    StreamClientStatus: (call: ServerDuplexStream<Decoded<ClientStatusRequest__Output>, Buffer>) => {
      call.on("data", (req: Decoded<ClientStatusRequest__Output>) => {
        const a = answer(call, req);
        if (a.ok) call.write(a.bytes);
        else call.emit("error", { code: a.code, details: a.details });
      });
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
  } as unknown as Record<string, UntypedHandleCall>;
  return [definition, handlers];
}
