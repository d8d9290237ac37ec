// `gitmesh serve`: the composition root of the running control plane. Every part is built in the
// order it depends on the others (identity settings, the CA, secrets, the pusher, the xDS server,
// the followers, the config, the ports, the admin server); when a step fails, what was started
// before it is stopped again, and stop() stops everything in the reverse order, the reloader
// included, so no reload still in flight pushes after stop.
import { createMetrics, startAdminServer, type Readiness } from "../admin/index.js";
import type { KeyType } from "../ca/index.js";
import type { Severity } from "../config/diagnostics.js";
import { upstreamCommit } from "../config/git.js";
import { ConfigReloader, type ReloadRecord } from "../config/reloader.js";
import { DEFAULT_NAMING, type MeshNaming } from "../config/resources.js";
import type { Logger } from "../log.js";
import { ADS_ORDER, SnapshotCache, XdsServer, XdsStatus } from "../xds/index.js";
import { followCa, followConfig, followCredentials, followRevocations, type Stop } from "./followers.js";
import { settleTrustDomain } from "../ca/index.js";
import { AccessLogging, type AccessLogSetting } from "../translators/access-log.js";
import { lookedUpHosts } from "../translators/services.js";
import { DnsResolution } from "./dns-resolution.js";
import { Observation } from "./observe.js";
import { MeshPusher } from "./push.js";
import { openRegistrations } from "./registration-store.js";
import { openSecure } from "./secure.js";
import { WorkloadSecrets } from "./workload-secrets.js";

export interface ServeOptions {
  readonly xdsAddress: string;
  readonly adminAddress: string;
  readonly logger: Logger;
  /** The mesh config directory; without it gitmesh serves xDS with nothing in it. */
  readonly configDir?: string;
  /** Follow symbolic links in the config directory that lead outside it (off by default). */
  readonly followExternalLinks?: boolean;
  /** Serve exactly this committed ref. */
  readonly gitRef?: string;
  /** Fetch the checkout's upstream branch every so many seconds and follow it. */
  readonly gitPollSeconds?: number;
  /** Where gitmesh keeps state across restarts: the last good config, the mesh CA, its trust domain. */
  readonly stateDir?: string;
  /** Root namespace and cluster domain (Istio's defaults when absent); its trust domain is decided below. */
  readonly naming?: MeshNaming;
  /**
   * The mesh's trust domain (--trust-domain): with a state directory, the one it recorded, which
   * this must equal when given; recorded on first start.
   */
  readonly trustDomain?: string;
  /** How often to check for changes the watcher missed (default 10 s). */
  readonly resyncSeconds?: number;
  /** Gateway certificates: NAME/tls.crt, NAME/tls.key (and ca.crt), read again at every resync. */
  readonly credentialsDir?: string;
  /** How long a self-registered workload stays an endpoint after its stream ends (default 10 s). */
  readonly registrationGraceSeconds?: number;
  /**
   * The TLS xDS port, where streams authenticate and secrets are served (needs stateDir, which
   * holds the mesh CA). Without it only the plaintext port runs, and no secret is served.
   */
  readonly xdsTlsAddress?: string;
  /** Workload keys: rsa (default) or ecdsa. */
  readonly workloadKeyType?: KeyType;
  readonly workloadCertLifetimeMs?: number;
  /** Names and addresses proxies use for the TLS port (its certificate's SANs). */
  readonly xdsTlsNames?: readonly string[];
  /** Envoy access logging, mesh-wide (sidecars and gateways): their stdout or a file on their host. */
  readonly accessLog?: AccessLogSetting;
}

/** A running `gitmesh serve`. */
export interface Serving {
  readonly xdsPort: number;
  /** The TLS xDS port, when it runs. */
  readonly xdsTlsPort?: number;
  readonly adminPort: number;
  stop(): Promise<void>;
}

/** What was started, stopped in the reverse order. */
class Started {
  private readonly stops: Stop[] = [];
  private stopping: Promise<void> | undefined;

  constructor(private readonly logger: Logger) {}

  add(stop: Stop): void {
    this.stops.push(stop);
  }

  /** Stops everything once, newest first; a failing stop is logged and the rest still run. */
  stopAll(): Promise<void> {
    this.stopping ??= (async () => {
      for (const stop of this.stops.reverse()) {
        try {
          await stop();
        } catch (e) {
          this.logger.error("stopping a part of gitmesh failed", { error: (e as Error).message });
        }
      }
    })();
    return this.stopping;
  }
}

export async function serve(options: ServeOptions): Promise<Serving> {
  const { logger } = options;
  const resyncSeconds = options.resyncSeconds ?? 10;
  const started = new Started(logger);
  try {
    // The mesh's one identity setting, checked against the mesh the state directory holds.
    let trustDomain = options.trustDomain ?? DEFAULT_NAMING.trustDomain;
    if (options.stateDir !== undefined) {
      const settled = await settleTrustDomain(options.stateDir, options.trustDomain);
      if (!settled.ok) throw new Error(settled.error);
      trustDomain = settled.trustDomain;
    }
    const naming: MeshNaming = { ...(options.naming ?? DEFAULT_NAMING), trustDomain };

    // The CA, the TLS port's identity and its credential checks.
    const tls = options.xdsTlsAddress !== undefined && options.stateDir !== undefined ? { address: options.xdsTlsAddress, stateDir: options.stateDir } : undefined;
    const secure =
      tls === undefined
        ? undefined
        : await openSecure({ stateDir: tls.stateDir, trustDomain: naming.trustDomain, logger, ...(options.xdsTlsNames === undefined ? {} : { serverNames: options.xdsTlsNames }) });
    if (secure !== undefined) started.add(() => secure.close());
    const secrets =
      secure === undefined
        ? undefined
        : new WorkloadSecrets({
            ca: secure.ca,
            trustDomain: naming.trustDomain,
            keyType: options.workloadKeyType ?? "rsa",
            ...(options.workloadCertLifetimeMs === undefined ? {} : { lifetimeMs: options.workloadCertLifetimeMs }),
            logger,
          });
    if (secrets !== undefined) started.add(() => secrets.close());

    // Translation and push.
    const cache = new SnapshotCache();
    const registrations = options.stateDir === undefined ? undefined : await openRegistrations(options.stateDir, logger);
    const pusher = new MeshPusher(cache, logger, {
      ...(options.registrationGraceSeconds === undefined ? {} : { registrationGraceMs: options.registrationGraceSeconds * 1000 }),
      ...(secrets === undefined ? {} : { secrets }),
      ...(registrations === undefined ? {} : { restored: registrations.restored, onRegistrations: (r) => registrations.save(r) }),
      ...(options.accessLog === undefined ? {} : { accessLog: new AccessLogging(options.accessLog) }),
    });
    started.add(() => pusher.close());
    // The hosts gitmesh resolves itself (dns-resolution.ts): stopped before the pusher.
    const dns = new DnsResolution({ logger, onChange: (answers) => void pusher.setDnsAnswers(answers) });
    started.add(() => dns.close());

    // The xDS server and what reads its status.
    const status = new XdsStatus();
    const metrics = createMetrics(status);
    const observation = new Observation({
      cache,
      status,
      registry: metrics.registry,
      registeredWorkloads: () => pusher.registrationStatus.registered.length,
      ...(secrets === undefined ? {} : { secrets }),
      ...(secure === undefined ? {} : { secure }),
    });
    const xds = new XdsServer({ source: observation.source, logger, status, onNack: (r) => metrics.nacked(r.type), ...pusher.serverHooks() });

    // Followers of the CA state and the credentials directory.
    if (secure !== undefined && secrets !== undefined && tls !== undefined) {
      started.add(followCa(tls.stateDir, secure, secrets, logger, resyncSeconds));
      started.add(followRevocations(secure, xds, logger, resyncSeconds));
    }
    if (options.credentialsDir !== undefined) started.add(await followCredentials(options.credentialsDir, pusher, logger, resyncSeconds));

    // The config: loaded once before the ports open, then followed.
    let reloader: ConfigReloader | undefined;
    if (options.configDir !== undefined) {
      const configDir = options.configDir;
      const loader = new ConfigReloader({
        dir: configDir,
        ...(options.gitRef === undefined ? {} : { gitRef: options.gitRef }),
        ...(options.stateDir === undefined ? {} : { stateDir: options.stateDir }),
        naming,
        logger,
        ...(options.followExternalLinks === true ? { read: { followExternalLinks: true } } : {}),
        onModel: (served) => {
          dns.setHosts(lookedUpHosts(served.model));
          return observation.apply(served.source, () => pusher.setModel(served.model), () => pusher.settled());
        },
        onReload: (r: ReloadRecord) => metrics.configReloaded(r.outcome, countBySeverity(r), r.source),
      });
      reloader = loader;
      started.add(() => loader.stop());
      // Following a branch starts from its upstream commit, not from whatever the checkout holds.
      const upstream = options.gitPollSeconds === undefined ? undefined : await upstreamCommit(configDir);
      if (upstream !== undefined && !upstream.ok) throw new Error(`--git-poll needs a branch with a reachable upstream: ${upstream.error}`);
      const first = await loader.reload(upstream?.commit);
      // A ref that cannot be read will not start working by itself: say so and stop.
      if (first.outcome === "error" && options.gitRef !== undefined) throw new Error(first.error ?? "cannot read the config");
      if (first.outcome !== "ok") await loader.restoreLastGood();
      started.add(
        await followConfig({
          dir: configDir,
          reloader: loader,
          logger,
          resyncSeconds,
          pollEvents: observation.pollEvents,
          ...(options.gitRef === undefined ? {} : { gitRef: options.gitRef }),
          ...(upstream === undefined || options.gitPollSeconds === undefined ? {} : { poll: { everySeconds: options.gitPollSeconds, remote: upstream.remote, branch: upstream.branch, since: upstream.commit } }),
        }),
      );
    }

    // The ports.
    started.add(() => xds.shutdown());
    const xdsPort = await xds.listen(options.xdsAddress);
    const xdsTlsPort = secure === undefined || tls === undefined ? undefined : await xds.listen(tls.address, secure.credentials, observation.counted(secure.policy));
    const admin = await startAdminServer({
      address: options.adminAddress,
      status,
      registry: metrics.registry,
      logger,
      readiness: (): Readiness => {
        if (reloader !== undefined && reloader.current === undefined) return { ready: false, reasons: ["no valid config loaded yet: see /debug/config"] };
        return { ready: true };
      },
      config: () => debugConfig(reloader),
      routes: observation.routes(xds, () => reloader?.last),
      proxies: () => ({ notices: pusher.notices.all(), registrations: pusher.registrationStatus, certificates: secrets?.describe() ?? [] }),
    });
    started.add(() => admin.close());

    const served = reloader?.current;
    logger.info("gitmesh serving", {
      xds: `${hostOf(options.xdsAddress)}:${xdsPort}`,
      xdsTls: xdsTlsPort === undefined || tls === undefined ? "off" : `${hostOf(tls.address)}:${xdsTlsPort}`,
      admin: admin.address,
      types: ADS_ORDER.map((k) => k.short).join(","),
      config: options.configDir ?? "none",
      commit: served?.source.commit,
      resources: served?.model.resources.length,
      trustDomain: naming.trustDomain,
    });
    return {
      xdsPort,
      ...(xdsTlsPort === undefined ? {} : { xdsTlsPort }),
      adminPort: admin.port,
      async stop() {
        const streams = xds.streamCount;
        await started.stopAll();
        logger.info("gitmesh stopped", { closedStreams: streams });
      },
    };
  } catch (e) {
    await started.stopAll();
    throw e;
  }
}

function countBySeverity(r: ReloadRecord): Partial<Record<Severity, number>> {
  const counts: Partial<Record<Severity, number>> = {};
  for (const d of r.diagnostics) counts[d.severity] = (counts[d.severity] ?? 0) + 1;
  return counts;
}

function debugConfig(reloader: ConfigReloader | undefined): unknown {
  if (reloader === undefined) return { config: "none: gitmesh serve was started without --config" };
  const current = reloader.current;
  const last = reloader.last;
  return {
    serving:
      current === undefined
        ? null
        : {
            source: current.source,
            loadedAt: new Date(current.loadedAt).toISOString(),
            files: current.model.files,
            resources: current.model.resources.map((r) => `${r.kind} ${r.namespace}/${r.name} (${r.source.file})`),
            warnings: current.diagnostics,
          },
    lastReload:
      last === undefined
        ? null
        : { at: new Date(last.at).toISOString(), outcome: last.outcome, source: last.source, error: last.error, diagnostics: last.diagnostics },
  };
}

function hostOf(address: string): string {
  return address.slice(0, address.lastIndexOf(":"));
}
