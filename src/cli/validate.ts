import { access, stat } from "node:fs/promises";
import { dirname, join, normalize, relative, resolve, sep } from "node:path";
import { sortDiagnostics, type Diagnostic } from "../config/diagnostics.js";
import { loadMesh } from "../config/load.js";
import type { MeshNaming } from "../config/resources.js";
import { readConfigFile, readDirectory, type SourceFile } from "../config/source.js";
import { servingNotes } from "../translators/serving-notes.js";
import { formatDiagnostic, summary, type ReportFormat } from "./report.js";
import { UsageError } from "./usage.js";

export interface ValidateOptions {
  /**
   * Directories and files. Without config they are the whole config (a directory stands for the
   * YAML files under it); with config they only choose which files' findings are reported.
   */
  readonly paths: readonly string[];
  /** The config directory the paths are checked within (--config): the references they make are resolved against all of it. */
  readonly config?: string;
  readonly naming?: MeshNaming;
  readonly format: ReportFormat;
  /** Warnings fail the check too (--strict). */
  readonly strict?: boolean;
  /** Follow symbolic links that lead outside dir (docs/config.md, "Limits"). */
  readonly followExternalLinks?: boolean;
  readonly out: (line: string) => void;
}

/**
 * `gitmesh validate PATH...`: 0 when there are no errors (warnings alone pass, unless strict), 1
 * when there are. File names in findings are as given on the command line (relative to the
 * working directory), or relative to the git repository's root with --format github, which is
 * what GitHub needs to annotate a pull request.
 */
export async function validate(options: ValidateOptions): Promise<number> {
  const read = { followExternalLinks: options.followExternalLinks === true };
  let files: SourceFile[];
  let reported: (d: Diagnostic) => boolean = () => true;
  if (options.config !== undefined) {
    if (!(await isDirectory(options.config))) throw new UsageError(`${options.config} is not a directory`);
    files = await readInputs([options.config], read);
    if (options.paths.length > 0) {
      const chosen: { at: string; dir: boolean }[] = [];
      for (const p of options.paths) {
        const info = await stat(p).catch(() => undefined);
        if (info === undefined) throw new UsageError(`${p} is not a file or directory`);
        chosen.push({ at: resolve(p), dir: info.isDirectory() });
      }
      reported = (d) => d.file === "." || chosen.some((c) => (c.dir ? resolve(d.file).startsWith(c.at + sep) : resolve(d.file) === c.at));
    }
  } else {
    if (options.paths.length === 0) throw new UsageError("validate takes a config directory, or files");
    files = await readInputs(options.paths, read);
  }
  const result = loadMesh(files, options.naming);
  // What serve would leave out or change, decided where serve decides it (a valid model only).
  const diagnostics = result.ok ? sortDiagnostics([...result.diagnostics, ...servingNotes(result.model)]) : result.diagnostics;
  const shown = diagnostics.filter(reported).map((d) => (options.strict === true && d.severity === "warning" ? { ...d, severity: "error" as const } : d));
  const root = options.format === "github" ? await repositoryRoot(options.config ?? options.paths[0] ?? ".") : undefined;
  for (const d of shown) options.out(formatDiagnostic(root === undefined ? d : { ...d, file: relativePath(root, d.file) }, options.format, ""));
  if (options.format !== "json") options.out(summary(files.length, result.model.resources.length, shown));
  return shown.some((d) => d.severity === "error") ? 1 : 0;
}

/** The files of every path, each named as given (a directory's files under the directory's name), each once. */
async function readInputs(paths: readonly string[], read: { followExternalLinks: boolean }): Promise<SourceFile[]> {
  const byPath = new Map<string, SourceFile>();
  for (const p of paths) {
    const info = await stat(p).catch(() => undefined);
    if (info === undefined || (!info.isDirectory() && !info.isFile())) throw new UsageError(`${p} is not a file or directory`);
    const found = info.isDirectory() ? (await readDirectory(p, read)).map((f) => ({ ...f, path: prefixed(p, f.path) })) : [await readConfigFile(p, slashes(p), read)];
    for (const f of found) if (!byPath.has(f.path)) byPath.set(f.path, f);
  }
  return [...byPath.values()];
}

function prefixed(dir: string, path: string): string {
  const d = slashes(dir).replace(/\/+$/, "");
  return d === "" || d === "." ? path : `${d}/${path}`;
}

/** A path as forward slashes, normalised ("./mesh/a.yaml" and "mesh/a.yaml" are one file). */
function slashes(path: string): string {
  return normalize(path).split(sep).join("/");
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() === true;
}

/** The nearest folder at or above path holding .git (a directory, or a worktree's file); none outside a repository. */
async function repositoryRoot(path: string): Promise<string | undefined> {
  let at = resolve(path);
  if (!(await isDirectory(at))) at = dirname(at);
  for (;;) {
    if (await access(join(at, ".git")).then(() => true, () => false)) return at;
    const up = dirname(at);
    if (up === at) return undefined;
    at = up;
  }
}

function relativePath(root: string, file: string): string {
  return file === "." ? relative(root, resolve(".")) || "." : slashes(relative(root, resolve(file)));
}
