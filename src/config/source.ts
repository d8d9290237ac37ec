import { createHash } from "node:crypto";
import { readdir, readFile, realpath, stat } from "node:fs/promises";
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

interface FoundFile {
  readonly path: string;
  readonly full: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/**
 * Every *.yaml / *.yml under dir, hidden files and folders (and .git) skipped. Symbolic links are
 * followed (a config repo may link shared files in), each real directory once, so a link cycle
 * cannot loop.
 */
async function findConfigFiles(dir: string): Promise<FoundFile[]> {
  const found: FoundFile[] = [];
  const seenDirs = new Set<string>();
  const walk = async (at: string): Promise<void> => {
    const real = await realpath(at);
    if (seenDirs.has(real)) return;
    seenDirs.add(real);
    const entries = await readdir(at, { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name.startsWith(".")) continue;
      const full = join(at, e.name);
      const info = e.isSymbolicLink() ? await stat(full).catch(() => undefined) : await stat(full);
      if (info === undefined) continue; // a dangling link: nothing to read
      if (info.isDirectory()) await walk(full);
      else if (info.isFile() && YAML_FILE.test(e.name)) {
        found.push({ path: relative(dir, full).split(sep).join("/"), full, size: info.size, mtimeMs: info.mtimeMs });
      }
    }
  };
  await walk(dir);
  return found;
}

/** Reads every config file under dir. */
export async function readDirectory(dir: string): Promise<SourceFile[]> {
  return readFound(await findConfigFiles(dir));
}

function readFound(found: readonly FoundFile[]): Promise<SourceFile[]> {
  return Promise.all(found.map(async (f) => ({ path: f.path, text: decode(f.path, await readFile(f.full)) })));
}

/**
 * Reads the tree once no file has changed for settleMs (or maxWaitMs has passed): a file another
 * process is still writing, or a checkout still in progress, is not read half-done.
 */
export async function readDirectorySettled(dir: string, settleMs = 300, maxWaitMs = 10_000): Promise<SourceFile[]> {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const found = await findConfigFiles(dir);
    const newest = found.reduce((max, f) => Math.max(max, f.mtimeMs), 0);
    const quietFor = Date.now() - newest;
    if (quietFor >= settleMs || Date.now() >= deadline) return readFound(found);
    await new Promise((resolve) => setTimeout(resolve, Math.min(settleMs - quietFor, Math.max(0, deadline - Date.now()))));
  }
}

/** A cheap fingerprint of the tree (names, sizes, times; no contents), to notice missed changes. */
export async function treeFingerprint(dir: string): Promise<string> {
  const found = await findConfigFiles(dir);
  return createHash("sha256")
    .update(found.map((f) => `${f.path}\0${f.size}\0${f.mtimeMs}`).join("\n"))
    .digest("base64url");
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Config files are UTF-8. Anything else becomes a clear error rather than replacement characters. */
function decode(path: string, bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return `${NOT_UTF8_MARKER}${path}`;
  }
}

/** Stands for the text of a file that is not UTF-8; parseFile turns it into GM0004. */
const NOT_UTF8_MARKER = "\u0000gitmesh:not-utf8:";

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
  // Not UTF-8 at all (marked by decode), or UTF-16, whose ASCII decodes with a NUL in every other byte.
  if (file.text.includes("\u0000")) {
    const message = "the file is not UTF-8 (saved as UTF-16 or Latin-1?); save it as UTF-8";
    return { docs, diagnostics: [{ code: "GM0004", severity: "error", message, file: file.path, line: 1, col: 1 }] };
  }
  parseAllDocuments(file.text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, merge: true }).forEach((doc, index) => {
    if (!("errors" in doc)) return; // an empty stream
    // The first syntax error is the one to fix; the parser's follow-on complaints about the same
    // mistake only confuse.
    const problems = doc.errors.length > 0 ? doc.errors.slice(0, 1) : doc.warnings;
    for (const e of problems) {
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
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      // An alias to an anchor that does not exist (or one that expands too much).
      const at = lines.linePos(doc.range[0]);
      diagnostics.push({ code: "GM0001", severity: "error", message: `YAML error: ${firstLine((e as Error).message)}; define the anchor (&name) before its alias (*name), in the same document`, file: file.path, line: at.line, col: at.col });
      return;
    }
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
