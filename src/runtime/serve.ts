import { createMetrics, startAdminServer, type Readiness } from "../admin/index.js";
import type { Severity } from "../config/diagnostics.js";
import { readCredentials } from "../config/credentials.js";
import { GitPoller, upstreamCommit } from "../config/git.js";
import { ConfigReloader, type ReloadRecord } from "../config/reloader.js";
import type { MeshNaming } from "../config/resources.js";
import { watchDirectory } from "../config/watch.js";
import type { Logger } from "../log.js";
import { DEFAULT_TRUST_DOMAIN, issuer, openCa, type KeyType } from "../ca/index.js";
import { MeshPusher } from "./push.js";
import { openRegistrations } from "./registrations.js";
import { openSecure, writeTrustBundle, type Secure } from "./secure.js";
import { WorkloadSecrets } from "./workload-secrets.js";
import { ADS_ORDER, SnapshotCache, XdsServer } from "../xds/index.js";

export interface ServeOptions {
  readonly xdsAddress: string;
  readonly adminAddress: string;
  readonly logger: Logger;
  /** The mesh config directory; without it gitmesh serves xDS with nothing in it. */
  readonly configDir?: string;
  /** Serve exactly this committed ref. */
  readonly gitRef?: string;
  /** Fetch the checkout's upstream branch every so many seconds and follow it. */
  readonly gitPollSeconds?: number;
  /** Where gitmesh keeps state across restarts (the last good config; later the CA). */
  readonly stateDir?: string;
  /** Root namespace and cluster domain (Istio's defaults when absent). */
  readonly naming?: MeshNaming;
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
  /** SPIFFE trust domain of workload identities (default cluster.local). */
  readonly trustDomain?: string;
  /** Workload keys: rsa (default) or ecdsa. */
  readonly workloadKeyType?: KeyType;
  readonly workloadCertLifetimeMs?: number;
  /** Names and addresses proxies use for the TLS port (its certificate's SANs). */
  readonly xdsTlsNames?: readonly string[];
}

/** A running `gitmesh serve`. */
export interface Serving {
  readonly xdsPort: number;
  /** The TLS xDS port, when it runs. */
  readonly xdsTlsPort?: number;
  readonly adminPort: number;
  stop(): Promise<void>;
}

export async function serve(options: ServeOptions): Promise<Serving> {
  const { logger } = options;
  const cache = new SnapshotCache();
  const secure =
    options.xdsTlsAddress === undefined || options.stateDir === undefined
      ? undefined
      : await openSecure({ stateDir: options.stateDir, trustDomain: options.trustDomain ?? DEFAULT_TRUST_DOMAIN, logger, ...(options.xdsTlsNames === undefined ? {} : { serverNames: options.xdsTlsNames }) });
  const stops: (() => Promise<void> | void)[] = [];
  const secrets =
    secure === undefined
      ? undefined
      : new WorkloadSecrets({
          ca: secure.ca,
          trustDomain: options.trustDomain ?? DEFAULT_TRUST_DOMAIN,
          keyType: options.workloadKeyType ?? "rsa",
          ...(options.workloadCertLifetimeMs === undefined ? {} : { lifetimeMs: options.workloadCertLifetimeMs }),
          logger,
          onChange: (proxy) => pusher.refresh(proxy),
        });
  const registrations = options.stateDir === undefined ? undefined : await openRegistrations(options.stateDir, logger);
  const pusher: MeshPusher = new MeshPusher(cache, logger, {
    ...(options.registrationGraceSeconds === undefined ? {} : { registrationGraceMs: options.registrationGraceSeconds * 1000 }),
    ...(secrets === undefined ? {} : { secrets }),
    ...(registrations === undefined ? {} : { restored: registrations.restored, onRegistrations: (r) => registrations.save(r) }),
  });
  // Metrics read the server's status, and the server reports NACKs to metrics.
  const xds: XdsServer = new XdsServer({
    source: cache,
    logger,
    onNack: (r) => metrics.nacked(r.type),
    ...pusher.serverHooks(),
  });
  if (secrets !== undefined && secure !== undefined && options.stateDir !== undefined) stops.push(followCa(options.stateDir, secure, secrets, logger, options.resyncSeconds ?? 10), () => secure.close());
  const metrics = createMetrics(xds.status);
  stops.push(() => pusher.close(), () => secrets?.close());
  if (options.credentialsDir !== undefined) stops.push(await followCredentials(options.credentialsDir, pusher, logger, options.resyncSeconds ?? 10));

  const reloader =
    options.configDir === undefined
      ? undefined
      : new ConfigReloader({
          dir: options.configDir,
          ...(options.gitRef === undefined ? {} : { gitRef: options.gitRef }),
          ...(options.stateDir === undefined ? {} : { stateDir: options.stateDir }),
          ...(options.naming === undefined ? {} : { naming: options.naming }),
          logger,
          onModel: (served) => pusher.setModel(served.model),
          onReload: (r: ReloadRecord) => metrics.configReloaded(r.outcome, countBySeverity(r), r.source),
        });
  if (reloader !== undefined && options.configDir !== undefined) {
    // Following a branch starts from its upstream commit, not from whatever the checkout holds.
    const upstream = options.gitPollSeconds === undefined ? undefined : await upstreamCommit(options.configDir);
    if (upstream !== undefined && !upstream.ok) throw new Error(`--git-poll needs a branch with a reachable upstream: ${upstream.error}`);
    const first = await reloader.reload(upstream?.commit);
    // A ref that cannot be read will not start working by itself: say so and stop.
    if (first.outcome === "error" && options.gitRef !== undefined) throw new Error(first.error ?? "cannot read the config");
    if (first.outcome !== "ok") await reloader.restoreLastGood();
    stops.push(await follow(options.configDir, options, reloader, logger, upstream));
  }

  const xdsPort = await xds.listen(options.xdsAddress);
  const xdsTlsPort = secure === undefined || options.xdsTlsAddress === undefined ? undefined : await xds.listen(options.xdsTlsAddress, secure.credentials, secure.policy);
  stops.push(() => xds.shutdown());
  const admin = await startAdminServer({
    address: options.adminAddress,
    status: xds.status,
    registry: metrics.registry,
    logger,
    readiness: (): Readiness => {
      if (reloader !== undefined && reloader.current === undefined) return { ready: false, reasons: ["no valid config loaded yet: see /debug/config"] };
      return { ready: true };
    },
    config: () => debugConfig(reloader),
  });
  stops.push(() => admin.close());

  const served = reloader?.current;
  logger.info("gitmesh serving", {
    xds: `${hostOf(options.xdsAddress)}:${xdsPort}`,
    xdsTls: xdsTlsPort === undefined || options.xdsTlsAddress === undefined ? "off" : `${hostOf(options.xdsTlsAddress)}:${xdsTlsPort}`,
    admin: admin.address,
    types: ADS_ORDER.map((k) => k.short).join(","),
    config: options.configDir ?? "none",
    commit: served?.source.commit,
    resources: served?.model.resources.length,
  });
  return {
    xdsPort,
    ...(xdsTlsPort === undefined ? {} : { xdsTlsPort }),
    adminPort: admin.port,
    async stop() {
      const streams = xds.streamCount;
      for (const stop of stops.reverse()) await stop();
      logger.info("gitmesh stopped", { closedStreams: streams });
    },
  };
}

/**
 * Picks up root rotation steps (gitmesh ca rotate writes them to the state directory): at every
 * resync the saved CA is read again, and a changed rotation is handed to the workload secrets.
 */
function followCa(stateDir: string, secure: Secure, secrets: WorkloadSecrets, logger: Logger, everySeconds: number): () => void {
  let current = secure.ca;
  let seen = JSON.stringify(current.rotation);
  const check = async () => {
    const opened = await openCa(stateDir);
    if (!opened.ok || opened.ca === undefined) {
      logger.error("cannot read the mesh CA; keeping the one in use", { stateDir, problems: opened.ok ? "none saved" : opened.problems.map((p) => p.message).join("; ") });
      return;
    }
    const now = JSON.stringify(opened.ca.rotation);
    if (now === seen) return;
    seen = now;
    await writeTrustBundle(stateDir, opened.ca);
    logger.info("mesh CA rotation step applied", { rotation: now });
    secrets.setCa(opened.ca);
    // The TLS port moves to the new issuer with the workloads, before the old root is dropped.
    if (issuer(opened.ca).id !== issuer(current).id) await secure.reissue(opened.ca);
    current = opened.ca;
  };
  const timer = setInterval(() => {
    check().catch((e: unknown) => logger.error("bug: reading the mesh CA failed", { error: String(e) }));
  }, everySeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}

/** Reads the credentials directory now and at every resync; pushes when what it holds changed. */
async function followCredentials(dir: string, pusher: MeshPusher, logger: Logger, everySeconds: number): Promise<() => void> {
  let last = "";
  let lastProblems = "";
  const refresh = async () => {
    const read = await readCredentials(dir);
    const problems = read.problems.join("\n");
    if (problems !== lastProblems) for (const p of read.problems) logger.warn("gateway credential not served", { problem: p });
    lastProblems = problems;
    const fingerprint = JSON.stringify([...read.credentials]);
    if (fingerprint === last) return;
    last = fingerprint;
    logger.info("gateway credentials read", { dir, credentials: [...read.credentials.keys()].join(",") });
    pusher.setCredentials(read.credentials);
  };
  await refresh();
  const timer = setInterval(() => {
    refresh().catch((e: unknown) => logger.error("bug: reading credentials failed", { error: String(e) }));
  }, everySeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}

/** Keeps the reloader following the config: the working tree, or the upstream branch. */
async function follow(
  dir: string,
  options: ServeOptions,
  reloader: ConfigReloader,
  logger: Logger,
  upstream: { remote: string; branch: string; commit: string } | undefined,
): Promise<() => Promise<void> | void> {
  if (options.gitPollSeconds !== undefined && upstream !== undefined) {
    const poller = new GitPoller({
      dir,
      remote: upstream.remote,
      branch: upstream.branch,
      intervalSeconds: options.gitPollSeconds,
      since: upstream.commit,
      onCommit: async (commit) => void (await reloader.reload(commit)),
      onError: (error) => logger.warn("git poll failed; trying again", { error }),
    });
    poller.start();
    logger.info("following the upstream branch", { remote: upstream.remote, branch: upstream.branch, everySeconds: options.gitPollSeconds });
    return () => poller.stop();
  }
  if (options.gitRef !== undefined) return () => {};
  const reload = () => {
    reloader.reload().catch((e: unknown) => logger.error("bug: reload failed", { error: String(e) }));
  };
  const watcher = watchDirectory(dir, { onChange: reload, logger });
  await watcher.ready;
  // Changes between the first load and the watcher being ready, and anything the watcher misses
  // (a replaced directory, a commit that touches no file), are caught by a periodic resync.
  const resync = setInterval(() => {
    reloader.resync().catch((e: unknown) => logger.error("bug: resync failed", { error: String(e) }));
  }, (options.resyncSeconds ?? 10) * 1000);
  resync.unref();
  void reloader.resync();
  return async () => {
    clearInterval(resync);
    await watcher.close();
  };
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
