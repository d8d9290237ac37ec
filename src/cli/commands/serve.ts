// `gitmesh serve`: the control plane, until SIGTERM or SIGINT.
import { stat } from "node:fs/promises";
import { createLogger, type LogLevel } from "../../log.js";
import type { ServeOptions } from "../../runtime/index.js";
import { parseAccessLog } from "../../translators/access-log-setting.js";
import { hostPort, parseCommand, UsageError, type Command } from "../usage.js";
import { NAMING_OPTIONS, namingFrom } from "./naming.js";

const synopsis = "gitmesh serve --config DIR [options]";
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

export const serveCommand: Command = {
  name: "serve",
  summary: "serve xDS and SDS to Envoy proxies and proxyless gRPC applications",
  synopsis,
  help: `usage: ${synopsis}

Serves the mesh config in DIR over xDS and follows it: a change is validated, translated and
pushed within a second; a config with errors is refused and the last good one kept serving.
Runs until SIGTERM or SIGINT. As a service: contrib/systemd/gitmesh.service (docs/running.md).

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
  --admin-address HOST:PORT health, readiness, metrics, status page, debug (default
                            127.0.0.1:15014)
  --access-log stdout|PATH  Envoy access logs for every sidecar and gateway, one JSON line
                            per request or TCP connection: to Envoy's stdout, or to PATH
                            (absolute) on each proxy's host (default off)
  --git-ref REF             serve exactly this committed ref of the config repo
  --git-poll SECONDS        fetch the remote branch every SECONDS and follow it
  --state-dir DIR           state kept across restarts: the last good config and the mesh
                            CA (default .gitmesh-state)
  --credentials-dir DIR     gateway TLS certificates, NAME/tls.crt and NAME/tls.key
                            (and NAME/ca.crt for MUTUAL), served over SDS
  --registration-grace S    seconds a self-registered workload (WORKLOAD_GROUP)
                            stays an endpoint after its stream ends (default 10)
  --follow-external-links   follow symbolic links that lead outside the config directory
                            (off: such a link is an error, GM0006)
  --resync-seconds S        how often to read again what file events may miss: the
                            config tree, CA rotation steps, token revocations and the
                            credentials directory (default 10)
  --root-namespace NS       namespace of mesh-wide policy (default istio-system)
  --cluster-domain DOMAIN   short hosts expand to NAME.NS.svc.DOMAIN (default cluster.local)
  --log-level LEVEL         debug, info, warn or error (default info)`,
  async run(args) {
    const { values, positionals } = parseCommand(args, {
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
      "access-log": { type: "string" },
      ...NAMING_OPTIONS,
      "log-level": { type: "string", default: "info" },
    });
    if (positionals.length > 0) throw new UsageError(`serve takes no positional arguments (did you mean --config ${positionals[0]}?)`);
    const level = logLevelOf(values["log-level"]);
    for (const flag of ["xds-address", "admin-address"] as const) hostPort(flag, values[flag]);
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
    const accessLog = values["access-log"] === undefined ? undefined : parseAccessLog(values["access-log"]);
    if (typeof accessLog === "string") throw new UsageError(accessLog);
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
      ...(accessLog === undefined ? {} : { accessLog }),
    };
    return runUntilSignal(options);
  },
};

/** --log-level's value, or a usage error. */
export function logLevelOf(text: string): LogLevel {
  if (!LOG_LEVELS.includes(text as LogLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`);
  return text as LogLevel;
}

async function runUntilSignal(options: ServeOptions): Promise<number> {
  const { logger } = options;
  let running;
  try {
    const { serve } = await import("../../runtime/index.js");
    running = await serve(options);
  } catch (e) {
    logger.error("could not start", { error: (e as Error).message });
    return 1;
  }
  const serving = running;
  return untilSignal(logger, () => serving.stop());
}

/**
 * Resolves with the exit code once SIGTERM or SIGINT has stopped `stop`: 0 when it stopped, 1 when
 * it failed, or at once with 1 on a second signal (stop is then abandoned).
 */
export function untilSignal(logger: ReturnType<typeof createLogger>, stop: () => Promise<void>): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn("second signal: exiting without waiting", { signal });
        resolve(1);
        return;
      }
      stopping = true;
      logger.info("stopping", { signal });
      stop().then(
        () => resolve(0),
        (e: unknown) => {
          logger.error("shutdown failed", { error: (e as Error).message });
          resolve(1);
        },
      );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}
