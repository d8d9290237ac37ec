// What the envoy and grpc modes share: the token file, the instance address, and the node.
import { readFile, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { nodeMetadata, struct, type NodeContract } from "../cli/bootstrap.js";
import { gitmeshVersion } from "../common/version.js";
import type { DeltaDiscoveryRequest } from "../envoy/index.js";
import type { Logger } from "../log.js";
import { isLoopback, localAddressToward } from "./local-address.js";
import type { AgentOptions, AgentWorkload } from "./options.js";

/**
 * The token in the file, or a message saying what is wrong with the file. With a logger (at
 * start, not at every re-read), a file others may read is warned about.
 */
export async function readTokenFile(path: string, logger?: Logger): Promise<string> {
  const text = await readFile(path, "utf8").catch((e: Error) => {
    throw new Error(`cannot read the token file: ${e.message}`);
  });
  const token = text.trim();
  if (token === "" || /\s/.test(token)) throw new Error(`${path} must hold one token (gitmesh token issue > ${path})`);
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) logger?.warn("the token file is readable by others: it is a credential (chmod 600 it)", { file: path, mode: mode.toString(8) });
  return token;
}

/**
 * INSTANCE_IPS: the address given, else the one this host reaches gitmesh from. Loopback is no
 * address for other hosts (gitmesh on this very host, dialled by 127.0.0.1): then none is set,
 * and inbound listeners and registration need --instance-ip, as gitmesh's notices will say.
 */
export async function instanceIps(o: AgentOptions): Promise<string[]> {
  if (o.workload.instanceIp !== undefined) return [o.workload.instanceIp];
  const colon = o.xdsAddress.lastIndexOf(":");
  const found = await localAddressToward(o.xdsAddress.slice(0, colon), Number(o.xdsAddress.slice(colon + 1))).catch((e: Error) => {
    o.logger.warn("cannot tell this host's address from the route to gitmesh; set --instance-ip", { error: e.message });
    return undefined;
  });
  if (found === undefined) return [];
  if (isLoopback(found)) {
    o.logger.warn("gitmesh is reached over loopback, so this host's address for other workloads is unknown: set --instance-ip", { address: found });
    return [];
  }
  o.logger.info("instance address: the one this host reaches gitmesh from", { address: found });
  return [found];
}

/**
 * The node id: the one given, else Istio's form KIND~ADDRESS~HOSTNAME.NAMESPACE. The address makes
 * it unique per host even where hosts share a name (VMs cloned from one image often do): two
 * proxies with one node id would be taken for one (docs/agent.md).
 */
export function nodeIdOf(w: AgentWorkload, kind: NodeContract["kind"], instanceIps: readonly string[]): string {
  return w.nodeId ?? `${kind}~${instanceIps[0] ?? "unknown"}~${hostname()}.${w.namespace}`;
}

/** The node contract of the workload, for a proxy of this kind at these addresses. */
export function workloadContract(w: AgentWorkload, kind: NodeContract["kind"], instanceIps: readonly string[]): NodeContract {
  return {
    kind,
    namespace: w.namespace,
    serviceAccount: w.serviceAccount,
    labels: w.labels,
    ...(w.workloadName === undefined ? {} : { workloadName: w.workloadName }),
    ...(w.workloadGroup === undefined ? {} : { workloadGroup: w.workloadGroup }),
    instanceIps,
  };
}

/** The node of an xDS stream the agent opens itself (user agent gitmesh-agent). */
export function agentNode(id: string, contract: NodeContract): NonNullable<DeltaDiscoveryRequest["node"]> {
  return {
    id,
    cluster: `${contract.serviceAccount}.${contract.namespace}`,
    metadata: struct(nodeMetadata(contract)),
    user_agent_name: "gitmesh-agent",
    user_agent_version: gitmeshVersion(),
  };
}
