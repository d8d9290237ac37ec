// The agent that runs on a workload's host (`gitmesh agent`): Envoy supervised and kept in the
// mesh, or a proxyless gRPC application's registration and certificate files. The CLI parses;
// this runs.
import { startEnvoyAgent } from "./envoy-agent.js";
import { startGrpcAgent } from "./grpc-agent.js";
import type { AgentOptions, RunningAgent } from "./options.js";

export type { AgentOptions, AgentWorkload, EnvoyAgentOptions, GrpcAgentOptions, RunningAgent } from "./options.js";
export { ENVOY_BOOTSTRAP_FILE, ENVOY_PID_FILE } from "./envoy-agent.js";
export { GRPC_BOOTSTRAP_FILE } from "./grpc-agent.js";
export { BLOCK_BEGIN, BLOCK_END, spliceBlock, updateHostsFile } from "./hosts-file.js";
export { dialNames, hostsFileLines } from "./dial-names.js";

export function startAgent(o: AgentOptions): Promise<RunningAgent> {
  return o.mode === "envoy" ? startEnvoyAgent(o) : startGrpcAgent(o);
}
