import type { Logger } from "../log.js";
import { isError, type Diagnostic } from "./diagnostics.js";
import { gitState, readCommitted, type GitState } from "./git.js";
import { loadLastGood, saveLastGood } from "./last-good.js";
import { createMeshLoader, loadMesh, type MeshModel, type ModelSource } from "./load.js";
import type { MeshNaming } from "./resources.js";
import { readDirectorySettled, treeFingerprint, type ReadOptions, type SourceFile } from "./source.js";
import { resolve } from "node:path";

/** What one reload attempt found. */
export interface ReloadRecord {
  readonly at: number;
  /** ok: served; invalid: config errors, the last good model stays; error: could not read. */
  readonly outcome: "ok" | "invalid" | "error";
  readonly source: ModelSource;
  readonly diagnostics: readonly Diagnostic[];
  readonly error?: string;
}

/** The model being served and where it came from. */
export interface ServedModel {
  readonly model: MeshModel;
  readonly source: ModelSource;
  readonly loadedAt: number;
  /** Warnings of the load that produced it. */
  readonly diagnostics: readonly Diagnostic[];
}

export interface ReloaderOptions {
  readonly dir: string;
  /** Serve exactly this committed ref instead of the working tree. */
  readonly gitRef?: string;
  readonly naming?: MeshNaming;
  /** Where the last good config is kept across restarts (see last-good.ts). */
  readonly stateDir?: string;
  /** How the working tree is read: links leading outside it, size limits (source.ts). */
  readonly read?: ReadOptions;
  readonly logger: Logger;
  /**
   * A new valid model: the one place the rest of gitmesh learns about config. Only when it says
   * ok is the model recorded as served and saved as the last good one; otherwise the reload is
   * an error and what was served stays served.
   */
  readonly onModel: (served: ServedModel) => ApplyOutcome | Promise<ApplyOutcome>;
  readonly onReload?: (record: ReloadRecord) => void;
}

/** Whether a model could be served (translated and pushed); if not, why. */
export type ApplyOutcome = { readonly ok: true } | { readonly ok: false; readonly error: string };

/**
 * Loads the config directory, keeps the last good model, and records every attempt. Reloads are
 * serialised: a request while one runs makes exactly one more run after it, so a burst of
 * triggers never loses the last change and never runs two loads at once.
 */
export class ConfigReloader {
  private served: ServedModel | undefined;
  private lastRecord: ReloadRecord | undefined;
  private running: Promise<ReloadRecord> | undefined;
  /** The one reload waiting for the running one; every caller in between shares it. */
  private queued: Promise<ReloadRecord> | undefined;
  private queuedRef: string | undefined;
  /** The tree and git state the last attempt read (see resync). */
  private lastFingerprint: string | undefined;
  /** Remembers each file's parse and schema results: a one-file change re-parses one file. */
  private readonly loader = createMeshLoader();
  /** Set by stop(): a reload still running when the server stops applies nothing. */
  private stopped = false;

  constructor(private readonly options: ReloaderOptions) {}

  get current(): ServedModel | undefined {
    return this.served;
  }

  get last(): ReloadRecord | undefined {
    return this.lastRecord;
  }

  /**
   * Stops for good: a reload running now finishes reading but applies nothing, and later calls do
   * nothing. Resolves once no reload is running.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([this.running, this.queued]);
  }

  /** Reloads now (or right after the reload in progress); resolves with that attempt's record. */
  reload(ref?: string): Promise<ReloadRecord> {
    if (this.running !== undefined) {
      this.queuedRef = ref ?? this.queuedRef;
      this.queued ??= this.running.then(() => {
        const next = this.queuedRef;
        this.queued = undefined;
        this.queuedRef = undefined;
        return this.reload(next);
      });
      return this.queued;
    }
    this.running = this.attempt(ref).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * At start, when the config cannot be served: serve the last good config from the state
   * directory instead, if one was saved. Returns whether it did.
   */
  async restoreLastGood(): Promise<boolean> {
    const { stateDir, logger } = this.options;
    if (stateDir === undefined || this.served !== undefined) return false;
    const saved = await loadLastGood(stateDir);
    if (!saved.ok) {
      logger.warn("no last good config to fall back on", { stateDir, reason: saved.reason });
      return false;
    }
    const wanted = { configDir: resolve(this.options.dir), ref: this.options.gitRef };
    if (saved.value.for.configDir !== wanted.configDir || saved.value.for.ref !== wanted.ref) {
      logger.warn("the saved last good config is for another config directory or ref; not serving it", { stateDir, savedFor: saved.value.for.configDir, savedRef: saved.value.for.ref });
      return false;
    }
    let candidate: ServedModel;
    try {
      const result = loadMesh(saved.value.files, this.options.naming);
      if (!result.ok) {
        logger.error("the saved last good config no longer validates; not serving it", { stateDir });
        return false;
      }
      candidate = { model: result.model, source: saved.value.source, loadedAt: Date.now(), diagnostics: result.diagnostics };
    } catch (e) {
      logger.error("the saved last good config cannot be read back; not serving it", { stateDir, error: (e as Error).message });
      return false;
    }
    if (this.stopped) return false;
    const applied = await this.options.onModel(candidate);
    if (!applied.ok) {
      logger.error("the saved last good config could not be served", { stateDir, error: applied.error });
      return false;
    }
    this.served = candidate;
    logger.warn("serving the last good config saved in the state directory until the config is fixed", {
      stateDir,
      commit: saved.value.source.commit,
      savedAt: saved.value.savedAt,
    });
    return true;
  }

  /**
   * A safety net under the watcher: reloads when the tree (names, sizes, times) or git's HEAD and
   * dirtiness changed since the last attempt. It catches what file events miss: a directory
   * replaced or re-linked, a commit that changes no file, events lost under load.
   */
  async resync(): Promise<ReloadRecord | undefined> {
    if (this.options.gitRef !== undefined || this.stopped) return undefined;
    const now = await this.fingerprint().catch(() => "unreadable");
    return now === this.lastFingerprint ? undefined : this.reload();
  }

  private async fingerprint(git?: GitState): Promise<string> {
    const state = git ?? (await gitState(this.options.dir));
    return `${await treeFingerprint(this.options.dir, this.options.read)} ${state?.commit ?? "-"} ${String(state?.dirty)}`;
  }

  private async attempt(ref: string | undefined): Promise<ReloadRecord> {
    try {
      return await this.attemptUnguarded(ref);
    } catch (e) {
      // A bug (the expected failures are handled below): report it as a failed reload rather
      // than let it end the process that is serving the last good config.
      this.options.logger.error("bug: config reload failed; still serving what was served", { error: (e as Error).stack ?? String(e) });
      return this.finish({ at: Date.now(), outcome: "error", source: { dir: this.options.dir }, diagnostics: [], error: String(e) });
    }
  }

  private async attemptUnguarded(ref: string | undefined): Promise<ReloadRecord> {
    const { dir, logger } = this.options;
    const wanted = ref ?? this.options.gitRef;
    let files: readonly SourceFile[];
    let source: ModelSource;
    try {
      ({ files, source } = await this.read(dir, wanted));
    } catch (e) {
      const record: ReloadRecord = { at: Date.now(), outcome: "error", source: { dir }, diagnostics: [], error: (e as Error).message };
      logger.error(`could not read the config; ${this.stillServing()}`, { dir, error: record.error });
      return this.finish(record);
    }
    // Parsed in slices, so health checks and proxies are answered while a large config loads.
    const result = await this.loader.loadAsync(files, this.options.naming);
    const errors = result.diagnostics.filter(isError);
    for (const d of result.diagnostics) {
      const log = d.severity === "error" ? logger.error : logger.warn;
      log(`${d.file}:${d.line}:${d.col}: ${d.code} ${d.message}`, { resource: d.resource && `${d.resource.kind} ${d.resource.namespace}/${d.resource.name}` });
    }
    if (!result.ok) {
      logger.error(`config has errors; ${this.stillServing()}`, { errors: errors.length, commit: source.commit, served: this.served?.source.commit });
      return this.finish({ at: Date.now(), outcome: "invalid", source, diagnostics: result.diagnostics });
    }
    if (this.stopped) return this.finish({ at: Date.now(), outcome: "error", source, diagnostics: result.diagnostics, error: "gitmesh is stopping" });
    // Served only once every proxy has been given it: a model that fails to apply is neither
    // recorded as served nor saved as the last good one, so the next start does not trip on it.
    const candidate: ServedModel = { model: result.model, source, loadedAt: Date.now(), diagnostics: result.diagnostics };
    const applied = await this.options.onModel(candidate);
    if (!applied.ok) {
      logger.error(`config could not be applied; ${this.stillServing()}`, { commit: source.commit, error: applied.error });
      return this.finish({ at: Date.now(), outcome: "error", source, diagnostics: result.diagnostics, error: applied.error });
    }
    this.served = candidate;
    logger.info("config loaded", { resources: result.model.resources.length, files: result.model.files, commit: source.commit, dirty: source.dirty, warnings: result.diagnostics.length });
    if (this.options.stateDir !== undefined) {
      await saveLastGood(this.options.stateDir, { configDir: resolve(dir), ref: this.options.gitRef }, source, files).catch((e: unknown) =>
        logger.warn("could not save the last good config to the state directory", { stateDir: this.options.stateDir, error: (e as Error).message }),
      );
    }
    return this.finish({ at: candidate.loadedAt, outcome: "ok", source, diagnostics: result.diagnostics });
  }

  private async read(dir: string, ref: string | undefined): Promise<{ files: readonly SourceFile[]; source: ModelSource }> {
    if (ref !== undefined) {
      const committed = await readCommitted(dir, ref);
      if (!committed.ok) throw new Error(committed.error);
      return { files: committed.files, source: { dir, ref, commit: committed.commit, dirty: false } };
    }
    // The git state is read before the files: if a commit lands in between, the model is newer
    // than the commit it names, never older, and the next resync corrects it.
    const git = await gitState(dir, (error) => this.options.logger.warn("cannot read the git state of the config; commit and dirtiness are unknown", { dir, error }));
    this.lastFingerprint = await this.fingerprint(git);
    const files = await readDirectorySettled(dir, undefined, undefined, this.options.read);
    return { files, source: { dir, ...(git?.commit === undefined ? {} : { commit: git.commit }), ...(git === undefined ? {} : { dirty: git.dirty }) } };
  }

  private stillServing(): string {
    return this.served === undefined ? "nothing is served until it is fixed" : `still serving the last good config (${this.served.source.commit ?? "working tree"})`;
  }

  private finish(record: ReloadRecord): ReloadRecord {
    this.lastRecord = record;
    this.options.onReload?.(record);
    return record;
  }
}
