import { createHash } from "node:crypto";
import { open, readdir, realpath, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { Composer, isMap, isScalar, isSeq, Lexer, LineCounter, Parser, type Document, type Node as YamlNode } from "yaml";
import { runSteps } from "../common/steps.js";
import { escapeUnsafe, hasUnsafe } from "../log.js";
import type { Diagnostic, Position } from "./diagnostics.js";
import { DEFAULT_CONFIG_LIMITS, type ConfigLimits } from "./limits.js";

export { DEFAULT_CONFIG_LIMITS, type ConfigLimits } from "./limits.js";

/** A config file's text and where it came from (the working tree or a git object). */
export interface SourceFile {
  /** Path relative to the config directory, with forward slashes. */
  readonly path: string;
  readonly text: string;
  /**
   * Why the file was not read (too large, not UTF-8, a link leading outside the directory, a
   * name with control characters): parseFile reports it as an error at the file.
   */
  readonly refused?: Refusal;
}

/** A file gitmesh would not read, as a diagnostic code and message. */
export interface Refusal {
  readonly code: string;
  readonly message: string;
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

export interface ReadOptions {
  /**
   * Follow symbolic links that lead outside the config directory. Off by default: a link in a
   * config repository must not make gitmesh read /etc or another team's files.
   */
  readonly followExternalLinks?: boolean;
  readonly limits?: Partial<ConfigLimits>;
}

const YAML_FILE = /\.ya?ml$/i;

interface FoundFile {
  readonly path: string;
  readonly full: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly refused?: Refusal;
}

/**
 * Every *.yaml / *.yml under dir, hidden files and folders (and .git) skipped. Symbolic links
 * are followed when they lead to a file or folder inside dir (each real folder once, so a link
 * cycle cannot loop); a link leading outside is reported, not followed, unless the options say
 * so. Files past the size limits, or with control characters in their names, are reported
 * without being read.
 */
async function findConfigFiles(dir: string, options: ReadOptions): Promise<FoundFile[]> {
  const limits = { ...DEFAULT_CONFIG_LIMITS, ...options.limits };
  const root = await realpath(dir);
  const found: FoundFile[] = [];
  const seenDirs = new Set<string>();
  let total = 0;
  let files = 0;
  const refuse = (path: string, full: string, refused: Refusal) => found.push({ path, full, size: 0, mtimeMs: 0, refused });
  const walk = async (at: string): Promise<void> => {
    const real = await realpath(at);
    if (seenDirs.has(real)) return;
    seenDirs.add(real);
    const entries = await readdir(at, { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name.startsWith(".")) continue;
      const full = join(at, e.name);
      const path = relative(dir, full).split(sep).join("/");
      const info = e.isSymbolicLink() ? await stat(full).catch(() => undefined) : await stat(full);
      if (info === undefined) continue; // a dangling link: nothing to read
      const isYaml = info.isFile() && YAML_FILE.test(e.name);
      if (!info.isDirectory() && !isYaml) continue;
      if (hasUnsafe(path)) {
        refuse(escapeUnsafe(path), full, { code: "GM0007", message: "the file name has control or invisible characters (shown escaped); rename it" });
        continue;
      }
      if (e.isSymbolicLink() && options.followExternalLinks !== true) {
        const target = await realpath(full);
        if (target !== root && !target.startsWith(root + sep)) {
          refuse(path, full, {
            code: "GM0006",
            message: `a symbolic link to ${JSON.stringify(escapeUnsafe(target).slice(0, 200))}, outside the config directory: not followed; copy the file into the directory, or run gitmesh with --follow-external-links`,
          });
          continue;
        }
      }
      if (info.isDirectory()) {
        await walk(full);
        continue;
      }
      files++;
      total += info.size;
      if (info.size > limits.maxFileBytes) {
        refuse(path, full, { code: "GM0005", message: `the file is ${info.size} bytes; a config file may be at most ${limits.maxFileBytes} bytes (docs/config.md, "Limits"): split it into smaller files` });
      } else if (files > limits.maxFiles || total > limits.maxTotalBytes) {
        refuse(path, full, {
          code: "GM0005",
          message: `the config directory holds more than ${limits.maxFiles} files or ${limits.maxTotalBytes} bytes of YAML from this file on; gitmesh stops reading here (docs/config.md, "Limits")`,
        });
        return;
      } else found.push({ path, full, size: info.size, mtimeMs: info.mtimeMs });
    }
  };
  await walk(dir);
  return found;
}

/** Reads every config file under dir. */
export async function readDirectory(dir: string, options: ReadOptions = {}): Promise<SourceFile[]> {
  return readFound(await findConfigFiles(dir, options), { ...DEFAULT_CONFIG_LIMITS, ...options.limits });
}

/**
 * Reads one file named on its own (a file a pre-commit hook passes) as the config file at path,
 * with the same size limit and UTF-8 rule as a file found in a directory.
 */
export async function readConfigFile(full: string, path: string, options: ReadOptions = {}): Promise<SourceFile> {
  const max = { ...DEFAULT_CONFIG_LIMITS, ...options.limits }.maxFileBytes;
  const info = await stat(full);
  if (hasUnsafe(path)) return { path: escapeUnsafe(path), text: "", refused: { code: "GM0007", message: "the file name has control or invisible characters (shown escaped); rename it" } };
  if (info.size > max) return { path, text: "", refused: { code: "GM0005", message: `the file is ${info.size} bytes; a config file may be at most ${max} bytes (docs/config.md, "Limits"): split it into smaller files` } };
  return readOne({ path, full, size: info.size, mtimeMs: info.mtimeMs }, max);
}

/** Files read at once: enough to keep the disk busy, few enough to leave descriptors to proxies. */
const READ_CONCURRENCY = 16;

async function readFound(found: readonly FoundFile[], limits: ConfigLimits): Promise<SourceFile[]> {
  const out = new Array<SourceFile>(found.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < found.length; i = next++) {
      const f = found[i] as FoundFile;
      out[i] = f.refused !== undefined ? { path: f.path, text: "", refused: f.refused } : await readOne(f, limits.maxFileBytes);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, found.length) }, worker));
  return out;
}

/**
 * Reads a file, never more than max + 1 bytes of it: a file that grew after it was listed (or a
 * special file that reports no size) is refused rather than read whole.
 */
async function readOne(f: FoundFile, max: number): Promise<SourceFile> {
  const handle = await open(f.full, "r");
  try {
    const size = (await handle.stat()).size;
    let buffer = Buffer.allocUnsafe(Math.min(size, max) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      length += bytesRead;
      if (bytesRead === 0 || length > max) break;
      if (length === buffer.length) {
        const grown = Buffer.allocUnsafe(max + 1);
        buffer.copy(grown, 0, 0, length);
        buffer = grown;
      }
    }
    if (length > max) {
      return { path: f.path, text: "", refused: { code: "GM0005", message: `the file is more than ${max} bytes (it grew while being read); a config file may be at most ${max} bytes: split it into smaller files` } };
    }
    return decode(f.path, buffer.subarray(0, length));
  } finally {
    await handle.close();
  }
}

/**
 * Reads the tree once no file has changed for settleMs (or maxWaitMs has passed): a file another
 * process is still writing, or a checkout still in progress, is not read half-done.
 */
export async function readDirectorySettled(dir: string, settleMs = 300, maxWaitMs = 10_000, options: ReadOptions = {}): Promise<SourceFile[]> {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const found = await findConfigFiles(dir, options);
    const newest = found.reduce((max, f) => Math.max(max, f.mtimeMs), 0);
    const quietFor = Date.now() - newest;
    if (quietFor >= settleMs || Date.now() >= deadline) return readFound(found, { ...DEFAULT_CONFIG_LIMITS, ...options.limits });
    await new Promise((resolve) => setTimeout(resolve, Math.min(settleMs - quietFor, Math.max(0, deadline - Date.now()))));
  }
}

/** A cheap fingerprint of the tree (names, sizes, times; no contents), to notice missed changes. */
export async function treeFingerprint(dir: string, options: ReadOptions = {}): Promise<string> {
  const found = await findConfigFiles(dir, options);
  return createHash("sha256")
    .update(found.map((f) => `${f.path}\0${f.size}\0${f.mtimeMs}\0${f.refused?.code ?? ""}`).join("\n"))
    .digest("base64url");
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Config files are UTF-8. Anything else becomes a clear error rather than replacement characters. */
function decode(path: string, bytes: Buffer): SourceFile {
  try {
    return { path, text: utf8.decode(bytes) };
  } catch {
    return { path, text: "", refused: NOT_UTF8 };
  }
}

const NOT_UTF8: Refusal = { code: "GM0004", message: "the file is not UTF-8 (saved as UTF-16 or Latin-1?); save it as UTF-8" };

export function isConfigFile(path: string): boolean {
  return YAML_FILE.test(path) && !path.split("/").some((part) => part.startsWith("."));
}

/** What parsing one file yields. */
export interface ParsedFile {
  readonly docs: ParsedDoc[];
  readonly diagnostics: Diagnostic[];
  /** Documents with a syntax error, as far as they could be read (not served: see partialValue). */
  readonly broken?: ParsedDoc[];
}

/**
 * Parses a file into documents. A syntax error becomes a diagnostic at its line and column and
 * the file's other documents are still read; other files are never affected.
 */
export function parseFile(file: SourceFile, limits: ConfigLimits = DEFAULT_CONFIG_LIMITS): ParsedFile {
  return runSteps(parseSteps(file, limits));
}


/** Lexical tokens between ticks: about a millisecond of parsing. */
const TOKENS_PER_TICK = 512;

/**
 * parseFile as steps: it yields "tick" every few hundred tokens, so a caller that wants the event
 * loop to keep turning (the server, answering /healthz and proxies while it loads) can pause
 * there. The file is lexed, parsed and composed token by token, so nesting past maxDepth stops
 * it at once instead of after the whole file.
 */
export function* parseSteps(file: SourceFile, limits: ConfigLimits = DEFAULT_CONFIG_LIMITS): Generator<"tick", ParsedFile> {
  const lines = new LineCounter();
  lines.addNewLine(0);
  const docs: ParsedDoc[] = [];
  const broken: ParsedDoc[] = [];
  const diagnostics: Diagnostic[] = [];
  const at = (code: string, message: string, offset = 0): void => {
    const pos = lines.linePos(offset);
    diagnostics.push({ code, severity: "error", message, file: file.path, line: pos.line, col: pos.col });
  };
  if (file.refused !== undefined) {
    at(file.refused.code, file.refused.message);
    return { docs, diagnostics };
  }
  // Text that did not come through readDirectory (a git object, a saved last good config).
  const bytes = Buffer.byteLength(file.text);
  if (bytes > limits.maxFileBytes) {
    at("GM0005", `the file is ${bytes} bytes; a config file may be at most ${limits.maxFileBytes} bytes (docs/config.md, "Limits"): split it into smaller files`);
    return { docs, diagnostics };
  }
  // UTF-16 read as UTF-8: its ASCII comes with a NUL in every other byte.
  if (file.text.includes("\u0000")) {
    at(NOT_UTF8.code, NOT_UTF8.message);
    return { docs, diagnostics };
  }
  // Duplicate keys are found below in one pass per mapping: the parser's own check compares
  // every key with every other, and a mapping of 100,000 keys took it 30 s.
  const parser = new Parser(lines.addNewLine);
  const composer = new Composer({ uniqueKeys: false, merge: true });
  let index = 0;
  const take = (doc: Document.Parsed) => {
    const read = readDoc(doc, limits);
    for (const p of read.problems) at(p.code, p.message, p.offset);
    // "---" with nothing after it is no document.
    if (read.value !== null && read.value !== undefined) docs.push({ file: file.path, index, value: read.value, doc, lines });
    else if (read.partial !== null && read.partial !== undefined) broken.push({ file: file.path, index, value: read.partial, doc, lines });
    index++;
  };
  let tokens = 0;
  for (const lexeme of new Lexer().lex(file.text)) {
    for (const token of parser.next(lexeme)) for (const doc of composer.next(token)) take(doc);
    // The parser's stack holds one entry per open collection (and a few for the document).
    if (parser.stack.length > limits.maxDepth + 2) {
      at("GM0005", `values nest more than ${limits.maxDepth} levels deep here (docs/config.md, "Limits"); no mesh resource needs that`, parser.offset);
      return { docs, diagnostics };
    }
    if (++tokens % TOKENS_PER_TICK === 0) yield "tick";
  }
  for (const token of parser.end()) for (const doc of composer.next(token)) take(doc);
  for (const doc of composer.end()) take(doc);
  return { docs, diagnostics, broken };
}

interface Problem {
  readonly code: string;
  readonly message: string;
  readonly offset: number;
}

/**
 * A document's value, or what keeps it from being read: its first syntax error, a key twice in
 * a mapping, too many values, an alias to nothing. YAML warnings are reported too, and the
 * document is read all the same.
 */
function readDoc(doc: Document.Parsed, limits: ConfigLimits): { readonly value?: unknown; readonly problems: readonly Problem[]; readonly partial?: unknown } {
  // The first syntax error is the one to fix; the parser's follow-on complaints only confuse.
  const error = doc.errors[0];
  if (error !== undefined) {
    return { problems: [{ code: "GM0001", message: `YAML syntax error: ${firstLine(error.message)}; fix the YAML at this position`, offset: error.pos[0] }], partial: partialValue(doc) };
  }
  const walked = walk(doc.contents as YamlNode | null, limits.maxDocumentValues);
  if (walked.t === "duplicate") {
    return { problems: [{ code: "GM0002", message: `duplicate key: ${JSON.stringify(escapeUnsafe(walked.key.slice(0, 80)))} appears twice in one mapping; a key may appear once per mapping`, offset: walked.offset }] };
  }
  if (walked.t === "too-many") {
    return { problems: [{ code: "GM0005", message: `the document holds more than ${limits.maxDocumentValues} values (docs/config.md, "Limits"): split it into several resources`, offset: doc.range[0] }] };
  }
  const problems: Problem[] = doc.warnings.map((w) => ({ code: "GM0001", message: `YAML syntax error: ${firstLine(w.message)}; fix the YAML at this position`, offset: w.pos[0] }));
  try {
    return { value: doc.toJS({ maxAliasCount: 100 }) as unknown, problems };
  } catch (e) {
    // An alias to an anchor that does not exist (or one that expands too much).
    const message = `YAML error: ${firstLine((e as Error).message)}; define the anchor (&name) before its alias (*name), in the same document`;
    return { problems: [...problems, { code: "GM0001", message, offset: doc.range[0] }] };
  }
}

/**
 * What a document with a syntax error still says, as far as the parser got: enough to know the
 * resource it was meant to be (its kind, name, hosts), so references to it are not reported as
 * missing too. Never served; undefined when even that cannot be read.
 */
function partialValue(doc: Document.Parsed): unknown {
  try {
    return doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch {
    return undefined;
  }
}

type Walked = { readonly t: "ok" } | { readonly t: "duplicate"; readonly key: string; readonly offset: number } | { readonly t: "too-many" };

/**
 * Counts a document's values (up to max) and finds the first key a mapping holds twice, in one
 * pass: scalar keys are compared by value, as YAML's own check does.
 */
function walk(root: YamlNode | null, max: number): Walked {
  const stack: (YamlNode | null)[] = [root];
  let values = 0;
  let duplicate: { key: string; offset: number } | undefined;
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || node === undefined) continue;
    if (++values > max) return { t: "too-many" };
    if (isMap(node)) {
      const keys = new Set<unknown>();
      for (const pair of node.items) {
        const key = pair.key as YamlNode | null;
        if (isScalar(key)) {
          if (keys.has(key.value) && (duplicate === undefined || (key.range?.[0] ?? 0) < duplicate.offset)) duplicate = { key: String(key.value), offset: key.range?.[0] ?? 0 };
          keys.add(key.value);
        } else stack.push(key);
        stack.push(pair.value as YamlNode | null);
      }
    } else if (isSeq(node)) for (const item of node.items) stack.push(item as YamlNode | null);
  }
  return duplicate === undefined ? { t: "ok" } : { t: "duplicate", ...duplicate };
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
