import { decodeMessage, messageNameOf, TypeUrl } from "../envoy/index.js";
import type { EncodedResource } from "./resource.js";
import { resourcesOf, type Snapshot } from "./snapshot.js";

/** A name one resource needs another resource of some type to have. */
export interface Reference {
  readonly typeUrl: string;
  readonly name: string;
}

export interface Inconsistency {
  /** The resource holding the reference. */
  readonly from: { readonly typeUrl: string; readonly name: string };
  readonly missing: Reference;
}

const HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const TLS_CONTEXTS = new Set([
  "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
  "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
]);

// References are read back from the encoded bytes, so the check sees exactly what a proxy will
// receive. Each distinct resource is decoded at most once.
export function referencesOf(resource: EncodedResource): readonly Reference[] {
  return resource.memo.get("references", () => extract(resource));
}

type Obj = Record<string, unknown>;

function extract(resource: EncodedResource): readonly Reference[] {
  switch (resource.typeUrl) {
    case TypeUrl.Cluster: {
      const c = decodeMessage(messageNameOf(TypeUrl.Cluster), resource.bytes);
      const secrets = secretReferences(c);
      if (c["type"] !== "EDS") return secrets;
      const eds = c["eds_cluster_config"] as Obj | undefined;
      const serviceName = eds?.["service_name"];
      const name = typeof serviceName === "string" && serviceName !== "" ? serviceName : resource.name;
      return [{ typeUrl: TypeUrl.ClusterLoadAssignment, name }, ...secrets];
    }
    case TypeUrl.Listener: {
      const l = decodeMessage(messageNameOf(TypeUrl.Listener), resource.bytes);
      const anys: Obj[] = [];
      const api = (l["api_listener"] as Obj | undefined)?.["api_listener"];
      if (api !== undefined) anys.push(api as Obj);
      const chains = [...((l["filter_chains"] as Obj[] | undefined) ?? [])];
      if (l["default_filter_chain"] !== undefined) chains.push(l["default_filter_chain"] as Obj);
      for (const chain of chains) {
        for (const filter of (chain["filters"] as Obj[] | undefined) ?? []) {
          if (filter["typed_config"] !== undefined) anys.push(filter["typed_config"] as Obj);
        }
      }
      const routes = anys.flatMap((any) => {
        if (any["type_url"] !== `type.googleapis.com/${HCM}`) return [];
        const hcm = decodeMessage(HCM, any["value"] as Buffer);
        const rds = hcm["rds"] as Obj | undefined;
        const routeName = rds?.["route_config_name"];
        return typeof routeName === "string" ? [{ typeUrl: TypeUrl.RouteConfiguration, name: routeName }] : [];
      });
      return [...routes, ...secretReferences(l)];
    }
    default:
      return [];
  }
}

/**
 * The SDS secrets a cluster or listener names through a TLS transport socket (its own, its
 * transport_socket_matches', its filter chains'): a proxy waits for each before the resource
 * works, so the snapshot must carry them. Certificate provider instances (proxyless gRPC) are
 * files on the client, not references.
 */
function secretReferences(message: Obj): Reference[] {
  const names = new Set<string>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const v of value) visit(v);
      return;
    }
    if (typeof value !== "object" || value === null || Buffer.isBuffer(value)) return;
    const o = value as Obj;
    if (typeof o["type_url"] === "string" && TLS_CONTEXTS.has(o["type_url"]) && Buffer.isBuffer(o["value"])) {
      const name = o["type_url"].slice("type.googleapis.com/".length) as Parameters<typeof decodeMessage>[0];
      collectSdsNames(decodeMessage(name, o["value"]), names);
      return;
    }
    for (const v of Object.values(o)) visit(v);
  };
  visit(message);
  return [...names].sort().map((name) => ({ typeUrl: TypeUrl.Secret, name }));
}

function collectSdsNames(tls: Obj, into: Set<string>): void {
  const common = tls["common_tls_context"] as Obj | undefined;
  if (common === undefined) return;
  for (const c of (common["tls_certificate_sds_secret_configs"] as Obj[] | undefined) ?? []) if (typeof c["name"] === "string") into.add(c["name"]);
  const validation = common["validation_context_sds_secret_config"] as Obj | undefined;
  if (typeof validation?.["name"] === "string") into.add(validation["name"]);
  const combined = (common["combined_validation_context"] as Obj | undefined)?.["validation_context_sds_secret_config"] as Obj | undefined;
  if (typeof combined?.["name"] === "string") into.add(combined["name"]);
}

/**
 * go-control-plane's Consistent check, and secrets: every ClusterLoadAssignment an EDS cluster
 * needs, every RouteConfiguration a listener names over RDS and every SDS secret a TLS transport
 * socket names is in the snapshot. A proxy given an inconsistent snapshot would wait (warm)
 * forever for the missing piece.
 */
export function checkConsistency(snapshot: Snapshot): Inconsistency[] {
  const problems: Inconsistency[] = [];
  for (const typeUrl of [TypeUrl.Cluster, TypeUrl.Listener]) {
    for (const r of resourcesOf(snapshot, typeUrl).items) {
      for (const ref of referencesOf(r)) {
        if (!resourcesOf(snapshot, ref.typeUrl).byName.has(ref.name)) {
          problems.push({ from: { typeUrl: r.typeUrl, name: r.name }, missing: ref });
        }
      }
    }
  }
  return problems;
}
