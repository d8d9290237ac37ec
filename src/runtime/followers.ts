// What the running control plane follows besides proxies: the config (a watched working tree, or
// a polled upstream branch), the CA state that `gitmesh ca rotate` writes, and the gateway
// credentials directory. Each returns a stop function; none outlives the server.
import { status as grpcStatus } from "@grpc/grpc-js";
import { formatProblem, issuer, openCa } from "../ca/index.js";
import { every } from "../common/timers.js";
import { readCredentials } from "../config/credentials.js";
import { GitPoller, headFilesOf } from "../config/git.js";
import type { ConfigReloader } from "../config/reloader.js";
import { watchDirectory, watchGitHead } from "../config/watch.js";
import type { Logger } from "../log.js";
import type { XdsServer } from "../xds/index.js";
import type { MeshPusher } from "./push.js";
import { writeTrustBundle, type Secure } from "./secure.js";
import type { WorkloadSecrets } from "./workload-secrets.js";

export type Stop = () => Promise<void> | void;

/**
 * Picks up root rotation steps (gitmesh ca rotate writes them to the state directory): at every
 * resync the saved CA is read again, and a changed rotation is handed to the workload secrets.
 */
export function followCa(stateDir: string, secure: Secure, secrets: WorkloadSecrets, logger: Logger, everySeconds: number): Stop {
  let current = secure.ca;
  let seen = JSON.stringify(current.rotation);
  let checking = false;
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
  const timer = every(everySeconds * 1000, () => {
    if (checking) return;
    checking = true;
    check()
      .catch((e: unknown) => logger.error("bug: reading the mesh CA failed", { error: String(e) }))
      .finally(() => (checking = false));
  });
  return () => timer.cancel();
}

/**
 * Reads the token revocations again at every resync (`gitmesh token revoke` writes them): the
 * open streams of a newly revoked token are closed, and its proxies' certificates dropped with
 * them. New streams are checked against the list at once (secure.ts).
 */
export function followRevocations(secure: Secure, xds: XdsServer, logger: Logger, everySeconds: number): Stop {
  let reading = false;
  const timer = every(everySeconds * 1000, () => {
    if (reading) return;
    reading = true;
    secure.revocations
      .reload()
      .then((r) => {
        if (!r.ok) {
          logger.error("cannot read the token revocations; the last list read stays in force", { problem: formatProblem(r.problem) });
          return;
        }
        if (r.added.length === 0) return;
        const revoked = new Set(r.added);
        const closed = xds.closeStreams((id) => id.tokenId !== undefined && revoked.has(id.tokenId), grpcStatus.UNAUTHENTICATED, "the credential was revoked (gitmesh token revoke); issue a new one with gitmesh token issue");
        logger.warn("tokens revoked; their streams closed", { tokens: r.added.join(","), closedStreams: closed });
      })
      .catch((e: unknown) => logger.error("bug: reading the token revocations failed", { error: String(e) }))
      .finally(() => (reading = false));
  });
  return () => timer.cancel();
}

/** Reads the credentials directory now and at every resync; pushes when what it holds changed. */
export async function followCredentials(dir: string, pusher: MeshPusher, logger: Logger, everySeconds: number): Promise<Stop> {
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
  const timer = every(everySeconds * 1000, () => {
    refresh().catch((e: unknown) => logger.error("bug: reading credentials failed", { error: String(e) }));
  });
  return () => timer.cancel();
}

export interface FollowConfigOptions {
  readonly dir: string;
  readonly reloader: ConfigReloader;
  readonly logger: Logger;
  readonly resyncSeconds: number;
  /** Serve exactly this ref: nothing to follow. */
  readonly gitRef?: string;
  /** Follow the upstream branch, fetched every so many seconds. */
  readonly poll?: { readonly everySeconds: number; readonly remote: string; readonly branch: string; readonly since: string };
  /** Told of each poll's fetch: succeeded, or failed (metrics). */
  readonly pollEvents?: { fetched(): void; failed(): void };
}

/** Keeps the reloader following the config: the working tree, or the upstream branch. */
export async function followConfig(o: FollowConfigOptions): Promise<Stop> {
  const { reloader, logger } = o;
  if (o.poll !== undefined) {
    const poller = new GitPoller({
      dir: o.dir,
      remote: o.poll.remote,
      branch: o.poll.branch,
      intervalSeconds: o.poll.everySeconds,
      since: o.poll.since,
      onCommit: async (commit) => void (await reloader.reload(commit)),
      onError: (error) => {
        o.pollEvents?.failed();
        logger.warn("git poll failed; trying again", { error });
      },
      ...(o.pollEvents === undefined ? {} : { onFetched: () => o.pollEvents?.fetched() }),
    });
    poller.start();
    logger.info("following the upstream branch", { remote: o.poll.remote, branch: o.poll.branch, everySeconds: o.poll.everySeconds });
    return () => poller.stop();
  }
  if (o.gitRef !== undefined) return () => {};
  const reload = () => {
    reloader.reload().catch((e: unknown) => logger.error("bug: reload failed", { error: String(e) }));
  };
  const watcher = watchDirectory(o.dir, { onChange: reload, logger });
  await watcher.ready;
  const resyncNow = () => {
    reloader.resync().catch((e: unknown) => logger.error("bug: resync failed", { error: String(e) }));
  };
  // A commit of files already saved changes nothing in the tree: git's HEAD and branches are
  // watched too, so the served config is named by its commit at once.
  const heads = await headFilesOf(o.dir);
  const headWatch = heads === undefined ? undefined : watchGitHead(heads, { onChange: resyncNow, logger });
  await headWatch?.ready;
  // Changes between the first load and the watchers being ready, and anything they miss (a
  // replaced directory), are caught by a periodic resync.
  const resync = every(o.resyncSeconds * 1000, resyncNow);
  resyncNow();
  return async () => {
    resync.cancel();
    await headWatch?.close();
    await watcher.close();
  };
}
