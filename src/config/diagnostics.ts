/** A position in a config file, 1-based as editors show it. */
export interface Position {
  readonly line: number;
  readonly col: number;
}

/** The mesh resource a finding is about: Kind namespace/name. */
export interface ResourceRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export type Severity = "error" | "warning";

/**
 * One finding about the config. Codes are stable (tools and docs refer to them); the message
 * says what is wrong and what to do about it.
 */
export interface Diagnostic {
  readonly code: string;
  readonly severity: Severity;
  readonly message: string;
  /** Path of the file, relative to the config directory. */
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** The field the finding is about, as a dotted path (spec.http[0].route[1].weight). */
  readonly field?: string;
  readonly resource?: ResourceRef;
}

export function refText(r: ResourceRef): string {
  return `${r.kind} ${r.namespace}/${r.name}`;
}

export function isError(d: Diagnostic): boolean {
  return d.severity === "error";
}

/** Sorted by file, line, column, code: stable output for people and for goldens. */
export function sortDiagnostics(ds: readonly Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.col - b.col || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0)));
}

/** A field path as people read it: spec.http[0].route[1].weight. */
export function fieldPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}
