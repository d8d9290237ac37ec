// What operators see of the running control plane, wired in one place: each proxy's snapshot is
// labelled with the commit it came from, the status store tells the metrics of every answer, and
// the admin server gets the sync, config-dump and status-page routes.
import type { AdminRoute } from "../admin/server.js";
import type { SyncSource } from "../admin/proxy-status.js";
import { statusRoutes } from "../admin/status-routes.js";
import type { Node__Output } from "../envoy/index.js";
import { proxyFromNode } from "../translators/proxy.js";
import type { SnapshotSource, XdsServer, XdsStatus } from "../xds/index.js";
import { ConfigLabels } from "../xds/sync-status.js";
import type { SyncObserver } from "../xds/status.js";

type Applied = { readonly ok: true } | { readonly ok: false; readonly error: string };

/** The proxy kind its node declares, or undefined when the node breaks the contract. */
export function kindOfNode(node: Node__Output): string | undefined {
  const r = proxyFromNode(node);
  return r.ok ? r.proxy.kind : undefined;
}

export class Observation {
  /** The snapshot source the xDS server reads: the cache, with each snapshot's commit noted. */
  readonly source: SnapshotSource;
  private readonly labels: ConfigLabels;
  private serving: string | undefined;

  constructor(
    cache: SnapshotSource,
    private readonly status: XdsStatus,
    observer: Omit<SyncObserver, "labelOf"> = {},
  ) {
    this.labels = new ConfigLabels(cache, () => this.serving);
    this.source = this.labels;
    status.observe({ ...observer, labelOf: (proxy) => this.labels.labelOf(proxy) });
  }

  /** The commit being served (the last one applied). */
  get commit(): string | undefined {
    return this.serving;
  }

  /**
   * Applies a new config: snapshots pushed while `apply` runs are labelled with its commit; if it
   * fails, the previous config (and commit) stays.
   */
  apply(commit: string | undefined, apply: () => Applied): Applied {
    const previous = this.serving;
    this.serving = commit;
    const r = apply();
    if (!r.ok) this.serving = previous;
    return r;
  }

  syncSource(xds: XdsServer): SyncSource {
    return { status: this.status, holding: (id, typeUrl) => xds.holding(id, typeUrl), kindOf: kindOfNode };
  }

  routes(xds: XdsServer): Map<string, AdminRoute> {
    return statusRoutes({ source: this.syncSource(xds), commit: () => this.serving });
  }
}
