// Which proxyless gRPC clients get what, by their user agent (node.user_agent_name and
// user_agent_version, read by proxy.ts), the way Istio gates features by proxy version. Most of
// what gitmesh sends is one variant every supported client version accepts (grpc-compat.ts);
// this table holds the exceptions, where one client version must get something else. It is the
// table of docs/proxies.md ("What each gRPC client gets"): change both together.
import type { UserAgent } from "./proxy.js";

/**
 * The variants of gRPC resources. Clients of different classes never share a snapshot (the class
 * is part of the proxy's layer key).
 * - standard: what every client gets unless a rule below says otherwise.
 * - old-c-core: C-core before 1.53, which crashes on ring hash and on a call no route matches:
 *   RING_HASH clusters become ROUND_ROBIN, and each virtual host without a catch-all ends with one
 *   that fails calls UNAVAILABLE (grpc-compat.ts grpcClusterFor, grpcRoutesFor).
 */
export type GrpcClientClass = "standard" | "old-c-core";

export interface GrpcClientRule {
  /** The client, as users know it. */
  readonly client: string;
  /** Matches node.user_agent_name. */
  readonly name: RegExp;
  /** Reads the version gated on from node.user_agent_version ([major, minor, patch]). */
  readonly version: (userAgentVersion: string) => readonly [number, number, number] | undefined;
  /** The rule applies to versions below this one. */
  readonly below: readonly [number, number, number];
  /** The release users know that version as. */
  readonly fixedIn: string;
  readonly class: Exclude<GrpcClientClass, "standard">;
  /** What such a client gets, and why: one sentence per difference. */
  readonly gets: readonly string[];
}

/** "C-core 29.0.0 Python 1.51.1" -> [29, 0, 0]: C-core's own version, which every wrapped language reports. */
function cCoreVersion(userAgentVersion: string): readonly [number, number, number] | undefined {
  const m = /^C-core ([0-9]+)\.([0-9]+)\.([0-9]+)/.exec(userAgentVersion);
  return m === null ? undefined : [Number(m[1]), Number(m[2]), Number(m[3])];
}

export const RING_HASH_AS_ROUND_ROBIN = "ROUND_ROBIN instead of RING_HASH (consistentHash): its ring hash picker crashes the process (grpc/grpc#31766, fixed in 1.53)";
export const NO_MATCH_AS_UNAVAILABLE =
  "a last catch-all route that fails calls UNAVAILABLE, as other clients fail a call no route matches: C-core 1.51 crashes (SIGSEGV) on such a call (seen with Debian 12's grpcio 1.51.1, not with 1.85; upstream, grpc/grpc#31593 reworked this path)";

export const GRPC_CLIENT_RULES: readonly GrpcClientRule[] = [
  {
    client: "gRPC C-core (C++, Python, Ruby, PHP)",
    name: /^gRPC C-core\b/,
    version: cCoreVersion,
    // C-core 30.1.0 is gRPC 1.53.0 (1.51 is 29.0.0, 1.52 is 30.0.0).
    below: [30, 1, 0],
    fixedIn: "1.53",
    class: "old-c-core",
    gets: [RING_HASH_AS_ROUND_ROBIN, NO_MATCH_AS_UNAVAILABLE],
  },
];

function older(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  }
  return false;
}

/** The class of a gRPC client with this user agent: the first rule that applies, else standard. */
export function grpcClientClass(userAgent: UserAgent | undefined): GrpcClientClass {
  if (userAgent === undefined) return "standard";
  for (const rule of GRPC_CLIENT_RULES) {
    if (!rule.name.test(userAgent.name)) continue;
    const version = rule.version(userAgent.version);
    if (version !== undefined && older(version, rule.below)) return rule.class;
  }
  return "standard";
}
