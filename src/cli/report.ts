import { refText, type Diagnostic } from "../config/diagnostics.js";

export type ReportFormat = "text" | "json" | "github";
export const REPORT_FORMATS: readonly ReportFormat[] = ["text", "json", "github"];

/** One line per finding, in the chosen format. `dir` prefixes file paths so they are clickable. */
export function formatDiagnostic(d: Diagnostic, format: ReportFormat, dir: string): string {
  const file = joinPath(dir, d.file);
  const resource = d.resource === undefined ? "" : ` (${refText(d.resource)})`;
  switch (format) {
    case "text":
      return `${file}:${d.line}:${d.col}: ${d.severity} ${d.code} ${d.message}${resource}`;
    case "json":
      return JSON.stringify({ ...d, file });
    case "github":
      // GitHub Actions workflow command: an annotation on the file and line in the pull request.
      return `::${d.severity} file=${escapeProperty(file)},line=${d.line},col=${d.col},title=${escapeProperty(d.code)}::${escapeData(d.message + resource)}`;
  }
}

export function summary(files: number, resources: number, diagnostics: readonly Diagnostic[]): string {
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  const warnings = diagnostics.length - errors;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  return `checked ${plural(files, "file")}, ${plural(resources, "resource")}: ${plural(errors, "error")}, ${plural(warnings, "warning")}`;
}

function joinPath(dir: string, file: string): string {
  return dir === "" || dir === "." ? file : `${dir.replace(/\/+$/, "")}/${file}`;
}

function escapeData(s: string): string {
  return s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, "%3A").replace(/,/g, "%2C");
}
