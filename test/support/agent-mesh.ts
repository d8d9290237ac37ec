// A mesh for agent tests on hosts made of network namespaces (netns-hosts.ts): `gitmesh serve` on
// host cp (10.0.0.10) with a config directory, tokens and the trust bundle in files, `gitmesh
// agent` started on any host, and Envoy's admin page read there.
import { execFile } from "node:child_process";
import { once } from "node:events";
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { promisify } from "node:util";
import { tempDir } from "./git-repo.js";
import { CLI, gitmesh, startProcess, type Running } from "./gitmesh-process.js";
import { hostNetwork, type NetHost } from "./netns-hosts.js";

const run = promisify(execFile);

export const MESH = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: api, namespace: demo }
spec:
  hosts: [api.demo.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 8080, name: http, protocol: HTTP }]
  workloadSelector: { labels: { app: api } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: { name: api-v1, namespace: demo }
spec:
  metadata: { labels: { app: api, version: v1 } }
  template: { serviceAccount: api, ports: { http: 8080 } }
`;

export interface AgentMesh {
  readonly cp: NetHost;
  readonly vm: NetHost;
  readonly config: string;
  readonly state: string;
  readonly serve: Running;
  readonly bundleFile: string;
  /** A token (gitmesh token issue with these arguments). */
  issueToken(...args: string[]): Promise<string>;
  /** A 0600 file holding a token issued with these arguments. */
  tokenFile(...args: string[]): Promise<string>;
  /** `gitmesh agent` on a host, dialling gitmesh on cp's TLS port with the trust bundle. */
  agent(host: NetHost, args: readonly string[], env?: Readonly<Record<string, string>>): Running;
  /** Any command on a host (stopped when the test ends). */
  start(host: NetHost, command: string, args: readonly string[], env?: Readonly<Record<string, string>>): Running;
}

/**
 * `gitmesh serve` on host cp (10.0.0.10) with this mesh config; vm (10.0.0.20) beside it.
 * `prepareState` runs on the empty state directory first (to import an organisation's CA).
 */
export async function agentMesh(t: TestContext, meshYaml = MESH, prepareState?: (state: string) => Promise<void>): Promise<AgentMesh | undefined> {
  const net = await hostNetwork(t, { cp: "10.0.0.10", vm: "10.0.0.20" });
  if (net === undefined) return undefined;
  const cp = net.hosts["cp"]!;
  const vm = net.hosts["vm"]!;
  const config = await tempDir("gmq-config-");
  const state = await tempDir("gmq-state-");
  writeFileSync(join(config, "mesh.yaml"), meshYaml);
  await prepareState?.(state);
  const processes: Running[] = [];
  t.after(async () => {
    for (const p of processes.reverse()) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
      p.child.kill("SIGKILL");
      // "exit", not "close": an Envoy left running holds the agent's output open.
      await once(p.child, "exit");
    }
  });
  const start = (host: NetHost, command: string, args: readonly string[], env: Readonly<Record<string, string>> = {}) => {
    const [c, a] = host.argv(command, [...args]);
    const p = startProcess(c, a, env);
    processes.push(p);
    return p;
  };
  const serve = start(cp, process.execPath, [CLI, "serve", "--config", config, "--state-dir", state, "--xds-tls-name", cp.address, "--resync-seconds", "0.5"]);
  await serve.waitFor(/gitmesh serving/);
  const issueToken = async (...args: string[]) => {
    const r = await gitmesh(["token", "issue", "--state-dir", state, ...args]);
    if (r.code !== 0) throw new Error(r.stderr);
    return r.stdout.trim();
  };
  const secrets = await tempDir("gmq-secrets-");
  const tokenFile = async (...args: string[]) => {
    const file = join(secrets, `${randomUUID()}.token`);
    writeFileSync(file, `${await issueToken(...args)}\n`, { mode: 0o600 });
    return file;
  };
  const bundleFile = join(secrets, "trust-bundle.pem");
  writeFileSync(bundleFile, (await gitmesh(["ca", "bundle", "--state-dir", state])).stdout);
  const agent = (host: NetHost, args: readonly string[], env: Readonly<Record<string, string>> = {}) =>
    start(host, process.execPath, [CLI, "agent", "--xds-address", `${cp.address}:15012`, "--xds-ca-file", bundleFile, "--resync-seconds", "0.2", ...args], env);
  return { cp, vm, config, state, serve, bundleFile, issueToken, tokenFile, agent, start };
}

/** Envoy's stats on a host's admin port (127.0.0.1 inside its namespace), as numbers. */
export async function envoyStats(host: NetHost, adminPort = 15000): Promise<Map<string, number>> {
  const [c, a] = host.argv("curl", ["-s", "--max-time", "2", `http://127.0.0.1:${adminPort}/stats`]);
  const { stdout } = await run(c, a);
  const out = new Map<string, number>();
  for (const line of stdout.split("\n")) {
    const m = /^([^:]+): (\d+)$/.exec(line);
    if (m !== null) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/**
 * Polls Envoy's stats (its admin page is the only place Envoy says) until `done`; fails after
 * `withinMs` with the xDS-related stats.
 */
export async function untilEnvoy(host: NetHost, done: (s: Map<string, number>) => boolean, withinMs = 30_000, adminPort = 15000): Promise<Map<string, number>> {
  const deadline = Date.now() + withinMs;
  let last = new Map<string, number>();
  while (Date.now() < deadline) {
    last = await envoyStats(host, adminPort).catch(() => last);
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Envoy on ${host.name} did not get there in ${withinMs} ms: ${JSON.stringify(Object.fromEntries([...last].filter(([k]) => /control_plane|update_rejected|listeners_active|warming|membership_(healthy|total)/.test(k))))}`);
}

/** Envoy connected to gitmesh, every listener active and nothing rejected or warming. */
export function envoyInSync(s: Map<string, number>): boolean {
  if (s.get("control_plane.connected_state") !== 1) return false;
  if ((s.get("listener_manager.total_listeners_active") ?? 0) === 0) return false;
  if ((s.get("listener_manager.total_listeners_warming") ?? 0) > 0 || (s.get("cluster_manager.warming_clusters") ?? 0) > 0) return false;
  return [...s].every(([k, v]) => !k.endsWith("update_rejected") || v === 0);
}
