// What a real Envoy says about the config it was sent: its /ready page, the resources it holds
// (config_dump: warming, or in error), its rejection counters (stats *.update_rejected, one per
// NACK; runtime.deprecated_feature_use), and its log lines that reject config. The fleet fails a
// test on any of them.
import { X509Certificate } from "node:crypto";
/** An Envoy admin page: through a host's agent (AgentClient), or directly. */
export interface EnvoyAdmin {
  envoy(path: string): Promise<{ status: number; text: string }>;
}

/** The admin page at a local address (an Envoy the test runs in its own namespace). */
export function directAdmin(base: string): EnvoyAdmin {
  return {
    async envoy(path) {
      const res = await fetch(`${base}${path}`);
      return { status: res.status, text: await res.text() };
    },
  };
}

/** Log lines in which Envoy refuses config or warns about what it was given. */
const REJECTING = [
  /gRPC config for \S+ rejected/,
  /\brejected\b/i,
  /Using deprecated option/,
  /\[(error|critical)\]/,
  /Unable to (parse|create|load)/,
  /error (adding|updating|initializing)/i,
];

/**
 * Lines that look like the above but are about connectivity, which the tests cause on purpose
 * (gitmesh restarted, a backend refusing connections): never about config.
 */
const CONNECTIVITY = [/gRPC config stream to \S+ closed/, /StreamAggregatedResources gRPC config stream/, /DeltaAggregatedResources gRPC config stream/, /Unable to establish new stream/];

export function rejectingLines(lines: readonly string[]): string[] {
  return lines.filter((l) => REJECTING.some((p) => p.test(l)) && !CONNECTIVITY.some((p) => p.test(l)));
}

export interface EnvoyState {
  readonly ready: boolean;
  /** Resources Envoy holds but does not use yet (waiting for endpoints, routes, secrets). */
  readonly warming: readonly string[];
  /** Resources Envoy refused (listeners in error_state). */
  readonly errors: readonly string[];
  /** Non-zero *.update_rejected counters, and runtime.deprecated_feature_use (config using a deprecated field). */
  readonly rejected: Readonly<Record<string, number>>;
}

interface ConfigDump {
  readonly configs: readonly Record<string, unknown>[];
}

/** Envoy's own view of the config it holds, read through the host's agent. */
export async function envoyState(agent: EnvoyAdmin): Promise<EnvoyState> {
  const ready = (await agent.envoy("/ready")).status === 200;
  const dump = JSON.parse((await agent.envoy("/config_dump")).text) as ConfigDump;
  const warming: string[] = [];
  const errors: string[] = [];
  for (const c of dump.configs) {
    const type = String(c["@type"] ?? "");
    if (type.endsWith("ClustersConfigDump")) {
      for (const w of (c["dynamic_warming_clusters"] ?? []) as { cluster?: { name?: string } }[]) warming.push(`cluster ${w.cluster?.name ?? "?"}`);
    } else if (type.endsWith("ListenersConfigDump")) {
      for (const l of (c["dynamic_listeners"] ?? []) as { name?: string; warming_state?: unknown; error_state?: { details?: string } }[]) {
        if (l.warming_state !== undefined) warming.push(`listener ${l.name ?? "?"}`);
        if (l.error_state !== undefined) errors.push(`listener ${l.name ?? "?"}: ${l.error_state.details ?? JSON.stringify(l.error_state)}`);
      }
    } else if (type.endsWith("SecretsConfigDump")) {
      for (const s of (c["dynamic_warming_secrets"] ?? []) as { name?: string }[]) warming.push(`secret ${s.name ?? "?"}`);
    }
  }
  return { ready, warming, errors, rejected: await rejectedCounters(agent) };
}

export async function rejectedCounters(agent: EnvoyAdmin): Promise<Record<string, number>> {
  const text = (await agent.envoy("/stats?filter=(update_rejected|deprecated_feature_use)$")).text;
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^(\S+(?:update_rejected|deprecated_feature_use)): (\d+)$/.exec(line.trim());
    if (m !== null && Number(m[2]) > 0) out[m[1] ?? ""] = Number(m[2]);
  }
  return out;
}

/** A short view of what an Envoy holds, for failure reports. */
export async function configSummary(agent: EnvoyAdmin): Promise<string> {
  const dump = JSON.parse((await agent.envoy("/config_dump")).text) as ConfigDump;
  const lines: string[] = [];
  for (const c of dump.configs) {
    const type = String(c["@type"] ?? "").split(".").pop() ?? "";
    if (type === "BootstrapConfigDump") continue;
    const names = (key: string, inner: string) =>
      ((c[key] ?? []) as Record<string, unknown>[]).map((x) => {
        const v = x[inner] as { name?: string } | undefined;
        return `${(x["name"] as string | undefined) ?? v?.name ?? "?"}@${String(x["version_info"] ?? "")}`;
      });
    if (type === "ClustersConfigDump") lines.push(`clusters: ${names("dynamic_active_clusters", "cluster").join(" ")}`, `warming clusters: ${names("dynamic_warming_clusters", "cluster").join(" ")}`);
    if (type === "ListenersConfigDump") {
      for (const l of (c["dynamic_listeners"] ?? []) as Record<string, unknown>[]) {
        const states = ["active_state", "warming_state", "draining_state", "error_state"].filter((s) => l[s] !== undefined);
        lines.push(`listener ${String(l["name"])}: ${states.join(",")}${l["error_state"] === undefined ? "" : ` ${JSON.stringify(l["error_state"])}`}`);
      }
    }
    if (type === "RoutesConfigDump") {
      for (const r of (c["dynamic_route_configs"] ?? []) as { route_config?: { name?: string; virtual_hosts?: { routes?: unknown[] }[] }; version_info?: string }[]) {
        const routes = (r.route_config?.virtual_hosts ?? []).reduce((n, v) => n + (v.routes?.length ?? 0), 0);
        lines.push(`route ${r.route_config?.name ?? "?"}@${r.version_info ?? ""}: ${routes} routes`);
      }
    }
    if (type === "SecretsConfigDump") lines.push(`secrets: ${names("dynamic_active_secrets", "secret").join(" ")}`, `warming secrets: ${names("dynamic_warming_secrets", "secret").join(" ")}`);
  }
  return lines.join("\n");
}

/** The workload certificate chain ("default") and the trust bundle ("ROOTCA") an Envoy holds. */
export async function meshSecrets(agent: EnvoyAdmin): Promise<{ chain: X509Certificate[]; roots: X509Certificate[] }> {
  const dump = JSON.parse((await agent.envoy("/config_dump?resource=dynamic_active_secrets")).text) as ConfigDump;
  const out = { chain: [] as X509Certificate[], roots: [] as X509Certificate[] };
  for (const c of dump.configs) {
    const secret = c["secret"] as { name?: string; tls_certificate?: { certificate_chain?: { inline_string?: string } }; validation_context?: { trusted_ca?: { inline_string?: string } } } | undefined;
    if (secret?.name === "default") out.chain = pemCertificates(secret.tls_certificate?.certificate_chain?.inline_string ?? "");
    if (secret?.name === "ROOTCA") out.roots = pemCertificates(secret.validation_context?.trusted_ca?.inline_string ?? "");
  }
  return out;
}

function pemCertificates(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((b) => new X509Certificate(b));
}
