import { stringify } from "yaml";
import { loadMesh } from "../config/load.js";
import type { MeshNaming } from "../config/resources.js";
import { readDirectory } from "../config/source.js";
import { describeMessage, encodeMessage } from "../envoy/index.js";
import { resourcesForProxy, translateMesh } from "../translators/mesh.js";
import type { ProxyIdentity } from "../translators/proxy.js";
import type { Translated } from "../translators/translated.js";
import { formatDiagnostic } from "./report.js";

export interface RenderOptions {
  readonly dir: string;
  readonly proxy: ProxyIdentity;
  readonly format: "yaml" | "json";
  readonly naming?: MeshNaming;
  readonly out: (text: string) => void;
}

const GROUPS: readonly [string, string][] = [
  ["envoy.config.listener.v3.Listener", "listeners"],
  ["envoy.config.route.v3.RouteConfiguration", "routes"],
  ["envoy.config.cluster.v3.Cluster", "clusters"],
  ["envoy.config.endpoint.v3.ClusterLoadAssignment", "endpoints"],
];

/** What a proxy receives, grouped by type, each resource decoded from the bytes it is sent as. */
export function describeResources(resources: readonly Translated[]): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const [type, group] of GROUPS) {
    const items = resources.filter((r) => r.type === type);
    if (items.length > 0) out[group] = items.map((r) => describeMessage(r.type, encodeMessage(r.type, r.message as never)));
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
  const described = describeResources(resourcesForProxy(translateMesh(result.model), options.proxy));
  options.out(options.format === "json" ? JSON.stringify(described, null, 2) : stringify(described, { lineWidth: 0 }).trimEnd());
  return 0;
}
