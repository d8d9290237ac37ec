// The names an application dials a mesh service by, at the loopback address its sidecar listens
// on (docs/proxies.md, "How traffic reaches the sidecar"): the host, and for NAME.NS.svc.DOMAIN
// hosts also NAME.NS, and NAME for services of the application's own namespace. `gitmesh hosts`
// prints these lines from a config directory; the agent writes them from what gitmesh serves.
import { serviceAddresses } from "../translators/addresses.js";

export interface DialNameOptions {
  /** The DNS suffix short hosts expand with (MeshNaming.clusterDomain). */
  readonly clusterDomain: string;
  /** The application's namespace: its services also get their bare short name. */
  readonly namespace?: string;
}

/**
 * A service's names. `serviceNamespace` is the namespace its ServiceEntry is in when known (a
 * config directory); without it (what an xDS client sees) the host's own NS part is taken.
 */
export function dialNames(host: string, o: DialNameOptions, serviceNamespace?: string): string[] {
  const names = [host];
  const suffix = `.svc.${o.clusterDomain}`;
  if (!host.endsWith(suffix)) return names;
  const rest = host.slice(0, -suffix.length);
  const dot = rest.lastIndexOf(".");
  if (dot <= 0) return names;
  const short = rest.slice(0, dot);
  const ns = rest.slice(dot + 1);
  if (serviceNamespace !== undefined && ns !== serviceNamespace) return names;
  names.push(`${short}.${ns}`);
  if (ns === o.namespace) names.push(short);
  return names;
}

/**
 * Hosts-file lines ("ADDRESS NAME NAME ...") for these hosts, sorted by host. The addresses are
 * the ones the translators give the same set of hosts (serviceAddresses), so they are where the
 * sidecar listens.
 */
export function hostsFileLines(hosts: readonly string[], o: DialNameOptions): string[] {
  const addresses = serviceAddresses(hosts);
  return [...addresses.keys()].map((host) => `${addresses.get(host) ?? ""} ${dialNames(host, o).join(" ")}`);
}
