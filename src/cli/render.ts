import { stringify } from "yaml";
import { loadMesh } from "../config/load.js";
import type { MeshNaming } from "../config/resources.js";
import { readDirectory } from "../config/source.js";
import { describeMessage, encodeMessage, redacted } from "../envoy/index.js";
import { unresolvedLookupNotes } from "../translators/endpoints.js";
import { translateMesh } from "../translators/mesh.js";
import { proxyNotes, resourcesForProxy } from "../translators/proxy-resources.js";
import { readCredentials } from "../config/credentials.js";
import type { ProxyIdentity } from "../translators/proxy.js";
import type { Translated } from "../translators/translated.js";
import { formatDiagnostic } from "./report.js";

export interface RenderOptions {
  readonly dir: string;
  readonly proxy: ProxyIdentity;
  readonly format: "yaml" | "json";
  readonly naming?: MeshNaming;
  /** Gateway certificates by credentialName (see config/credentials.ts). */
  readonly credentialsDir?: string;
  readonly out: (text: string) => void;
}

const GROUPS: readonly [string, string][] = [
  ["envoy.config.listener.v3.Listener", "listeners"],
  ["envoy.config.route.v3.RouteConfiguration", "routes"],
  ["envoy.config.cluster.v3.Cluster", "clusters"],
  ["envoy.config.endpoint.v3.ClusterLoadAssignment", "endpoints"],
  ["envoy.extensions.transport_sockets.tls.v3.Secret", "secrets"],
];


/** What a proxy receives, grouped by type, each resource decoded from the bytes it is sent as. */
export function describeResources(resources: readonly Translated[]): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const [type, group] of GROUPS) {
    const items = resources.filter((r) => r.type === type);
    if (items.length > 0) out[group] = items.map((r) => redacted(describeMessage(r.type, encodeMessage(r.type, r.message as never))));
  }
  return out;
}

/** `gitmesh render`: exit 0, or 1 when the config has errors (they are printed instead). */
export async function render(options: RenderOptions): Promise<number> {
  const result = loadMesh(await readDirectory(options.dir), options.naming);
  if (!result.ok) {
    for (const d of result.diagnostics) options.out(formatDiagnostic(d, "text", options.dir));
    options.out("the config has errors: fix them to see what proxies would receive");
    return 1;
  }
  const credentials = options.credentialsDir === undefined ? undefined : await readCredentials(options.credentialsDir);
  const translation = translateMesh(result.model, undefined, credentials === undefined ? {} : { credentials: credentials.credentials });
  const resources = resourcesForProxy(translation, options.proxy);
  const described: Record<string, unknown> = describeResources(resources);
  const clusterNames = new Set(resources.filter((r) => r.type === "envoy.config.cluster.v3.Cluster").map((r) => r.name));
  const notes = [...(credentials?.problems ?? []), ...proxyNotes(translation, options.proxy), ...unresolvedLookupNotes(translation.index.services, clusterNames)];
  if (notes.length > 0) described["notes"] = notes;
  options.out(options.format === "json" ? JSON.stringify(described, null, 2) : stringify(described, { lineWidth: 0 }).trimEnd());
  return 0;
}
