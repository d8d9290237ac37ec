// The agent for an Envoy sidecar or gateway: writes the bootstrap (0600: it holds the token),
// runs Envoy and restarts it when it exits, restarts it with a new bootstrap when the token or the
// trust bundle file changes (Envoy reads both only at start), and keeps the hosts file's service
// names current. Envoy gets its own certificate over SDS; the agent never sees it.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeBootstrap, type BootstrapOptions } from "../cli/bootstrap.js";
import { every } from "../common/timers.js";
import { TypeUrl } from "../envoy/index.js";
import type { EnvoyAgentOptions, RunningAgent } from "./options.js";
import { ServiceNames } from "./services.js";
import { stopOrphan, Supervisor } from "./supervisor.js";
import { claimRuntimeDir } from "./runtime-dir.js";
import { agentNode, instanceIps, nodeIdOf, readTokenFile, workloadContract } from "./workload.js";
import { AgentStream } from "./xds-stream.js";

export const ENVOY_BOOTSTRAP_FILE = "envoy-bootstrap.json";
export const ENVOY_PID_FILE = "envoy.pid";

export async function startEnvoyAgent(o: EnvoyAgentOptions): Promise<RunningAgent> {
  const { logger, workload } = o;
  const release = await claimRuntimeDir(o.runtimeDir);
  const bootstrapFile = join(o.runtimeDir, ENVOY_BOOTSTRAP_FILE);
  const ips = await instanceIps(o);
  const nodeId = nodeIdOf(workload, o.kind, ips);
  const bootstrap = (token: string): BootstrapOptions => ({
    ...workloadContract(workload, o.kind, ips),
    nodeId,
    xdsAddress: o.xdsAddress,
    adminPort: o.envoy.adminPort,
    xdsCaFile: o.xdsCaFile,
    token,
  });
  const inputs = async (warn?: typeof logger) => ({ token: await readTokenFile(o.tokenFile, warn), bundle: await readFile(o.xdsCaFile, "utf8") });
  let seen = await inputs(logger).catch((e: Error) => {
    throw new Error(`${e.message} (--token-file, --xds-ca-file)`);
  });
  await writeBootstrap(bootstrapFile, bootstrap(seen.token));
  logger.info("Envoy bootstrap written", { file: bootstrapFile, node: nodeId, xds: o.xdsAddress, instanceIps: ips.join(",") || undefined });

  const pidFile = join(o.runtimeDir, ENVOY_PID_FILE);
  await stopOrphan(pidFile, bootstrapFile, logger);
  // No hot restart: one Envoy per host, and the agent restarts it itself; without it Envoy needs no
  // shared memory, so Envoys in other network namespaces of one machine never collide.
  const envoy = new Supervisor({ name: "Envoy", command: o.envoy.command, args: ["-c", bootstrapFile, "--disable-hot-restart", ...o.envoy.args], pidFile, logger });
  envoy.start();

  let services: AgentStream | undefined;
  if (o.hosts !== undefined) {
    const names = new ServiceNames({ hostsFile: o.hosts.file, clusterDomain: o.hosts.clusterDomain, namespace: workload.namespace, logger });
    // A proxyless-style stream on the plaintext port: it registers nothing and is sent no secret,
    // only what any gRPC client of the mesh may read (docs/agent.md, "Service names").
    services = new AgentStream({
      address: o.plaintextAddress,
      node: agentNode(`${nodeId}~agent`, { kind: "grpc", namespace: workload.namespace, serviceAccount: workload.serviceAccount, labels: {} }),
      subscribe: { [TypeUrl.Cluster]: ["*"] },
      onUpdate: (u) => names.apply(u),
      logger,
    });
    services.start();
  }

  let checking = false;
  let problem = "";
  const follow = every(o.resyncMs, () => {
    if (checking) return;
    checking = true;
    inputs()
      .then(async (now) => {
        if (now.token === seen.token && now.bundle === seen.bundle) return;
        const what = now.token === seen.token ? "the trust bundle file changed" : now.bundle === seen.bundle ? "the token file changed" : "the token and trust bundle files changed";
        problem = "";
        seen = now;
        await writeBootstrap(bootstrapFile, bootstrap(now.token));
        await envoy.restart(what);
      })
      .catch((e: Error) => {
        if (e.message !== problem) logger.warn("cannot read the token or trust bundle file; Envoy keeps the ones it started with", { error: e.message });
        problem = e.message;
      })
      .finally(() => (checking = false));
  });

  return {
    async stop() {
      follow.cancel();
      services?.close();
      await envoy.stop();
      await release();
    },
  };
}
