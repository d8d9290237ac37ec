// Workloads that register themselves: a proxy whose node names a WORKLOAD_GROUP becomes, while its
// stream is up, a WorkloadEntry made from the group's template (Istio's auto-registration). The
// services selecting the group's labels then have it as an endpoint; scaling a compose service up
// or down changes the endpoints with no config change.
//
// Who may register (docs/proxies.md, "Self-registration"): only a proxy whose stream authenticated
// (the TLS port, a gitmesh token) as the group's own identity: the group's namespace and, when its
// template names one, its service account. The entry's labels are the group's, never the ones the
// node claims, so a proxy cannot make itself an endpoint of a service its group is not part of.
// Its address is the node's INSTANCE_IPS, else the address its stream comes from: a claim, trusted
// because the credential says the proxy is the group's workload; an unspecified address (0.0.0.0,
// ::) is refused, as no client can dial it.
import type { MeshModel } from "../config/load.js";
import type { AnyMeshResource, MeshResource } from "../config/resources.js";
import { workloadAddress, type ProxyIdentity } from "./proxy.js";

/** The name of a registered proxy's WorkloadEntry: the group's name and the node id. */
export function registeredEntryName(proxy: ProxyIdentity): string {
  return `${proxy.workloadGroup ?? ""}-${proxy.nodeId.toLowerCase().replace(/[^a-z0-9.-]+/g, "-")}`;
}

/** Why a proxy naming a WorkloadGroup is not an endpoint, by the caller's key for it. */
export type RegistrationProblems = ReadonlyMap<string, string>;

/**
 * Registered entries kept by the caller between translations (the pusher owns one): a proxy
 * identity registered in the very same group gets the very same WorkloadEntry object, so the
 * translation memo, which compares its inputs by identity, keeps what those workloads feed.
 */
export type RegisteredEntries = WeakMap<ProxyIdentity, { readonly group: MeshResource<"WorkloadGroup">; readonly entry: MeshResource<"WorkloadEntry"> }>;

/**
 * The model with a WorkloadEntry for every proxy that may register (see above), and a problem for
 * each one that may not. Pure: entries sorted by node id, whatever order the proxies come in.
 */
export function withRegistrations(model: MeshModel, proxies: ReadonlyMap<string, ProxyIdentity>, kept?: RegisteredEntries): { model: MeshModel; problems: RegistrationProblems } {
  const problems = new Map<string, string>();
  if (proxies.size === 0) return { model, problems };
  const groups = new Map<string, MeshResource<"WorkloadGroup">>();
  for (const r of model.resources) if (r.kind === "WorkloadGroup") groups.set(`${r.namespace}/${r.name}`, r);
  const added: AnyMeshResource[] = [];
  const sorted = [...proxies].sort(([, a], [, b]) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  for (const [key, proxy] of sorted) {
    const checked = registrationOf(proxy, groups, kept);
    if (typeof checked === "string") problems.set(key, checked);
    else added.push(checked);
  }
  return { model: added.length === 0 ? model : { ...model, resources: [...model.resources, ...added] }, problems };
}

function registrationOf(proxy: ProxyIdentity, groups: ReadonlyMap<string, MeshResource<"WorkloadGroup">>, kept: RegisteredEntries | undefined): MeshResource<"WorkloadEntry"> | string {
  const groupName = `${proxy.namespace}/${proxy.workloadGroup ?? ""}`;
  if (proxy.authenticated !== true) {
    return `proxy ${proxy.nodeId} names WorkloadGroup ${groupName} but did not authenticate: registration needs the TLS port and a token for ${proxy.namespace}/${proxy.serviceAccount} (gitmesh token issue); it is not an endpoint`;
  }
  const group = groups.get(groupName);
  if (group === undefined) return `proxy ${proxy.nodeId} names WorkloadGroup ${groupName}, which the config does not define; it is not an endpoint`;
  const template = group.spec.template;
  if (template.serviceAccount !== undefined && template.serviceAccount !== proxy.serviceAccount) {
    return `proxy ${proxy.nodeId} is ${proxy.namespace}/${proxy.serviceAccount}, but WorkloadGroup ${groupName} is for service account ${template.serviceAccount}; it is not an endpoint`;
  }
  const address = workloadAddress(proxy, undefined);
  if (address === undefined) return `proxy ${proxy.nodeId}: no address to register (set INSTANCE_IPS in its node metadata)`;
  if (unspecified(address)) return `proxy ${proxy.nodeId}: its address ${address} is unspecified, which no client can dial; set INSTANCE_IPS to the address clients reach it at`;
  const before = kept?.get(proxy);
  if (before?.group === group) return before.entry;
  const entry: MeshResource<"WorkloadEntry"> = {
    kind: "WorkloadEntry",
    apiVersion: group.apiVersion,
    name: registeredEntryName(proxy),
    namespace: proxy.namespace,
    labels: {},
    spec: {
      address,
      labels: { ...(group.spec.metadata?.labels ?? {}) },
      serviceAccount: template.serviceAccount ?? proxy.serviceAccount,
      ...(template.ports === undefined ? {} : { ports: template.ports }),
    },
    // Traces back to the group it was made from (render and debug pages show the file).
    source: group.source,
  };
  kept?.set(proxy, { group, entry });
  return entry;
}

/** 0.0.0.0 or ::, "any address": a bind address, never one to dial. */
export function unspecified(address: string): boolean {
  return address === "0.0.0.0" || address === "::" || address === "::0";
}
