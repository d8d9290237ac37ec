// Documents that are not mesh resources gitmesh reads, found in a shared config directory: what
// each is and what to write instead. One message per document, never a cascade of schema errors.
import { excerpt } from "./diagnostics.js";
import { isMeshKind } from "./types.js";

/** What to say about a document gitmesh does not read, and whether it blocks the config. */
export interface ForeignKind {
  readonly severity: "error" | "warning";
  readonly message: string;
}

/** Kubernetes' Gateway API group: its Gateway and routes are not Istio's. */
const GATEWAY_API = /^gateway\.networking\.k8s\.io\//;

/** Istio kinds gitmesh does not implement (yet): the config would be silently without them. */
const ISTIO_KINDS: Readonly<Record<string, string>> = {
  EnvoyFilter: "Envoy configuration patches are Istio-specific and not supported",
  RequestAuthentication: "end-user JWT authentication is not supported yet",
  Telemetry: "telemetry configuration is not supported",
  WasmPlugin: "Wasm plugins are not supported",
  ProxyConfig: "per-workload proxy configuration is not supported",
  ServiceMeshPeer: "multi-mesh peering is not supported",
};

const WORKLOADS = "a workload is declared by a WorkloadEntry (address, labels, serviceAccount), or by a WorkloadGroup its gitmesh agents register in";

/**
 * Kubernetes kinds that travel with Istio YAML (samples ship them side by side). gitmesh runs
 * without Kubernetes: each is skipped with a warning saying what declares the same thing here.
 */
const KUBERNETES_KINDS: Readonly<Record<string, string>> = {
  Service:
    "declare the service with a ServiceEntry: hosts [NAME.NAMESPACE.svc.cluster.local], its ports (name, number, protocol), location: MESH_INTERNAL, resolution: STATIC, and workloadSelector with the Service's selector",
  Deployment: WORKLOADS,
  StatefulSet: WORKLOADS,
  DaemonSet: WORKLOADS,
  ReplicaSet: WORKLOADS,
  Pod: WORKLOADS,
  Job: WORKLOADS,
  CronJob: WORKLOADS,
  ServiceAccount: "a service account needs no declaration: a WorkloadEntry's serviceAccount names it, and the mesh CA issues its identity",
  Namespace: "a namespace needs no declaration: a resource's metadata.namespace is enough",
  ConfigMap: "application configuration is not mesh config; keep it out of the config directory",
  Secret: "gateway certificates come from the credentials directory (NAME/tls.crt, tls.key, ca.crt; docs/proxies.md), never from the config",
  HorizontalPodAutoscaler: "scaling is not mesh config; keep it out of the config directory",
  PodDisruptionBudget: "scheduling is not mesh config; keep it out of the config directory",
};

/** What a document of this kind and apiVersion is, when gitmesh does not read it; undefined for anything else. */
export function foreignKind(kind: unknown, apiVersion: unknown): ForeignKind | undefined {
  if (typeof apiVersion === "string" && GATEWAY_API.test(apiVersion)) {
    return {
      severity: "error",
      message: `${typeof kind === "string" ? excerpt(kind) : "this document"} (${excerpt(apiVersion)}) is Kubernetes Gateway API, which gitmesh does not read: write an Istio Gateway (networking.istio.io/v1) for the listener and a VirtualService bound to it for the routes`,
    };
  }
  if (typeof kind !== "string") return undefined;
  // A kind gitmesh has learnt since this list was written is read, not refused.
  const istio = isMeshKind(kind) ? undefined : ISTIO_KINDS[kind];
  if (istio !== undefined && typeof apiVersion === "string" && /\.istio\.io\//.test(apiVersion)) {
    return { severity: "error", message: `${kind} is an Istio kind gitmesh does not support: ${istio}; remove it, or its intent is silently lost` };
  }
  const kubernetes = KUBERNETES_KINDS[kind];
  if (kubernetes !== undefined && typeof apiVersion === "string" && !apiVersion.includes(".istio.io/")) {
    return { severity: "warning", message: `Kubernetes ${kind} skipped: gitmesh runs without Kubernetes; ${kubernetes}` };
  }
  return undefined;
}
