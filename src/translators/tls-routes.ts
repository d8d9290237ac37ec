// VirtualService tls routes: TLS that is passed through, not terminated, sent on by the SNI the
// client's TLS handshake names. Envoy reads the SNI with the TLS inspector (a listener filter) and
// picks the filter chain whose server_names match it: one chain per route, each a tcp_proxy to the
// route's destinations. Sidecars use them on a service port of protocol TLS or HTTPS, gateways on a
// server in PASSTHROUGH mode.
import type { TLSRoute } from "../config/types.js";
import { pack } from "../envoy/index.js";
import type { FilterChain } from "../envoy/generated/envoy/config/listener/v3/FilterChain.js";
import type { ListenerFilter } from "../envoy/generated/envoy/config/listener/v3/ListenerFilter.js";
import { tcpProxyTo } from "./tcp-proxy.js";
import type { RouteContext } from "./routes-action.js";

export function tlsInspector(): ListenerFilter {
  return { name: "envoy.filters.listener.tls_inspector", typed_config: pack("envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector", {}) };
}

/** What the chains of some tls routes are for, and how their SNI names are narrowed. */
export interface SniChainOptions {
  readonly statPrefix: string;
  /** The chain's name, from the route's index. */
  readonly chainName: (route: number) => string;
  /** The name a route's SNI host is served under here (a gateway: within its server's hosts), or undefined to leave it out. */
  readonly narrow: (sni: string) => string | undefined;
  /** SNI names already given a chain on this listener; the names used here are added. */
  readonly taken: Set<string>;
  /** Gateways share a port between TLS and plaintext: their chains say they are for TLS. */
  readonly tlsOnly: boolean;
  /** Where the routes come from, for notes. */
  readonly where: string;
}

/**
 * One filter chain per tls route that applies to ctx.port (a match without a port applies to
 * every port), for its sniHosts, in route order. Envoy refuses two chains for one name and Istio
 * keeps the first route: a name an earlier route (or another server on the port) took is left out
 * of a later route, with a note.
 */
export function sniFilterChains(routes: readonly TLSRoute[], ctx: RouteContext, options: SniChainOptions, notes: string[]): FilterChain[] {
  const chains: FilterChain[] = [];
  routes.forEach((route, i) => {
    const names: string[] = [];
    for (const match of route.match) {
      if (match.port !== undefined && match.port !== ctx.port) continue;
      for (const sni of match.sniHosts) {
        const name = options.narrow(sni);
        if (name === undefined || names.includes(name)) continue;
        if (options.taken.has(name)) {
          notes.push(`${options.where} tls[${i}]: SNI ${name} on port ${ctx.port} is already routed by an earlier route or server; this route does not get it`);
          continue;
        }
        names.push(name);
      }
    }
    if (names.length === 0) return;
    for (const n of names) options.taken.add(n);
    chains.push({
      name: options.chainName(i),
      filter_chain_match: { ...(options.tlsOnly ? { transport_protocol: "tls" } : {}), server_names: names.sort() },
      filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: pack("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", tcpProxyTo(options.statPrefix, route.route, ctx)) }],
    });
  });
  return chains;
}
