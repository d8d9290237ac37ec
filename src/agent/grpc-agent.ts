// The agent for a proxyless gRPC application. grpc-js cannot authenticate to gitmesh (its channel
// to the control plane is plaintext), so the agent is the workload's authenticated registrant: it
// holds a stream on the TLS port with the token, naming the WorkloadGroup and the host's address,
// and from that stream receives the workload's certificate and the trust bundle over SDS
// ("default", "ROOTCA"). It writes them as the files the application's file_watcher certificate
// provider reads, again whenever gitmesh pushes new ones (renewal, a root rotation), and then the
// application's gRPC bootstrap. No CA key on the host, no cron job.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { grpcBootstrap } from "../cli/bootstrap.js";
import { writeFileAtomic } from "../common/files.js";
import { TypeUrl } from "../envoy/index.js";
import { registeredEntryName } from "../translators/registration.js";
import type { GrpcAgentOptions, RunningAgent } from "./options.js";
import { ROOT_SECRET, SecretFiles, WORKLOAD_SECRET } from "./secret-files.js";
import { claimRuntimeDir } from "./runtime-dir.js";
import { agentNode, instanceIps, nodeIdOf, readTokenFile, workloadContract } from "./workload.js";
import { AgentStream, type Applied, type DeltaUpdate } from "./xds-stream.js";

export const GRPC_BOOTSTRAP_FILE = "grpc-bootstrap.json";

export async function startGrpcAgent(o: GrpcAgentOptions): Promise<RunningAgent> {
  const { logger, workload } = o;
  const release = await claimRuntimeDir(o.runtimeDir);
  await mkdir(o.certDir, { recursive: true, mode: 0o700 });
  await readTokenFile(o.tokenFile, logger); // a missing or empty token file stops the start, saying so
  const ips = await instanceIps(o);
  const contract = workloadContract(workload, "grpc", ips);
  const nodeId = nodeIdOf(workload, "grpc", ips);
  // The application is the workload its agent registered: naming that WorkloadEntry gives its
  // XdsServer the group's ports. Its own stream (plaintext) registers nothing.
  const entry = workload.workloadName ?? (workload.workloadGroup === undefined ? undefined : registeredEntryName({ ...contract, nodeId, instanceIps: ips }));
  const bootstrapFile = join(o.runtimeDir, GRPC_BOOTSTRAP_FILE);
  const files = new SecretFiles(o.certDir, logger);
  let ready = false;

  const apply = async (u: DeltaUpdate): Promise<Applied> => {
    const applied = await files.apply(u);
    if (ready || !files.complete) return applied;
    // Last, once the files it names exist: an application started on the bootstrap finds them.
    const json = grpcBootstrap({
      kind: "grpc",
      nodeId,
      namespace: workload.namespace,
      serviceAccount: workload.serviceAccount,
      labels: workload.labels,
      ...(entry === undefined ? {} : { workloadName: entry }),
      instanceIps: ips,
      xdsAddress: o.plaintextAddress,
      adminPort: 0, // Envoy's; a gRPC bootstrap has none
      certDir: o.certDir,
    });
    await writeFileAtomic(bootstrapFile, `${JSON.stringify(json, null, 2)}\n`);
    ready = true;
    logger.info("ready: start the application with GRPC_XDS_BOOTSTRAP", { GRPC_XDS_BOOTSTRAP: bootstrapFile });
    return applied;
  };

  const stream = new AgentStream({
    address: o.xdsAddress,
    // gitmesh's own certificate moves to the new root at a rotation's switch: the bundle it sent
    // (two roots since the introduction) lets the agent reconnect after it; the file alone would not.
    tls: { caFile: o.xdsCaFile, tokenFile: o.tokenFile, moreRoots: () => files.bundlePem },
    node: agentNode(nodeId, contract),
    subscribe: { [TypeUrl.Secret]: [WORKLOAD_SECRET, ROOT_SECRET] },
    onUpdate: apply,
    logger,
  });
  stream.start();
  return {
    async stop() {
      stream.close();
      await release();
    },
  };
}
