// What `gitmesh agent` is told: who the workload is, where gitmesh is, its credential, and what to
// run on the host.
import type { NodeContract } from "../cli/bootstrap.js";
import type { Logger } from "../log.js";

/** The workload, as the node contract describes it (docs/proxies.md), and its node id. */
export type AgentWorkload = Omit<NodeContract, "kind" | "instanceIps"> & {
  /** Unique per proxy; by default KIND~ADDRESS~HOSTNAME.NAMESPACE (nodeIdOf). */
  readonly nodeId?: string;
  /** The address other workloads reach this host at; found from the route to gitmesh when absent. */
  readonly instanceIp?: string;
};

interface AgentCommon {
  readonly workload: AgentWorkload;
  /** gitmesh's TLS xDS address (HOST:PORT): streams there authenticate and get secrets. */
  readonly xdsAddress: string;
  /** gitmesh's plaintext xDS address (HOST:PORT): proxyless gRPC applications' port. */
  readonly plaintextAddress: string;
  /** The token file (gitmesh token issue), read again whenever it changes. */
  readonly tokenFile: string;
  /** The mesh trust bundle (gitmesh ca bundle): what gitmesh's TLS port is verified with. */
  readonly xdsCaFile: string;
  /** Where the agent keeps what it writes (0700): bootstraps, the Envoy pid file. */
  readonly runtimeDir: string;
  /** How often the token and trust bundle files are read again. */
  readonly resyncMs: number;
  readonly logger: Logger;
}

/** An Envoy sidecar or gateway, run and kept running by the agent. */
export interface EnvoyAgentOptions extends AgentCommon {
  readonly mode: "envoy";
  readonly kind: "sidecar" | "gateway";
  /** The Envoy binary and extra arguments for it. */
  readonly envoy: { readonly command: string; readonly args: readonly string[]; readonly adminPort: number };
  /** A hosts file whose gitmesh block the agent keeps current (sidecars). */
  readonly hosts?: { readonly file: string; readonly clusterDomain: string };
}

/** A proxyless gRPC application: the agent registers it and keeps its certificate files. */
export interface GrpcAgentOptions extends AgentCommon {
  readonly mode: "grpc";
  /** Where the certificate files go (CERT_FILES), read by the application's file_watcher. */
  readonly certDir: string;
}

export type AgentOptions = EnvoyAgentOptions | GrpcAgentOptions;

/** A running agent. */
export interface RunningAgent {
  /** Stops what it runs (Envoy with it) and its streams. */
  stop(): Promise<void>;
}
