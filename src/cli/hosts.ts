// `gitmesh hosts DIR`: the /etc/hosts lines (or compose extra_hosts) that let an application dial
// mesh services by name through its sidecar: each service's name at its loopback address.
import { loadMesh } from "../config/load.js";
import type { MeshNaming } from "../config/resources.js";
import { readDirectory } from "../config/source.js";
import { serviceAddresses } from "../translators/addresses.js";
import { indexServices } from "../translators/services.js";
import { dialNames } from "../agent/dial-names.js";
import { formatDiagnostic } from "./report.js";

export interface HostsOptions {
  readonly dir: string;
  /** Also give this namespace's services their short names ("reviews", "reviews.bookinfo"). */
  readonly namespace?: string;
  readonly naming?: MeshNaming;
  readonly format: "hosts" | "compose";
  readonly out: (line: string) => void;
}

export async function hosts(options: HostsOptions): Promise<number> {
  const result = loadMesh(await readDirectory(options.dir), options.naming);
  if (!result.ok) {
    for (const d of result.diagnostics) options.out(formatDiagnostic(d, "text", options.dir));
    return 1;
  }
  const index = indexServices(result.model);
  const addresses = serviceAddresses(index.services.map((s) => s.host));
  for (const service of index.services) {
    const address = addresses.get(service.host) ?? "";
    const names = dialNames(service.host, { clusterDomain: result.model.naming.clusterDomain, ...(options.namespace === undefined ? {} : { namespace: options.namespace }) }, service.namespace);
    if (options.format === "hosts") options.out(`${address} ${names.join(" ")}`);
    else for (const n of names) options.out(`      - "${n}:${address}"`);
  }
  return 0;
}
