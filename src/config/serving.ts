// What serve does with config it accepts but cannot send to Envoy as written: the endpoints a
// cluster leaves out, the durations Envoy refuses. One decision, used by the translators (which
// act on it) and by validation (which reports it at the file and line), so `gitmesh validate`
// says exactly what serve will drop or replace.
import { isIP } from "node:net";
import { admittedDuration } from "../common/duration.js";
import type { ServiceEntrySpec } from "./types.js";

/** How a cluster addresses its endpoints: EDS takes IP addresses (and unix:// paths), DNS clusters take names to resolve. */
export type Addressing = "ip" | "dns";

/** STATIC and NONE are served as EDS; DNS and DNS_ROUND_ROBIN resolve names. */
export function addressingOf(resolution: ServiceEntrySpec["resolution"]): Addressing {
  return resolution === "DNS" || resolution === "DNS_ROUND_ROBIN" ? "dns" : "ip";
}

/** Why a cluster cannot use an endpoint address (it is then left out), or undefined when it can. */
export function endpointAddressProblem(address: string, addressing: Addressing): string | undefined {
  if (address.startsWith("unix://")) return addressing === "dns" ? "is a Unix socket, which a DNS cluster cannot resolve; it is left out" : undefined;
  if (addressing === "ip" && isIP(address) === 0) return "is not an IP address, which an EDS cluster needs (use resolution DNS for host names); it is left out";
  return undefined;
}

/**
 * A duration Envoy requires to be more than 0 (connect timeouts, outlier detection intervals), in
 * nanoseconds; undefined when it is not, and the translator falls back to the default.
 */
export function positiveDuration(text: string): bigint | undefined {
  const ns = admittedDuration(text);
  return ns > 0n ? ns : undefined;
}

/** What serve does with a duration Envoy refuses (positiveDuration undefined), for the translator's notes and validation's warning alike. */
export function refusedDurationNote(field: string, text: string): string {
  const instead = field === "connectionPool.tcp.connectTimeout" ? "the default 10s is used" : "Envoy's default is used";
  return `${field} ${text} is not accepted by Envoy (it must be more than 0); ${instead}`;
}
