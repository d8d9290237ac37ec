// Mesh-wide Envoy access logging (serve --access-log): every HTTP connection manager and TCP proxy
// of a sidecar's or a gateway's listeners logs one JSON line per request or connection, to Envoy's
// stdout or to a file on the proxy's host. Applied to a proxy's layers after translation, so no
// translator needs to know; each listener is rewritten once (kept by the original's identity), so
// every proxy sharing a listener still shares its bytes.
import { decodeMessage, encodeMessage, type EnvoyMessageName, type Listener } from "../envoy/index.js";
import type { ProxyKind } from "./proxy.js";
import type { ProxyLayer } from "./proxy-resources.js";
import { translated, type Translated } from "./translated.js";

import type { AccessLogSetting } from "./access-log-setting.js";

export type { AccessLogSetting };

/**
 * The fields of each line (Envoy's format operators). For TCP the request fields are "-"'s JSON
 * null. docs/running.md lists them.
 */
export const ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = {
  start_time: "%START_TIME%",
  method: "%REQ(:METHOD)%",
  path: "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
  protocol: "%PROTOCOL%",
  authority: "%REQ(:AUTHORITY)%",
  response_code: "%RESPONSE_CODE%",
  response_flags: "%RESPONSE_FLAGS%",
  bytes_received: "%BYTES_RECEIVED%",
  bytes_sent: "%BYTES_SENT%",
  duration_ms: "%DURATION%",
  upstream_host: "%UPSTREAM_HOST%",
  upstream_cluster: "%UPSTREAM_CLUSTER%",
  route_name: "%ROUTE_NAME%",
  downstream_remote_address: "%DOWNSTREAM_REMOTE_ADDRESS%",
  downstream_peer_identity: "%DOWNSTREAM_PEER_URI_SAN%",
  request_id: "%REQ(X-REQUEST-ID)%",
  user_agent: "%REQ(USER-AGENT)%",
};

const HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const TCP = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const LOGGED: ReadonlySet<string> = new Set([HCM, TCP].map((n) => `type.googleapis.com/${n}`));

function accessLogEntry(setting: AccessLogSetting) {
  const log_format = { json_format: { fields: Object.fromEntries(Object.entries(ACCESS_LOG_FIELDS).map(([k, v]) => [k, { stringValue: v }])) } };
  return setting.t === "stdout"
    ? { name: "envoy.access_loggers.stdout", typed_config: pack("envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", { log_format }) }
    : { name: "envoy.access_loggers.file", typed_config: pack("envoy.extensions.access_loggers.file.v3.FileAccessLog", { path: setting.path, log_format }) };
}

function pack<N extends EnvoyMessageName>(name: N, value: unknown): { type_url: string; value: Buffer } {
  return { type_url: `type.googleapis.com/${name}`, value: encodeMessage(name, value as never) };
}

type Filter = { name?: string; typed_config?: { type_url?: string; value?: Buffer } | null };

/** A filter with the access log added, when it is a connection manager or a TCP proxy. */
function logged(filter: Filter, entry: ReturnType<typeof accessLogEntry>): Filter {
  const any = filter.typed_config;
  if (any?.type_url === undefined || any.value === undefined || !LOGGED.has(any.type_url)) return filter;
  const name = any.type_url.slice("type.googleapis.com/".length) as typeof HCM | typeof TCP;
  const message = decodeMessage(name, any.value);
  const existing = (message["access_log"] as unknown[] | undefined) ?? [];
  return { ...filter, typed_config: pack(name, { ...message, access_log: [...existing, entry] }) };
}

/** The listener with access logging on every connection manager and TCP proxy of its chains. */
export function withAccessLog(listener: Listener, setting: AccessLogSetting): Listener {
  const entry = accessLogEntry(setting);
  const chain = <C extends { filters?: Filter[] | null }>(c: C): C => ({ ...c, filters: (c.filters ?? []).map((f) => logged(f, entry)) });
  return {
    ...listener,
    ...(listener.filter_chains === undefined ? {} : { filter_chains: listener.filter_chains.map((c) => chain(c as { filters?: Filter[] })) }),
    ...(listener.default_filter_chain === undefined || listener.default_filter_chain === null ? {} : { default_filter_chain: chain(listener.default_filter_chain as { filters?: Filter[] }) }),
  } as Listener;
}

/**
 * Access logging for one proxy's layers: sidecars and gateways get it, proxyless gRPC never (its
 * listeners are API listeners). Owned by the running server; a listener is rewritten once.
 */
export class AccessLogging {
  private readonly rewritten = new WeakMap<Translated, Translated>();

  constructor(private readonly setting: AccessLogSetting) {}

  layers(kind: ProxyKind, layers: readonly ProxyLayer[]): readonly ProxyLayer[] {
    if (kind === "grpc") return layers;
    // The setting is the server's, the same for every layer: a layer's key still names what it is made of.
    return layers.map((l) => ({ ...l, resources: () => l.resources().map((r) => this.resource(r)) }));
  }

  private resource(r: Translated): Translated {
    if (r.type !== "envoy.config.listener.v3.Listener") return r;
    let out = this.rewritten.get(r);
    if (out === undefined) {
      out = translated(r.type, r.name, withAccessLog(r.message as Listener, this.setting));
      this.rewritten.set(r, out);
    }
    return out;
  }
}
