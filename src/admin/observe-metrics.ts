// The metrics that say whether the mesh got its config and whether its credentials hold: proxies
// by sync state, push-to-ACK latency, translation time, certificates, refused credentials, git
// polling, registered workloads and the build. docs/metrics.md is their catalogue. Values that
// exist elsewhere are read at scrape time, so a metric and its source never disagree.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { ADS_ORDER, type ResourceKind } from "../xds/resource-kinds.js";
import type { SyncState } from "./server.js";

/** Where the read-at-scrape values come from; absent parts (no TLS port, no CA) are left out. */
export interface ObservedSources {
  /** The sync state of every connected proxy stream. */
  readonly proxyStates: () => readonly SyncState[];
  readonly version: string;
  readonly registeredWorkloads: () => number;
  /** Workload certificates issued since start. */
  readonly certificatesIssued?: () => number;
  /** Expiry of each workload certificate held now. */
  readonly workloadExpiries?: () => readonly Date[];
  readonly tlsPortExpiry?: () => Date | undefined;
  readonly rootExpiry?: () => Date | undefined;
}

export interface ObservedMetrics {
  /** A proxy ACKed the latest response of a type, this long after it was sent. */
  acked(kind: ResourceKind, ms: number): void;
  /** A config was translated and every proxy's snapshot set, in this long. */
  translated(ms: number, outcome: "ok" | "error"): void;
  /** A stream's credential was refused on the TLS port. */
  credentialRefused(reason: string): void;
  gitFetched(): void;
  gitPollFailed(): void;
}

export const SYNC_STATES: readonly SyncState[] = ["SYNCED", "STALE", "NACKED", "NOT SENT"];

/** Why a credential is refused, as a bounded label: the token's own reasons, then the checks after it. */
export const REFUSAL_REASONS = ["missing", "malformed", "bad-signature", "expired", "not-yet-valid", "revoked", "identity-mismatch", "node-contract", "binding", "other"] as const;

/** A refusal's message as one of REFUSAL_REASONS (secure.ts words them). */
export function refusalReason(code: string, message: string): (typeof REFUSAL_REASONS)[number] {
  const token = /^credential refused \(([a-z-]+)\)/.exec(message)?.[1];
  if (token !== undefined) return (REFUSAL_REASONS as readonly string[]).includes(token) ? (token as (typeof REFUSAL_REASONS)[number]) : "other";
  if (message.startsWith("more than one authorization")) return "malformed";
  if (code === "PERMISSION_DENIED") {
    if (/^the credential is (bound to|for members of) /.test(message)) return "binding";
    if (/^the credential is for /.test(message)) return "identity-mismatch";
    return "node-contract";
  }
  return "other";
}

const secondsUntil = (d: Date | undefined): number => (d === undefined ? Number.NaN : (d.getTime() - Date.now()) / 1000);

export function observeMetrics(registry: Registry, sources: ObservedSources): ObservedMetrics {
  const registers = [registry];
  new Gauge({
    name: "gitmesh_proxies",
    help: "Connected proxy streams by the sync state of their config: NACKED if any type was rejected, else STALE if any response is unanswered, else SYNCED; NOT SENT when nothing was sent.",
    labelNames: ["state"] as const,
    registers,
    collect() {
      const counts = new Map<SyncState, number>(SYNC_STATES.map((s) => [s, 0]));
      for (const s of sources.proxyStates()) counts.set(s, (counts.get(s) ?? 0) + 1);
      for (const [state, n] of counts) this.set({ state }, n);
    },
  });
  const pushToAck = new Histogram({
    name: "gitmesh_xds_push_ack_seconds",
    help: "From sending a response to the proxy's ACK of it, by type.",
    labelNames: ["type"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  for (const kind of ADS_ORDER) pushToAck.zero({ type: kind.short });
  const translation = new Histogram({
    name: "gitmesh_translation_duration_seconds",
    help: "Time to translate a new config and set every proxy's snapshot (outcome error: translation failed and the previous config stays).",
    labelNames: ["outcome"] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  translation.zero({ outcome: "ok" });
  new Counter({
    name: "gitmesh_certificates_issued_total",
    help: "Workload certificates issued (first issues and renewals) since start.",
    registers,
    collect() {
      this.reset();
      this.inc(sources.certificatesIssued?.() ?? 0);
    },
  });
  new Gauge({
    name: "gitmesh_certificate_expiry_seconds",
    help: "Seconds until the earliest expiry, by kind: workload (certificates held for connected proxies), tls_port (the TLS xDS port's own), root (the trusted roots). Absent without the TLS port or without workloads.",
    labelNames: ["kind"] as const,
    registers,
    collect() {
      this.reset();
      const workloads = sources.workloadExpiries?.() ?? [];
      const earliest = workloads.length === 0 ? undefined : new Date(Math.min(...workloads.map((d) => d.getTime())));
      for (const [kind, at] of [
        ["workload", earliest],
        ["tls_port", sources.tlsPortExpiry?.()],
        ["root", sources.rootExpiry?.()],
      ] as const) {
        if (at !== undefined) this.set({ kind }, secondsUntil(at));
      }
    },
  });
  const refused = new Counter({
    name: "gitmesh_credentials_refused_total",
    help: "Streams refused on the TLS xDS port for their credential, by reason.",
    labelNames: ["reason"] as const,
    registers,
  });
  for (const reason of REFUSAL_REASONS) refused.inc({ reason }, 0);
  const pollFailures = new Counter({ name: "gitmesh_git_poll_failures_total", help: "Polls of the upstream branch (serve --git-poll) that failed: fetch or read.", registers });
  const lastFetch = new Gauge({
    name: "gitmesh_git_last_fetch_success_timestamp_seconds",
    help: "When a fetch of the upstream branch last succeeded (seconds since the epoch); 0 until one does.",
    registers,
  });
  new Gauge({
    name: "gitmesh_registered_workloads",
    help: "Workloads registered by their own proxies (WorkloadGroup members), connected or within their grace period.",
    registers,
    collect() {
      this.set(sources.registeredWorkloads());
    },
  });
  new Gauge({ name: "gitmesh_build_info", help: "Always 1; its labels name gitmesh's version and Node's.", labelNames: ["version", "node"] as const, registers }).set(
    { version: sources.version, node: process.versions.node },
    1,
  );
  return {
    acked: (kind, ms) => pushToAck.observe({ type: kind.short }, ms / 1000),
    translated: (ms, outcome) => translation.observe({ outcome }, ms / 1000),
    credentialRefused: (reason) => refused.inc({ reason }),
    gitFetched: () => lastFetch.set(Date.now() / 1000),
    gitPollFailed: () => pollFailures.inc(),
  };
}
