// `gitmesh agent`: on a workload's host, one command that puts it in the mesh (src/agent).
import { accessSync, constants } from "node:fs";
import { delimiter, isAbsolute, join, resolve } from "node:path";
import type { AgentOptions, AgentWorkload } from "../../agent/index.js";
import { DEFAULT_NAMING } from "../../config/resources.js";
import { createLogger } from "../../log.js";
import { hostPort, parseCommand, parseLabels, portOf, UsageError, type Command } from "../usage.js";
import { logLevelOf, untilSignal } from "./serve.js";

const synopsis = "gitmesh agent --xds-address HOST:PORT --token-file FILE --xds-ca-file FILE --namespace NS --service-account SA [options] [-- ENVOY ARGS]";

export const agentCommand: Command = {
  name: "agent",
  summary: "on a workload's host: run Envoy in the mesh (or keep a gRPC application's certificates)",
  synopsis,
  help: `usage: ${synopsis}

Runs on a workload's host until SIGTERM (docs/agent.md). For an Envoy sidecar or gateway it writes
the Envoy bootstrap (0600, in the runtime directory), starts Envoy (ENVOY_BIN, or envoy on PATH),
restarts it when it exits (after 1 s, 2 s ... 30 s) and when the token or trust bundle file
changes, keeps the mesh's service names in the hosts file's gitmesh block, and stops Envoy with
itself. For a proxyless gRPC application (--proxy grpc) it registers the workload with the token,
keeps its certificate files renewed from what gitmesh pushes, and writes its gRPC bootstrap.

  --xds-address HOST:PORT    gitmesh's TLS xDS port, as this host dials it (default
                             gitmesh:15012); gitmesh's certificate must name HOST
                             (gitmesh serve --xds-tls-name)
  --token-file FILE          a token from gitmesh token issue (bound to the WorkloadGroup or
                             the node id); read again when it changes
  --xds-ca-file FILE         the mesh trust bundle (gitmesh ca bundle)
  --namespace NS, --service-account SA
                             the workload's identity (the token's)
  --labels k=v,...           the workload's labels (those of its WorkloadGroup)
  --workload-group NAME      register in this WorkloadGroup while running
  --workload-name NAME       or be this WorkloadEntry
  --proxy sidecar|gateway|grpc
                             what runs here (default sidecar)
  --instance-ip IP           the address other workloads reach this host at (default: the
                             address this host reaches gitmesh from)
  --hosts-file FILE          sidecar: keep the mesh's service names in FILE's gitmesh block
                             (usually /etc/hosts); other lines are never touched
  --node-id ID               unique per proxy (default KIND~ADDRESS~HOSTNAME.NAMESPACE)
  --runtime-dir DIR          where the bootstraps go, 0700 (default $RUNTIME_DIRECTORY, else
                             /run/gitmesh-agent)
  --cert-dir DIR             grpc: where the certificate files go (default RUNTIME_DIR/certs)
  --xds-plaintext-address HOST:PORT
                             gitmesh's plaintext port (default HOST:15010): the service list,
                             and the gRPC application's bootstrap
  --admin-port PORT          Envoy's admin port on 127.0.0.1 (default 15000)
  --envoy PATH               the Envoy binary (default $ENVOY_BIN, else envoy on PATH)
  --cluster-domain DOMAIN    short service names expand with it (default ${DEFAULT_NAMING.clusterDomain})
  --resync-seconds S         how often the token and trust bundle files are read (default 10)
  --log-level LEVEL          debug, info, warn or error (default info)
  -- ARGS                    passed to Envoy (for example -- --concurrency 2)`,
  async run(args) {
    const end = args.indexOf("--");
    const envoyArgs = end < 0 ? [] : args.slice(end + 1);
    const { values, positionals } = parseCommand(end < 0 ? args : args.slice(0, end), {
      "xds-address": { type: "string", default: "gitmesh:15012" },
      "xds-plaintext-address": { type: "string" },
      "token-file": { type: "string" },
      "xds-ca-file": { type: "string" },
      namespace: { type: "string" },
      "service-account": { type: "string" },
      labels: { type: "string", default: "" },
      "workload-group": { type: "string" },
      "workload-name": { type: "string" },
      proxy: { type: "string", default: "sidecar" },
      "instance-ip": { type: "string" },
      "hosts-file": { type: "string" },
      "node-id": { type: "string" },
      "runtime-dir": { type: "string" },
      "cert-dir": { type: "string" },
      "admin-port": { type: "string", default: "15000" },
      envoy: { type: "string" },
      "cluster-domain": { type: "string", default: DEFAULT_NAMING.clusterDomain },
      "resync-seconds": { type: "string", default: "10" },
      "log-level": { type: "string", default: "info" },
    });
    if (positionals.length > 0) throw new UsageError(`agent takes no positional arguments before "--" (got "${positionals[0]}")`);
    const namespace = values.namespace;
    const serviceAccount = values["service-account"];
    if (namespace === undefined || serviceAccount === undefined) throw new UsageError("agent needs --namespace and --service-account");
    if (values["token-file"] === undefined || values["xds-ca-file"] === undefined) throw new UsageError("agent needs --token-file and --xds-ca-file: it connects to gitmesh's TLS port");
    const kind = values.proxy;
    if (kind !== "sidecar" && kind !== "gateway" && kind !== "grpc") throw new UsageError("--proxy must be sidecar, gateway or grpc");
    if (values["workload-name"] !== undefined && values["workload-group"] !== undefined) throw new UsageError("give --workload-name (a WorkloadEntry) or --workload-group (self-registration), not both");
    if (values["hosts-file"] !== undefined && kind !== "sidecar") throw new UsageError("--hosts-file is for sidecars: names resolve to addresses a sidecar listens on");
    if (values["cert-dir"] !== undefined && kind !== "grpc") throw new UsageError("--cert-dir is for --proxy grpc (Envoy gets its certificate over SDS)");
    if (kind === "grpc" && envoyArgs.length > 0) throw new UsageError('arguments after "--" are for Envoy; --proxy grpc runs no Envoy');
    const xdsAddress = hostPort("xds-address", values["xds-address"]);
    const xdsHost = xdsAddress.slice(0, xdsAddress.lastIndexOf(":"));
    const plaintextAddress = hostPort("xds-plaintext-address", values["xds-plaintext-address"] ?? `${xdsHost}:15010`);
    const resync = Number(values["resync-seconds"]);
    if (!(resync >= 0.1 && resync <= 3600)) throw new UsageError("--resync-seconds takes a number of seconds from 0.1 to 3600");
    const logger = createLogger({ level: logLevelOf(values["log-level"]) });
    const runtimeDir = resolve(values["runtime-dir"] ?? process.env["RUNTIME_DIRECTORY"]?.split(":")[0] ?? "/run/gitmesh-agent");
    const workload: AgentWorkload = {
      ...(values["node-id"] === undefined ? {} : { nodeId: values["node-id"] }),
      namespace,
      serviceAccount,
      labels: parseLabels(values.labels),
      ...(values["workload-name"] === undefined ? {} : { workloadName: values["workload-name"] }),
      ...(values["workload-group"] === undefined ? {} : { workloadGroup: values["workload-group"] }),
      ...(values["instance-ip"] === undefined ? {} : { instanceIp: values["instance-ip"] }),
    };
    const common = {
      workload,
      xdsAddress,
      plaintextAddress,
      // Envoy reads the bundle by name from wherever it runs: absolute paths.
      tokenFile: resolve(values["token-file"]),
      xdsCaFile: resolve(values["xds-ca-file"]),
      runtimeDir,
      resyncMs: resync * 1000,
      logger,
    };
    let options: AgentOptions;
    if (kind === "grpc") {
      options = { ...common, mode: "grpc", certDir: resolve(values["cert-dir"] ?? join(runtimeDir, "certs")) };
    } else {
      const adminPort = portOf("admin-port", values["admin-port"]);
      const envoy = values.envoy ?? (process.env["ENVOY_BIN"] || undefined) ?? onPath("envoy");
      if (envoy === undefined) {
        logger.error("Envoy is not installed: put envoy on PATH, or give --envoy PATH (or ENVOY_BIN)");
        return 1;
      }
      options = {
        ...common,
        mode: "envoy",
        kind,
        envoy: { command: envoy, args: envoyArgs, adminPort },
        ...(values["hosts-file"] === undefined ? {} : { hosts: { file: resolve(values["hosts-file"]), clusterDomain: values["cluster-domain"] } }),
      };
    }
    const { startAgent } = await import("../../agent/index.js");
    let agent;
    try {
      agent = await startAgent(options);
    } catch (e) {
      logger.error("could not start", { error: (e as Error).message });
      return 1;
    }
    const running = agent;
    // Nothing else may hold the process open while a stream waits to reconnect.
    const keepAlive = setInterval(() => {}, 1 << 30);
    const code = await untilSignal(logger, () => running.stop());
    clearInterval(keepAlive);
    return code;
  },
};

/** An executable of this name on PATH. */
function onPath(name: string): string | undefined {
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    if (dir === "" || !isAbsolute(dir)) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}
