// A mesh for agent tests on hosts made of network namespaces (netns-hosts.ts): `gitmesh serve` on
// host cp (10.0.0.10), a config directory, a token and the trust bundle, and a way to start
// `gitmesh agent` on another host with real Envoy and read that Envoy's admin page.
import { execFile } from "node:child_process";
import { once } from "node:events";
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
  /** A token for demo/api bound to WorkloadGroup api-v1, in a 0600 file. */
  readonly tokenFile: string;
  readonly bundleFile: string;
  /** A new token for the same identity and binding. */
  issueToken(ttl?: string): Promise<string>;
  /** `gitmesh agent` on vm for demo/api in api-v1, with these runtime dir and extra arguments. */
  agent(runtimeDir: string, ...more: string[]): Running;
}

export async function agentMesh(t: TestContext, envoy: string): Promise<AgentMesh | undefined> {
  const net = await hostNetwork(t, { cp: "10.0.0.10", vm: "10.0.0.20" });
  if (net === undefined) return undefined;
  const cp = net.hosts["cp"]!;
  const vm = net.hosts["vm"]!;
  const config = await tempDir("gmq-config-");
  const state = await tempDir("gmq-state-");
  writeFileSync(join(config, "mesh.yaml"), MESH);
  const processes: Running[] = [];
  t.after(async () => {
    for (const p of processes.reverse()) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
      p.child.kill("SIGKILL");
      // "exit", not "close": an Envoy left running holds the agent's output open.
      await once(p.child, "exit");
    }
  });
  const [command, args] = cp.argv(process.execPath, [CLI, "serve", "--config", config, "--state-dir", state, "--xds-tls-name", cp.address, "--resync-seconds", "0.5"]);
  const serve = startProcess(command, args);
  processes.push(serve);
  await serve.waitFor(/gitmesh serving/);
  const issueToken = async (ttl = "1h") => {
    const r = await gitmesh(["token", "issue", "--state-dir", state, "--namespace", "demo", "--service-account", "api", "--workload-group", "api-v1", "--ttl", ttl]);
    if (r.code !== 0) throw new Error(r.stderr);
    return r.stdout.trim();
  };
  const secrets = await tempDir("gmq-secrets-");
  const tokenFile = join(secrets, "api.token");
  writeFileSync(tokenFile, `${await issueToken()}\n`, { mode: 0o600 });
  const bundleFile = join(secrets, "trust-bundle.pem");
  const bundle = await gitmesh(["ca", "bundle", "--state-dir", state]);
  writeFileSync(bundleFile, bundle.stdout);
  const agent = (runtimeDir: string, ...more: string[]) => {
    const [c, a] = vm.argv(process.execPath, [
      CLI,
      "agent",
      "--xds-address",
      `${cp.address}:15012`,
      "--token-file",
      tokenFile,
      "--xds-ca-file",
      bundleFile,
      "--namespace",
      "demo",
      "--service-account",
      "api",
      "--labels",
      "app=api,version=v1",
      "--workload-group",
      "api-v1",
      "--runtime-dir",
      runtimeDir,
      "--resync-seconds",
      "0.2",
      ...more,
    ]);
    const p = startProcess(c, a, { ENVOY_BIN: envoy });
    processes.push(p);
    return p;
  };
  return { cp, vm, config, state, serve, tokenFile, bundleFile, issueToken, agent };
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
  throw new Error(`Envoy on ${host.name} did not get there in ${withinMs} ms: ${JSON.stringify(Object.fromEntries([...last].filter(([k]) => /control_plane|update_rejected|listeners_active|warming/.test(k))))}`);
}

/** Envoy connected to gitmesh, every listener active and nothing rejected or warming. */
export function envoyInSync(s: Map<string, number>): boolean {
  if (s.get("control_plane.connected_state") !== 1) return false;
  if ((s.get("listener_manager.total_listeners_active") ?? 0) === 0) return false;
  if ((s.get("listener_manager.total_listeners_warming") ?? 0) > 0 || (s.get("cluster_manager.warming_clusters") ?? 0) > 0) return false;
  return [...s].every(([k, v]) => !k.endsWith("update_rejected") || v === 0);
}
