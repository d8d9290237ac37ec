// Which mutual TLS mode a workload's port accepts, by Istio's PeerAuthentication precedence. One
// decision for the translators (inbound listeners, automatic mTLS) and for validation (a STRICT
// workload its clients would reach in plaintext).
import { labelsMatch, type MeshResource } from "./resources.js";
import type { Labels, MutualTLS } from "./types.js";

/** What a workload's port accepts. UNSET in a policy inherits; PERMISSIVE is Istio's default. */
export type MtlsMode = "STRICT" | "PERMISSIVE" | "DISABLE";
export const DEFAULT_MTLS_MODE: MtlsMode = "PERMISSIVE";

/**
 * A workload label that says whether it has a proxy, as Istio labels its pods: a workload whose
 * value is anything but "istio" (Istio uses "disabled") is reached in plaintext by automatic mTLS.
 */
export const TLS_MODE_LABEL = "security.istio.io/tlsMode";

type PeerAuthentication = MeshResource<"PeerAuthentication">;

/** The PeerAuthentications of a mesh, resolved for one workload at a time. */
export interface PeerAuthentications {
  /** The mode on the workload's port (the port the workload itself listens on). */
  mode(workload: { readonly namespace: string; readonly labels: Labels }, port: number): MtlsMode;
}

/**
 * Istio's precedence (ComposePeerAuthentication): start from PERMISSIVE; the mesh policy (root
 * namespace, no selector) sets the mode unless UNSET; then the namespace policy (no selector);
 * then the workload policy (a selector matching the workload's labels, in its namespace), whose
 * portLevelMtls entry for the port overrides it (UNSET there keeps the workload's mode). Among
 * policies of the same level the first by name wins (Istio takes the oldest; gitmesh's files
 * have no creation time). portLevelMtls on a policy without a selector is ignored, as in Istio.
 */
export function peerAuthentications(policies: readonly PeerAuthentication[], rootNamespace: string): PeerAuthentications {
  const byName = [...policies].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0));
  const hasSelector = (p: PeerAuthentication) => Object.keys(p.spec.selector?.matchLabels ?? {}).length > 0;
  const namespaceLevel = new Map<string, PeerAuthentication>();
  const workloadLevel = new Map<string, PeerAuthentication[]>();
  for (const p of byName) {
    if (!hasSelector(p)) {
      if (!namespaceLevel.has(p.namespace)) namespaceLevel.set(p.namespace, p);
    } else workloadLevel.set(p.namespace, [...(workloadLevel.get(p.namespace) ?? []), p]);
  }
  const mesh = namespaceLevel.get(rootNamespace);
  return {
    mode(workload, port) {
      let mode = DEFAULT_MTLS_MODE;
      const apply = (m: MutualTLS | undefined) => {
        if (m?.mode !== undefined && m.mode !== "UNSET") mode = m.mode;
      };
      apply(mesh?.spec.mtls);
      apply(namespaceLevel.get(workload.namespace)?.spec.mtls);
      const own = workloadLevel.get(workload.namespace)?.find((p) => labelsMatch(p.spec.selector?.matchLabels, workload.labels));
      apply(own?.spec.mtls);
      apply(own?.spec.portLevelMtls?.[String(port)]);
      return mode;
    },
  };
}
