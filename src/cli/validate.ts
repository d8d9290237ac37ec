import { stat } from "node:fs/promises";
import { loadMesh } from "../config/load.js";
import type { MeshNaming } from "../config/resources.js";
import { readDirectory } from "../config/source.js";
import { formatDiagnostic, summary, type ReportFormat } from "./report.js";
import { UsageError } from "./usage.js";

export interface ValidateOptions {
  readonly dir: string;
  readonly naming?: MeshNaming;
  readonly format: ReportFormat;
  /** Follow symbolic links that lead outside dir (docs/config.md, "Limits"). */
  readonly followExternalLinks?: boolean;
  readonly out: (line: string) => void;
}

/** `gitmesh validate DIR`: 0 when there are no errors, 1 when there are (warnings alone pass). */
export async function validate(options: ValidateOptions): Promise<number> {
  const info = await stat(options.dir).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) throw new UsageError(`${options.dir} is not a directory`);
  const files = await readDirectory(options.dir, { followExternalLinks: options.followExternalLinks === true });
  const result = loadMesh(files, options.naming);
  for (const d of result.diagnostics) options.out(formatDiagnostic(d, options.format, options.dir));
  if (options.format !== "json") options.out(summary(files.length, result.model.resources.length, result.diagnostics));
  return result.ok ? 0 : 1;
}
