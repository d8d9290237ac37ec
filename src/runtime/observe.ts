// What operators see of the running control plane, wired in one place: each proxy's snapshot is
// labelled with the commit it came from, the status store tells the metrics of every answer,
// credential refusals, translations and git polls are counted, and the admin server gets the
// sync, config-dump and status-page routes.
import { observeMetrics, refusalReason, type ObservedMetrics } from "../admin/observe-metrics.js";
import { proxySync, type SyncSource } from "../admin/proxy-status.js";
import type { AdminRoute } from "../admin/server.js";
import type { ReloadView } from "../admin/status-page.js";
import { statusRoutes } from "../admin/status-routes.js";
import type { ReloadRecord } from "../config/reloader.js";
import { gitmeshVersion } from "../common/version.js";
import type { Node__Output } from "../envoy/index.js";
import { proxyFromNode } from "../translators/proxy.js";
import type { EndpointPolicy, SnapshotSource, XdsServer, XdsStatus } from "../xds/index.js";
import { ConfigLabels } from "../xds/sync-status.js";
import type { Registry } from "prom-client";
import type { Secure } from "./secure.js";
import type { WorkloadSecrets } from "./workload-secrets.js";

/** The last reload as the status page shows it. */
export function reloadView(r: ReloadRecord | undefined): ReloadView | null {
  if (r === undefined) return null;
  return {
    at: new Date(r.at).toISOString(),
    outcome: r.outcome,
    commit: r.source.commit ?? null,
    error: r.error ?? null,
    diagnostics: r.diagnostics.map((d) => ({ severity: d.severity, code: d.code, message: d.message, where: `${d.file}:${d.line}:${d.col}` })),
  };
}

type Applied = { readonly ok: true } | { readonly ok: false; readonly error: string };

/** The proxy kind its node declares, or undefined when the node breaks the contract. */
export function kindOfNode(node: Node__Output): string | undefined {
  const r = proxyFromNode(node);
  return r.ok ? r.proxy.kind : undefined;
}

export interface ObservationOptions {
  readonly cache: SnapshotSource;
  readonly status: XdsStatus;
  readonly registry: Registry;
  readonly registeredWorkloads: () => number;
  readonly secrets?: WorkloadSecrets;
  readonly secure?: Secure;
}

export class Observation {
  /** The snapshot source the xDS server reads: the cache, with each snapshot's commit noted. */
  readonly source: SnapshotSource;
  readonly metrics: ObservedMetrics;
  private readonly labels: ConfigLabels;
  private serving: string | undefined;
  private xds: XdsServer | undefined;

  constructor(private readonly options: ObservationOptions) {
    this.labels = new ConfigLabels(options.cache, () => this.serving);
    this.source = this.labels;
    const { secrets, secure } = options;
    this.metrics = observeMetrics(options.registry, {
      version: gitmeshVersion(),
      proxyStates: () => {
        const sync = this.syncSource();
        return sync === undefined ? [] : options.status.list().map((s) => proxySync(sync, s).state);
      },
      registeredWorkloads: options.registeredWorkloads,
      ...(secrets === undefined
        ? {}
        : {
            certificatesIssued: () => secrets.stats.issued,
            workloadExpiries: () => secrets.describe().flatMap((c) => (c.notAfter === undefined ? [] : [new Date(c.notAfter)])),
          }),
      ...(secure === undefined ? {} : { tlsPortExpiry: () => secure.expiries().tlsPort, rootExpiry: () => secure.expiries().root }),
    });
    options.status.observe({ labelOf: (proxy) => this.labels.labelOf(proxy), acked: (kind, ms) => this.metrics.acked(kind, ms) });
  }

  /** The commit being served (the last one applied). */
  get commit(): string | undefined {
    return this.serving;
  }

  /**
   * Applies a new config: snapshots pushed while `apply` runs are labelled with its commit (with
   * "-dirty" when the work tree had changes, as git describe --dirty); if it fails, the previous
   * config (and commit) stays. Timed for gitmesh_translation_duration_seconds.
   */
  async apply(source: { readonly commit?: string; readonly dirty?: boolean }, apply: () => Promise<Applied>, pushed: () => Promise<void>): Promise<Applied> {
    const commit = source.commit === undefined ? undefined : `${source.commit}${source.dirty === true ? "-dirty" : ""}`;
    const previous = this.serving;
    this.serving = commit;
    const started = performance.now();
    const r = await apply();
    this.metrics.translated(performance.now() - started, r.ok ? "ok" : "error");
    if (!r.ok) {
      if (this.serving === commit) this.serving = previous;
      return r;
    }
    // Proxies are pushed in slices after the translation: once every one has been, all of them
    // run this config, those whose snapshot it left alone included (unless a newer one came).
    await pushed();
    if (this.serving === commit) this.labels.relabel(commit);
    return r;
  }

  /** The TLS port's policy, with its refusals counted by reason. */
  counted(policy: EndpointPolicy): EndpointPolicy {
    if (policy.t !== "authenticated") return policy;
    return {
      t: "authenticated",
      authenticate: (metadata, node) => {
        const decision = policy.authenticate(metadata, node);
        if (!decision.ok) this.metrics.credentialRefused(refusalReason(decision.code, decision.message));
        return decision;
      },
    };
  }

  /** For followConfig: each poll's fetch, counted. */
  get pollEvents(): { fetched(): void; failed(): void } {
    return { fetched: () => this.metrics.gitFetched(), failed: () => this.metrics.gitPollFailed() };
  }

  /** The admin routes over the xDS server's streams. */
  routes(xds: XdsServer, lastReload: () => ReloadRecord | undefined): Map<string, AdminRoute> {
    this.xds = xds;
    return statusRoutes({ source: this.sourceOver(xds), commit: () => this.serving, lastReload: () => reloadView(lastReload()) });
  }

  private syncSource(): SyncSource | undefined {
    return this.xds === undefined ? undefined : this.sourceOver(this.xds);
  }

  private sourceOver(xds: XdsServer): SyncSource {
    return { status: this.options.status, holding: (id, typeUrl) => xds.holding(id, typeUrl), kindOf: kindOfNode };
  }
}
