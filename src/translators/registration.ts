// Workloads that register themselves: a proxy whose node names a WORKLOAD_GROUP becomes, while its
// stream is up, a WorkloadEntry made from the group's template (Istio's auto-registration). The
// services selecting its labels then have it as an endpoint; scaling a compose service up or down
// changes the endpoints with no config change.
import type { MeshModel } from "../config/load.js";
import type { AnyMeshResource, MeshResource } from "../config/resources.js";
import { workloadAddress, type ProxyIdentity } from "./proxy.js";

/** The name of a registered proxy's WorkloadEntry: the group's name and the node id. */
export function registeredEntryName(proxy: ProxyIdentity): string {
  return `${proxy.workloadGroup ?? ""}-${proxy.nodeId.toLowerCase().replace(/[^a-z0-9.-]+/g, "-")}`;
}

/**
 * The model with a WorkloadEntry for every registered proxy whose group exists and whose address
 * is known; one problem line for each proxy left out. Pure: sorted by node id.
 */
export function withRegistrations(model: MeshModel, proxies: readonly ProxyIdentity[]): { model: MeshModel; problems: string[] } {
  if (proxies.length === 0) return { model, problems: [] };
  const groups = new Map<string, MeshResource<"WorkloadGroup">>();
  for (const r of model.resources) if (r.kind === "WorkloadGroup") groups.set(`${r.namespace}/${r.name}`, r);
  const problems: string[] = [];
  const added: AnyMeshResource[] = [];
  for (const proxy of [...proxies].sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0))) {
    const group = groups.get(`${proxy.namespace}/${proxy.workloadGroup ?? ""}`);
    if (group === undefined) {
      problems.push(`proxy ${proxy.nodeId} names WorkloadGroup ${proxy.namespace}/${proxy.workloadGroup ?? ""}, which the config does not define; it is not registered as an endpoint`);
      continue;
    }
    const address = workloadAddress(proxy, undefined);
    if (address === undefined) {
      problems.push(`proxy ${proxy.nodeId}: no address to register (set INSTANCE_IPS in its node metadata)`);
      continue;
    }
    const template = group.spec.template;
    const entry: MeshResource<"WorkloadEntry"> = {
      kind: "WorkloadEntry",
      apiVersion: group.apiVersion,
      name: registeredEntryName(proxy),
      namespace: proxy.namespace,
      labels: {},
      spec: {
        address,
        labels: { ...proxy.labels, ...(group.spec.metadata?.labels ?? {}) },
        serviceAccount: template.serviceAccount ?? proxy.serviceAccount,
        ...(template.ports === undefined ? {} : { ports: template.ports }),
      },
      // Traces back to the group it was made from (render and debug pages show the file).
      source: group.source,
    };
    added.push(entry);
  }
  return { model: { ...model, resources: [...model.resources, ...added] }, problems };
}
