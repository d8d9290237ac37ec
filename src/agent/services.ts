// The mesh's service names on a host, kept current from what gitmesh serves: the agent subscribes
// to every Cluster as a proxyless client would (outbound|PORT|SUBSET|HOST names carry the hosts,
// names.ts clusterName) and writes each service's names at its loopback address into the hosts
// file's gitmesh block whenever the set of services changes.
import { TypeUrl } from "../envoy/index.js";
import type { Logger } from "../log.js";
import { hostsFileLines, type DialNameOptions } from "./dial-names.js";
import { updateHostsFile } from "./hosts-file.js";
import type { DeltaUpdate } from "./xds-stream.js";

/** The service host a cluster name carries, or undefined for a cluster that is not a service's. */
export function hostOfCluster(name: string): string | undefined {
  const parts = name.split("|");
  return parts.length === 4 && parts[0] === "outbound" && parts[3] !== "" ? parts[3] : undefined;
}

export interface ServiceNamesOptions extends DialNameOptions {
  readonly hostsFile: string;
  readonly logger: Logger;
}

/** Follows Cluster updates; writes the hosts file when the set of service hosts changes. */
export class ServiceNames {
  private readonly clusters = new Set<string>();
  private written: string | undefined;

  constructor(private readonly options: ServiceNamesOptions) {}

  /** Applies one CDS update (other types are ignored). */
  async apply(update: DeltaUpdate): Promise<void> {
    if (update.typeUrl !== TypeUrl.Cluster) return;
    for (const r of update.resources) this.clusters.add(r.name);
    for (const name of update.removed) this.clusters.delete(name);
    const hosts = [...new Set([...this.clusters].flatMap((c) => hostOfCluster(c) ?? []))].sort();
    const key = hosts.join("\n");
    if (key === this.written) return;
    const { hostsFile, logger } = this.options;
    // A problem with the host's file is not gitmesh's config at fault: logged, not NACKed, and
    // tried again at the next change.
    const result = await updateHostsFile(hostsFile, hostsFileLines(hosts, this.options)).catch((e: Error) => ({ t: "refused" as const, problem: `${hostsFile}: ${e.message}` }));
    if (result.t === "refused") {
      logger.error("cannot update the hosts file", { problem: result.problem });
      return;
    }
    this.written = key;
    logger.info("hosts file up to date", { file: hostsFile, services: hosts.length, changed: result.t === "written", inPlace: result.t === "written" && result.inPlace });
  }
}
