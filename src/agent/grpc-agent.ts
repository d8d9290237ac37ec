// The agent for a proxyless gRPC application. grpc-js cannot authenticate to gitmesh (its channel
// to the control plane is plaintext), so the agent is the workload's authenticated registrant: it
// holds a stream on the TLS port with the token, naming the WorkloadGroup and the host's address,
// and from that stream receives the workload's certificate and the trust bundle over SDS
// ("default", "ROOTCA"). It writes them as the files the application's file_watcher certificate
// provider reads, again whenever gitmesh pushes new ones (renewal, a root rotation), and then the
// application's gRPC bootstrap. No CA key on the host, no cron job.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { grpcBootstrap } from "../cli/bootstrap.js";
import { writeFileAtomic } from "../common/files.js";
import { decodeMessage, TypeUrl } from "../envoy/index.js";
import { registeredEntryName } from "../translators/registration.js";
import { writeCertFiles } from "./cert-files.js";
import type { GrpcAgentOptions, RunningAgent } from "./options.js";
import { claimRuntimeDir } from "./runtime-dir.js";
import { agentNode, instanceIps, nodeIdOf, readTokenFile, workloadContract } from "./workload.js";
import { AgentStream, type DeltaUpdate } from "./xds-stream.js";

export const GRPC_BOOTSTRAP_FILE = "grpc-bootstrap.json";
const WORKLOAD_SECRET = "default";
const ROOT_SECRET = "ROOTCA";

interface DataSource {
  readonly inline_string?: string;
  readonly inline_bytes?: Buffer;
}
const text = (d: DataSource | undefined): string => d?.inline_string ?? d?.inline_bytes?.toString("utf8") ?? "";

/** The PEM a Secret carries: a certificate chain and its key, or a trust bundle. */
export function secretPems(bytes: Buffer): { chainPem: string; keyPem: string } | { bundlePem: string } | undefined {
  const s = decodeMessage("envoy.extensions.transport_sockets.tls.v3.Secret", bytes) as {
    tls_certificate?: { certificate_chain?: DataSource; private_key?: DataSource };
    validation_context?: { trusted_ca?: DataSource };
  };
  if (s.tls_certificate !== undefined) return { chainPem: text(s.tls_certificate.certificate_chain), keyPem: text(s.tls_certificate.private_key) };
  if (s.validation_context !== undefined) return { bundlePem: text(s.validation_context.trusted_ca) };
  return undefined;
}

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
  let identity = false;
  /** The trust bundle gitmesh sent last: during a root rotation it already trusts the new root. */
  let bundle: string | undefined;
  let ready = false;

  const apply = async (u: DeltaUpdate): Promise<void> => {
    if (u.typeUrl !== TypeUrl.Secret) return;
    for (const r of u.resources) {
      const pems = secretPems(r.value);
      if (r.name === WORKLOAD_SECRET && pems !== undefined && "keyPem" in pems) {
        const cert = new X509Certificate(pems.chainPem);
        // A chain whose key does not match would stop every handshake: refuse it, keep the old files.
        if (!cert.checkPrivateKey(createPrivateKey(pems.keyPem))) throw new Error("the workload certificate and its key do not match");
        await writeCertFiles(o.certDir, { identity: pems });
        identity = true;
        logger.info("workload certificate written", { dir: o.certDir, spiffeId: cert.subjectAltName ?? "", notAfter: new Date(cert.validTo).toISOString() });
      } else if (r.name === ROOT_SECRET && pems !== undefined && "bundlePem" in pems) {
        if (!pems.bundlePem.includes("-----BEGIN CERTIFICATE-----")) throw new Error("the trust bundle holds no certificate");
        await writeCertFiles(o.certDir, { bundlePem: pems.bundlePem });
        bundle = pems.bundlePem;
        logger.info("trust bundle written", { dir: o.certDir, roots: pems.bundlePem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0 });
      }
    }
    if (ready || !identity || bundle === undefined) return;
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
  };

  const stream = new AgentStream({
    address: o.xdsAddress,
    // gitmesh's own certificate moves to the new root at a rotation's switch: the bundle it sent
    // (two roots since the introduction) lets the agent reconnect after it; the file alone would not.
    tls: { caFile: o.xdsCaFile, tokenFile: o.tokenFile, moreRoots: () => bundle },
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
