// An ingress gateway: an Envoy proxy that a Gateway's selector matches gets, for each server
// port, one listener on all addresses. Plaintext HTTP servers share the port's RouteConfiguration
// (http.PORT); each HTTPS server terminates TLS in a filter chain of its own, chosen by SNI, with
// its certificate served over SDS (credentialName, read from the credentials directory) and its
// own RouteConfiguration. Virtual hosts are the server hosts that VirtualServices bound to the
// gateway claim; their routes are the VirtualServices' routes. TCP servers go through tcp_proxy.
// A PASSTHROUGH server terminates nothing: the bound VirtualServices' tls routes pick by SNI. An
// AUTO_PASSTHROUGH one neither, and needs no VirtualService: the SNI names the service (auto-passthrough.ts).
import type { TlsCredential } from "../config/credentials.js";
import { gatewayRef, hostMatches, labelsMatch, type MeshResource } from "../config/resources.js";
import type { Route } from "../envoy/generated/envoy/config/route/v3/Route.js";
import type { Server, ServerTLSSettings } from "../config/types.js";
import { pack, type Any } from "../envoy/index.js";
import type { FilterChain } from "../envoy/generated/envoy/config/listener/v3/FilterChain.js";
import type { HttpFilter } from "../envoy/generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpFilter.js";
import type { DownstreamTlsContext } from "../envoy/index.js";
import { autoPassthrough } from "./auto-passthrough.js";
import { gatewayListenerName, gatewayRouteName, gatewayServerRouteName } from "./names.js";
import { rdsConnectionManager } from "./outbound.js";
import { tcpProxy } from "./tcp-proxy.js";
import { httpRoutes, routeConfiguration, virtualServiceRoutes, type VirtualHostRoutes } from "./routes.js";
import { isCatchAll } from "./routes-match.js";
import { dependsOnSource } from "./routes-source.js";
import type { ServiceIndex } from "./services.js";
import { HTTP_ALPN, meshServerTls } from "./tls-contexts.js";
import { sniFilterChains, tlsInspector } from "./tls-routes.js";
import { sortTranslated, translated, type Translated } from "./translated.js";

/** TLS certificates by the credentialName Gateway servers use (PEM text; ca: MUTUAL's client CA). */
export type Credentials = ReadonlyMap<string, TlsCredential>;

type Gateway = MeshResource<"Gateway">;
type VirtualService = MeshResource<"VirtualService">;

export interface GatewayTranslation {
  readonly resources: readonly Translated[];
  /** What was left out and why (a server without its certificate, a host claimed twice...). */
  readonly notes: readonly string[];
}

/** The Gateways whose selector matches a proxy's labels (in any namespace, as Istio's default), sorted. */
export function gatewaysFor(gateways: readonly Gateway[], labels: Readonly<Record<string, string>>): Gateway[] {
  return gateways.filter((g) => labelsMatch(g.spec.selector, labels)).sort((a, b) => compare(id(a), id(b)));
}

const HTTP = new Set<Server["port"]["protocol"]>(["HTTP", "HTTP2", "GRPC"]);
const SDS_ADS = { ads: {}, resource_api_version: "V3" } as const;

interface PlacedServer {
  readonly gateway: Gateway;
  readonly server: Server;
  readonly index: number;
}

/**
 * The listeners, routes and secrets of the Gateways a proxy serves. `keysFor` says which Gateways'
 * private keys this proxy may hold (credentialAccess in proxy-resources.ts): a TLS server of any
 * other Gateway is left out with a note, so no listener names a secret the proxy is not sent.
 */
/** What a gateway enforces before routing: HTTP filters for HTTP servers, network filters for TCP and TLS ones. */
export interface GatewaySecurity {
  readonly http?: readonly HttpFilter[];
  readonly tcp?: (statPrefix: string) => { name: string; typed_config: Any }[];
}

export function gatewayResources(
  gateways: readonly Gateway[],
  virtualServices: readonly VirtualService[],
  index: ServiceIndex,
  credentials: Credentials,
  keysFor: ReadonlySet<Gateway>,
  /** The gateway workload's RequestAuthentication and AuthorizationPolicy filters (proxy-resources.ts). */
  security: GatewaySecurity = {},
): GatewayTranslation {
  const http = security.http ?? [];
  const tcpSecurity = (port: number) => security.tcp?.(`gateway_${port}`) ?? [];
  const notes: string[] = [];
  const resources: Translated[] = [];
  const byPort = new Map<number, PlacedServer[]>();
  for (const gateway of gateways) {
    gateway.spec.servers.forEach((server, i) => {
      const list = byPort.get(server.port.number) ?? [];
      list.push({ gateway, server, index: i });
      byPort.set(server.port.number, list);
    });
  }
  const bound = boundVirtualServices(virtualServices);
  const secrets = new Map<string, Translated>();
  const sniClusters = new Map<string, Translated>();
  for (const port of [...byPort.keys()].sort((a, b) => a - b)) {
    const servers = byPort.get(port) ?? [];
    const chains: FilterChain[] = [];
    const tlsChains: FilterChain[] = [];
    const plainHttp = servers.filter((s) => HTTP.has(s.server.port.protocol));
    const plainTcp = servers.filter((s) => s.server.port.protocol === "TCP");
    if (plainHttp.length > 0) {
      const routeName = gatewayRouteName(port);
      resources.push(routeConfiguration(routeName, virtualHosts(plainHttp, port, bound, index, notes)));
      chains.push({ name: routeName, filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: rdsConnectionManager(`gateway_${port}`, routeName, http) }] });
      for (const s of plainTcp) notes.push(`${where(s)}: port ${port} already serves HTTP; a TCP server cannot share it, so it is left out`);
    } else {
      const tcp = plainTcp.map((s) => tcpFilter(s, port, bound, index, notes)).find((f) => f !== undefined);
      if (tcp !== undefined) chains.push({ name: `tcp.${port}`, filters: [...tcpSecurity(port), tcp] });
    }
    const sniTaken = new Set<string>();
    const tlsServers = servers.filter((x) => x.server.port.protocol === "HTTPS" || x.server.port.protocol === "TLS");
    // Passed-through servers first: their names are routes' SNI hosts, which a terminating server with the same name would shadow.
    const passthroughNames = new Set<string>();
    for (const s of tlsServers.filter((x) => x.server.tls?.mode === "PASSTHROUGH")) tlsChains.push(...passthroughChains(s, port, bound, index, passthroughNames, notes));
    for (const s of tlsServers.filter((x) => x.server.tls?.mode === "AUTO_PASSTHROUGH")) {
      const auto = autoPassthrough(s, port, index, passthroughNames, tcpSecurity(port), notes);
      tlsChains.push(...auto.chains);
      for (const c of auto.clusters) sniClusters.set(c.name, c);
    }
    for (const s of tlsServers.filter((x) => x.server.tls?.mode !== "PASSTHROUGH" && x.server.tls?.mode !== "AUTO_PASSTHROUGH")) {
      // ISTIO_MUTUAL serves the proxy's own mesh certificate: it needs none of the Gateway's keys.
      const ownCertificate = s.server.tls?.mode === "ISTIO_MUTUAL";
      const tls = ownCertificate ? istioMutualTls(s) : keysFor.has(s.gateway) ? downstreamTls(s, credentials, secrets, notes) : undefined;
      if (!ownCertificate && !keysFor.has(s.gateway)) {
        notes.push(`${where(s)}: this proxy may not hold the Gateway's private keys (its credential is not for a workload the Gateway selects, see docs/proxies.md); the server is left out`);
      }
      if (tls === undefined) continue;
      const names = s.server.hosts.map(dnsName).filter((h) => h !== "*").sort();
      const sniKey = names.join(",");
      const passed = names.filter((n) => passthroughNames.has(n));
      if (passed.length > 0) {
        notes.push(`${where(s)}: ${passed.join(", ")} on port ${port} is passed through by a PASSTHROUGH server; this one is left out`);
        continue;
      }
      if (sniTaken.has(sniKey)) {
        notes.push(`${where(s)}: another TLS server on port ${port} already answers for ${names.length === 0 ? "every name" : names.join(", ")}; this one is left out`);
        continue;
      }
      sniTaken.add(sniKey);
      let filter: { name: string; typed_config: Any } | undefined;
      const chainName = gatewayServerRouteName(port, s.gateway, s.index);
      if (s.server.port.protocol === "HTTPS") {
        resources.push(routeConfiguration(chainName, virtualHosts([s], port, bound, index, notes)));
        filter = { name: "envoy.filters.network.http_connection_manager", typed_config: rdsConnectionManager(`gateway_${port}`, chainName, http) };
      } else {
        filter = tcpFilter(s, port, bound, index, notes);
      }
      if (filter === undefined) continue;
      tlsChains.push({
        name: chainName,
        filter_chain_match: { transport_protocol: "tls", ...(names.length > 0 ? { server_names: names } : {}) },
        transport_socket: { name: "envoy.transport_sockets.tls", typed_config: pack("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", tls) },
        filters: s.server.port.protocol === "HTTPS" ? [filter] : [...tcpSecurity(port), filter],
      });
    }
    if (chains.length === 0 && tlsChains.length === 0) {
      notes.push(`port ${port}: no server on it could be configured; no listener`);
      continue;
    }
    // With TLS chains on the port, plaintext must say so: the TLS inspector tells them apart.
    const plain = tlsChains.length > 0 ? chains.map((c) => ({ ...c, filter_chain_match: { transport_protocol: "raw_buffer" } })) : chains;
    const name = gatewayListenerName(port);
    resources.push(
      translated("envoy.config.listener.v3.Listener", name, {
        name,
        address: { socket_address: { address: "0.0.0.0", port_value: port } },
        traffic_direction: "OUTBOUND",
        ...(tlsChains.length > 0
          ? { listener_filters: [tlsInspector()] }
          : {}),
        filter_chains: [...plain, ...tlsChains],
      }),
    );
  }
  return { resources: sortTranslated([...resources, ...secrets.values(), ...sniClusters.values()]), notes };
}

/**
 * VirtualServices by the gateway ("ns/name") they are bound to, in the order given: file order
 * (Istio's creation order), as config/virtual-services.ts's roots are, the order their routes are
 * merged in.
 */
function boundVirtualServices(virtualServices: readonly VirtualService[]): Map<string, VirtualService[]> {
  const out = new Map<string, VirtualService[]>();
  for (const vs of virtualServices) {
    for (const g of vs.spec.gateways ?? []) {
      const ref = gatewayRef(g, vs.namespace);
      if (ref === "mesh") continue;
      out.set(ref, [...(out.get(ref) ?? []), vs]);
    }
  }
  return out;
}

/**
 * The virtual hosts of some servers on a port: every server host a bound VirtualService claims
 * (the more specific of the two names). Several VirtualServices for one host are merged as Istio
 * merges them (pilot/pkg/networking/core/gateway.go): their routes concatenated in file order,
 * then every catch-all route moved after the others (SortVHostRoutes), so one VirtualService's
 * catch-all does not hide another's specific routes.
 */
function virtualHosts(servers: readonly PlacedServer[], port: number, bound: Map<string, VirtualService[]>, index: ServiceIndex, notes: string[]): VirtualHostRoutes[] {
  const hosts = new Map<string, { routes: Route[]; from: Set<VirtualService>; requireTls: boolean }>();
  for (const s of servers) {
    for (const vs of bound.get(id(s.gateway)) ?? []) {
      if ((vs.spec.http ?? []).length === 0) continue; // a tcp-only VirtualService claims no HTTP host
      for (const serverHost of s.server.hosts) {
        if (!namespaceAllowed(serverHost, s.gateway, vs)) continue;
        for (const vsHost of vs.spec.hosts ?? []) {
          const host = intersect(dnsName(serverHost), index.qualify(vsHost, vs.namespace));
          if (host === undefined) continue;
          const vh = hosts.get(host) ?? { routes: [], from: new Set<VirtualService>(), requireTls: false };
          hosts.set(host, vh);
          // Istio: httpsRedirect on a plaintext server answers every request with a 301 to https.
          if (s.server.tls?.httpsRedirect === true && HTTP.has(s.server.port.protocol)) vh.requireTls = true;
          if (vh.from.has(vs)) continue; // the same VirtualService through another server or host
          vh.from.add(vs);
          const perClient = `${where(s)}: VirtualService ${id(vs)}: matches with sourceLabels or sourceNamespace are left out on gateways (routes are not built per gateway proxy)`;
          if (dependsOnSource(vs) && !notes.includes(perClient)) notes.push(perClient);
          vh.routes.push(...virtualServiceRoutes(vs, { host, port }, index, undefined, id(s.gateway)));
        }
      }
    }
  }
  return [...hosts].map(([host, vh]) => ({
    name: `${host}:${port}`,
    domains: host === "*" ? ["*"] : [host, `${host}:${port}`],
    routes: vh.routes.length > 0 ? catchAllLast(vh.routes) : httpRoutes(undefined, { host, port }, index),
    ...(vh.requireTls ? { requireTls: true } : {}),
  }));
}

/** Istio's SortVHostRoutes: catch-all routes after the rest, each group in its order. */
function catchAllLast(routes: readonly Route[]): Route[] {
  const all = (r: Route) => r.match !== undefined && r.match !== null && isCatchAll(r.match);
  return [...routes.filter((r) => !all(r)), ...routes.filter(all)];
}

function tcpFilter(s: PlacedServer, port: number, bound: Map<string, VirtualService[]>, index: ServiceIndex, notes: string[]): { name: string; typed_config: Any } | undefined {
  const vs = (bound.get(id(s.gateway)) ?? []).find(
    (v) => s.server.hosts.some((h) => namespaceAllowed(h, s.gateway, v)) && (v.spec.tcp ?? []).some((r) => (r.match ?? []).length === 0 || (r.match ?? []).some((m) => m.port === undefined || m.port === port)),
  );
  if (vs === undefined) {
    notes.push(`${where(s)}: no VirtualService bound to the gateway has a tcp route for port ${port}; the server is left out`);
    return undefined;
  }
  const host = index.qualify(vs.spec.hosts?.[0] ?? "*", vs.namespace);
  return {
    name: "envoy.filters.network.tcp_proxy",
    typed_config: pack("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", tcpProxy(`gateway_${port}`, vs.spec.tcp, { host, port, namespace: vs.namespace, index })),
  };
}

/**
 * A PASSTHROUGH server's filter chains: TLS is not terminated; the tls routes of the VirtualServices
 * bound to its gateway send each SNI they name (within the server's hosts) on as it is.
 */
function passthroughChains(s: PlacedServer, port: number, bound: Map<string, VirtualService[]>, index: ServiceIndex, taken: Set<string>, notes: string[]): FilterChain[] {
  const chains: FilterChain[] = [];
  for (const vs of bound.get(id(s.gateway)) ?? []) {
    const hosts = s.server.hosts.filter((h) => namespaceAllowed(h, s.gateway, vs)).map(dnsName);
    if (hosts.length === 0 || (vs.spec.tls ?? []).length === 0) continue;
    const ctx = { host: index.qualify(vs.spec.hosts?.[0] ?? "*", vs.namespace), port, namespace: vs.namespace, index };
    chains.push(
      ...sniFilterChains(
        vs.spec.tls ?? [],
        ctx,
        {
          statPrefix: `gateway_${port}`,
          chainName: (i) => `passthrough.${port}.${vs.namespace}.${vs.name}.${i}`,
          // The more specific of the SNI host and a server host that covers it.
          narrow: (sni) => hosts.map((h) => intersect(h, sni)).find((n) => n !== undefined && n !== "*"),
          taken,
          tlsOnly: true,
          where: `VirtualService ${id(vs)}`,
        },
        notes,
      ),
    );
  }
  if (chains.length === 0) notes.push(`${where(s)}: no VirtualService bound to the gateway has a tls route for its hosts on port ${port}; the server is left out`);
  return chains;
}

/**
 * ISTIO_MUTUAL: mesh mutual TLS terminated at the gateway with the proxy's own workload certificate
 * ("default") and the mesh roots ("ROOTCA"), both per-proxy secrets every authenticated Envoy
 * receives; a client certificate from the mesh is required (any identity, as in Istio).
 */
function istioMutualTls(s: PlacedServer): DownstreamTlsContext {
  const context = meshServerTls(s.server.port.protocol === "HTTPS" ? HTTP_ALPN : []);
  const params = tlsParams(s.server.tls);
  return params === undefined ? context : { ...context, common_tls_context: { ...context.common_tls_context, tls_params: { ...context.common_tls_context?.tls_params, ...params } } };
}

/** The server's TLS context, adding the secrets it names; undefined (with a note) when it cannot be served. */
function downstreamTls(s: PlacedServer, credentials: Credentials, secrets: Map<string, Translated>, notes: string[]): DownstreamTlsContext | undefined {
  const tls = s.server.tls;
  const mode = tls?.mode;
  if (mode === undefined || mode === "ISTIO_MUTUAL" || mode === "PASSTHROUGH") {
    // ISTIO_MUTUAL and PASSTHROUGH servers are built elsewhere (istioMutualTls, passthroughChains).
    notes.push(`${where(s)}: an ${s.server.port.protocol} server needs tls.mode: SIMPLE or MUTUAL with a credentialName, ISTIO_MUTUAL or PASSTHROUGH; the server is left out`);
    return undefined;
  }
  const name = tls?.credentialName;
  const credential = name === undefined ? undefined : credentials.get(name);
  if (name === undefined || credential === undefined) {
    notes.push(`${where(s)}: credential ${name ?? "(no credentialName)"} is not in the credentials directory (NAME/tls.crt and NAME/tls.key); the server is left out`);
    return undefined;
  }
  if (mode === "MUTUAL" && credential.ca === undefined) {
    notes.push(`${where(s)}: MUTUAL needs the client CA as ${name}/ca.crt in the credentials directory; the server is left out`);
    return undefined;
  }
  secrets.set(name, translated("envoy.extensions.transport_sockets.tls.v3.Secret", name, { name, tls_certificate: { certificate_chain: { inline_string: credential.cert }, private_key: { inline_string: credential.key } } }));
  const caName = `${name}-cacert`;
  if (mode === "MUTUAL" && credential.ca !== undefined) {
    secrets.set(caName, translated("envoy.extensions.transport_sockets.tls.v3.Secret", caName, { name: caName, validation_context: { trusted_ca: { inline_string: credential.ca } } }));
  }
  const params = tlsParams(tls);
  return {
    common_tls_context: {
      ...(params === undefined ? {} : { tls_params: params }),
      tls_certificate_sds_secret_configs: [{ name, sds_config: SDS_ADS }],
      ...(s.server.port.protocol === "HTTPS" ? { alpn_protocols: ["h2", "http/1.1"] } : {}),
      ...(mode === "MUTUAL" ? { validation_context_sds_secret_config: { name: caName, sds_config: SDS_ADS } } : {}),
    },
    ...(mode === "MUTUAL" ? { require_client_certificate: { value: true } } : {}),
  };
}

type TlsParameters = NonNullable<NonNullable<DownstreamTlsContext["common_tls_context"]>["tls_params"]>;

/** Istio's version names as Envoy's (TLS_AUTO: Envoy's default). */
const TLS_VERSIONS = { TLS_AUTO: "TLS_AUTO", TLSV1_0: "TLSv1_0", TLSV1_1: "TLSv1_1", TLSV1_2: "TLSv1_2", TLSV1_3: "TLSv1_3" } as const;

/** A server's minProtocolVersion, maxProtocolVersion and cipherSuites (names the schema admits, as Envoy's BoringSSL spells them). */
function tlsParams(tls: ServerTLSSettings | undefined): TlsParameters | undefined {
  const out: TlsParameters = {};
  if (tls?.minProtocolVersion !== undefined) out.tls_minimum_protocol_version = TLS_VERSIONS[tls.minProtocolVersion];
  if (tls?.maxProtocolVersion !== undefined) out.tls_maximum_protocol_version = TLS_VERSIONS[tls.maxProtocolVersion];
  if (tls?.cipherSuites !== undefined) out.cipher_suites = [...tls.cipherSuites];
  return Object.keys(out).length === 0 ? undefined : out;
}

/** A server host "ns/name": which VirtualServices may bind it ("." the gateway's namespace, "*" any). */
function namespaceAllowed(serverHost: string, gateway: Gateway, vs: VirtualService): boolean {
  const slash = serverHost.indexOf("/");
  if (slash < 0) return true;
  const ns = serverHost.slice(0, slash);
  return ns === "*" || (ns === "." ? vs.namespace === gateway.namespace : vs.namespace === ns);
}

function dnsName(serverHost: string): string {
  return serverHost.slice(serverHost.indexOf("/") + 1);
}

/** The name both a server host and a VirtualService host cover, the more specific one. */
function intersect(serverHost: string, vsHost: string): string | undefined {
  if (serverHost === "*") return vsHost;
  if (vsHost === "*") return serverHost;
  if (hostMatches(serverHost, vsHost)) return vsHost;
  if (hostMatches(vsHost, serverHost)) return serverHost;
  return undefined;
}

function id(r: { readonly namespace: string; readonly name: string }): string {
  return `${r.namespace}/${r.name}`;
}

function where(s: PlacedServer): string {
  return `Gateway ${id(s.gateway)} server ${s.server.name ?? s.index} (port ${s.server.port.number} ${s.server.port.protocol})`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
