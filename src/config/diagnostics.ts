import { capText, escapeUnsafe } from "../log.js";

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

/** A field path as people read it: spec.http[0].route[1].weight (each key cut to 100 characters, escaped). */
export function fieldPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${escapeUnsafe(capText(p, 100))}`)).join("");
}

/**
 * A value from a config file as a message quotes it: JSON, at most max characters of it, every
 * control and format character escaped, and how long it was when it is cut. A message never
 * carries more of a file than this.
 */
export function excerpt(value: unknown, max = 64): string {
  const text = typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
  const cut = text.length > max;
  const shown = typeof value === "string" ? JSON.stringify(text.slice(0, max)) : text.slice(0, max);
  return `${escapeUnsafe(shown)}${cut ? `...(${text.length} chars)` : ""}`;
}

/** Longest message a diagnostic carries (its excerpts are shorter still). */
export const MAX_MESSAGE_CHARS = 1000;

/**
 * A diagnostic safe to print anywhere (a terminal, a log, a GitHub annotation): one line, its
 * message and names bounded, whatever the file held. Every finding passes through this.
 */
export function bounded(d: Diagnostic): Diagnostic {
  const clean = (s: string, max: number) => escapeUnsafe(capText(s, max));
  return {
    ...d,
    message: clean(d.message, MAX_MESSAGE_CHARS),
    file: clean(d.file, 1000),
    ...(d.field === undefined ? {} : { field: clean(d.field, 1000) }),
    ...(d.resource === undefined ? {} : { resource: { kind: clean(d.resource.kind, 100), namespace: clean(d.resource.namespace, 100), name: clean(d.resource.name, 300) } }),
  };
}
