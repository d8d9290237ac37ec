import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { Severity } from "../config/diagnostics.js";
import { ADS_ORDER, type ResourceKind } from "../xds/resource-kinds.js";
import type { XdsStatus } from "../xds/status.js";

/** How a config reload ended: applied, refused because the config has errors, or failed to run. */
export type ReloadOutcome = "ok" | "invalid" | "error";

/** Where the config of a reload came from (the git commit, and whether the work tree had local changes). */
export interface ConfigSourceInfo {
  readonly commit?: string;
  readonly dirty?: boolean;
}

export interface Metrics {
  /** Its own registry (never prom-client's global one), so several servers and tests share a process. */
  readonly registry: Registry;
  /**
   * Records a reload attempt. The diagnostics gauge always describes the last attempt; the info
   * gauge and the success timestamp only move when the outcome is "ok", because only then does the
   * served model change.
   */
  configReloaded(outcome: ReloadOutcome, diagnosticsBySeverity: Readonly<Partial<Record<Severity, number>>>, source: ConfigSourceInfo): void;
  /** The NACK hook: call once for every NACK a proxy sends. */
  nacked(type: ResourceKind["short"]): void;
}

/**
 * prom-client adds sums of its nodejs_active_{handles,requests,resources} gauges under a counter's
 * "_total" suffix, which promtool rejects and which misleads rate(): they go (sum() gives them).
 */
function withoutTotalSuffix(registry: Registry, names: readonly string[]): void {
  for (const name of names) registry.removeSingleMetric(name);
}

const OUTCOMES: readonly ReloadOutcome[] = ["ok", "invalid", "error"];
const SEVERITIES: readonly Severity[] = ["error", "warning"];

export function createMetrics(status: XdsStatus): Metrics {
  const registry = new Registry();
  const registers = [registry];

  // Config.
  const reloads = new Counter({
    name: "gitmesh_config_reloads_total",
    help: "Config reloads by outcome: ok (applied), invalid (the config has errors; the previous one stays), error (the reload failed to run).",
    labelNames: ["outcome"] as const,
    registers,
  });
  for (const outcome of OUTCOMES) reloads.inc({ outcome }, 0);
  const lastReload = new Gauge({
    name: "gitmesh_config_last_reload_timestamp_seconds",
    help: "When the last config reload attempt finished, whatever its outcome (seconds since the epoch).",
    registers,
  });
  const lastSuccess = new Gauge({
    name: "gitmesh_config_last_reload_success_timestamp_seconds",
    help: "When a config reload last succeeded (seconds since the epoch); 0 until one does.",
    registers,
  });
  const diagnostics = new Gauge({
    name: "gitmesh_config_diagnostics",
    help: "Diagnostics of the last config reload attempt, by severity.",
    labelNames: ["severity"] as const,
    registers,
  });
  for (const severity of SEVERITIES) diagnostics.set({ severity }, 0);
  const info = new Gauge({
    name: "gitmesh_config_info",
    help: 'Always 1; its labels name the source of the config being served (commit "" when unknown, dirty "true", "false" or "" when unknown).',
    labelNames: ["commit", "dirty"] as const,
    registers,
  });

  // xDS. XdsStatus keeps its own monotonic totals and metrics read them at scrape time rather than
  // being incremented alongside, so the two can never disagree. prom-client's Counter has no set(),
  // but a collect() that resets and adds the current total gives exactly that value while the
  // series keeps the counter type, which rate() and increase() need; as gauges they would lose it.
  const totalOf = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  totalOf("gitmesh_xds_responses_total", "xDS responses sent to proxies.", () => status.counters.responses);
  totalOf("gitmesh_xds_acks_total", "xDS responses proxies accepted (ACK).", () => status.counters.acks);
  totalOf("gitmesh_xds_nacks_total", "xDS responses proxies rejected (NACK).", () => status.counters.nacks);
  new Gauge({
    name: "gitmesh_xds_connected_streams",
    help: "Open xDS streams whose proxy has identified itself.",
    registers,
    collect() {
      this.set(status.list().length);
    },
  });
  // By type from a hook, not from status.recentNacks(): that list is bounded, so counting it
  // would make the total go down once old NACKs fall off.
  const nacksByType = new Counter({
    name: "gitmesh_xds_nacks_by_type_total",
    help: "xDS responses proxies rejected (NACK), by resource type.",
    labelNames: ["type"] as const,
    registers,
  });
  for (const kind of ADS_ORDER) nacksByType.inc({ type: kind.short }, 0);

  // Process: CPU, memory, event loop lag, GC, handles, on this registry only.
  collectDefaultMetrics({ register: registry });
  withoutTotalSuffix(registry, ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]);

  return {
    registry,
    configReloaded(outcome, diagnosticsBySeverity, source) {
      const now = Date.now() / 1000;
      reloads.inc({ outcome });
      lastReload.set(now);
      for (const severity of SEVERITIES) diagnostics.set({ severity }, diagnosticsBySeverity[severity] ?? 0);
      if (outcome !== "ok") return;
      lastSuccess.set(now);
      // One series only: the previous source's labels go.
      info.reset();
      info.set({ commit: source.commit ?? "", dirty: source.dirty === undefined ? "" : String(source.dirty) }, 1);
    },
    nacked(type) {
      nacksByType.inc({ type });
    },
  };
}
