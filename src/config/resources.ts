import { DEFAULT_TRUST_DOMAIN } from "../common/mesh-identity.js";
import type { ResourceRef } from "./diagnostics.js";
import type { ParsedDoc } from "./source.js";
import type { MeshKind, SpecOf } from "./types.js";

/** Naming rules of the mesh (Istio's, on plain machines). */
export interface MeshNaming {
  /** The namespace holding mesh-wide policy (Istio's root namespace). */
  readonly rootNamespace: string;
  /** Suffix of a short host: reviews in namespace shop is reviews.shop.svc.<clusterDomain>. */
  readonly clusterDomain: string;
  /**
   * The SPIFFE trust domain workload identities are in (src/common/mesh-identity.ts): what SAN
   * checks and principals compare with, and what the mesh CA writes into certificates.
   */
  readonly trustDomain: string;
}

export const DEFAULT_NAMING: MeshNaming = { rootNamespace: "istio-system", clusterDomain: "cluster.local", trustDomain: DEFAULT_TRUST_DOMAIN };

/** One validated mesh resource and where it came from. */
export interface MeshResource<K extends MeshKind = MeshKind> {
  readonly kind: K;
  readonly apiVersion: string;
  readonly name: string;
  /** metadata.namespace, "default" when absent. */
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly spec: SpecOf<K>;
  readonly source: ParsedDoc;
}

export type AnyMeshResource = { [K in MeshKind]: MeshResource<K> }[MeshKind];

export function refOf(r: { readonly kind: string; readonly namespace: string; readonly name: string }): ResourceRef {
  return { kind: r.kind, namespace: r.namespace, name: r.name };
}

interface Envelope {
  readonly apiVersion: string;
  readonly kind: MeshKind;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string> };
  readonly spec?: unknown;
}

/** A document the schema accepted, as a resource. */
export function toResource(doc: ParsedDoc): AnyMeshResource {
  const e = doc.value as Envelope;
  return {
    kind: e.kind,
    apiVersion: e.apiVersion,
    name: e.metadata.name,
    namespace: e.metadata.namespace ?? "default",
    labels: e.metadata.labels ?? {},
    spec: (e.spec ?? {}) as never,
    source: doc,
  } as AnyMeshResource;
}

/**
 * Istio's host rule for VirtualService and DestinationRule: a short name (no dot, not a
 * wildcard) means a service in the resource's own namespace.
 */
export function qualifyHost(host: string, namespace: string, naming: MeshNaming): string {
  if (host.includes(".") || host.includes("*")) return host;
  return `${host}.${namespace}.svc.${naming.clusterDomain}`;
}

/**
 * Does a declared host cover a requested one? As Istio's host.Name SubsetOf: a wildcard covers every
 * host that ends with what follows its "*" ("*.example.com" covers a.example.com but not
 * example.com; "*api.example.com" covers api.example.com and shop-api.example.com), and a narrower
 * wildcard ("*.a.example.com" is under "*.example.com"); "*" covers everything.
 */
export function hostMatches(declared: string, requested: string): boolean {
  if (declared === requested) return true;
  return declared.startsWith("*") && requested.endsWith(declared.slice(1));
}

export function labelsMatch(selector: Readonly<Record<string, string>> | undefined, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

/**
 * A VirtualService's gateways entry as "namespace/name", or "mesh". As Istio resolves it
 * (resolveGatewayName): "namespace/name"; the legacy FQDN form NAME.NAMESPACE.svc.cluster.local
 * (anything with a dot: the first two labels); a bare name is in the VirtualService's namespace.
 */
export function gatewayRef(ref: string, namespace: string): string {
  if (ref === "mesh" || ref.includes("/")) return ref;
  const [name, ns] = ref.split(".");
  if (ns !== undefined && name !== undefined) return `${ns}/${name}`;
  return `${namespace}/${ref}`;
}

/**
 * Istio's order of resources of a kind (creation time), as gitmesh has it: file path, then place
 * in the file. Merging (VirtualServices, DestinationRules, ServiceEntries) takes them in this order.
 */
export function fileOrder(a: { readonly source: ParsedDoc }, b: { readonly source: ParsedDoc }): number {
  if (a.source.file !== b.source.file) return a.source.file < b.source.file ? -1 : 1;
  return a.source.index - b.source.index;
}

/**
 * Whether a resource (or a service) with this exportTo, in namespace `owner`, is exported to
 * `namespace`: absent or empty all, "*" all, "." its own, "~" none, or the namespaces named.
 */
export function exportedToNamespace(exportTo: readonly string[] | undefined, owner: string, namespace: string): boolean {
  if (exportTo === undefined || exportTo.length === 0) return true;
  return exportTo.some((n) => n === "*" || n === namespace || (n === "." && owner === namespace));
}
