#!/usr/bin/env node
import { stat } from "node:fs/promises";
import { parseArgs } from "node:util";
import { DEFAULT_NAMING, type MeshNaming } from "../config/resources.js";
import { createLogger, type LogLevel } from "../log.js";
import { CA_USAGE } from "./ca-usage.js";
import { REPORT_FORMATS, type ReportFormat } from "./report.js";
import type { ServeOptions } from "../runtime/index.js";
import type { BootstrapOptions } from "./bootstrap.js";
import { UsageError } from "./usage.js";

const USAGE = `usage: gitmesh <command> [options]

commands:
  serve      serve xDS to Envoy proxies and proxyless gRPC clients
             --config DIR              mesh config directory (Istio YAML), watched for changes
             --xds-address HOST:PORT   where to serve xDS (default 0.0.0.0:15010)
             --xds-tls-address HOST:PORT
                                       xDS and SDS over TLS with the mesh CA's certificate; every
                                       stream must present a gitmesh token (default 0.0.0.0:15012;
                                       off to disable). The plaintext port never serves secrets.
             --xds-tls-name NAME       a name or address proxies dial the TLS port by (repeat;
                                       default gitmesh, localhost, 127.0.0.1, ::1 and the hostname)
             --trust-domain DOMAIN     SPIFFE trust domain of workload identities: what the CA
                                       issues and what SAN checks and principals compare with
                                       (default cluster.local; recorded in the state directory)
             --workload-key-type T     rsa (default) or ecdsa keys for workload certificates
             --workload-cert-ttl HOURS workload certificate lifetime (default 24)
             --admin-address HOST:PORT health, readiness, metrics, debug (default 127.0.0.1:15014)
             --git-ref REF             serve exactly this committed ref of the config repo
             --git-poll SECONDS        fetch the remote branch every SECONDS and follow it
             --state-dir DIR           state kept across restarts: the last good config
                                       (default .gitmesh-state)
             --credentials-dir DIR     gateway TLS certificates, NAME/tls.crt and NAME/tls.key
                                       (and NAME/ca.crt for MUTUAL), served over SDS
             --registration-grace S    seconds a self-registered workload (WORKLOAD_GROUP)
                                       stays an endpoint after its stream ends (default 10)
             --follow-external-links   follow symbolic links that lead outside the config
                                       directory (off: such a link is an error, GM0006)
             --resync-seconds S        how often to read again what file events may miss: the
                                       config tree, CA rotation steps, token revocations and the
                                       credentials directory (default 10)
             --root-namespace NS       namespace of mesh-wide policy (default istio-system)
             --cluster-domain DOMAIN   short hosts expand to NAME.NS.svc.DOMAIN (default cluster.local)
             --log-level LEVEL         debug, info, warn or error (default info)
  render     show what a proxy would receive, grouped by type
             gitmesh render DIR --namespace NS --service-account SA [--labels k=v,...]
                                [--proxy grpc|sidecar|gateway] [--format yaml|json]
                                [--workload-name NAME] [--instance-ip IP]
                                [--credentials-dir DIR]
  bootstrap  write what a workload's proxy starts with: an Envoy bootstrap (sidecar, gateway)
             or a gRPC xDS bootstrap (grpc), carrying the node contract of docs/proxies.md
             gitmesh bootstrap --namespace NS --service-account SA [--proxy sidecar|gateway|grpc]
                               [--labels k=v,...] [--workload-name NAME | --workload-group NAME]
                               [--instance-ip IP] [--node-id ID] [--xds-address HOST:PORT]
                               [--admin-port PORT] [--token TOKEN --xds-ca-file FILE]
                               [--cert-dir DIR (grpc: gitmesh cert issue's files)] [--out FILE]
             with --xds-ca-file the proxy verifies gitmesh's TLS port (default gitmesh:15012)
             against the mesh trust bundle and the name it dials and, with --token (written
             0600), gets its certificates over SDS
  hosts      the names applications dial, at each service's loopback address (/etc/hosts lines)
             gitmesh hosts DIR [--namespace NS] [--format hosts|compose]
  validate   check a config directory: every problem with its file, line and column
             gitmesh validate DIR [--format text|json|github] [--root-namespace NS]
                                  [--cluster-domain DOMAIN] [--follow-external-links]
             exit 0 when there are no errors, 1 when there are, 2 on usage errors
${CA_USAGE}

  gitmesh <command> --help shows this text.`;

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

const NAMING_OPTIONS = {
  "root-namespace": { type: "string", default: DEFAULT_NAMING.rootNamespace },
  "cluster-domain": { type: "string", default: DEFAULT_NAMING.clusterDomain },
  // No default here: serve takes the one its state directory recorded (src/ca/trust-domain.ts).
  "trust-domain": { type: "string" },
} as const;

function namingFrom(values: { "root-namespace": string; "cluster-domain": string; "trust-domain"?: string | undefined }): MeshNaming {
  return { rootNamespace: values["root-namespace"], clusterDomain: values["cluster-domain"], trustDomain: values["trust-domain"] ?? DEFAULT_NAMING.trustDomain };
}

/** Exit codes: 0 done, 1 failed (or config errors), 2 usage error. */
async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  try {
    switch (command) {
      case "serve":
        return await runServe(rest);
      case "validate":
        return await runValidate(rest);
      case "render":
        return await runRender(rest);
      case "bootstrap":
        return await runBootstrap(rest);
      case "hosts":
        return await runHosts(rest);
      case "ca":
        return await (await import("./ca-commands.js")).runCa(rest);
      case "token":
        return await (await import("./ca-commands.js")).runToken(rest);
      case "cert":
        return await (await import("./ca-commands.js")).runCert(rest);
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") === true) {
      console.error(`gitmesh: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
}

async function runValidate(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: { format: { type: "string", default: "text" }, "follow-external-links": { type: "boolean" }, ...NAMING_OPTIONS, help: { type: "boolean", short: "h" } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help === true) return help();
  const format = values.format as ReportFormat;
  if (!REPORT_FORMATS.includes(format)) throw new UsageError(`--format must be one of ${REPORT_FORMATS.join(", ")}`);
  const [dir, ...extra] = positionals;
  if (dir === undefined || extra.length > 0) throw new UsageError("validate takes exactly one directory");
  // Commands load their modules when run: validate in CI should not pay for gRPC and metrics.
  const { validate } = await import("./validate.js");
  return validate({ dir, format, naming: namingFrom(values), followExternalLinks: values["follow-external-links"] === true, out: (line) => console.log(line) });
}

async function runRender(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      namespace: { type: "string" },
      "service-account": { type: "string" },
      labels: { type: "string", default: "" },
      "workload-name": { type: "string" },
      "instance-ip": { type: "string" },
      "credentials-dir": { type: "string" },
      proxy: { type: "string", default: "grpc" },
      format: { type: "string", default: "yaml" },
      ...NAMING_OPTIONS,
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help === true) return help();
  const [dir, ...extra] = positionals;
  if (dir === undefined || extra.length > 0) throw new UsageError("render takes exactly one directory");
  if (values.namespace === undefined || values["service-account"] === undefined) throw new UsageError("render needs --namespace and --service-account");
  if (!["grpc", "sidecar", "gateway"].includes(values.proxy)) throw new UsageError("--proxy must be grpc, sidecar or gateway");
  if (values.format !== "yaml" && values.format !== "json") throw new UsageError("--format must be yaml or json");
  const labels = parseLabels(values.labels);
  const { render } = await import("./render.js");
  return render({
    dir,
    format: values.format,
    naming: namingFrom(values),
    ...(values["credentials-dir"] === undefined ? {} : { credentialsDir: values["credentials-dir"] }),
    proxy: {
      nodeId: "render",
      kind: values.proxy as "grpc",
      namespace: values.namespace,
      serviceAccount: values["service-account"],
      labels,
      ...(values["workload-name"] === undefined ? {} : { workloadName: values["workload-name"] }),
      instanceIps: values["instance-ip"] === undefined ? [] : [values["instance-ip"]],
    },
    out: (text) => console.log(text),
  });
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(",").filter((p) => p !== "")) {
    const [k, v, ...more] = pair.split("=");
    if (k === undefined || k === "" || v === undefined || more.length > 0) throw new UsageError(`--labels takes k=v,k=v; got "${pair}"`);
    labels[k] = v;
  }
  return labels;
}

async function runBootstrap(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      namespace: { type: "string" },
      "service-account": { type: "string" },
      proxy: { type: "string", default: "sidecar" },
      labels: { type: "string", default: "" },
      "workload-name": { type: "string" },
      "workload-group": { type: "string" },
      "instance-ip": { type: "string" },
      "node-id": { type: "string" },
      "xds-address": { type: "string" },
      "admin-port": { type: "string", default: "15000" },
      token: { type: "string" },
      "xds-ca-file": { type: "string" },
      "cert-dir": { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: false,
    strict: true,
  });
  if (values.help === true) return help();
  void positionals;
  const namespace = values.namespace;
  const serviceAccount = values["service-account"];
  if (namespace === undefined || serviceAccount === undefined) throw new UsageError("bootstrap needs --namespace and --service-account");
  if (!["grpc", "sidecar", "gateway"].includes(values.proxy)) throw new UsageError("--proxy must be sidecar, gateway or grpc");
  // The TLS port when the proxy can verify gitmesh (and so may be sent secrets), else plaintext.
  const xdsAddress = values["xds-address"] ?? (values["xds-ca-file"] === undefined ? "gitmesh:15010" : "gitmesh:15012");
  if (!/^.+:\d+$/.test(xdsAddress)) throw new UsageError(`--xds-address must be HOST:PORT, got "${xdsAddress}"`);
  if (values.token !== undefined && values.proxy === "grpc") throw new UsageError("--token is for Envoy bootstraps: a gRPC xDS bootstrap has no place for it (proxyless gRPC gets certificates from gitmesh cert issue's files, --cert-dir)");
  if (values.token !== undefined && values["xds-ca-file"] === undefined) {
    throw new UsageError("--token needs --xds-ca-file: a credential must not travel over a plaintext connection");
  }
  const adminPort = Number(values["admin-port"]);
  if (!(Number.isInteger(adminPort) && adminPort > 0 && adminPort < 65536)) throw new UsageError("--admin-port takes a port number");
  if (values["workload-name"] !== undefined && values["workload-group"] !== undefined) throw new UsageError("give --workload-name (a WorkloadEntry) or --workload-group (self-registration), not both");
  const workload = values["workload-name"] ?? values["workload-group"] ?? serviceAccount;
  const { bootstrapText, writeBootstrap } = await import("./bootstrap.js");
  const options: BootstrapOptions = {
    kind: values.proxy as "sidecar",
    // Replicas started from one file set their own id (Envoy: --service-node "$(hostname)").
    nodeId: values["node-id"] ?? `${values.proxy}~${workload}.${namespace}`,
    namespace,
    serviceAccount,
    labels: parseLabels(values.labels),
    ...(values["workload-name"] === undefined ? {} : { workloadName: values["workload-name"] }),
    ...(values["workload-group"] === undefined ? {} : { workloadGroup: values["workload-group"] }),
    ...(values["instance-ip"] === undefined ? {} : { instanceIps: [values["instance-ip"]] }),
    xdsAddress,
    adminPort,
    ...(values["xds-ca-file"] === undefined ? {} : { xdsCaFile: values["xds-ca-file"] }),
    ...(values["cert-dir"] === undefined ? {} : { certDir: values["cert-dir"] }),
    ...(values.token === undefined ? {} : { token: values.token }),
  };
  if (values.out === undefined) process.stdout.write(bootstrapText(options));
  else await writeBootstrap(values.out, options);
  return 0;
}

async function runHosts(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: { namespace: { type: "string" }, format: { type: "string", default: "hosts" }, ...NAMING_OPTIONS, help: { type: "boolean", short: "h" } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help === true) return help();
  const [dir, ...extra] = positionals;
  if (dir === undefined || extra.length > 0) throw new UsageError("hosts takes exactly one directory");
  if (values.format !== "hosts" && values.format !== "compose") throw new UsageError("--format must be hosts or compose");
  const { hosts } = await import("./hosts.js");
  return hosts({ dir, format: values.format, naming: namingFrom(values), ...(values.namespace === undefined ? {} : { namespace: values.namespace }), out: (l) => console.log(l) });
}

async function runServe(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      config: { type: "string" },
      "xds-address": { type: "string", default: "0.0.0.0:15010" },
      "xds-tls-address": { type: "string", default: "0.0.0.0:15012" },
      "xds-tls-name": { type: "string", multiple: true },
      "workload-key-type": { type: "string", default: "rsa" },
      "workload-cert-ttl": { type: "string", default: "24" },
      "admin-address": { type: "string", default: "127.0.0.1:15014" },
      "git-ref": { type: "string" },
      "git-poll": { type: "string" },
      "state-dir": { type: "string", default: ".gitmesh-state" },
      "credentials-dir": { type: "string" },
      "registration-grace": { type: "string", default: "10" },
      "resync-seconds": { type: "string", default: "10" },
      "follow-external-links": { type: "boolean" },
      ...NAMING_OPTIONS,
      "log-level": { type: "string", default: "info" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help === true) return help();
  if (positionals.length > 0) throw new UsageError(`serve takes no positional arguments (did you mean --config ${positionals[0]}?)`);
  const level = values["log-level"] as LogLevel;
  if (!LEVELS.includes(level)) throw new UsageError(`--log-level must be one of ${LEVELS.join(", ")}`);
  for (const flag of ["xds-address", "admin-address"] as const) {
    if (!/^.+:\d+$/.test(values[flag])) throw new UsageError(`--${flag} must be HOST:PORT, got "${values[flag]}"`);
  }
  const tlsAddress = values["xds-tls-address"];
  if (tlsAddress !== "off" && !/^.+:\d+$/.test(tlsAddress)) throw new UsageError(`--xds-tls-address must be HOST:PORT or off, got "${tlsAddress}"`);
  if (values["workload-key-type"] !== "rsa" && values["workload-key-type"] !== "ecdsa") throw new UsageError("--workload-key-type must be rsa or ecdsa");
  const certHours = Number(values["workload-cert-ttl"]);
  if (!(certHours >= 1 / 60 && certHours <= 24 * 90)) throw new UsageError("--workload-cert-ttl takes hours, from 0.0167 (one minute) to 2160");
  const pollSeconds = values["git-poll"] === undefined ? undefined : Number(values["git-poll"]);
  if (pollSeconds !== undefined && !(pollSeconds >= 1 && pollSeconds <= 86_400)) throw new UsageError("--git-poll takes a number of seconds from 1 to 86400");
  if (pollSeconds !== undefined && values["git-ref"] !== undefined) throw new UsageError("--git-poll follows the upstream branch; it cannot be combined with --git-ref");
  const resync = Number(values["resync-seconds"]);
  if (!(resync >= 0.1 && resync <= 3600)) throw new UsageError("--resync-seconds takes a number of seconds from 0.1 to 3600");
  const grace = Number(values["registration-grace"]);
  if (!(grace >= 0 && grace <= 3600)) throw new UsageError("--registration-grace takes a number of seconds from 0 to 3600");
  if (values.config !== undefined) {
    const info = await stat(values.config).catch(() => undefined);
    if (info === undefined || !info.isDirectory()) throw new UsageError(`--config ${values.config} is not a directory`);
  }
  const options: ServeOptions = {
    xdsAddress: values["xds-address"],
    adminAddress: values["admin-address"],
    logger: createLogger({ level }),
    ...(values.config === undefined ? {} : { configDir: values.config }),
    ...(values["git-ref"] === undefined ? {} : { gitRef: values["git-ref"] }),
    ...(pollSeconds === undefined ? {} : { gitPollSeconds: pollSeconds }),
    stateDir: values["state-dir"],
    naming: namingFrom(values),
    ...(values["trust-domain"] === undefined ? {} : { trustDomain: values["trust-domain"] }),
    ...(values["credentials-dir"] === undefined ? {} : { credentialsDir: values["credentials-dir"] }),
    registrationGraceSeconds: grace,
    resyncSeconds: resync,
    ...(values["follow-external-links"] === true ? { followExternalLinks: true } : {}),
    ...(tlsAddress === "off" ? {} : { xdsTlsAddress: tlsAddress }),
    workloadKeyType: values["workload-key-type"],
    workloadCertLifetimeMs: certHours * 3600_000,
    ...(values["xds-tls-name"] === undefined ? {} : { xdsTlsNames: values["xds-tls-name"] }),
  };
  return runUntilSignal(options);
}

async function runUntilSignal(options: ServeOptions): Promise<number> {
  const { logger } = options;
  let running;
  try {
    const { serve } = await import("../runtime/index.js");
    running = await serve(options);
  } catch (e) {
    logger.error("could not start", { error: (e as Error).message });
    return 1;
  }
  const serving = running;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn("second signal: exiting without waiting for streams", { signal });
        resolve(1);
        return;
      }
      stopping = true;
      logger.info("stopping", { signal });
      serving.stop().then(
        () => resolve(0),
        (e: unknown) => {
          logger.error("shutdown failed", { error: (e as Error).message });
          resolve(1);
        },
      );
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
}

function help(): number {
  console.log(USAGE);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error("gitmesh: bug:", e);
    process.exit(1);
  },
);
