import { readdir, readFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node as YamlNode } from "yaml";
import type { Diagnostic, Position } from "./diagnostics.js";

/** A config file's text and where it came from (the working tree or a git object). */
export interface SourceFile {
  /** Path relative to the config directory, with forward slashes. */
  readonly path: string;
  readonly text: string;
}

/** One YAML document of a file, with what is needed to point at any of its fields. */
export interface ParsedDoc {
  readonly file: string;
  /** Index of the document in its file (0 for the first). */
  readonly index: number;
  readonly value: unknown;
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;
}

const YAML_FILE = /\.ya?ml$/i;

/** Reads every *.yaml / *.yml under dir (hidden folders and files, and .git, are skipped). */
export async function readDirectory(dir: string): Promise<SourceFile[]> {
  const files: SourceFile[] = [];
  const walk = async (at: string): Promise<void> => {
    const entries = await readdir(at, { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name.startsWith(".")) continue;
      const full = join(at, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile() && YAML_FILE.test(e.name)) {
        files.push({ path: relative(dir, full).split(sep).join("/"), text: await readFile(full, "utf8") });
      }
    }
  };
  await walk(dir);
  return files;
}

export function isConfigFile(path: string): boolean {
  return YAML_FILE.test(path) && !path.split("/").some((part) => part.startsWith("."));
}

/**
 * Parses a file into documents. A syntax error becomes a diagnostic at its line and column and
 * the file's other documents are still read; other files are never affected.
 */
export function parseFile(file: SourceFile): { docs: ParsedDoc[]; diagnostics: Diagnostic[] } {
  const lines = new LineCounter();
  const docs: ParsedDoc[] = [];
  const diagnostics: Diagnostic[] = [];
  parseAllDocuments(file.text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true }).forEach((doc, index) => {
    if (!("errors" in doc)) return; // an empty stream
    for (const e of [...doc.errors, ...doc.warnings]) {
      const at = lines.linePos(e.pos[0]);
      diagnostics.push({
        code: e.code === "DUPLICATE_KEY" ? "GM0002" : "GM0001",
        severity: "error",
        message:
          e.code === "DUPLICATE_KEY"
            ? `duplicate key: ${firstLine(e.message)}; a key may appear once per mapping`
            : `YAML syntax error: ${firstLine(e.message)}; fix the YAML at this position`,
        file: file.path,
        line: at.line,
        col: at.col,
      });
    }
    if (doc.errors.length > 0) return;
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return; // "---" with nothing after it
    docs.push({ file: file.path, index, value, doc, lines });
  });
  return { docs, diagnostics };
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}

/**
 * Where a field is in its file. For a path that does not exist (a missing required field) the
 * nearest existing parent is returned, so the finding still points somewhere useful.
 */
export function positionOf(d: ParsedDoc, path: readonly (string | number)[], at: "key" | "value" = "key"): Position {
  let node: YamlNode | null | undefined = d.doc.contents as YamlNode | null;
  let best: Position = startOf(d, node) ?? { line: 1, col: 1 };
  for (const step of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(step));
      if (pair === undefined) break;
      const keyPos = startOf(d, pair.key as YamlNode);
      node = pair.value as YamlNode | null;
      const valuePos = startOf(d, node);
      best = (at === "key" ? keyPos : (valuePos ?? keyPos)) ?? best;
    } else if (isSeq(node) && typeof step === "number") {
      node = node.items[step] as YamlNode | null;
      best = startOf(d, node) ?? best;
    } else break;
  }
  return best;
}

function startOf(d: ParsedDoc, node: YamlNode | null | undefined): Position | undefined {
  const range = node?.range;
  if (range === undefined || range === null) return undefined;
  const p = d.lines.linePos(range[0]);
  return { line: p.line, col: p.col };
}
